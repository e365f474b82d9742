"""The canary/SLO metric catalog (BS-06, BS-08, PF-09): names in step with the stack, PromQL."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_spark.rules import metrics_catalog as mc
from pytest_spark.rules.findings import codes

SANDBOX = Path(mc.__file__).resolve().parents[1] / "sandbox"
RULES = SANDBOX / "prometheus" / "rules" / "spark-slo.yml"


def _families_in_rules() -> set[str]:
    """Every raw spark_* series the sandbox's recording rules read (canary + SLO)."""
    return set(re.findall(r"\b(spark_[a-z0-9_]+)\{", RULES.read_text()))


def test_required_families_are_exactly_what_the_sandbox_rules_read():
    assert set(mc.REQUIRED_FAMILIES) == _families_in_rules()
    assert len(mc.REQUIRED_FAMILIES) == len(set(mc.REQUIRED_FAMILIES))


def test_every_required_family_is_exported_by_the_sandbox_app():
    from prometheus_client.parser import text_string_to_metric_families

    from pytest_spark.sandbox.app.metrics import AppMetrics

    app = AppMetrics()
    app.initialise([("/orders", "POST", "201")], ["BTC-USD"])
    app.risk_blocks.inc()
    exposed = {
        sample.name
        for family in text_string_to_metric_families(app.exposition().decode())
        for sample in family.samples
    }
    missing = [f for f in mc.REQUIRED_FAMILIES if f not in exposed]
    assert not missing, f"the sandbox app does not export {missing}"


def test_the_sandbox_recording_rules_cover_every_slo_window():
    text = RULES.read_text()
    for window in mc.SLO_WINDOWS:
        assert f"record: {mc.slo_rule_query(window)}\n" in text


def test_six_canary_metrics_with_the_keys_the_baseline_rule_reads():
    keys = [m.key for m in mc.CANARY_METRICS]
    assert len(keys) == 6 == len(set(keys))
    assert {"error_rate_5xx", "api_p95_latency_seconds"} <= set(keys)
    queries = mc.canary_queries("spark-api", "5m")
    assert list(queries) == keys
    assert queries["api_p95_latency_seconds"] == (
        "histogram_quantile(0.95, sum by (le) (rate(spark_http_request_duration_seconds_bucket"
        '{job="spark-api",route!~"/metrics|/healthz"}[5m])))'
    )
    # no traffic must read as 0/0 (NaN, no data), never as a clean 0 %
    assert queries["error_rate_5xx"].endswith(
        '/ sum(rate(spark_http_requests_total{job="spark-api",route!~"/metrics|/healthz"}[5m]))'
    )
    assert "or vector(0)" in queries["idempotency_conflict_ratio"]


def test_queries_name_the_job_and_window_given():
    for query in mc.canary_queries("api-prod", "90s").values():
        assert 'job="api-prod"' in query and "[90s]" in query
    assert mc.freshness_query("spark_ws_last_update_age_seconds", "spark-api") == (
        'max(timestamp(spark_ws_last_update_age_seconds{job="spark-api"}))'
    )
    assert mc.slo_rule_query("1h") == "slo:sli_error:ratio_rate1h"
    assert "[6h]" in mc.slo_error_ratio_query("spark-api", "6h")


@pytest.mark.parametrize("bad", ["", "5", "5 m", "m", "-5m", "5min", "0s", "1.5h"])
def test_a_window_that_is_not_a_duration_is_refused(bad):
    assert not mc.is_duration(bad)
    with pytest.raises(ValueError, match="duration"):
        mc.canary_queries("spark-api", bad)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("5m", 300), ("1h30m", 5400), ("500ms", 0.5), ("30d", 2592000), ("1w", 604800)],
)
def test_duration_seconds(text, seconds):
    assert mc.is_duration(text)
    assert mc.duration_seconds(text) == pytest.approx(seconds)


@given(st.text(max_size=40))
def test_label_value_is_a_closed_promql_string(value):
    literal = mc.label_value(value)
    # JSON and PromQL double-quoted strings share these escapes: the literal reads back exactly
    assert json.loads(literal, strict=False) == value
    assert literal.startswith('"') and literal.endswith('"')
    body = literal[1:-1]
    assert not re.search(r'(?<!\\)(\\\\)*"', body), "an unescaped quote would end the string"


def test_freshness_findings_name_family_job_and_age():
    ages = {
        "spark_http_requests_total": 1.2,
        "spark_ws_last_update_age_seconds": None,
        "spark_risk_blocks_total": 75.0,
        "spark_csp_violations_total": math.nan,
    }
    found = mc.freshness_findings(ages, job="spark-api", max_age=60)
    assert codes(found) == [
        "family-missing-spark_ws_last_update_age_seconds",
        "family-stale-spark_risk_blocks_total",
        "family-missing-spark_csp_violations_total",
    ]
    assert found[0].message == "spark_ws_last_update_age_seconds has no series for job spark-api"
    assert "75.0 s old (limit 60 s)" in found[1].message
    assert mc.freshness_findings({"x": 60.0}, job="j", max_age=60) == []


@given(st.dictionaries(st.sampled_from(mc.REQUIRED_FAMILIES), st.floats(0, 1e6)))
def test_freshness_fails_exactly_the_old_families(ages):
    found = mc.freshness_findings(ages, job="spark-api", max_age=60.0)
    assert sorted(codes(found)) == sorted(f"family-stale-{f}" for f, a in ages.items() if a > 60)
