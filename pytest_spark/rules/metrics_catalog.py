"""The metric families and PromQL behind the six canary metrics and the SLO: one source of truth.

BS-06 asks Prometheus whether every family listed here has a fresh series for
the API job, PF-09 computes the canary baseline with these queries, and BS-08
reads the SLO error ratios with them. Names match the reference stack's
exporter (sandbox/app/metrics.py) and its recording rules
(sandbox/prometheus/rules/spark-slo.yml); a unit test keeps them in step, so a
renamed metric breaks a test instead of blinding the canary.

Pure: builds strings and judges numbers, never talks to Prometheus.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pytest_spark.rules.findings import Finding

from .limits import exceeds

__all__ = [
    "CANARY_METRICS",
    "HTTP_DURATION_BUCKETS",
    "HTTP_REQUESTS",
    "NON_USER_ROUTES",
    "REQUIRED_FAMILIES",
    "SLO_ERROR_RATIO_RULE",
    "SLO_WINDOWS",
    "CanaryMetric",
    "canary_queries",
    "duration_seconds",
    "freshness_findings",
    "freshness_query",
    "is_duration",
    "label_value",
    "slo_error_ratio_query",
    "slo_rule_query",
]

# Series names as Prometheus stores them (a histogram is read through its _bucket series).
HTTP_DURATION_BUCKETS = "spark_http_request_duration_seconds_bucket"
HTTP_REQUESTS = "spark_http_requests_total"
WS_AGE = "spark_ws_last_update_age_seconds"
RISK_BLOCKS = "spark_risk_blocks_total"
IDEMPOTENCY_REQUESTS = "spark_idempotency_requests_total"
IDEMPOTENCY_CONFLICTS = "spark_idempotency_conflicts_total"
CSP_VIOLATIONS = "spark_csp_violations_total"

# Scrapes and health probes are not user traffic; the SLO rules exclude them too.
NON_USER_ROUTES = "/metrics|/healthz"

# Windows the burn-rate pairs (5m/1h fast, 30m/6h slow) and the 30-day budget need.
SLO_WINDOWS: tuple[str, ...] = ("5m", "30m", "1h", "6h", "30d")
# The recording rule holding the error ratio of one window (spark-slo.yml).
SLO_ERROR_RATIO_RULE = "slo:sli_error:ratio_rate{window}"

_DURATION = re.compile(r"^(?:\d+(?:ms|s|m|h|d|w|y))+$")
_DURATION_PART = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_UNIT_S = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def is_duration(text: str) -> bool:
    """A Prometheus range duration such as ``5m`` or ``1h30m`` (what ``[...]`` accepts)."""
    return bool(_DURATION.match(text)) and duration_seconds(text) > 0


def duration_seconds(text: str) -> float:
    """Seconds in a Prometheus duration; ValueError names the bad text."""
    if not _DURATION.match(text):
        raise ValueError(f"{text!r} is not a Prometheus duration (e.g. 30s, 5m, 1h30m)")
    return float(sum(int(n) * _UNIT_S[u] for n, u in _DURATION_PART.findall(text)))


def label_value(value: str) -> str:
    """A PromQL double-quoted string literal, so a job name can never break the query."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _sel(series: str, job: str, *extra: str) -> str:
    return series + "{" + ",".join([f"job={label_value(job)}", *extra]) + "}"


def _user(code: str = "") -> tuple[str, ...]:
    out = [f"route!~{label_value(NON_USER_ROUTES)}"]
    if code:
        out.append(f"code=~{label_value(code)}")
    return tuple(out)


def _window(window: str) -> str:
    if not is_duration(window):
        raise ValueError(f"window {window!r} is not a Prometheus duration (e.g. 30s, 5m, 1h)")
    return window


@dataclass(frozen=True)
class CanaryMetric:
    """One of the six canary metrics: what it means, which families it reads, how to query it."""

    key: str
    title: str
    families: tuple[str, ...]
    build: Callable[[str, str], str]  # (job, window) -> PromQL

    def query(self, job: str, window: str) -> str:
        return self.build(job, _window(window))


def _p95(job: str, w: str) -> str:
    buckets = _sel(HTTP_DURATION_BUCKETS, job, *_user())
    return f"histogram_quantile(0.95, sum by (le) (rate({buckets}[{w}])))"


