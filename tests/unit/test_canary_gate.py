"""One stage's decision from plain inputs: traffic split, the six metrics, triggers, data."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from pytest_spark.canary import gate, stats, triggers
from pytest_spark.canary.evaluate import TriggerState

CATALOG = {t.id: t for t in triggers.TRIGGERS}


def _track(track: str, n: int, *, slow: bool = False, errors: int = 0) -> gate.TrackData:
    le = (0.05, 0.1, 0.5, 1.0, math.inf)
    counts = (0, 0, n // 2, n - n // 2, 0) if slow else (n // 2, n - n // 2, 0, 0, 0)
    return gate.TrackData(
        track=track, window_s=10.0, requests=float(n), errors_5xx=float(errors),
        buckets=list(zip(le, counts, strict=True)), p95=0.9 if slow else 0.09,
        idem_requests=n * 0.4, idem_conflicts=0.0, risk_blocks=1.0, csp_reports=0.0,
        ws_staleness_p95=1.0,
    )  # fmt: skip


def test_healthy_canary_is_go() -> None:
    c, b = _track("canary", 100), _track("stable", 300)
    findings = gate.enough_data(c, b, 20)
    findings += gate.absolute_findings(c, CATALOG, alpha=0.01, pool_utilisation=0.2)
    findings += gate.comparison_findings(gate.compare_tracks(c, b, min_requests=20, alpha=0.01))
    decision = gate.decide(findings)
    assert decision.outcome == gate.GO, decision.message


def test_slow_canary_fails_naming_metric_trigger_and_numbers() -> None:
    c, b = _track("canary", 100, slow=True), _track("stable", 300)
    findings = gate.absolute_findings(c, CATALOG, alpha=0.01, pool_utilisation=0.2)
    findings += gate.comparison_findings(gate.compare_tracks(c, b, min_requests=20, alpha=0.01))
    decision = gate.decide(findings)
    assert decision.outcome == gate.NO_GO
    text = decision.message
    assert "latency_p95 = 900 ms breaks latency_p95 (T01 SparkCanaryLatencyP95High" in text
    assert "> 400 ms" in text and "Mann-Whitney" in text


def test_5xx_canary_fails_by_threshold_and_exact_test() -> None:
    c, b = _track("canary", 100, errors=10), _track("stable", 300)
    findings = gate.absolute_findings(c, CATALOG, alpha=0.01, pool_utilisation=0.2)
    comps = gate.compare_tracks(c, b, min_requests=20, alpha=0.01)
    (fisher,) = [x for x in comps if x.metric == "http_5xx"]
    assert fisher.decision == stats.FAIL and (fisher.p_value or 1) < 1e-4
    decision = gate.decide(findings + gate.comparison_findings(comps))
    assert "http_5xx = 10.00% breaks http_5xx (T02" in decision.message
    assert "exact binomial, H0 share <= 0.03: p=0.000" in decision.message


def test_a_few_conflicts_in_a_small_window_are_a_warning_not_a_failure() -> None:
    """3 conflicts in 25 idempotent requests against T05's 5 %: chance explains it
    (binomial tail 0.127), so it is marginal, not a NO-GO -- no ratio of tiny numbers."""
    c = _track("canary", 60)
    c.idem_requests, c.idem_conflicts = 25.0, 3.0
    found = [f for f in gate.absolute_findings(c, CATALOG, alpha=0.01, pool_utilisation=0.2)]
    (conf,) = [f for f in found if f.what == "idempotency_conflicts"]
    assert conf.level == gate.WARN and "p=0.127" in conf.message
    c.idem_requests, c.idem_conflicts = 100.0, 15.0  # 15 % of 100: beyond chance
    found = gate.absolute_findings(c, CATALOG, alpha=0.01, pool_utilisation=0.2)
    assert [f.level for f in found if f.what == "idempotency_conflicts"] == [gate.FAIL]


def test_t01_to_t06_alert_states_only_warn_t07_to_t16_fail() -> None:
    def state(tid: str) -> TriggerState:
        return TriggerState(tid, CATALOG[tid].alert, "firing", 0.2, 0.05, ">", 5.0, 0.0, 6, 6)

    found = gate.trigger_findings([state("T05"), state("T07")])
    assert [f.level for f in found] == [gate.WARN, gate.FAIL]


def test_too_little_traffic_is_inconclusive_never_go() -> None:
    c, b = _track("canary", 3), _track("stable", 300)
    findings = gate.enough_data(c, b, 20)
    decision = gate.decide(findings)
    assert decision.outcome == gate.NO_GO and not decision.failures
    assert "inconclusive: 3 requests on the canary track in 10 s, need 20" in decision.message


def test_missing_metric_is_an_error_not_a_pass() -> None:
    track = gate.TrackData("canary", 10.0, requests=50.0)
    findings = gate.absolute_findings(track, CATALOG, alpha=0.01, pool_utilisation=None)
    errors = [f for f in findings if f.level == gate.ERROR]
    assert {f.what for f in errors} == {
        "latency_p95", "http_5xx", "ws_staleness_p95", "idempotency_conflicts",
        "csp_violations", "pgbouncer_pool",
    }  # fmt: skip


def test_nothing_judged_is_no_go() -> None:
    assert gate.decide([]).outcome == gate.NO_GO


def test_firing_trigger_fails_pending_warns() -> None:
    def state(tid: str, s: str) -> TriggerState:
        return TriggerState(tid, CATALOG[tid].alert, s, 5.0, 0.0, ">", 5.0, 0.0, 6, 6)

    found = gate.trigger_findings([state("T14", "firing"), state("T09", "pending")])
    assert [f.level for f in found] == [gate.FAIL, gate.WARN]
    assert found[0].message.startswith("T14 SparkCanaryDecimalPrecisionErrors firing: value 5")


def test_an_enhanced_trigger_without_data_or_unjudged_is_inconclusive_never_ok() -> None:
    """CANARY.md: too little data is never GO. A T07..T16 value with no series, or T09
    breaking its threshold on processes younger than its window, is an ERROR."""

    def state(tid: str, s: str, value: float | None) -> TriggerState:
        return TriggerState(tid, CATALOG[tid].alert, s, value, 65536.0, ">", 300.0, 0.0, 0, 6)

    found = gate.trigger_findings(
        [
            state("T10", "inactive", None),
            state("T09", "unjudged", 9e5),
            state("T01", "inactive", None),
        ]
    )
    assert [f.level for f in found] == [gate.ERROR, gate.ERROR, gate.OK]
    assert found[0].message.startswith(
        "inconclusive: T10 SparkConnectionLeak inactive: value no data"
    )
    assert "precondition does not hold" in found[1].message
    assert gate.decide(found).outcome == gate.NO_GO


def test_a_nan_enhanced_trigger_value_is_said_never_passed_over() -> None:
    """NaN (0/0 over a rule window without requests) is a warning naming it; whether the
    canary had traffic at all is enough_data's decision (an ERROR when it had too little)."""
    nan = TriggerState("T08", CATALOG["T08"].alert, "inactive", float("nan"), 0.2, ">", 60.0, 0.0)
    (found,) = gate.trigger_findings([nan])
    assert found.level == gate.WARN and "NaN at this moment" in found.message


