"""The sandbox trading API: a real reference implementation of the Spark platform's API.

Run it with ``python -m pytest_spark.sandbox.app --port N --dsn DSN ...`` or
build it in-process with :func:`create_app`.
"""

from .factory import create_app
from .settings import AppSettings

__all__ = ["AppSettings", "create_app"]
