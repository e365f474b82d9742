"""PF-03 headroom: each resource against the 80 % limit, and unmeasured inputs."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_spark.rules.findings import codes
from pytest_spark.rules.saturation import evaluate_saturation

HEALTHY: dict[str, Any] = {
    "cpu": {"api-1": 0.21, "api-2": 0.18},
    "memory": 0.42,
    "db_connections_used": 12,
    "db_connections_max": 100,
    "db_reserved": 3,
    "pgbouncer_cl_waiting": 0,
    "pgbouncer_maxwait_s": 0.0,
}


def run(**over: Any) -> list[Any]:
    args = dict(HEALTHY)
    args.update(over)
    return evaluate_saturation(**args)


def test_healthy_inputs_pass() -> None:
    assert run() == []


def test_cpu_of_one_instance_over_the_limit() -> None:
    [f] = run(cpu={"api-1": 0.2, "api-2": 0.913})
    assert f.code == "saturation-cpu"
    assert f.message == "API CPU of api-2 at 91.3 % (limit 80 %)"


def test_memory_as_single_number() -> None:
    [f] = run(memory=0.85)
    assert f.code == "saturation-memory" and f.message == "API memory at 85.0 % (limit 80 %)"


def test_limit_is_exclusive_and_configurable() -> None:
    assert codes(run(memory=0.8)) == ["saturation-memory"]
    assert run(memory=0.8, limit=0.9) == []


def test_db_connections_measured_against_usable_slots() -> None:
    [f] = run(db_connections_used=80)
    assert f.code == "saturation-db-connections"
    assert "82.5 %: 80 of 97 usable (max_connections 100 - reserved 3)" in f.message
    assert run(db_connections_used=77) == []


def test_db_with_no_usable_slots_is_full() -> None:
    assert codes(run(db_connections_used=0, db_connections_max=3)) == ["saturation-db-connections"]


def test_pgbouncer_waiting_and_maxwait() -> None:
    found = run(pgbouncer_cl_waiting=2, pgbouncer_maxwait_s=1.2)
    assert codes(found) == ["saturation-pgbouncer-waiting", "saturation-pgbouncer-maxwait"]
    assert "2 client(s) waiting" in found[0].message
    assert "maxwait 1.200 s (limit 1 s)" in found[1].message


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("cpu", None),
        ("cpu", {}),
        ("cpu", {"api-1": None}),
        ("memory", None),
        ("db_connections_used", None),
        ("db_connections_max", None),
        ("pgbouncer_cl_waiting", None),
        ("pgbouncer_maxwait_s", None),
    ],
)
def test_unmeasured_resource_is_reported(field: str, value: Any) -> None:
    assert codes(run(**{field: value})) == ["saturation-not-measured"]
