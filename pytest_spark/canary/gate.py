"""One canary stage's decision: traffic at its weight, the six metrics, canary vs baseline,
the rollback triggers, enough data -- and the trace a reviewer re-checks (CANARY.md
"Stage gates").

``collect_track`` asks Prometheus (any object with ``query(promql, at=)``) for one
track's counts over the stage window; everything after that is pure:
``metric_values`` (the six canary metrics over the window), ``absolute_findings``
(against T01..T06), ``compare_tracks`` (stats.py), ``trigger_findings``
(evaluate.py's states), ``share_finding`` (binomial tolerance on the observed
split) and ``decide``. Too little data or a missing series is an ERROR finding
("inconclusive"), never a pass.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from . import stats
from .evaluate import FIRING, PENDING, UNJUDGED, TriggerState, breaks
from .triggers import USER_TRAFFIC, Trigger

OK, WARN, FAIL, ERROR = "ok", "warn", "fail", "error"
GO, NO_GO = "GO", "NO-GO"

#: The six canary metrics (CHECKS.md): the trigger holding each one's absolute threshold,
#: its unit, and its key in PF-09's baseline.json.
METRICS: dict[str, tuple[str | None, str, str]] = {
    "latency_p95": ("T01", "s", "api_p95_latency_seconds"),
    "http_5xx": ("T02", "ratio", "error_rate_5xx"),
    "ws_staleness_p95": ("T03", "s", "ws_staleness_p95_seconds"),
    "risk_blocks": (None, "/min", "risk_blocks_per_minute"),
    "idempotency_conflicts": ("T05", "ratio", "idempotency_conflict_ratio"),
    "csp_violations": ("T04", "/min", "csp_violations_per_minute"),
}
#: A value worse than factor x baseline + floor is a material regression (T07's margins).
MATERIAL_FACTOR = 1.5
MATERIAL_FLOORS: dict[str, float] = {
    "latency_p95": 0.05,
    "http_5xx": 0.01,
    "ws_staleness_p95": 5.0,
    "risk_blocks": 5.0,
    "idempotency_conflicts": 0.01,
    "csp_violations": 5.0,
}
#: Per-request floors for the exact count tests (one extra event per 100 requests).
RATE_FLOOR_PER_REQUEST = 0.01


@dataclass(frozen=True)
class Finding:
    level: str  # ok / warn / fail / error
    what: str  # a metric, a trigger id, "traffic", "data"
    message: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass
class TrackData:
    """One track's counts over the stage window (from ``increase()`` / gauges)."""

    track: str
    window_s: float
    requests: float | None = None
    errors_5xx: float | None = None
    buckets: list[tuple[float, int]] = field(default_factory=list)
    p95: float | None = None
    idem_requests: float | None = None
    idem_conflicts: float | None = None
    risk_blocks: float | None = None
    csp_reports: float | None = None
    ws_staleness_p95: float | None = None

    @property
    def n(self) -> int:
        return round(self.requests) if _ok(self.requests) else 0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["buckets"] = [[_le_text(le), c] for le, c in self.buckets]
        return out


