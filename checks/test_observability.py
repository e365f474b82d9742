"""Time and observability checks: can the release be watched, and do the clocks agree?

BS-01 Time, PF-02 NTP, BS-06 Prometheus, BS-08 SLO, PF-08 Targets, PF-09 Baseline,
RT-09 SLO silence. Each gathers raw observations (PromQL with its raw result,
NTP timestamps, silences, clock readings with their RTT), records them as
evidence, hands them to a pure rule in ``pytest_spark.rules`` and asserts on
the findings. A target that cannot be asked raises ProbeError (ERROR, "could
not verify"); only what the target answered can fail a check.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from pytest_spark.config import SparkConfig
from pytest_spark.probes import ProbeError, ntp
from pytest_spark.probes.alertmanager import Alertmanager
from pytest_spark.probes.db import rows
from pytest_spark.probes.http import get
from pytest_spark.rules import burnrate, clocks, prometheus_health, silences
from pytest_spark.rules import metrics_catalog as mc
from pytest_spark.rules.findings import Finding, failures

# An HTTP Date is truncated to the second, and servers format it at most once a
# second (uvicorn, nginx cache it), so it lags the true time by [0, 2) s.
DATE_RESOLUTION_S = 2.0
DB_RESOLUTION_S = 1e-6  # clock_timestamp() has microseconds
PROMETHEUS_RESOLUTION_S = 1e-3  # time() has milliseconds
DATE_SAMPLES = 3  # per instance; the reading with the smallest RTT is kept
SCRAPE_AGE_FACTOR = 2.0  # PF-08: a target is stale after 2 x its scrape interval


# --- fixtures only these checks need


@pytest.fixture(scope="session")
def alertmanager(
    spark_config: SparkConfig, configured: Any, timeout: float, max_bytes: int
) -> Iterator[Alertmanager]:
    """Alertmanager API v2 client with the run's deadline (no API token sent to it).

    One per run: building an httpx client (TLS context) costs ~0.2 s, paid once.
    """
    targets = spark_config.targets
    verify: bool | str = targets["ca_bundle"] or targets["verify_tls"]
    url = configured("targets.alertmanager_url")
    with Alertmanager(url, timeout=timeout, verify=verify, max_bytes=max_bytes) as client:
        yield client


@pytest.fixture
def ntp_servers(configured: Any) -> list[str]:
    return list(configured("targets.ntp_servers"))


@pytest.fixture
def api_job(spark_config: SparkConfig) -> str:
    """Prometheus job label of the API (targets.api_job)."""
    return str(spark_config.targets["api_job"])


# --- helpers


def _promql(prometheus: Any, evidence: Any, query: str) -> list[Any]:
    """Instant query, recorded with the raw result exactly as Prometheus returned it."""
    result = prometheus.query(query)
    evidence.observe("promql", {"query": query, "result": result})
    return result


def _value(result: Sequence[Any]) -> float | None:
    """One number from a query result: None without series, the worst (max) of several.

    NaN (0/0: no traffic) is returned as NaN only when no series has a number.
    """
    if len(result) == 2 and not isinstance(result[0], dict):  # scalar: [ts, "v"]
        return float(result[1])
    values = [float(r["value"][1]) for r in result]
    finite = [v for v in values if not math.isnan(v)]
    if finite:
        return max(finite)
    return math.nan if values else None


def _eval_time(result: Sequence[Any]) -> float | None:
    """Prometheus' clock when it evaluated the query (the sample's timestamp)."""
    if len(result) == 2 and not isinstance(result[0], dict):
        return float(result[0])
    return float(result[0]["value"][0]) if result else None


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")


def _judge(evidence: Any, findings: list[Finding]) -> None:
    """Record every finding, fail with all failing ones named."""
    evidence.observe("findings", [f.to_dict() for f in findings])
    failing = failures(findings)
    assert not failing, "; ".join(f.message for f in failing)


def _json_number(value: float | None) -> float | None:
    """JSON has no NaN: a metric without data is null in baseline.json."""
    return None if value is None or not math.isfinite(value) else value


# --- BS-01


def _date_reading(http: Any, url: str) -> dict[str, Any]:
    """The API's Date header with the smallest-RTT exchange out of a few."""
    best: dict[str, Any] | None = None
    for _ in range(DATE_SAMPLES):
        t_send = time.time()
        resp = get(http, url)
        t_recv = time.time()
        sample = {"url": url, "date": resp.header("Date"), "t_send": t_send, "t_recv": t_recv}
        if best is None or t_recv - t_send < best["t_recv"] - best["t_send"]:
            best = sample
    assert best is not None
    return best


