"""RT-03 outbox lag and RT-02 idempotency outcomes, key TTL and purge."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_spark.rules.findings import codes
from pytest_spark.rules.outbox import (
    evaluate_idempotency_race,
    evaluate_key_misuse,
    evaluate_key_ttl,
    evaluate_outbox,
)

NOW = datetime(2026, 5, 4, 12, 0, 0, tzinfo=UTC)


def lag_row(**over: Any) -> dict[str, Any]:
    """An OUTBOX_LAG_SQL row."""
    row: dict[str, Any] = {
        "backlog": 3,
        "oldest_created_at": NOW - timedelta(seconds=2),
        "oldest_age_s": 2.0,
        "observed_at": NOW,
    }
    row.update(over)
    return row


# --- RT-03 -----------------------------------------------------------------------


def test_healthy_outbox_passes() -> None:
    assert evaluate_outbox(**lag_row(), heartbeat_at=NOW - timedelta(seconds=1)) == []


def test_empty_outbox_passes() -> None:
    row = lag_row(backlog=0, oldest_created_at=None, oldest_age_s=None)
    assert evaluate_outbox(**row, heartbeat_age_s=0.5) == []


def test_old_unpublished_row_fails() -> None:
    [f] = evaluate_outbox(**lag_row(oldest_age_s=45.25), heartbeat_age_s=1)
    assert f.code == "outbox-lag"
    assert f.message == "oldest unpublished outbox row is 45.2 s old (limit 30 s); backlog 3"


def test_age_derived_from_timestamps() -> None:
    row = lag_row(oldest_age_s=None, oldest_created_at=NOW - timedelta(minutes=3))
    assert codes(evaluate_outbox(**row, heartbeat_age_s=1)) == ["outbox-lag"]


def test_backlog_over_threshold() -> None:
    [f] = evaluate_outbox(**lag_row(backlog=1500), heartbeat_age_s=1, max_backlog=1000)
    assert f.code == "outbox-backlog" and "1500 unpublished rows (limit 1000)" in f.message


def test_stale_and_missing_heartbeat() -> None:
    [f] = evaluate_outbox(**lag_row(), heartbeat_at=NOW - timedelta(seconds=25))
    assert f.code == "outbox-heartbeat-stale" and "25.0 s old (limit 10 s)" in f.message
    assert codes(evaluate_outbox(**lag_row())) == ["outbox-heartbeat-missing"]
    assert evaluate_outbox(**lag_row(), require_heartbeat=False) == []


def test_heartbeat_from_prometheus_epoch_against_explicit_now() -> None:
    hb = (NOW - timedelta(seconds=4)).timestamp()
    assert evaluate_outbox(**lag_row(), heartbeat_at=hb, now=NOW) == []


def test_relay_stopped_fault_shows_all_three() -> None:
    row = lag_row(backlog=2400, oldest_age_s=300.0)
    found = evaluate_outbox(**row, heartbeat_at=NOW - timedelta(minutes=5), max_backlog=1000)
    assert codes(found) == ["outbox-lag", "outbox-backlog", "outbox-heartbeat-stale"]


def test_unmeasured_inputs() -> None:
    assert codes(evaluate_outbox(backlog=None, heartbeat_age_s=1)) == ["outbox-unmeasured"]
    assert codes(evaluate_outbox(backlog=5, heartbeat_age_s=1)) == ["outbox-unmeasured"]


# --- RT-02 race ------------------------------------------------------------------

ORDER = "7f3c2a10-0000-4000-8000-000000000001"


def test_one_created_rest_replayed_or_conflict() -> None:
    responses = [{"status": 201, "order_id": ORDER}] + [{"status": 200, "order_id": ORDER}] * 4
    responses += [{"status": 409, "order_id": None}] * 3
    assert evaluate_idempotency_race(responses, [ORDER]) == []
    assert evaluate_idempotency_race([(201, ORDER), (409,)], 1) == []


def test_duplicate_orders_when_unique_key_is_gone() -> None:
    other = ORDER[:-1] + "2"
    responses = [(201, ORDER), (201, other), (200, ORDER)]
    found = evaluate_idempotency_race(responses, [ORDER, other])
    assert codes(found) == ["idempotency-duplicate-orders", "idempotency-divergent-replay"]
    assert "3 concurrent POSTs with one Idempotency-Key created 2 orders" in found[0].message


def test_no_order_and_no_success() -> None:
    found = evaluate_idempotency_race([(409, None), (409, None)], 0)
    assert codes(found) == ["idempotency-no-order", "idempotency-no-success"]


def test_unexpected_statuses_are_counted() -> None:
    [f] = evaluate_idempotency_race([(201, ORDER), (500, None), (502, None), (500, None)], 1)
    assert f.code == "idempotency-unexpected-status"
    assert f.message == "3 of 4 responses had unexpected status (500, 502); allowed: 200, 201, 409"


def test_success_without_order_id_diverges() -> None:
    assert codes(evaluate_idempotency_race([(201, ORDER), (200, "")], 1)) == [
        "idempotency-divergent-replay"
    ]


def test_response_naming_an_order_the_db_does_not_hold() -> None:
    assert codes(evaluate_idempotency_race([(201, "x")], ["y"])) == ["idempotency-order-mismatch"]


@given(st.integers(1, 16), st.integers(0, 16))
def test_clean_race_outcomes_always_pass(n: int, conflicts: int) -> None:
    responses = [(201, ORDER)] + [(200, ORDER)] * (n - 1) + [(409, None)] * conflicts
    assert evaluate_idempotency_race(responses, [ORDER]) == []


@given(
    st.lists(
        st.tuples(st.sampled_from([200, 201, 409, 422, 500]), st.sampled_from(["a", "b", None])),
        max_size=10,
    ),
    st.integers(0, 3),
)
def test_race_evaluation_never_raises_and_counts_orders(responses: list[Any], count: int) -> None:
    found = codes(evaluate_idempotency_race(responses, count))
    assert ("idempotency-duplicate-orders" in found) == (count > 1)
    assert ("idempotency-no-order" in found) == (count == 0)


# --- RT-02 misuse ----------------------------------------------------------------


def test_key_misuse_statuses() -> None:
    assert evaluate_key_misuse(different_body_status=422, missing_key_status=400) == []
    found = evaluate_key_misuse(different_body_status=200, missing_key_status=201)
    assert codes(found) == ["idempotency-body-mismatch", "idempotency-missing-key"]
    assert "got 200, expected 422" in found[0].message
    assert "got 201, expected 400" in found[1].message
    assert evaluate_key_misuse(different_body_status=None, missing_key_status=None) == []


# --- RT-02 TTL and purge ---------------------------------------------------------


def ttl_row(**over: Any) -> dict[str, Any]:
    """An IDEMPOTENCY_KEYS_SQL row."""
    row: dict[str, Any] = {
        "key_count": 120,
        "min_ttl_s": 86400.0,
        "oldest_expires_at": NOW + timedelta(hours=2),
        "overdue_count": 0,
        "observed_at": NOW,
    }
    row.update(over)
    return row


def test_healthy_keys_pass() -> None:
    assert evaluate_key_ttl(**ttl_row()) == []


def test_short_ttl_fails() -> None:
    [f] = evaluate_key_ttl(**ttl_row(min_ttl_s=3600.0))
    assert f.code == "idempotency-ttl-short"
    assert "is 3600.0 s, below the required 24.0 h" in f.message


def test_stopped_purge_fails() -> None:
    row = ttl_row(overdue_count=7, oldest_expires_at=NOW - timedelta(hours=6))
    [f] = evaluate_key_ttl(**row)
    assert f.code == "idempotency-purge-stalled"
    assert f.message.startswith("7 idempotency key(s) expired more than 3600.0 s ago")
    assert "oldest expired 6.0 h ago" in f.message


def test_purge_derived_without_count() -> None:
    row = ttl_row(overdue_count=None, oldest_expires_at=NOW - timedelta(hours=2))
    [f] = evaluate_key_ttl(**row)
    assert f.message.startswith("at least 1 idempotency key(s)")
    within_grace = ttl_row(overdue_count=None, oldest_expires_at=NOW - timedelta(minutes=30))
    assert evaluate_key_ttl(**within_grace) == []


@pytest.mark.parametrize("count", [0, None])
def test_no_keys_cannot_verify(count: int | None) -> None:
    assert codes(evaluate_key_ttl(**ttl_row(key_count=count))) == ["idempotency-no-keys"]