def test_t07_only_warns_at_100_percent_where_no_stable_track_is_live() -> None:
    """Seen in CI: a healthy 100 % stage, canary CSP reports 39.6/min against a stable
    track that no longer serves users (0/min) -> T07 fired. The window's tests against
    the previous stage's stable window judge that stage; T07 still fails below 100 %."""
    t07 = TriggerState("T07", CATALOG["T07"].alert, "firing", 2.0, 2.0, ">=", 5.0, 0.0, 6, 6)
    (at_100,) = gate.trigger_findings([t07], stable_live=False)
    assert at_100.level == gate.WARN and "no live stable track at 100 %" in at_100.message
    assert [f.level for f in gate.trigger_findings([t07])] == [gate.FAIL]
    t14 = TriggerState("T14", CATALOG["T14"].alert, "firing", 5.0, 0.0, ">", 5.0, 0.0, 6, 6)
    assert [f.level for f in gate.trigger_findings([t14], stable_live=False)] == [gate.FAIL]


def test_t09_is_the_trigger_whose_condition_is_a_precondition() -> None:
    assert [t.id for t in CATALOG.values() if t.precondition] == ["T09"]


def test_traffic_at_the_weight_within_binomial_tolerance() -> None:
    ok = gate.share_finding(25, 0.27, 400, z=4, abs_tol=0.02, min_n=20, source="haproxy")
    assert ok.level == gate.OK
    off = gate.share_finding(25, 0.05, 400, z=4, abs_tol=0.02, min_n=20, source="haproxy")
    assert off.level == gate.FAIL and "expected 25 %" in off.message
    exact = gate.share_finding(100, 0.99, 400, z=4, abs_tol=0.02, min_n=20, source="haproxy")
    assert exact.level == gate.FAIL  # 100 % means every request
    none = gate.share_finding(25, math.nan, 0, z=4, abs_tol=0.02, min_n=20, source="haproxy")
    assert none.level == gate.ERROR


@given(st.integers(0, 100), st.floats(0, 1), st.integers(0, 500))
def test_share_finding_never_passes_on_too_few(weight: int, share: float, n: int) -> None:
    f = gate.share_finding(weight, share, n, z=4, abs_tol=0.02, min_n=20, source="x")
    if n < 20:
        assert f.level == gate.ERROR


def test_baseline_json_values_and_warning() -> None:
    doc = {
        "metrics": {"api_p95_latency_seconds": {"value": 0.05}, "error_rate_5xx": {"value": None}}
    }
    ref = gate.baseline_values(doc)
    assert ref["latency_p95"] == 0.05 and ref["http_5xx"] is None
    found = gate.value_findings({"latency_p95": 0.3}, ref, "baseline.json")
    assert [f.level for f in found] == [gate.WARN]


def test_buckets_of_a_prometheus_result() -> None:
    result = [
        {"metric": {"le": "0.1"}, "value": [0, "4"]},
        {"metric": {"le": "+Inf"}, "value": [0, "6.2"]},
        {"metric": {"le": "0.05"}, "value": [0, "1"]},
    ]
    assert gate.buckets_of(result) == [(0.05, 1), (0.1, 3), (math.inf, 2)]
    assert gate.scalar([]) is None


def test_the_stage_alpha_is_shared_by_its_five_comparisons() -> None:
    """Bonferroni: five tests at alpha / 5 keep a healthy stage's false NO-GO rate at alpha."""
    c, b = _track("canary", 100), _track("stable", 300)
    comps = gate.compare_tracks(c, b, min_requests=20, alpha=0.01)
    assert len(comps) == gate.COMPARISONS
    latency = next(x for x in comps if x.metric == "latency_p95")
    assert "alpha 0.002" in latency.reason, latency.reason
