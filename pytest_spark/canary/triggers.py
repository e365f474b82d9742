"""The 16 rollback triggers (T01..T16): one catalog, from which every artefact is derived.

Prometheus alerting rules, promtool unit tests, the Grafana dashboard, the
README table and the stage gates' own evaluation all read this module, so a
trigger can never mean two things in two places (CANARY.md "The trigger
catalog"). Pure data and string building: no I/O.

A trigger watches one value per track (``track="canary"`` / ``"stable"``, the
label Prometheus adds to every API instance's series) through the recording
rules in :data:`SIGNALS`, compares it with a threshold, and must hold for its
``for`` duration, exactly like a Prometheus alerting rule
(https://prometheus.io/docs/prometheus/latest/configuration/alerting_rules/).
Standard triggers are the seed's T01..T06 with its thresholds; enhanced ones
catch slower or combined failures; guards catch a cause behind a symptom.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any


class Kind(StrEnum):
    STANDARD = "standard"
    ENHANCED = "enhanced"
    GUARD = "guard"


COMPARATORS = (">", ">=", "<", "<=")
CANARY = 'track="canary"'
STABLE = 'track="stable"'
#: Requests that are not user traffic (scrapes, health checks) are not judged.
USER_TRAFFIC = 'route!~"/metrics|/healthz"'
_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def duration_s(text: str) -> float:
    """Seconds of a Prometheus duration such as ``5m``, ``90s``, ``1h30m`` (ValueError else)."""
    m = _DURATION.match(text.strip())
    if not text.strip() or m is None:
        raise ValueError(f"not a duration: {text!r} (use e.g. 30s, 5m, 1h)")
    h, mins, s = (int(g) if g else 0 for g in m.groups())
    return float(h * 3600 + mins * 60 + s)


def prom_duration(seconds: float) -> str:
    """Prometheus duration text of whole seconds (``300`` -> ``5m``, ``0`` -> ``0s``)."""
    seconds = int(seconds)
    if seconds and seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    if seconds and seconds % 60 == 0:
        return f"{seconds // 60}m"
    return f"{seconds}s"


@dataclass(frozen=True)
class Signal:
    """A recording rule: one value per track (or one for the shared database side)."""

    record: str
    expr: str  # with {job} and {window} placeholders
    unit: str
    help: str


def _signals() -> tuple[Signal, ...]:
    req = f'spark_http_requests_total{{{{job="{{job}}",{USER_TRAFFIC}}}}}'
    req_5xx = f'spark_http_requests_total{{{{job="{{job}}",{USER_TRAFFIC},code=~"5.."}}}}'
    bucket = f'spark_http_request_duration_seconds_bucket{{{{job="{{job}}",{USER_TRAFFIC}}}}}'
    job = '{{job="{job}"}}'
    return (
        Signal(
            "track:api_latency_p95:seconds",
            f"histogram_quantile(0.95, sum by (track, le) (rate({bucket}[{{window}}])))",
            "s",
            "API p95 latency",
        ),
        Signal(
            "track:http_requests:rate",
            f"sum by (track) (rate({req}[{{window}}]))",
            "req/s",
            "user requests per second",
        ),
        Signal(
            "track:http_5xx:ratio",
            f"sum by (track) (rate({req_5xx}[{{window}}])) / "
            f"sum by (track) (rate({req}[{{window}}]))",
            "ratio",
            "share of 5xx responses",
        ),
        Signal(
            "track:ws_staleness_p95:seconds",
            f"quantile by (track) (0.95, spark_ws_last_update_age_seconds{job})",
            "s",
            "p95 age of the last WebSocket price update per symbol",
        ),
        Signal(
            "track:risk_blocks:per_minute",
            f"sum by (track) (rate(spark_risk_blocks_total{job}[{{window}}])) * 60",
            "/min",
            "orders blocked by the risk check",
        ),
        Signal(
            "track:idempotency_conflict:ratio",
            f"sum by (track) (rate(spark_idempotency_conflicts_total{job}[{{window}}])) / "
            f"sum by (track) (rate(spark_idempotency_requests_total{job}[{{window}}]))",
            "ratio",
            "idempotency conflicts per idempotent request",
        ),
        Signal(
            "track:csp_violations:per_minute",
            f"sum by (track) (rate(spark_csp_violations_total{job}[{{window}}])) * 60",
            "/min",
            "CSP violation reports",
        ),
        Signal(
            "track:ws_disconnects:per_minute",
            f"sum by (track) (rate(spark_ws_disconnects_total{job}[{{window}}])) * 60",
            "/min",
            "WebSocket price-stream disconnects",
        ),
        Signal(
            "track:decimal_errors:per_minute",
            f"sum by (track) (rate(spark_decimal_precision_errors_total{job}[{{window}}])) * 60",
            "/min",
            "money values changed between request and storage (float, off-grid)",
        ),
        Signal(
            "track:process_rss:bytes",
            f"sum by (track) (process_resident_memory_bytes{job})",
            "B",
            "resident memory of the API processes",
        ),
        Signal(
            "track:process_age:seconds",
            f"min by (track) (time() - process_start_time_seconds{job})",
            "s",
            "age of the youngest API process",
        ),
        Signal(
            "track:process_cpu:cores",
            f"sum by (track) (rate(process_cpu_seconds_total{job}[{{window}}]))",
            "cores",
            "CPU used by the API processes",
        ),
        Signal(
            "spark:outbox_oldest_unpublished_age:seconds",
            f"max(spark_outbox_oldest_unpublished_age_seconds{job})",
            "s",
            "age of the oldest unpublished outbox row",
        ),
        Signal(
            "spark:idempotency_expired_key_age:seconds",
            f"max(spark_idempotency_oldest_expired_key_age_seconds{job})",
            "s",
            "how long the oldest still-stored idempotency key has been expired",
        ),
        Signal(
            "pgbouncer:pool_utilisation:ratio",
            "max(sum by (database) (pgbouncer_pools_server_active_connections) / on (database) "
            'sum by (database) (label_replace(pgbouncer_databases_pool_size, "database", "$1", '
            '"name", "(.+)")))',
            "ratio",
            "busiest PgBouncer pool: active server connections / pool_size",
        ),
        Signal(
            "pgbouncer:server_active_connections:count",
            "sum(pgbouncer_pools_server_active_connections)",
            "conns",
            "PgBouncer server connections in use (linked to a client: in a transaction)",
        ),
    )


SIGNALS: tuple[Signal, ...] = _signals()

#: The six canary metrics (CHECKS.md) as signals, in the seed's order.
CANARY_METRICS: dict[str, str] = {
    "latency_p95": "track:api_latency_p95:seconds",
    "http_5xx": "track:http_5xx:ratio",
    "ws_staleness_p95": "track:ws_staleness_p95:seconds",
    "risk_blocks": "track:risk_blocks:per_minute",
    "idempotency_conflicts": "track:idempotency_conflict:ratio",
    "csp_violations": "track:csp_violations:per_minute",
}

#: T07: a metric is degraded when canary > factor x stable + floor (floor: a noise margin).
CORRELATION_FACTOR = 1.5
CORRELATION_FLOORS: dict[str, float] = {
    "track:api_latency_p95:seconds": 0.05,
    "track:http_5xx:ratio": 0.01,
    "track:ws_staleness_p95:seconds": 5.0,
    "track:idempotency_conflict:ratio": 0.01,
    "track:csp_violations:per_minute": 5.0,
}


def _degraded_count() -> str:
    terms = [
        f"(({rec}{{{CANARY}}} > bool on () ({CORRELATION_FACTOR} * {rec}{{{STABLE}}} + {floor}))"
        " or on () vector(0))"
        for rec, floor in CORRELATION_FLOORS.items()
    ]
    return "(" + " + on () ".join(terms) + ")"


@dataclass(frozen=True)
class Trigger:
    """One rollback trigger. Fires when ``value <comparator> threshold`` (and ``condition``,
    when set) holds at every evaluation for ``for_``: the Prometheus alerting-rule semantics."""

    id: str
    alert: str  # Prometheus alert name
    kind: Kind
    watches: str
    watch: str  # PromQL of the watched value; "$range" / "$range_s" stand for ``range_``
    comparator: str
    threshold: float
    for_: str  # Prometheus duration
    severity: str  # "page" or "ticket"
    unit: str
    condition_: str = ""  # extra PromQL filter, ANDed: "... and on () (condition)"
    range_: str = ""  # the look-back window of deriv / min_over_time, where the trigger has one
    # True when condition_ says whether the value can be judged at all (T09: a process
    # younger than the window grows while it warms up). Breaking the threshold while
    # it does not hold is then inconclusive for the gate, never quiet. The other
    # conditions are part of what the trigger detects, not preconditions: T10's
    # connections growing *with* load are not a leak, T15's latency without CPU
    # saturation is T01/T08's business, T16 needs risk blocks rising too.
    precondition: bool = False

    def __post_init__(self) -> None:
        if self.comparator not in COMPARATORS:
            raise ValueError(f"{self.id}: comparator must be one of {COMPARATORS}")
        if not math.isfinite(self.threshold):
            raise ValueError(f"{self.id}: threshold must be a finite number, got {self.threshold}")
        duration_s(self.for_)
        if self.range_:
            duration_s(self.range_)

    def _render(self, text: str) -> str:
        if not self.range_:
            return text
        seconds = _num(duration_s(self.range_))
        return text.replace("$range_s", seconds).replace("$range", self.range_)

    @property
    def value(self) -> str:
        """PromQL of the watched value (what the evidence reports next to the threshold)."""
        return self._render(self.watch)

    @property
    def condition(self) -> str:
        return self._render(self.condition_)

    @property
    def expr(self) -> str:
        """The alerting rule's expression (what Prometheus and the evaluator both run)."""
        base = f"{self.value} {self.comparator} {_num(self.threshold)}"
        return f"{base} and on () ({self.condition})" if self.condition else base

    @property
    def for_s(self) -> float:
        return duration_s(self.for_)