def _ok(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _le_text(le: float) -> str:
    return "+Inf" if math.isinf(le) else repr(le)


# --- queries (pure strings)


def _sel(metric: str, job: str, track: str, *extra: str) -> str:
    job_q = job.replace("\\", "\\\\").replace('"', '\\"')
    return metric + "{" + ",".join([f'job="{job_q}"', f'track="{track}"', *extra]) + "}"


def track_queries(job: str, track: str, window_s: float) -> dict[str, str]:
    """PromQL per quantity of one track over ``window_s`` (whole seconds, >= 1)."""
    w = f"{max(round(window_s), 1)}s"
    req = _sel("spark_http_requests_total", job, track, USER_TRAFFIC)
    req_5xx = _sel("spark_http_requests_total", job, track, USER_TRAFFIC, 'code=~"5.."')
    bucket = _sel("spark_http_request_duration_seconds_bucket", job, track, USER_TRAFFIC)
    return {
        "requests": f"sum(increase({req}[{w}]))",
        "errors_5xx": f"sum(increase({req_5xx}[{w}])) or vector(0)",
        "buckets": f"sum by (le) (increase({bucket}[{w}]))",
        "p95": f"histogram_quantile(0.95, sum by (le) (rate({bucket}[{w}])))",
        "idem_requests": (
            f"sum(increase({_sel('spark_idempotency_requests_total', job, track)}[{w}]))"
        ),
        "idem_conflicts": (
            f"sum(increase({_sel('spark_idempotency_conflicts_total', job, track)}[{w}]))"
        ),
        "risk_blocks": f"sum(increase({_sel('spark_risk_blocks_total', job, track)}[{w}]))",
        "csp_reports": f"sum(increase({_sel('spark_csp_violations_total', job, track)}[{w}]))",
        "ws_staleness_p95": (
            f'max_over_time(track:ws_staleness_p95:seconds{{track="{track}"}}[{w}])'
        ),
    }


def pool_query(window_s: float) -> str:
    return f"max_over_time(pgbouncer:pool_utilisation:ratio[{max(round(window_s), 1)}s])"


def scalar(result: Sequence[Mapping[str, Any]]) -> float | None:
    """The one value of an instant query (None: no series; NaN stays NaN)."""
    for series in result:
        value = series.get("value")
        if value is not None:
            return float(value[1])
    return None


def buckets_of(result: Sequence[Mapping[str, Any]]) -> list[tuple[float, int]]:
    cumulative = {
        float(s["metric"].get("le", "nan")): float(s["value"][1])
        for s in result
        if "le" in s.get("metric", {})
    }
    return stats.bucket_counts({k: v for k, v in cumulative.items() if not math.isnan(k)})


def collect_track(
    prom: Any, job: str, track: str, window_s: float, at: float, log: list[dict[str, Any]]
) -> TrackData:
    """Ask Prometheus for one track's window; every query and raw result goes to ``log``.
    A ProbeError (unreachable, timed out) propagates: the caller's ERROR."""
    data = TrackData(track=track, window_s=window_s)
    for name, promql in track_queries(job, track, window_s).items():
        result = prom.query(promql, at=at)
        log.append({"track": track, "name": name, "query": promql, "at": at, "result": result})
        if name == "buckets":
            data.buckets = buckets_of(result)
        else:
            setattr(data, name, scalar(result))
    return data


# --- pure judgement


def metric_values(t: TrackData) -> dict[str, float | None]:
    """The six canary metrics of one track over the window (None: cannot be computed)."""

    def ratio(num: float | None, den: float | None) -> float | None:
        return num / den if _ok(num) and _ok(den) and den > 0 else None  # type: ignore[operator]

    def per_minute(count: float | None) -> float | None:
        return count / t.window_s * 60 if _ok(count) and t.window_s > 0 else None  # type: ignore[operator]

    return {
        "latency_p95": t.p95 if _ok(t.p95) else None,
        "http_5xx": ratio(t.errors_5xx, t.requests),
        "ws_staleness_p95": t.ws_staleness_p95 if _ok(t.ws_staleness_p95) else None,
        "risk_blocks": per_minute(t.risk_blocks),
        "idempotency_conflicts": ratio(t.idem_conflicts, t.idem_requests),
        "csp_violations": per_minute(t.csp_reports),
    }


def _breaks(value: float, trig: Trigger) -> bool:
    return breaks(value, trig.comparator, trig.threshold)


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "no data"
    if unit == "ratio":
        return f"{value:.2%}"
    if unit == "s":
        return f"{value * 1000:.0f} ms" if value < 10 else f"{value:.1f} s"
    return f"{value:.3g} {unit}"


def absolute_findings(
    canary: TrackData,
    triggers: Mapping[str, Trigger],
    *,
    alpha: float,
    pool_utilisation: float | None = None,
) -> list[Finding]:
    """The canary's six metrics over the window against T01..T05 (risk blocks have no
    absolute threshold), and the PgBouncer pool against T06. Sparse counts (5xx,
    conflicts, CSP reports) are judged with exact tests against the threshold, so a
    few events in a small window are a warning unless chance cannot explain them. A
    metric with no value is an ERROR: it could not be judged."""
    values = metric_values(canary)
    out: list[Finding] = []
    for name, (tid, unit, _key) in METRICS.items():
        trig = triggers.get(tid) if tid else None
        if trig is None:
            continue
        value = values.get(name)
        where = (
            f"{name} ({tid} {trig.alert}, threshold {trig.comparator} {fmt(trig.threshold, unit)})"
        )
        if value is None:
            out.append(Finding(ERROR, name, f"inconclusive: no data for canary {where}"))
            continue
        exact = _exact(name, canary, trig.threshold, alpha)
        if exact is None:
            level = FAIL if _breaks(value, trig) else OK
            detail = ""
        else:
            level = {stats.PASS: OK, stats.WARN: WARN, stats.FAIL: FAIL}.get(exact.decision, ERROR)
            detail = (
                f" [{exact.test}: p={exact.p_value:.3g}, alpha {alpha:g}]"
                if exact.p_value is not None
                else ""
            )
        verb = {OK: "within", WARN: "above, not beyond chance:", FAIL: "breaks", ERROR: "?"}[level]
        out.append(
            Finding(level, name, f"canary {name} = {fmt(value, unit)} {verb} {where}{detail}")
        )
    t06 = triggers.get("T06")
    if t06 is not None:
        where = f"T06 {t06.alert} threshold {t06.comparator} {t06.threshold:g}"
        if pool_utilisation is None:
            out.append(Finding(ERROR, "pgbouncer_pool", f"inconclusive: no data for {where}"))
        elif _breaks(pool_utilisation, t06):
            out.append(
                Finding(
                    FAIL,
                    "pgbouncer_pool",
                    f"pool utilisation {pool_utilisation:.2f} breaks {where}",
                )
            )
        else:
            out.append(
                Finding(
                    OK, "pgbouncer_pool", f"pool utilisation {pool_utilisation:.2f} within {where}"
                )
            )
    return out


def _exact(name: str, t: TrackData, threshold: float, alpha: float) -> stats.Exceedance | None:
    """The exact test for a count metric (None: a continuous value, compared as it is)."""

    def count(v: float | None) -> int:
        return round(v) if _ok(v) else -1

    if name == "http_5xx":
        return stats.exceeds_share(count(t.errors_5xx), t.n, threshold, alpha=alpha)
    if name == "idempotency_conflicts":
        n = count(t.idem_requests)
        return stats.exceeds_share(count(t.idem_conflicts), n, threshold, alpha=alpha)
    if name == "csp_violations":  # threshold per minute, exposure in minutes
        return stats.exceeds_rate(count(t.csp_reports), t.window_s / 60, threshold, alpha=alpha)
    return None


def enough_data(canary: TrackData, baseline: TrackData | None, min_requests: int) -> list[Finding]:
    """A minimum request count per track: less is inconclusive (ERROR), never a pass."""
    out = []
    tracks = [canary] + ([baseline] if baseline is not None else [])
    for t in tracks:
        if t.n < min_requests:
            out.append(
                Finding(
                    ERROR,
                    "data",
                    f"inconclusive: {t.n} requests on the {t.track} track in "
                    f"{t.window_s:.0f} s, need {min_requests}",
                )
            )
        else:
            out.append(Finding(OK, "data", f"{t.n} requests on the {t.track} track"))
    return out


#: Comparisons a stage makes; ``alpha`` is shared among them (Bonferroni).
COMPARISONS = 5


def compare_tracks(
    canary: TrackData, baseline: TrackData, *, min_requests: int, alpha: float
) -> list[stats.Comparison]:
    """Canary vs baseline over the same window: Mann-Whitney U on latency, exact tests on
    the sparse counts (see stats.py for the choice of tests).

    ``alpha`` is the stage's family-wise false-alarm rate: each of the five tests runs at
    alpha / 5 (Bonferroni). At alpha each, a healthy 1 % stage (10 canary samples) was
    called NO-GO by chance in CI: five tests per stage, five stages per rollout."""
    alpha = alpha / COMPARISONS
    out = [
        stats.compare_latency(
            "latency_p95",
            stats.expand(canary.buckets),
            stats.expand(baseline.buckets),
            min_n=min_requests,
            alpha=alpha,
        )
    ]

    def count(v: float | None) -> int:
        return round(v) if _ok(v) else -1  # -1: missing, the test says inconclusive

    out.append(
        stats.compare_proportions(
            "http_5xx",
            (count(canary.errors_5xx), canary.n),
            (count(baseline.errors_5xx), baseline.n),
            min_n=min_requests, alpha=alpha, factor=MATERIAL_FACTOR,
            floor=MATERIAL_FLOORS["http_5xx"],
        )
    )  # fmt: skip
    out.append(
        stats.compare_proportions(
            "idempotency_conflicts",
            (count(canary.idem_conflicts), count(canary.idem_requests)),
            (count(baseline.idem_conflicts), count(baseline.idem_requests)),
            min_n=1, alpha=alpha, factor=MATERIAL_FACTOR,
            floor=MATERIAL_FLOORS["idempotency_conflicts"],
        )
    )  # fmt: skip
    for name, attr in (("risk_blocks", "risk_blocks"), ("csp_violations", "csp_reports")):
        out.append(
            stats.compare_rates(
                name,
                (count(getattr(canary, attr)), float(canary.n)),
                (count(getattr(baseline, attr)), float(baseline.n)),
                min_n=min_requests, alpha=alpha, factor=MATERIAL_FACTOR,
                floor=RATE_FLOOR_PER_REQUEST,
            )
        )  # fmt: skip
    return out


def comparison_findings(comparisons: Iterable[stats.Comparison]) -> list[Finding]:
    level = {stats.PASS: OK, stats.WARN: WARN, stats.FAIL: FAIL, stats.INCONCLUSIVE: ERROR}
    return [
        Finding(level[c.decision], c.metric, f"canary vs baseline {c.metric}: {c.reason}")
        for c in comparisons
    ]


def value_findings(
    canary: Mapping[str, float | None], reference: Mapping[str, float | None], source: str
) -> list[Finding]:
    """Values only (no samples: the WebSocket staleness gauge, PF-09's baseline.json): a
    canary value above factor x reference + floor is a warning, never a silent pass."""
    out = []
    for name, (_tid, unit, _key) in METRICS.items():
        c, r = canary.get(name), reference.get(name)
        if c is None or r is None:
            continue
        bound = MATERIAL_FACTOR * r + MATERIAL_FLOORS[name]
        text = (
            f"canary {name} {fmt(c, unit)} vs {source} {fmt(r, unit)} "
            f"(material > {fmt(bound, unit)})"
        )
        out.append(Finding(WARN if c > bound else OK, name, text))
    return out


def baseline_values(doc: Mapping[str, Any]) -> dict[str, float | None]:
    """The six metrics from PF-09's baseline.json (``metrics.<key>.value``)."""
    metrics = doc.get("metrics", {}) if isinstance(doc, Mapping) else {}
    out: dict[str, float | None] = {}
    for name, (_tid, _unit, key) in METRICS.items():
        entry = metrics.get(key) if isinstance(metrics, Mapping) else None
        value = entry.get("value") if isinstance(entry, Mapping) else None
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        out[name] = float(value) if ok and math.isfinite(value) else None
    return out


#: Judged over the stage window by absolute_findings (exact tests); their Prometheus
#: alert state is recorded, and only warns (CANARY.md: the gate evaluates T07..T16).
WINDOW_JUDGED = ("T01", "T02", "T03", "T04", "T05", "T06")


#: Compare the canary with the live stable track (T07). At 100 % that track serves no
#: user traffic (its per-minute counts decay toward 0 while the canary's double), so
#: their alert state only warns there; the window's canary-vs-baseline tests, against
#: the previous stage's stable window, decide.
VS_LIVE_STABLE = ("T07",)


def trigger_findings(states: Iterable[TriggerState], *, stable_live: bool = True) -> list[Finding]:
    """T07..T16: firing -> fail, pending -> warning (it may fire after the window), no
    data or unjudged -> ERROR "inconclusive" (CANARY.md: too little data is never GO),
    a NaN value -> warning (enough_data decides whether the canary had traffic), else
    ok. T01..T06 firing or pending -> warning (the window's own tests decide them)."""
    out = []
    for s in states:
        value = "no data" if s.value is None else f"{s.value:.4g}"
        text = (
            f"{s.id} {s.alert} {s.state}: value {value} {s.comparator} {s.threshold:g} "
            f"held {s.active_steps}/{s.steps} evaluations of its for={s.for_s:g} s"
        )
        level = FAIL if s.state == FIRING else WARN if s.state == PENDING else OK
        if s.id in WINDOW_JUDGED:
            if level == FAIL:
                level, text = WARN, text + " (alert state; the stage window's test decides)"
        elif s.id in VS_LIVE_STABLE and not stable_live and level == FAIL:
            level = WARN
            text += " (no live stable track at 100 %; the tests against the previous stage's"
            text += " stable window decide)"
        elif s.state == UNJUDGED:
            level = ERROR
            text = f"inconclusive: {text} (its precondition does not hold yet, see the rule)"
        elif s.value is None and level == OK:
            level, text = ERROR, f"inconclusive: {text} (no series to judge)"
        elif not _ok(s.value) and level == OK:
            # NaN: a ratio or quantile over a rule window without requests (0/0). The
            # stage's minimum-traffic test decides whether the canary was judged at all;
            # this moment's value is said, never passed over as "ok".
            level, text = WARN, f"{text} (NaN at this moment: no requests in the rule's window)"
        out.append(Finding(level, s.id, text))
    return out


def share_tolerance(weight_pct: float, n: int, *, z: float, abs_tol: float) -> float:
    """z binomial standard deviations of the observed share around the weight, plus an
    absolute margin (the router's own rounding); 0 % and 100 % are exact."""
    p = weight_pct / 100
    return z * math.sqrt(p * (1 - p) / n) + (abs_tol if 0 < p < 1 else 0.0) if n > 0 else math.inf


def share_finding(
    weight_pct: float, share: float, n: int, *, z: float, abs_tol: float, min_n: int, source: str
) -> Finding:
    """Is the traffic really at the stage's weight? (observed canary share over n requests)"""
    if n < max(min_n, 1) or not math.isfinite(share):
        return Finding(
            ERROR,
            "traffic",
            f"inconclusive: {n} requests through the router ({source}), need {max(min_n, 1)} "
            f"to confirm the {weight_pct:g} % weight",
        )
    tol = share_tolerance(weight_pct, n, z=z, abs_tol=abs_tol)
    text = (
        f"canary share {share:.2%} of {n} requests ({source}), expected {weight_pct:g} % "
        f"+/- {tol:.2%} ({z:g} sigma binomial + {abs_tol:.0%})"
    )
    if abs(share - weight_pct / 100) > tol + 1e-12:
        return Finding(FAIL, "traffic", f"traffic is not at the stage weight: {text}")
    return Finding(OK, "traffic", text)


@dataclass(frozen=True)
class Decision:
    outcome: str  # GO / NO-GO
    failures: list[Finding]
    errors: list[Finding]
    warnings: list[Finding]

    @property
    def message(self) -> str:
        parts = [f.message for f in self.failures] + [f.message for f in self.errors]
        return "; ".join(parts) if parts else "all gates passed"


def decide(findings: Iterable[Finding]) -> Decision:
    """GO only when nothing failed and nothing was inconclusive; warnings never block."""
    found = list(findings)
    failures = [f for f in found if f.level == FAIL]
    errors = [f for f in found if f.level == ERROR]
    warnings = [f for f in found if f.level == WARN]
    if not found:
        errors = [Finding(ERROR, "data", "inconclusive: the gate judged nothing")]
    outcome = GO if not failures and not errors else NO_GO
    return Decision(outcome, failures, errors, warnings)


class Inconclusive(Exception):
    """The gate could not judge (too little data, a missing series): the check's ERROR."""
