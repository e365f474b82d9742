"""Chaos scenarios (CHAOS.md), each a Chaos Toolkit experiment in checks/chaos/.

Disruptive: they inject real faults into the sandbox stack, so they need
--spark-allow-disruptive and are refused when policy.production is true.
Each runs through chaostoolkit-lib with rollbacks ALWAYS; its evidence is the
journal, the trigger timeline and the load it ran.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_spark.probes import ProbeError


def _scenario(check_id: str, spark_sandbox: Any, evidence: Any, tmp_path: Path) -> None:
    from pytest_spark.chaos import runner, scenario

    result = scenario.execute(check_id, spark_sandbox.state_dir, tmp_path / "run", evidence)
    why = "; ".join(result.reasons)
    if result.verdict == runner.ERROR:
        raise ProbeError(f"{check_id} could not deviate-check: {why}")
    assert result.verdict == runner.PASS, f"{check_id}: {why}"


@pytest.mark.spark_check("CH-01")
def test_ch01_db_connections_killed_orders_exactly_once(
    spark_sandbox: Any, evidence: Any, tmp_path: Path
) -> None:
    _scenario("CH-01", spark_sandbox, evidence, tmp_path)


@pytest.mark.spark_check("CH-02")
def test_ch02_db_latency_fires_t01(spark_sandbox: Any, evidence: Any, tmp_path: Path) -> None:
    _scenario("CH-02", spark_sandbox, evidence, tmp_path)


@pytest.mark.spark_check("CH-03")
def test_ch03_canary_instance_killed_alert_fires_not_t02(
    spark_sandbox: Any, evidence: Any, tmp_path: Path
) -> None:
    _scenario("CH-03", spark_sandbox, evidence, tmp_path)


@pytest.mark.spark_check("CH-04")
def test_ch04_outbox_relay_stalled_t11_events_exactly_once(
    spark_sandbox: Any, evidence: Any, tmp_path: Path
) -> None:
    _scenario("CH-04", spark_sandbox, evidence, tmp_path)


@pytest.mark.spark_check("CH-05")
def test_ch05_pgbouncer_pool_exhausted_503_in_time_t06_t10(
    spark_sandbox: Any, evidence: Any, tmp_path: Path
) -> None:
    _scenario("CH-05", spark_sandbox, evidence, tmp_path)


@pytest.mark.spark_check("CH-06")
def test_ch06_ws_disconnect_storm_backoff_fresh_t13(
    spark_sandbox: Any, evidence: Any, tmp_path: Path
) -> None:
    _scenario("CH-06", spark_sandbox, evidence, tmp_path)
