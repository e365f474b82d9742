"""pytest-spark: pre-deploy checks, evidence bundles and a GO/NO-GO verdict for Spark releases."""

__version__ = "0.1.0"
