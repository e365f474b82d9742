"""Chaos scenarios on the real stack: proven both ways, rollbacks always run.

- the steady-state-only run passes (the hypothesis is not vacuous: with no
  fault, a trigger that fires fails it);
- under a switch that removes the resilience (the alert rule) it FAILS, naming
  what broke;
- rollbacks run on an exception, on Ctrl-C (SIGINT) and on SIGTERM, and the
  stack is back as it was (no proxy in line, every API healthy);
- the scenario run through the plugin says GO, and afterwards the preflight
  suite on the same stack is still GO.
"""

from __future__ import annotations

import copy
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pytest_spark.chaos import probes, runner, scenario
from pytest_spark.sandbox import components as c
from pytest_spark.sandbox.launcher import Sandbox

ROOT = Path(__file__).resolve().parents[2]
CHILD = Path(__file__).with_name("_chaos_child.py")


def assert_rolled_back(box: Sandbox) -> None:
    """No proxy in line or running, and every API instance healthy."""
    state = box.chaos_state()
    assert state.get("routed", []) == [], state
    assert box.record("proxy-api-pgbouncer") is None
    assert probes.api_healthy({"spark_state_dir": str(box.state_dir)})


@pytest.fixture(autouse=True)
def settled(sandbox: Sandbox) -> None:
    """Tests calling runner.run directly start from a steady stack too (scenario.execute
    settles by itself)."""
    probes.settle({"spark_state_dir": str(sandbox.state_dir)})


def test_ch02_steady_state_only_passes(sandbox: Sandbox, tmp_path: Path) -> None:
    result = scenario.execute("CH-02", sandbox.state_dir, tmp_path, steady_state_only=True)
    assert result.verdict == runner.PASS, result.reasons
    assert [f["message"] for f in result.extra["triggers"]] == ["T01 quiet (no fault injected)"]
    assert not any(r["activity"]["name"] == "db-latency-500ms" for r in result.journal["run"])
    assert_rolled_back(sandbox)


def test_ch02_fails_naming_the_missing_alert_rule(sandbox: Sandbox, tmp_path: Path) -> None:
    """The alert rule removed: latency hits users, nobody is told. Rollbacks still run."""
    with sandbox.inject("alert-rule-removed", value="T01"):
        result = scenario.execute("CH-02", sandbox.state_dir, tmp_path)
    assert result.verdict == runner.FAIL, result.reasons
    why = " ".join(result.reasons)
    assert "T01 did not fire" in why
    assert "alert rule SparkCanaryLatencyP95High is not loaded" in why
    assert {r["status"] for r in result.journal["rollbacks"]} == {"succeeded"}
    assert_rolled_back(sandbox)


def test_rollbacks_run_when_an_activity_raises(sandbox: Sandbox, tmp_path: Path) -> None:
    experiment = runner.load(scenario.experiment_path("CH-02"))
    broken = copy.deepcopy(experiment)
    boom = {
        "type": "probe",
        "name": "raises",
        "provider": {
            "type": "python",
            "module": "pytest_spark.chaos.probes",
            "func": "trigger_state",
            "arguments": {"trigger": "T99"},  # KeyError inside the provider
        },
    }
    broken["method"] = [*broken["method"][:2], boom]
    result = runner.run(broken, state_dir=sandbox.state_dir, run_dir=tmp_path)
    assert result.verdict == runner.ERROR
    assert any("'raises' failed" in r for r in result.reasons), result.reasons
    assert {r["status"] for r in result.journal["rollbacks"]} == {"succeeded"}
    assert_rolled_back(sandbox)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_rollbacks_run_on_a_signal(sandbox: Sandbox, tmp_path: Path, signum: int) -> None:
    proc = subprocess.Popen(
        [sys.executable, str(CHILD), str(sandbox.state_dir), str(tmp_path)],
        env=c.python_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        marks = tmp_path / "marks.json"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if marks.exists() and "fault_start" in json.loads(marks.read_text() or "{}"):
                break
            time.sleep(0.2)
        assert proc.poll() is None, proc.communicate()[0][-3000:]
        assert sandbox.chaos_state().get("routed") == ["api-pgbouncer"]  # the fault is on
        proc.send_signal(signum)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "finished without a signal" not in out, out[-3000:]
    assert proc.returncode != 0
    journal = json.loads((tmp_path / "journal.json").read_text())
    assert journal["status"] == "interrupted"
    assert {r["status"] for r in journal["rollbacks"]} == {"succeeded"}, out[-3000:]
    assert_rolled_back(sandbox)


def _pytest(sandbox: Sandbox, tmp_path: Path, *args: str) -> tuple[int, str]:
    proc = subprocess.run(
        [
            sys.executable, "-m", "pytest", str(ROOT / "checks"), "-p", "no:cacheprovider",
            "--release", "v1.4.0", "--spark-sandbox", "--spark-sandbox-dir", str(sandbox.state_dir),
            "--spark-evidence-dir", str(tmp_path), *args,
        ],
        capture_output=True, text=True, timeout=900, check=False, cwd=ROOT,
    )  # fmt: skip
    return proc.returncode, proc.stdout + proc.stderr


@pytest.mark.timeout(900)  # six scenarios (CH-01..CH-06, ~4 min), then the preflight suite
def test_chaos_suite_is_go_and_preflight_after_it_too(sandbox: Sandbox, tmp_path: Path) -> None:
    rc, out = _pytest(
        sandbox, tmp_path / "chaos", "-m", "chaos",
        "--spark-allow-disruptive", "--spark-allow-writes",
    )  # fmt: skip
    assert rc == 0, out[-4000:]
    assert "SPARK VERDICT: GO for chaos" in out, out[-2000:]
    assert_rolled_back(sandbox)
    rc, out = _pytest(sandbox, tmp_path / "preflight", "-m", "preflight")
    assert rc == 0, out[-4000:]
    assert "SPARK VERDICT: GO for preflight (9 of 9)" in out, out[-2000:]


def test_chaos_checks_are_refused_without_allow_disruptive(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    _rc, out = _pytest(sandbox, tmp_path, "-m", "chaos")
    assert "CH-02 is disruptive; pass --spark-allow-disruptive" in out, out[-3000:]
    assert sandbox.chaos_state().get("routed", []) == []
