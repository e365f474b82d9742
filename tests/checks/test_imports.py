"""A run imports only what its selected checks need (issue 13).

A preflight run, in a fresh process as a user types it, must not import the
heavy libraries other suites use (hypothesis for RT-06, scipy for canary
statistics, pact, chaoslib, cyclonedx for BS-09, the sandbox's web app).
Not a timing test: it reads ``sys.modules`` at the end of the run, which a
speed change cannot make flaky. benchmarks/startup.py measures the time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: Top-level modules that a preflight run has no use for (and what needs them).
HEAVY = {
    "hypothesis": "RT-06 and the project's property tests",
    "_hypothesis_pytestplugin": "hypothesis's pytest plugin (not needed to run the suite)",
    "scipy": "canary statistics",
    "numpy": "canary statistics",
    "pandas": "prometheus-api-client's DataFrame helpers",
    "pact": "contract tests",
    "chaoslib": "chaos scenarios",
    "cyclonedx": "BS-09 / RT-10",
    "dateparser": "prometheus-api-client's range helpers",
    "starlette": "the sandbox API",
    "uvicorn": "the sandbox API",
    "prometheus_client": "the sandbox API's exporter",
    "pytest_spark.sandbox.app.factory": "the sandbox API",
    "lxml": "RT-05's HTML parser",
    "pytest_spark.canary.gate": "canary stage gates",
    "pytest_spark.canary.evaluate": "canary stage gates",
}

DUMP_PLUGIN = """
import json, os, sys

def pytest_unconfigure(config):
    with open(os.environ["SPARK_MODULES_OUT"], "w") as fh:
        json.dump(sorted(sys.modules), fh)
"""


def run_and_list_modules(
    tmp_path: Path, *args: str
) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run pytest in a fresh process; return it and the modules loaded when it ended."""
    (tmp_path / "spark_dump_modules.py").write_text(DUMP_PLUGIN)
    out = tmp_path / "modules.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tmp_path), env.get("PYTHONPATH")]))
    env["SPARK_MODULES_OUT"] = str(out)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "checks", "-p", "spark_dump_modules",
         "-p", "no:cacheprovider", "--spark-evidence-dir", str(tmp_path / "reports"), *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert out.exists(), proc.stdout[-3000:] + proc.stderr[-2000:]
    return proc, set(json.loads(out.read_text()))


def heavy_in(modules: set[str]) -> dict[str, str]:
    return {
        name: why
        for name, why in HEAVY.items()
        if name in modules or any(m.startswith(name + ".") for m in modules)
    }


def test_preflight_collection_imports_nothing_heavy(tmp_path: Path) -> None:
    proc, modules = run_and_list_modules(tmp_path, "-m", "preflight", "--collect-only", "-q")
    assert "checks/test_database.py::test_pf06_no_sequence_near_exhaustion" in proc.stdout
    assert heavy_in(modules) == {}


def test_preflight_run_on_the_sandbox_imports_nothing_heavy(
    tmp_path: Path, sandbox: Any, quiet_history: Any
) -> None:
    quiet_history()
    state_dir = sandbox.endpoints.state_dir
    proc, modules = run_and_list_modules(
        tmp_path, "-m", "preflight", "-q", "--release", "v1.4.0",
        "--spark-sandbox", "--spark-sandbox-dir", state_dir,
    )  # fmt: skip
    assert "SPARK VERDICT: GO" in proc.stdout, proc.stdout[-3000:]
    assert "pytest_spark.probes.db" in modules  # the checks really ran
    assert heavy_in(modules) == {}


@pytest.mark.parametrize("cid", ["RT-06", "BS-09", "CT-01"])
def test_the_heavy_libraries_are_still_there_for_the_checks_that_need_them(
    tmp_path: Path, sandbox: Any, cid: str
) -> None:
    """The other half: lazy imports still load where a selected check needs them."""
    state_dir = sandbox.endpoints.state_dir
    proc, modules = run_and_list_modules(
        tmp_path, "--spark-check", cid, "-q", "--release", "v1.4.0", "--spark-allow-writes",
        "--spark-sandbox", "--spark-sandbox-dir", state_dir,
        "--spark-set", f"contracts.pact_dir={tmp_path / 'pacts'}",  # not into the repo
    )  # fmt: skip
    assert "SPARK VERDICT: GO" in proc.stdout, proc.stdout[-3000:]
    needed = {"RT-06": "hypothesis", "BS-09": "cyclonedx", "CT-01": "pact"}[cid]
    assert needed in heavy_in(modules)