def _ratio(num: str, den: str) -> str:
    # "or vector(0)": a target that never exported an error series has 0 errors, but
    # with no requests at all the ratio stays 0/0 = NaN, i.e. no data.
    return f"(sum(rate({num})) or vector(0)) / sum(rate({den}))"


def _err(job: str, w: str) -> str:
    errors = _sel(HTTP_REQUESTS, job, *_user("5.."))
    total = _sel(HTTP_REQUESTS, job, *_user())
    return _ratio(f"{errors}[{w}]", f"{total}[{w}]")


def _ws(job: str, w: str) -> str:
    return f"quantile(0.95, avg_over_time({_sel(WS_AGE, job)}[{w}]))"


def _per_minute(series: str) -> Callable[[str, str], str]:
    return lambda job, w: f"sum(rate({_sel(series, job)}[{w}])) * 60"


def _idem(job: str, w: str) -> str:
    conflicts = _sel(IDEMPOTENCY_CONFLICTS, job)
    requests = _sel(IDEMPOTENCY_REQUESTS, job)
    return _ratio(f"{conflicts}[{w}]", f"{requests}[{w}]")


# Keys error_rate_5xx / api_p95_latency_seconds are what rules.burnrate.evaluate_baseline reads.
CANARY_METRICS: tuple[CanaryMetric, ...] = (
    CanaryMetric("api_p95_latency_seconds", "API p95 latency (s)", (HTTP_DURATION_BUCKETS,), _p95),
    CanaryMetric("error_rate_5xx", "share of 5xx responses", (HTTP_REQUESTS,), _err),
    CanaryMetric("ws_staleness_p95_seconds", "p95 price-update age per symbol (s)", (WS_AGE,), _ws),
    CanaryMetric(
        "risk_blocks_per_minute",
        "risk-engine blocks per minute",
        (RISK_BLOCKS,),
        _per_minute(RISK_BLOCKS),
    ),
    CanaryMetric(
        "idempotency_conflict_ratio",
        "idempotency conflicts / idempotent requests",
        (IDEMPOTENCY_CONFLICTS, IDEMPOTENCY_REQUESTS),
        _idem,
    ),
    CanaryMetric(
        "csp_violations_per_minute",
        "CSP violation reports per minute",
        (CSP_VIOLATIONS,),
        _per_minute(CSP_VIOLATIONS),
    ),
)

# The SLO rules read requests (availability) and the duration histogram (latency).
_SLO_FAMILIES = (HTTP_REQUESTS, HTTP_DURATION_BUCKETS)

REQUIRED_FAMILIES: tuple[str, ...] = tuple(
    dict.fromkeys([f for m in CANARY_METRICS for f in m.families] + list(_SLO_FAMILIES))
)
"""Every series name BS-06 requires fresh data for, in a stable order."""


def canary_queries(job: str, window: str) -> dict[str, str]:
    """PromQL of each canary metric over ``window`` for ``job``, keyed as in the baseline."""
    return {m.key: m.query(job, window) for m in CANARY_METRICS}


def freshness_query(family: str, job: str) -> str:
    """Timestamp of the newest sample of any series of ``family`` for ``job``.

    Stale series (target gone, family no longer exported) are not returned at
    all, so "no result" means no live series.
    """
    return f"max(timestamp({_sel(family, job)}))"


def slo_rule_query(window: str) -> str:
    """The SLO error-ratio recording rule of one window (used when the target has it)."""
    return SLO_ERROR_RATIO_RULE.format(window=_window(window))


def slo_error_ratio_query(job: str, window: str) -> str:
    """The same error ratio straight from the request counter, for stacks without the rules."""
    return _err(job, _window(window))


def freshness_findings(
    ages: Mapping[str, float | None], *, job: str, max_age: float
) -> list[Finding]:
    """BS-06: each required family has a series for ``job`` whose newest sample is fresh.

    ``ages`` maps a family to the age in seconds of its newest sample (None: no
    series), measured on Prometheus' own clock so a skewed local clock cannot
    make data look stale or fresh.
    """
    out: list[Finding] = []
    for family, age in ages.items():
        if age is None or math.isnan(age):
            out.append(Finding(f"family-missing-{family}", f"{family} has no series for job {job}"))
        elif exceeds(age, max_age):
            out.append(
                Finding(
                    f"family-stale-{family}",
                    f"{family} is stale for job {job}: newest sample {age:.1f} s old "
                    f"(limit {max_age:g} s)",
                )
            )
    return out