def _num(x: float) -> str:
    return repr(float(x)).removesuffix(".0") if float(x).is_integer() else repr(float(x))


_S, _E, _G = Kind.STANDARD, Kind.ENHANCED, Kind.GUARD

TRIGGERS: tuple[Trigger, ...] = (
    Trigger("T01", "SparkCanaryLatencyP95High", _S, "canary API p95 latency",
            f"track:api_latency_p95:seconds{{{CANARY}}}", ">", 0.4, "5m", "page", "s"),
    Trigger("T02", "SparkCanary5xxRatioHigh", _S, "canary share of 5xx responses",
            f"track:http_5xx:ratio{{{CANARY}}}", ">", 0.03, "5m", "page", "ratio"),
    Trigger("T03", "SparkCanaryWebSocketStale", _S, "canary WebSocket price staleness (p95)",
            f"track:ws_staleness_p95:seconds{{{CANARY}}}", ">", 120, "3m", "page", "s"),
    Trigger("T04", "SparkCanaryCspViolations", _S, "canary CSP violation reports per minute",
            f"track:csp_violations:per_minute{{{CANARY}}}", ">", 50, "0s", "page", "/min"),
    Trigger("T05", "SparkCanaryIdempotencyConflicts", _S,
            "canary idempotency conflicts per idempotent request",
            f"track:idempotency_conflict:ratio{{{CANARY}}}", ">", 0.05, "3m", "page", "ratio"),
    Trigger("T06", "SparkPgBouncerPoolSaturated", _S,
            "PgBouncer pool utilisation (active server connections / pool_size)",
            "pgbouncer:pool_utilisation:ratio", ">", 0.9, "3m", "page", "ratio"),
    Trigger("T07", "SparkCanaryCorrelatedDegradation", _E,
            "canary metrics degraded together against the stable track (count of "
            f"canary > {CORRELATION_FACTOR} x stable + floor)",
            _degraded_count(), ">=", 2, "2m", "page", "metrics"),
    Trigger("T08", "SparkCanaryLatencyNotRecovering", _E,
            "canary p95 latency above the SLO for the whole window (min over 5m)",
            f"min_over_time(track:api_latency_p95:seconds{{{CANARY}}}[$range])", ">", 0.2, "2m",
            "page", "s", range_="5m"),
    Trigger("T09", "SparkCanaryMemoryLeak", _E,
            "canary resident memory growth (deriv over the window, processes older than it)",
            f"deriv(track:process_rss:bytes{{{CANARY}}}[$range])", ">", 65536, "5m", "ticket",
            "B/s", condition_=f"track:process_age:seconds{{{CANARY}}} > $range_s",
            range_="10m", precondition=True),
    Trigger("T10", "SparkConnectionLeak", _E,
            "PgBouncer server connections in use growing while load does not (deriv over 5m)",
            "deriv(pgbouncer:server_active_connections:count[$range])", ">", 0.01, "3m", "page",
            "conns/s", condition_="deriv(sum(track:http_requests:rate)[$range:15s]) <= 0.05",
            range_="5m"),
    Trigger("T11", "SparkOutboxLagExplosion", _E, "age of the oldest unpublished outbox row",
            "spark:outbox_oldest_unpublished_age:seconds", ">", 60, "1m",
            "page", "s"),
    Trigger("T12", "SparkIdempotencyKeyBuildUp", _E,
            "keys kept past their TTL (the purge is not keeping up): age of the oldest expired key",
            "spark:idempotency_expired_key_age:seconds", ">", 3600, "30m", "ticket", "s"),
    Trigger("T13", "SparkCanaryWebSocketDisconnectStorm", _E,
            "canary WebSocket disconnects per minute",
            f"track:ws_disconnects:per_minute{{{CANARY}}}", ">", 30, "1m", "page", "/min"),
    Trigger("T14", "SparkCanaryDecimalPrecisionErrors", _E,
            "canary money values changed between request and storage, per minute",
            f"track:decimal_errors:per_minute{{{CANARY}}}", ">", 0, "0s", "page", "/min"),
    Trigger("T15", "SparkCanaryLatencyCpuBackpressure", _G,
            "canary p95 latency above the SLO while its CPU is saturated",
            f"track:api_latency_p95:seconds{{{CANARY}}}", ">", 0.2, "2m", "page", "s",
            condition_=f"track:process_cpu:cores{{{CANARY}}} > 0.9"),
    Trigger("T16", "SparkCanaryErrorRiskCorrelation", _G,
            "canary 5xx share and risk blocks rising together (deriv over 5m)",
            f"deriv(track:http_5xx:ratio{{{CANARY}}}[$range])", ">", 0, "2m", "page", "ratio/s",
            condition_=f"deriv(track:risk_blocks:per_minute{{{CANARY}}}[$range]) > 0 "
            f"and on () track:http_5xx:ratio{{{CANARY}}} > 0.01", range_="5m"),
)  # fmt: skip

