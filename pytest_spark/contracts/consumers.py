"""Run the suite's consumer tests against Pact's mock server and write their pacts.

A consumer is one module in ``checks/consumers/`` (a consumer team adds its
own file there) with:

- ``CONSUMER``, ``VERSION`` (the consumer release whose expectations it records)
  and ``KIND`` (``"http"`` or ``"message"``);
- ``expectations(pact)``: the interactions, with matchers;
- for HTTP, ``exercise(base_url)``: the consumer's own calls, made against
  Pact's mock server (any request the pact does not describe, or an expected
  one not made, fails the consumer test);
- for messages, ``handle(body, metadata)``: the consumer's message handler,
  fed every message of the pact.

Pacts are written with pact-python 4 (specification V4) into a private folder
first and then moved into the pact dir one by one (an atomic rename), so a
parallel worker never reads half a file.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
from pathlib import Path
from types import ModuleType

from ..probes import ProbeError
from .pacts import HTTP, MESSAGE, METADATA_KEY

REQUIRED = ("CONSUMER", "VERSION", "KIND", "expectations")


def load_consumers(folder: Path) -> list[ModuleType]:
    """Every consumer module in ``folder`` (files not starting with ``_``), by name."""
    modules = []
    for path in sorted(folder.glob("*.py")):
        if path.name.startswith("_"):
            continue
        spec = importlib.util.spec_from_file_location(f"spark_consumer_{path.stem}", path)
        if spec is None or spec.loader is None:  # pragma: no cover - a .py file always loads
            raise ProbeError(f"cannot load consumer {path}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        missing = [name for name in REQUIRED if not hasattr(module, name)]
        if missing or module.KIND not in (HTTP, MESSAGE):
            raise ProbeError(
                f"consumer {path.name}: needs {', '.join(REQUIRED)} (KIND http|message)"
            )
        modules.append(module)
    return modules


def record(module: ModuleType, pact_dir: Path, provider: str, message_provider: str) -> Path:
    """Run one consumer test against Pact's mock server; the pact file written into pact_dir."""
    from pact import Pact

    to = provider if module.KIND == HTTP else message_provider
    pact = Pact(module.CONSUMER, to).with_specification("V4")
    pact.with_metadata(METADATA_KEY, {"consumerVersion": module.VERSION})
    module.expectations(pact)
    try:
        if module.KIND == HTTP:
            with pact.serve() as server:
                module.exercise(str(server.url).rstrip("/"))
        else:
            pact.verify(module.handle, "Async")
    except Exception as exc:
        details = [str(getattr(e, "error", e)) for e in getattr(exc, "errors", None) or ()]
        text = " ".join(" ".join([str(exc), *details]).split())[:600]
        raise ProbeError(
            f"consumer test of {module.CONSUMER} failed on Pact's mock: {text}"
        ) from exc
    pact_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=pact_dir, prefix=".writing-") as tmp:
        pact.write_file(tmp, overwrite=True)
        written = list(Path(tmp).glob("*.json"))
        if len(written) != 1:
            raise ProbeError(f"consumer {module.CONSUMER}: pact-python wrote {written}")
        target = pact_dir / written[0].name
        os.replace(written[0], target)
    return target


def record_all(folder: Path, pact_dir: Path, provider: str, message_provider: str) -> list[Path]:
    """Every consumer of ``folder`` recorded into ``pact_dir``."""
    try:
        import pact  # noqa: F401
    except ImportError:
        raise ProbeError(
            "the contract checks need pact-python 4: pip install 'pytest-spark-deploy[contract]'"
        ) from None
    consumers = load_consumers(folder)
    if not consumers:
        raise ProbeError(f"no consumer tests in {folder}")
    return [record(m, pact_dir, provider, message_provider) for m in consumers]