@pytest.mark.spark_check("BS-01")
def test_bs01_time_clocks_agree(
    api_urls: list[str],
    http: Any,
    db: Any,
    prometheus: Any,
    spark_config: SparkConfig,
    thresholds: Any,
    evidence: Any,
) -> None:
    """Local UTC, each API's Date, the DB's clock_timestamp() and Prometheus time() agree."""
    findings: list[Finding] = []
    local = time.time()
    readings: dict[str, clocks.ClockReading] = {"local UTC": clocks.ClockReading(0.0, 0.0)}
    observed: list[dict[str, Any]] = [
        {"clock": "local UTC", "value": local, "utc": _iso(local), "rtt_s": 0.0}
    ]

    def add(name: str, value: float, t_send: float, t_recv: float, **how: Any) -> None:
        r = clocks.reading(value, t_send, t_recv, **how)
        readings[name] = r
        observed.append(
            {
                "clock": name,
                "value": value,
                "utc": _iso(value),
                "t_send": t_send,
                "t_recv": t_recv,
                "rtt_s": t_recv - t_send,
                "offset_s": r.offset,
                "uncertainty_s": r.uncertainty,
            }
        )

    path = (spark_config.targets["api_paths"] or ["/"])[0]
    for base in api_urls:
        sample = _date_reading(http, f"{base}{path}")
        name = f"API {base} Date"
        value = clocks.parse_http_date(sample["date"]) if sample["date"] else None
        if value is None:
            observed.append({"clock": name, "raw": sample["date"], "usable": False})
            findings.append(
                Finding("clock-no-date", f"{name}: no usable Date header ({sample['date']!r})")
            )
            continue
        add(
            name,
            value,
            sample["t_send"],
            sample["t_recv"],
            resolution=DATE_RESOLUTION_S,
            truncated=True,
        )
        observed[-1]["raw"] = sample["date"]

    sql = "SELECT clock_timestamp() AS now"
    with db() as conn:
        t_send = time.time()
        found = rows(conn, sql)
        t_recv = time.time()
    add(
        "database clock_timestamp()",
        found[0]["now"].timestamp(),
        t_send,
        t_recv,
        resolution=DB_RESOLUTION_S,
    )
    observed[-1]["sql"] = sql

    t_send = time.time()
    result = prometheus.query("time()")
    t_recv = time.time()
    add("Prometheus time()", float(result[1]), t_send, t_recv, resolution=PROMETHEUS_RESOLUTION_S)
    observed[-1].update(query="time()", result=result)

    limit = float(thresholds["clock_skew_s"])
    skew, pair = clocks.max_pairwise_skew({k: r.offset for k, r in readings.items()})
    evidence.observe("readings", observed)
    evidence.observe("max_pairwise_skew", {"skew_s": skew, "pair": pair, "limit_s": limit})
    _judge(evidence, findings + clocks.skew_findings(readings, max_skew=limit))


# --- PF-02


