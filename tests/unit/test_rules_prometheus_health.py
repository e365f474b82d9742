"""PF-08: scrape targets, rule health and Alertmanager readiness from API JSON."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_spark.rules import prometheus_health as ph
from pytest_spark.rules.findings import codes, failures

NOW = ph.parse_rfc3339("2026-11-26T01:25:50Z")


def _target(**over: object) -> dict[str, object]:
    base = {
        "labels": {"instance": "127.0.0.1:8000", "job": "spark-api"},
        "scrapePool": "spark-api",
        "scrapeUrl": "http://127.0.0.1:8000/metrics",
        "lastError": "",
        "lastScrape": "2026-11-26T01:25:49.69667656Z",
        "health": "up",
        "scrapeInterval": "1s",
    }
    return {**base, **over}


def test_parse_rfc3339_with_nanoseconds_and_go_zero_time():
    assert ph.parse_rfc3339("2026-11-26T01:25:49.69667656Z") == pytest.approx(NOW - 0.30332344)
    assert ph.parse_rfc3339("2026-11-26T01:25:49+02:00") == pytest.approx(NOW - 1 - 7200)
    assert ph.parse_rfc3339("0001-01-01T00:00:00Z") is None  # never scraped
    assert ph.parse_rfc3339("yesterday") is None
    assert ph.parse_rfc3339("2026-11-26T01:25:49") is None  # no zone: ambiguous


def test_healthy_target_passes():
    assert ph.target_findings([_target()], now=NOW) == []


def test_down_target_names_job_instance_and_error():
    down = _target(
        health="down", lastError='Get "http://127.0.0.1:8000/metrics": connection refused'
    )
    found = ph.target_findings([down], now=NOW)
    assert codes(found) == ["target-down", "target-error"]
    assert found[0].message == "scrape target spark-api/127.0.0.1:8000 is down"
    assert "connection refused" in found[1].message


def test_stale_scrape_beyond_twice_the_interval():
    assert ph.target_findings([_target(lastScrape="2026-11-26T01:25:48Z")], now=NOW) == []
    found = ph.target_findings([_target(lastScrape="2026-11-26T01:25:47.5Z")], now=NOW)
    assert codes(found) == ["target-stale"]
    assert "2.5 s ago (limit 2 x 1s = 2 s)" in found[0].message
    found = ph.target_findings([_target(lastScrape="0001-01-01T00:00:00Z")], now=NOW)
    assert codes(found) == ["target-never-scraped"]
    assert codes(ph.target_findings([], now=NOW)) == ["no-targets"]


def test_unreadable_interval_is_a_warning_only():
    found = ph.target_findings([_target(scrapeInterval="soon")], now=NOW)
    assert codes(found) == ["target-interval"] and failures(found) == []


def test_rule_health():
    groups = [
        {"name": "g1", "rules": [{"name": "a", "health": "ok"}, {"name": "b", "health": "ok"}]},
        {"name": "g2", "rules": [{"name": "c", "health": "err", "lastError": "many-to-many"}]},
        {"name": "g3", "rules": [{"name": "d", "health": "unknown"}]},
    ]
    found = ph.rule_findings(groups)
    assert [f.message for f in found] == [
        "rule c in group g2 has health err: many-to-many",
        "rule d in group g3 has health unknown",
    ]
    assert codes(ph.rule_findings([])) == ["no-rules"]


def test_alertmanager_ready_and_status():
    status = {"cluster": {"status": "disabled"}, "versionInfo": {"version": "0.25.0"}}
    assert ph.alertmanager_findings(200, "OK", status) == []
    found = ph.alertmanager_findings(
        503, "not ready\n", {**status, "cluster": {"status": "settling"}}
    )
    assert codes(found) == ["alertmanager-not-ready", "alertmanager-cluster"]
    assert found[0].message == "Alertmanager /-/ready answered HTTP 503: not ready"
    assert codes(ph.alertmanager_findings(200, "OK", ["nope"])) == ["alertmanager-status"]


@given(st.floats(0, 1e5, allow_nan=False), st.integers(1, 600))
def test_age_limit_is_exactly_factor_times_interval(age, interval):
    scraped = _target(lastScrape="2026-11-26T01:25:50Z", scrapeInterval=f"{interval}s")
    found = ph.target_findings([scraped], now=NOW + age)
    assert (codes(found) == ["target-stale"]) is (age > 2 * interval)


@given(st.text(max_size=40))
def test_timestamps_never_crash(text):
    result = ph.parse_rfc3339(text)
    assert result is None or isinstance(result, float)
