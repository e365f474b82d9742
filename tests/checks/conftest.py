"""Run the real checks/ suite against the test session's sandbox and read the verdict.

``run_checks("PF-06")`` is exactly what a user's run does (plugin, fixtures,
verdict, bundle), only selected by id and pointed at the session's stack.
"""

from __future__ import annotations

import contextlib
import importlib
import itertools
import json
import pkgutil
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CHECKS_DIR = Path(__file__).resolve().parents[2] / "checks"
_runs = itertools.count()
WARM_PACKAGES = ("pytest_spark.rules", "pytest_spark.probes", "pytest_spark.sandbox.app")
WARM_MODULES = (
    "pytest_spark.sandbox.targets",
    "pytest_spark.sandbox.migrate",
    "hypothesis.internal.observability",  # the hypothesis plugin imports it in every run
    # numpy (under scipy) refuses a second import in one process ("cannot load module
    # more than once"), which pytester's module cleanup would force on the canary runs
    "scipy.stats",
    "hdrh.histogram",
)


@pytest.fixture(scope="session", autouse=True)
def warm_imports() -> None:
    """Import once what every in-process run would otherwise import again.

    pytester drops the modules a run imported when it ends, so each
    ``run_checks`` would re-import the rules, probes and the sandbox app
    (seconds on a busy 2-core machine). Modules imported here survive the runs.
    """
    names = list(WARM_MODULES)
    for package in WARM_PACKAGES:
        path = importlib.import_module(package).__path__
        names += [f"{package}.{m.name}" for m in pkgutil.iter_modules(path) if m.name != "__main__"]
    for name in names:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)


@dataclass
class CheckRun:
    ret: int
    verdict: dict[str, Any]
    folder: Path
    output: str

    def record(self, cid: str) -> dict[str, Any]:
        return json.loads((self.folder / "checks" / f"{cid}.json").read_text())

    def outcome(self, cid: str) -> str:
        return self.record(cid)["outcome"]

    def message(self, cid: str) -> str:
        return self.record(cid)["message"]

    def reason_ids(self) -> list[str]:
        return [r["check"] for r in self.verdict["reasons"]]


@pytest.fixture
def run_checks(pytester: pytest.Pytester, sandbox: Any, quiet_history: Any):
    def run(
        *ids: str, writes: bool = False, disruptive: bool = False, args: tuple[str, ...] = ()
    ) -> CheckRun:
        if not sandbox.active_faults():
            quiet_history()
        evidence = pytester.path / f"reports-{next(_runs)}"
        argv = [
            str(CHECKS_DIR),
            "-p",
            "no:cacheprovider",
            "--spark-sandbox",
            "--spark-sandbox-dir",
            str(sandbox.state_dir),
            "--spark-evidence-dir",
            str(evidence),
            "--spark-check",
            ",".join(ids),
        ]
        if writes:
            argv.append("--spark-allow-writes")
        if disruptive:
            argv.append("--spark-allow-disruptive")
        result = pytester.runpytest(*argv, *args)
        folders = [p for p in evidence.glob("*/*") if p.is_dir()]
        assert len(folders) == 1, f"no bundle written:\n{result.stdout.str()[-3000:]}"
        verdict = json.loads((folders[0] / "verdict.json").read_text())
        return CheckRun(int(result.ret), verdict, folders[0], result.stdout.str())

    return run


@pytest.fixture
def blackhole() -> Iterator[str]:
    """A TCP port that accepts connections (kernel backlog) but never answers: a hung server."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()