@pytest.mark.spark_check("PF-02")
def test_pf02_ntp_offset_stratum_leap(
    ntp_servers: list[str], timeout: float, thresholds: Any, evidence: Any
) -> None:
    """Every configured NTP server that answers is close, sane and unalarmed; one answers.

    No server answering means the offset cannot be measured: an ERROR ("could not
    verify"), which blocks the verdict like a failure but says what it is.
    """
    samples = ntp.query_all(ntp_servers, timeout=timeout)
    evidence.observe(
        "ntp_samples",
        [
            s.to_dict() if isinstance(s, clocks.NtpSample) else {"server": k, "error": str(s)}
            for k, s in samples.items()
        ],
    )
    limit = float(thresholds["ntp_max_offset_s"])
    distance = float(thresholds["ntp_max_root_distance_s"])
    evidence.observe(
        "thresholds",
        {"ntp_max_offset_s": limit, "ntp_max_root_distance_s": distance, "stratum": [1, 15]},
    )
    findings = clocks.evaluate_ntp_servers(samples, max_offset=limit, max_root_distance=distance)
    if not any(isinstance(s, clocks.NtpSample) for s in samples.values()):
        evidence.observe("findings", [f.to_dict() for f in findings])
        # name each server's error first: "no server answered" alone does not say why
        why = sorted(findings, key=lambda f: f.code != "ntp-no-answer")
        raise ProbeError("; ".join(f.message for f in why))
    _judge(evidence, findings)


# --- BS-06


@pytest.mark.spark_check("BS-06")
def test_bs06_prometheus_metric_families_fresh(
    prometheus: Any, api_job: str, thresholds: Any, evidence: Any
) -> None:
    """Every family the canary metrics and SLO rules read has a fresh series for the API job."""
    max_age = float(thresholds["metric_max_age_s"])
    ages: dict[str, float | None] = {}
    for family in mc.REQUIRED_FAMILIES:
        result = _promql(prometheus, evidence, mc.freshness_query(family, api_job))
        newest, now = _value(result), _eval_time(result)
        ages[family] = None if newest is None or now is None else now - newest
    evidence.observe("freshness", {"job": api_job, "max_age_s": max_age, "age_s_by_family": ages})
    _judge(evidence, mc.freshness_findings(ages, job=api_job, max_age=max_age))


# --- BS-08


@pytest.mark.spark_check("BS-08")
def test_bs08_slo_budget_and_burn_rates(
    prometheus: Any, api_job: str, thresholds: Any, evidence: Any
) -> None:
    """30-day budget left, and neither the fast (1h & 5m) nor slow (6h & 30m) pair burns."""
    slo = float(thresholds["slo_availability"])
    ratios: dict[str, float | None] = {}
    sources: dict[str, str] = {}
    for window in mc.SLO_WINDOWS:
        result = _promql(prometheus, evidence, mc.slo_rule_query(window))
        sources[window] = f"recording rule {mc.slo_rule_query(window)}"
        if not result:  # the target has no recording rules: compute it from the counter
            result = _promql(prometheus, evidence, mc.slo_error_ratio_query(api_job, window))
            sources[window] = f"raw PromQL over {mc.HTTP_REQUESTS}"
        ratios[window] = _value(result)
    pairs = (
        ("1h", "5m", float(thresholds["burn_fast"]), "fast"),
        ("6h", "30m", float(thresholds["burn_slow"]), "slow"),
    )
    usable = {w: r for w, r in ratios.items() if r is not None and not math.isnan(r)}
    # how much of the 30 days Prometheus really holds: a "30d" ratio over 2 h of data
    # is a 2 h ratio
    covered = _value(
        _promql(prometheus, evidence, burnrate.coverage_query(mc.HTTP_REQUESTS, api_job, "30d"))
    )
    evidence.observe(
        "slo",
        {
            "slo_availability": slo,
            "error_ratio": ratios,
            "source": sources,
            "burn_rate": {w: burnrate.burn_rate(r, slo) for w, r in usable.items()},
            "budget_remaining_30d": (
                burnrate.budget_remaining(usable["30d"], slo) if "30d" in usable else None
            ),
            "pairs": [list(p) for p in pairs],
            "data_covers_s_of_30d": covered,
        },
    )
    _judge(
        evidence,
        burnrate.evaluate_burn(ratios, slo, pairs=pairs, budget_window="30d", covered_s=covered),
    )


# --- PF-08


def _alertmanager_status_summary(status: dict[str, Any]) -> dict[str, Any]:
    """The status without config.original (receiver settings may hold secrets)."""
    return {k: v for k, v in status.items() if k != "config"}


