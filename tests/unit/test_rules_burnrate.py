"""BS-08 burn-rate / error-budget math and the PF-09 baseline rule."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_spark.rules import burnrate
from pytest_spark.rules.burnrate import coverage_query, evaluate_burn
from pytest_spark.rules.findings import codes

HEALTHY = {"5m": 0.0005, "30m": 0.001, "1h": 0.001, "6h": 0.002, "30d": 0.003}


def test_burn_rate_and_budget():
    assert burnrate.burn_rate(0.01, 0.99) == pytest.approx(1.0)
    assert burnrate.burn_rate(0.144, 0.99) == pytest.approx(14.4)
    assert burnrate.burn_rate(0.01, 0.99) == 1.0  # budget is exactly 0.01, not 1 - 0.99 in float
    assert burnrate.burn_rate(0.0, 0.999) == 0.0
    assert burnrate.budget_remaining(0.0025, 0.99) == pytest.approx(0.75)
    assert burnrate.budget_remaining(0.02, 0.99) == pytest.approx(-1.0)
    assert math.isnan(burnrate.burn_rate(float("nan")))


@pytest.mark.parametrize("slo", [0, 1, 1.5, -0.1, float("nan")])
def test_slo_must_be_a_fraction(slo):
    with pytest.raises(ValueError, match="slo"):
        burnrate.burn_rate(0.01, slo)


def test_healthy_windows_pass():
    assert burnrate.evaluate_burn(HEALTHY) == []


def test_fault_5xx_burst_pages_fast_and_slow():
    burst = {"5m": 0.5, "30m": 0.2, "1h": 0.16, "6h": 0.07, "30d": 0.004}
    findings = burnrate.evaluate_burn(burst)
    assert codes(findings) == ["burn-fast", "burn-slow"]
    assert "16.0x over 1h" in findings[0].message and "50.0x over 5m" in findings[0].message


def test_fast_needs_both_windows():
    # A spike in the last 5 minutes alone does not page: the 1h window is calm.
    assert burnrate.evaluate_burn({**HEALTHY, "5m": 0.5}) == []
    # A 1h burn that has already stopped does not page either.
    assert burnrate.evaluate_burn({**HEALTHY, "1h": 0.5}) == []


def test_thresholds_are_inclusive():
    windows = {**HEALTHY, "1h": 0.144, "5m": 0.144}
    assert codes(burnrate.evaluate_burn(windows)) == ["burn-fast"]
    windows = {**HEALTHY, "1h": 0.1439, "5m": 0.144}
    assert burnrate.evaluate_burn(windows) == []


def test_budget_exhausted():
    [finding] = burnrate.evaluate_burn({**HEALTHY, "30d": 0.01})
    assert finding.code == "budget-exhausted" and "0.0% left over 30d" in finding.message
    assert codes(burnrate.evaluate_burn({**HEALTHY, "30d": 0.0099})) == []


def test_missing_data_is_a_finding_not_a_pass():
    windows = {k: v for k, v in HEALTHY.items() if k != "1h"}
    [finding] = burnrate.evaluate_burn(windows)
    assert (finding.code, finding.message) == ("no-data-1h", "no data for window 1h")
    nan = burnrate.evaluate_burn({**HEALTHY, "30m": float("nan"), "30d": None})
    assert codes(nan) == ["no-data-30m", "no-data-30d"]
    assert "NaN" in nan[0].message


def test_missing_short_window_hides_no_burn():
    # The fast pair cannot be judged without 5m, even while 1h burns: the
    # no-data finding fails the check, nothing is silently passed.
    windows = {**HEALTHY, "1h": 0.5}
    del windows["5m"]
    assert codes(burnrate.evaluate_burn(windows)) == ["no-data-5m"]


def test_invalid_ratios():
    findings = burnrate.evaluate_burn({**HEALTHY, "6h": 1.5, "1h": -0.1, "5m": "x"})  # type: ignore[dict-item]
    assert codes(findings) == ["invalid-1h", "invalid-5m", "invalid-6h"]


def test_custom_slo_and_pairs():
    windows = {"1h": 0.02, "5m": 0.02, "30d": 0.0001}
    pairs = (("1h", "5m", 14.4, "fast"),)
    assert codes(burnrate.evaluate_burn(windows, 0.999, pairs=pairs)) == ["burn-fast"]
    assert burnrate.evaluate_burn(windows, 0.99, pairs=pairs) == []


# --- PF-09 baseline ------------------------------------------------------------------------

BASELINE = {
    "api_p95_latency_seconds": 0.085,
    "error_rate_5xx": 0.001,
    "ws_staleness_p95_seconds": 0.4,
    "risk_block_rate": 0.0,
    "idempotency_conflict_rate": 0.0,
    "csp_violation_rate": 0.0,
}


def test_baseline_healthy():
    assert burnrate.evaluate_baseline(BASELINE) == []


def test_baseline_no_traffic_is_no_data():
    no_traffic = {k: float("nan") for k in BASELINE}
    findings = burnrate.evaluate_baseline(no_traffic)
    assert len(findings) == len(BASELINE)
    assert all(c.startswith("no-data-") for c in codes(findings))
    assert codes(burnrate.evaluate_baseline({})) == [
        "no-data-error_rate_5xx",
        "no-data-api_p95_latency_seconds",
    ]
    assert codes(burnrate.evaluate_baseline({**BASELINE, "risk_block_rate": None})) == [
        "no-data-risk_block_rate"
    ]


def test_baseline_breaking_the_slo():
    findings = burnrate.evaluate_baseline(
        {**BASELINE, "error_rate_5xx": 0.02, "api_p95_latency_seconds": 0.2}
    )
    assert codes(findings) == ["baseline-error-rate", "baseline-latency"]
    assert "200.0 ms is not below 200 ms" in findings[1].message


# --- properties -------------------------------------------------------------------------------

_RATIO = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True), st.floats(0, 1))


@given(st.dictionaries(st.sampled_from(["5m", "30m", "1h", "6h", "30d", "2h"]), _RATIO))
def test_evaluate_never_raises_and_missing_windows_always_reported(windows):
    findings = burnrate.evaluate_burn(windows)
    for name in ("5m", "30m", "1h", "6h", "30d"):
        value = windows.get(name)
        if value is None or math.isnan(value):
            assert f"no-data-{name}" in codes(findings)


@given(st.floats(0, 1), st.floats(0.5, 0.9999))
def test_budget_and_burn_are_consistent(ratio, slo):
    assert burnrate.budget_remaining(ratio, slo) == pytest.approx(
        1 - burnrate.burn_rate(ratio, slo)
    )
    exhausted = "budget-exhausted" in codes(burnrate.evaluate_burn({"30d": ratio}, slo, pairs=()))
    spent = burnrate.burn_rate(ratio, slo)
    if spent > 1 + 1e-6:
        assert exhausted
    elif spent < 1 - 1e-6:
        assert not exhausted


@given(st.floats(0, 1), st.floats(0, 1), st.floats(0.9, 0.9999))
def test_burn_monotonic(a, b, slo):
    lo, hi = sorted((a, b))
    assert burnrate.burn_rate(lo, slo) <= burnrate.burn_rate(hi, slo)


# --- how much of the budget window the data covers


def _healthy(**over: float | None) -> dict[str, float | None]:
    windows: dict[str, float | None] = {"5m": 0.0, "30m": 0.0, "1h": 0.0, "6h": 0.0, "30d": 0.002}
    windows.update(over)
    return windows


def test_short_history_is_named_in_a_warning() -> None:
    found = evaluate_burn(_healthy(), 0.99, covered_s=2.5 * 3600)
    assert [f.code for f in found] == ["budget-window-partial"]
    assert found[0].severity == "warn"
    assert "error budget 80.0% left over 30d; the 30d figures cover only 2.5 h of data" in (
        found[0].message
    )


def test_exhausted_budget_says_what_it_covers() -> None:
    found = evaluate_burn(_healthy(**{"30d": 0.02}), 0.99, covered_s=1200)
    assert [f.code for f in found] == ["budget-exhausted"]
    assert found[0].severity == "fail"
    assert "the 30d figures cover only 20 min of data" in found[0].message


@pytest.mark.parametrize("covered", [30 * 86400, 30 * 86400 - 60, None, math.nan])
def test_a_full_window_or_no_measurement_adds_nothing(covered: float | None) -> None:
    assert evaluate_burn(_healthy(), 0.99, covered_s=covered) == []


def test_coverage_query_quotes_the_job() -> None:
    q = coverage_query("spark_http_requests_total", 'a"b', "30d")
    series = 'count(spark_http_requests_total{job="a\\"b"})'
    assert q == (
        f"(time() - min_over_time(timestamp({series})[30d:1m])) or "
        f"(time() - min_over_time(timestamp({series})[1h:5s])) or (vector(0) and {series})"
    )
