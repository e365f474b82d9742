"""CH-01, CH-03.. on the real stack, proven both ways (CHAOS.md; issue 12).

Each scenario's healthy run is the chaos suite run through the plugin
(test_chaos_scenarios.py::test_chaos_suite_is_go_and_preflight_after_it_too).
Here: its steady-state-only run passes (the hypothesis is not vacuous: the
load still runs and is reconciled, the triggers are judged), and under a
sandbox switch that removes the resilience it tests it FAILS, naming what
broke, with every rollback run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_spark.chaos import probes, runner, scenario
from pytest_spark.sandbox.launcher import Sandbox


@pytest.fixture(autouse=True)
def settled(sandbox: Sandbox) -> None:
    probes.settle({"spark_state_dir": str(sandbox.state_dir)})


def rolled_back(result: runner.Result) -> bool:
    return {r["status"] for r in result.journal["rollbacks"]} == {"succeeded"}


def test_ch01_steady_state_only_passes_with_its_load_reconciled(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    result = scenario.execute("CH-01", sandbox.state_dir, tmp_path, steady_state_only=True)
    assert result.verdict == runner.PASS, result.reasons
    assert not any(
        r["activity"]["name"] == "kill-app-db-connections-twice" for r in result.journal["run"]
    )
    rec = result.extra["reconciliation"]
    assert rec["ok"] and rec["keys"] > 0 and rec["orders_found"] == rec["keys"], rec
    assert result.extra["triggers"][0]["message"].startswith("T02 quiet"), result.extra
    assert rolled_back(result)


def test_ch01_fails_naming_duplicate_orders_when_retries_are_not_idempotent(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """No unique key, check-then-insert: the hedged first attempts and the retries after
    a killed connection create a key's order twice; the reconciliation names the keys."""
    with sandbox.inject("no-idempotency-unique"):
        result = scenario.execute("CH-01", sandbox.state_dir, tmp_path)
    assert result.verdict == runner.FAIL, result.reasons
    why = " ".join(result.reasons)
    assert "orders-exactly-once" in why
    assert "created 2 orders (retries not idempotent)" in why
    assert rolled_back(result)
    assert probes.api_healthy({"spark_state_dir": str(sandbox.state_dir)})


def test_ch03_steady_state_only_passes_and_nothing_fires(sandbox: Sandbox, tmp_path: Path) -> None:
    result = scenario.execute("CH-03", sandbox.state_dir, tmp_path, steady_state_only=True)
    assert result.verdict == runner.PASS, result.reasons
    names = {r["activity"]["name"] for r in result.journal["run"]}
    assert "sigkill-canary-api-1" not in names and "order-load" in names
    assert [f["message"] for f in result.extra["triggers"]] == [
        "SparkApiInstanceDown quiet (no fault injected)",
        "T02 quiet (no fault injected)",
    ]
    assert result.extra["reconciliation"]["ok"]
    assert rolled_back(result)


def test_ch03_fails_naming_the_missing_instance_down_alert(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """The instance-down rule removed: the crash is hidden by HAProxy and nobody is told."""
    with sandbox.inject("alert-rule-removed", value="SparkApiInstanceDown"):
        result = scenario.execute("CH-03", sandbox.state_dir, tmp_path)
    assert result.verdict == runner.FAIL, result.reasons
    why = " ".join(result.reasons)
    assert "SparkApiInstanceDown did not fire" in why
    assert "alert rule SparkApiInstanceDown is not loaded" in why
    assert rolled_back(result)
    assert probes.api_healthy({"spark_state_dir": str(sandbox.state_dir)})
    assert sandbox.record("revive-api-1") is None  # the reviver went with the rollback


def test_ch04_steady_state_only_passes_with_its_events_reconciled(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    result = scenario.execute("CH-04", sandbox.state_dir, tmp_path, steady_state_only=True)
    assert result.verdict == runner.PASS, result.reasons
    assert "stall-outbox-relay" not in {r["activity"]["name"] for r in result.journal["run"]}
    rec = result.extra["reconciliation"]
    assert rec["ok"] and rec["events"] > 0 and rec["deliveries"] >= rec["events"], rec
    assert [f["message"] for f in result.extra["triggers"]] == ["T11 quiet (no fault injected)"]
    assert rolled_back(result)


def test_ch04_fails_naming_events_delivered_twice_when_relay_dedupe_is_off(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """The resumed relay replays from a checkpoint before the stall without dropping what
    it had delivered: the consumer hears events twice or more; the run names them."""
    with sandbox.inject("relay-dedupe-off"):
        result = scenario.execute("CH-04", sandbox.state_dir, tmp_path)
    assert result.verdict == runner.FAIL, result.reasons
    why = " ".join(result.reasons)
    assert "events-exactly-once: event" in why and "times (no dedupe)" in why
    assert rolled_back(result)
    assert "relay-stopped" not in sandbox.active_faults()


def test_ch05_steady_state_only_passes_with_every_read_200(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    result = scenario.execute("CH-05", sandbox.state_dir, tmp_path, steady_state_only=True)
    assert result.verdict == runner.PASS, result.reasons
    assert "exhaust-pgbouncer-pool" not in {r["activity"]["name"] for r in result.journal["run"]}
    reads = result.extra["reconciliation"]
    assert reads["ok"] and reads["reads"] > 0 and reads["200"] == reads["reads"], reads
    assert [f["message"] for f in result.extra["triggers"]] == [
        "T06 quiet (no fault injected)",
        "T10 quiet (no fault injected)",
    ]
    assert rolled_back(result)


def test_ch05_fails_naming_the_missing_pool_saturation_alert(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """T06's rule removed: the pool is exhausted and the on-call is not paged for it."""
    with sandbox.inject("alert-rule-removed", value="T06"):
        result = scenario.execute("CH-05", sandbox.state_dir, tmp_path)
    assert result.verdict == runner.FAIL, result.reasons
    why = " ".join(result.reasons)
    assert "T06 did not fire" in why
    assert "alert rule SparkPgBouncerPoolSaturated is not loaded" in why
    assert rolled_back(result)
    assert probes.api_healthy({"spark_state_dir": str(sandbox.state_dir)})


def test_ch06_steady_state_only_passes_with_fresh_clients(sandbox: Sandbox, tmp_path: Path) -> None:
    result = scenario.execute("CH-06", sandbox.state_dir, tmp_path, steady_state_only=True)
    assert result.verdict == runner.PASS, result.reasons
    assert "ws-disconnect-storm" not in {r["activity"]["name"] for r in result.journal["run"]}
    feed = result.extra["reconciliation"]
    assert feed["ok"] and feed["clients"] == 8 and feed["connects"] >= 8, feed
    assert [f["message"] for f in result.extra["triggers"]] == ["T13 quiet (no fault injected)"]
    assert rolled_back(result)


def test_ch06_fails_naming_the_missing_disconnect_storm_alert(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    with sandbox.inject("alert-rule-removed", value="T13"):
        result = scenario.execute("CH-06", sandbox.state_dir, tmp_path)
    assert result.verdict == runner.FAIL, result.reasons
    why = " ".join(result.reasons)
    assert "T13 did not fire" in why
    assert "alert rule SparkCanaryWebSocketDisconnectStorm is not loaded" in why
    assert rolled_back(result)
    assert "canary-ws-storm" not in sandbox.active_faults()