@pytest.mark.spark_check("PF-08")
def test_pf08_targets_up_rules_ok_alertmanager_ready(
    prometheus: Any, alertmanager: Alertmanager, evidence: Any
) -> None:
    """Targets up and freshly scraped, every rule healthy, Alertmanager ready and answering."""
    ready = alertmanager.ready()
    body = ready.body.decode("utf-8", "replace")
    status = alertmanager.status()
    evidence.observe(
        "alertmanager",
        {
            "ready": {"url": ready.url, "status": ready.status, "body": body[:200]},
            "status": _alertmanager_status_summary(status),
        },
    )
    targets = prometheus.api("targets", {"state": "active"})
    now_result = prometheus.query("time()")
    now = float(now_result[1])
    evidence.observe("targets", {"endpoint": "/api/v1/targets?state=active", "data": targets})
    evidence.observe("prometheus_time", {"query": "time()", "result": now_result})
    groups = prometheus.api("rules")
    evidence.observe("rules", {"endpoint": "/api/v1/rules", "data": groups})
    findings = (
        prometheus_health.target_findings(
            targets.get("activeTargets") or [], now=now, factor=SCRAPE_AGE_FACTOR
        )
        + prometheus_health.rule_findings(groups.get("groups") or [])
        + prometheus_health.alertmanager_findings(ready.status, body, status)
    )
    _judge(evidence, findings)


# --- PF-09


@pytest.mark.spark_check("PF-09")
def test_pf09_baseline_captured_within_slo(
    prometheus: Any, api_job: str, thresholds: Any, evidence: Any
) -> None:
    """The six canary metrics over the baseline window: all have data and keep the SLO."""
    window = str(thresholds["baseline_window"])
    if not mc.is_duration(window):
        raise ValueError(
            f"thresholds.baseline_window {window!r} is not a Prometheus duration (e.g. 5m)"
        )
    slo = float(thresholds["slo_availability"])
    p95_max = float(thresholds["slo_latency_p95_s"])
    values: dict[str, float | None] = {}
    metrics: dict[str, Any] = {}
    captured = time.time()
    for metric in mc.CANARY_METRICS:
        query = metric.query(api_job, window)
        result = _promql(prometheus, evidence, query)
        values[metric.key] = _value(result)
        metrics[metric.key] = {
            "title": metric.title,
            "value": _json_number(values[metric.key]),
            "evaluated_at": _eval_time(result),
            "query": query,
        }
    baseline = {
        "format": 1,
        "captured_at": _iso(captured),
        "prometheus": prometheus.url,
        "job": api_job,
        "window": window,
        "slo": {"availability": slo, "latency_p95_s": p95_max},
        "metrics": metrics,
    }
    path = evidence.attach("baseline.json", json.dumps(baseline, indent=2, allow_nan=False))
    evidence.observe("baseline", {"artifact": path, **baseline})
    findings = burnrate.evaluate_baseline(values, slo=slo, p95_latency_max=p95_max)
    _judge(evidence, findings)


# --- RT-09


@pytest.mark.spark_check("RT-09")
def test_rt09_no_silence_mutes_slo_alerts(
    prometheus: Any, alertmanager: Alertmanager, spark_config: Any, evidence: Any
) -> None:
    """No active Alertmanager silence matches an SLO or rollback alerting rule."""
    groups = prometheus.api("rules").get("groups") or []
    patterns = spark_config.targets["slo_alert_patterns"] or silences.DEFAULT_ALERT_PATTERNS
    evidence.observe("alert_name_patterns", list(patterns))
    protected = silences.protected_alerts(groups, patterns)
    evidence.observe(
        "protected_alerts",
        [{"alertname": a.name, "labels": dict(a.labels), "why": a.why} for a in protected],
    )
    found = alertmanager.silences()
    evidence.observe("silences", {"endpoint": "/api/v2/silences", "data": found})
    _judge(evidence, silences.evaluate_silences(found, protected))