BY_ID: dict[str, Trigger] = {t.id: t for t in TRIGGERS}


def get(trigger_id: str) -> Trigger:
    """The trigger with this id (case-insensitive); KeyError naming the known ids."""
    try:
        return BY_ID[trigger_id.strip().upper()]
    except KeyError:
        raise KeyError(
            f"unknown trigger {trigger_id!r}; known: T01..T{len(TRIGGERS):02d}"
        ) from None


def configured(
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    for_: str | None = None,
    range_: str | None = None,
    ids: Iterable[str] | None = None,
) -> tuple[Trigger, ...]:
    """The catalog with per-trigger overrides (``{"T01": {"threshold": 0.5, "for": "2m"}}``).

    ``for_`` replaces every ``for`` duration and ``range_`` every look-back window
    (the sandbox's compressed windows); ``ids`` keeps only those triggers. Raises
    ValueError on an unknown id or key, a non-finite threshold or a bad duration (a
    NaN threshold would never fire).
    """
    overrides = overrides or {}
    unknown = set(overrides) - set(BY_ID)
    if unknown:
        raise ValueError(f"unknown trigger id(s) in overrides: {', '.join(sorted(unknown))}")
    out = []
    for trig in TRIGGERS:
        if ids is not None and trig.id not in set(ids):
            continue
        change: dict[str, Any] = {}
        for key, value in overrides.get(trig.id, {}).items():
            if key == "threshold":
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise ValueError(f"{trig.id}.threshold must be a number, got {value!r}")
                change["threshold"] = float(value)
            elif key == "for":
                change["for_"] = str(value)
            elif key == "severity":
                change["severity"] = str(value)
            elif key == "range" and trig.range_:
                change["range_"] = str(value)
            else:
                keys = "threshold, for, severity" + (", range" if trig.range_ else "")
                raise ValueError(f"{trig.id}: unknown key {key!r} ({keys})")
        if for_ is not None:
            change["for_"] = for_
        if range_ is not None and trig.range_:
            change["range_"] = range_
        try:
            out.append(replace(trig, **change) if change else trig)
        except ValueError as exc:  # a bad duration in an override
            raise ValueError(f"{trig.id}: {exc}") from None
    return tuple(out)


def markdown_table(triggers: Iterable[Trigger] = TRIGGERS) -> str:
    """The README's trigger table (tested against this catalog)."""
    rows = [
        "| id | alert | kind | watches | fires when | for | severity |",
        "|---|---|---|---|---|---|---|",
    ]
    for t in triggers:
        when = f"{t.comparator} {_num(t.threshold)} {t.unit}".strip()
        if t.condition:
            when += " (and a condition, see rules)"
        rows.append(
            f"| {t.id} | {t.alert} | {t.kind} | {t.watches} | {when} | {t.for_} | {t.severity} |"
        )
    return "\n".join(rows)
