"""No comparison with NaN (or inf) can pass a check: limits from config, values from targets."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_spark.rules.burnrate import evaluate_burn
from pytest_spark.rules.clocks import skew_findings
from pytest_spark.rules.limits import below, exceeds, finite, reaches
from pytest_spark.rules.metrics_catalog import freshness_findings
from pytest_spark.rules.outbox import evaluate_outbox
from pytest_spark.rules.saturation import evaluate_saturation

NAN, INF = float("nan"), float("inf")
NON_FINITE = [NAN, INF, -INF, None, "1.0", True]


@pytest.mark.parametrize("bad", NON_FINITE)
def test_every_helper_fails_on_a_non_finite_side(bad):
    for helper in (exceeds, reaches, below):
        assert helper(bad, 1.0) and helper(1.0, bad)


def test_helpers_agree_with_plain_comparisons_on_numbers():
    assert not exceeds(1, 1) and exceeds(1.5, 1) and reaches(1, 1) and not reaches(0.9, 1)
    assert below(0.5, 1) and not below(1, 1)
    assert finite(Decimal("4.8")) and exceeds(Decimal("4.8"), 1.0)
    assert not finite(Decimal("NaN")) and not finite(True)


@given(st.floats(allow_nan=True), st.floats(allow_nan=True))
def test_a_pass_needs_two_finite_numbers(value, limit):
    if not exceeds(value, limit):
        assert math.isfinite(value) and math.isfinite(limit) and value <= limit
    if not reaches(value, limit):
        assert math.isfinite(value) and math.isfinite(limit) and value < limit
    if not below(value, limit):
        assert math.isfinite(value) and math.isfinite(limit) and value >= limit


def test_clock_skew_limit_nan_with_a_4_8_s_skew_fails():
    """Issue 8: thresholds.clock_skew_s = nan with a 4.8 s skew was GO."""
    assert [f.code for f in skew_findings({"api": 0.0, "db": 4.8}, max_skew=NAN)] == ["clock-skew"]
    assert skew_findings({"api": 0.0, "db": 4.8}, max_skew=INF)
    assert not skew_findings({"api": 0.0, "db": 0.2}, max_skew=1.0)


def test_outbox_with_nan_limits_and_the_relay_stopped_fails():
    """Issue 8: RT-03 with NaN limits and the relay stopped was GO."""
    found = evaluate_outbox(
        backlog=40,
        oldest_age_s=120.0,
        heartbeat_age_s=300.0,
        max_age_s=NAN,
        max_backlog=NAN,
        heartbeat_max_age_s=NAN,
    )
    assert {f.code for f in found} >= {
        "outbox-lag",
        "outbox-backlog",
        "outbox-heartbeat-stale",
    }


def test_outbox_nan_observations_fail():
    """Prometheus renders a missing heartbeat age as "NaN": not a fresh heartbeat."""
    found = evaluate_outbox(backlog=3, oldest_age_s=NAN, heartbeat_age_s=NAN)
    assert {f.code for f in found} >= {"outbox-lag", "outbox-heartbeat-stale"}
    assert not evaluate_outbox(backlog=0, oldest_age_s=None, heartbeat_age_s=1.0)


def test_saturation_nan_ratio_or_limit_fails():
    base = dict(
        db_connections_used=1,
        db_connections_max=100,
        pgbouncer_cl_waiting=0,
        pgbouncer_maxwait_s=0.0,
    )
    assert not evaluate_saturation(cpu=0.1, memory=0.1, **base)
    assert evaluate_saturation(cpu=NAN, memory=0.1, **base)
    assert evaluate_saturation(cpu=0.1, memory={"api-1": NAN}, **base)
    assert evaluate_saturation(cpu=0.1, memory=0.1, limit=NAN, **base)
    assert evaluate_saturation(cpu=0.1, memory=0.1, **dict(base, pgbouncer_maxwait_s=NAN))


def test_metric_freshness_inf_age_or_nan_limit_fails():
    assert freshness_findings({"up": INF}, job="api", max_age=60.0)
    assert freshness_findings({"up": 1.0}, job="api", max_age=NAN)
    assert not freshness_findings({"up": 1.0}, job="api", max_age=60.0)


def test_burn_threshold_nan_is_not_a_silent_pass():
    windows = {"5m": 0.5, "30m": 0.5, "1h": 0.5, "6h": 0.5, "30d": 0.0}
    pairs = (("1h", "5m", NAN, "fast"),)
    assert any(f.code == "burn-fast" for f in evaluate_burn(windows, pairs=pairs))


def test_pgbouncer_nan_limits_do_not_pass():
    from pytest_spark.rules.pgbouncer import evaluate_pools

    row = {"database": "spark", "user": "app", "cl_waiting": 0, "maxwait": 0, "maxwait_us": 0}
    sample = {"at": 1_700_000_000.0, "pools": [row]}
    assert not [f for f in evaluate_pools([sample]) if f.code == "pgbouncer-maxwait"]
    found = evaluate_pools([sample], max_wait_s=NAN)
    assert [f.code for f in found if f.code == "pgbouncer-maxwait"] == ["pgbouncer-maxwait"]
