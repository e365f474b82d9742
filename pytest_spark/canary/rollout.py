"""The stages in order: set the weight (when driving), wait the window, gate, stop at the
first NO-GO (CANARY.md "Stage gates").

``Settings.resolve`` turns the ``[canary]`` config into numbers (0 means "auto":
production defaults, or compressed ones on the sandbox). ``run_stage`` does one
stage's I/O -- weight, HAProxy counters, Prometheus queries, the trigger
evaluator -- and hands plain data to gate.py's pure functions; ``StageResult``
is the stage's evidence (the ``rollout_stage_<N>.txt`` snapshot and its JSON).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import gate, stats
from .evaluate import TriggerState, evaluate
from .rollback import RollbackError, RollbackRecord, run_command
from .stages import check_id
from .traffic import HaproxyRuntime, canary_share
from .triggers import Trigger, configured

#: The sandbox sends ~12 req/s, so a 1 % canary gets ~0.12 req/s and needs ~83 s on
#: average for its 10 requests (HAProxy picks each request's backend at random). A
#: 100 s cap left P(fewer than 10) = 24 % (Poisson, mean 12); 240 s leaves 2e-5.
SANDBOX_MAX_WINDOW_S = 240.0


@dataclass(frozen=True)
class Settings:
    """The resolved ``[canary]`` settings of one run."""

    window_s: float
    max_window_s: float
    min_requests: int
    alpha: float
    weight_z: float
    weight_tolerance: float
    confirm_window_s: float
    scrape_lag_s: float
    evaluation_interval_s: float  # 0: ask Prometheus
    command_timeout_s: float
    rollback_budget_s: float
    job: str

    @classmethod
    def resolve(cls, canary: Mapping[str, Any], *, sandbox: bool, job: str) -> Settings:
        def auto(key: str, real: float, box: float) -> float:
            value = float(canary.get(key) or 0)
            return value if value > 0 else (box if sandbox else real)

        window = auto("stage_window_s", 300.0, 10.0)
        alpha = float(canary.get("alpha", 0.01))
        if not 0 < alpha < 1:
            raise ValueError(f"canary.alpha must be in (0, 1), got {alpha}")
        return cls(
            window_s=window,
            max_window_s=max(
                auto("max_window_s", 4 * window, max(4 * window, SANDBOX_MAX_WINDOW_S)), window
            ),
            min_requests=int(auto("min_requests", 200, 10)),
            alpha=alpha,
            weight_z=float(canary.get("weight_z", 4.0)),
            weight_tolerance=float(canary.get("weight_tolerance", 0.02)),
            confirm_window_s=auto("confirm_window_s", 30.0, 3.0),
            scrape_lag_s=auto("scrape_lag_s", 30.0, 2.5),
            evaluation_interval_s=float(canary.get("evaluation_interval_s") or 0),
            command_timeout_s=float(canary.get("command_timeout_s", 60.0)),
            rollback_budget_s=float(canary.get("rollback_budget_s", 300.0)),
            job=job,
        )


def trigger_overrides(items: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``["T01.threshold=0.5", "T02.for=2m"]`` -> the overrides triggers.configured takes."""
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        tid, dot, key = name.strip().partition(".")
        if not sep or not dot or not key.strip():
            raise ValueError(f"canary.triggers: {item!r} is not ID.KEY=VALUE (T01.threshold=0.5)")
        value: Any = raw.strip()
        if key.strip() == "threshold":
            try:
                value = float(value)
            except ValueError:
                raise ValueError(f"canary.triggers: {item!r}: threshold is not a number") from None
        out.setdefault(tid.strip().upper(), {})[key.strip()] = value
    return out


def catalog_for(
    items: Sequence[str], *, sandbox_catalog: Sequence[Trigger] | None
) -> list[Trigger]:
    """The triggers the gate evaluates: the sandbox's compressed catalog (what its Prometheus
    loads) or the configured production one, with ``canary.triggers`` overrides on top."""
    overrides = trigger_overrides(items)
    if sandbox_catalog is None:
        return list(configured(overrides))
    by_id = {t.id: t for t in configured(overrides)}
    return [by_id[t.id] if t.id in overrides and by_id[t.id] != t else t for t in sandbox_catalog]


class CommandDriver:
    """Weights through any deploy tool: ``canary.weight_command`` argv with ``{weight}``
    replaced, run without a shell within a deadline."""

    def __init__(self, argv: Sequence[str], timeout: float) -> None:
        if not argv or not any("{weight}" in a for a in argv):
            raise ValueError("canary.weight_command must be an argv containing {weight}")
        self.argv = list(argv)
        self.timeout = timeout

    def set_weight(self, percent: int) -> None:
        argv = [a.replace("{weight}", str(percent)) for a in self.argv]
        try:
            rc, out = run_command(argv, self.timeout)
        except RollbackError as exc:
            raise RuntimeError(f"weight command failed: {exc}") from None
        if rc != 0:
            raise RuntimeError(f"weight command {argv[0]} exited {rc}: {out[-200:]}")


def evaluation_interval(prom: Any, configured_s: float) -> float:
    """Prometheus's own ``evaluation_interval`` (status/config), unless configured."""
    if configured_s > 0:
        return configured_s
    import yaml

    from .triggers import duration_s

    text = prom.api("status/config").get("yaml", "")
    try:
        value = (yaml.safe_load(text) or {}).get("global", {}).get("evaluation_interval", "1m")
        return duration_s(str(value)) or 60.0
    except (yaml.YAMLError, ValueError, AttributeError):
        return 60.0


def find_baseline(path: str, evidence_dir: Path, release: str) -> tuple[str, dict[str, Any]] | None:
    """PF-09's baseline.json: the configured path, else the newest in this release's bundles."""
    candidates: list[Path] = []
    if path:
        candidates = [Path(path)]
    elif release and (evidence_dir / release).is_dir():
        found = (evidence_dir / release).glob("*/artifacts/PF-09/baseline.json")
        candidates = sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)[:1]
    for candidate in candidates:
        try:
            if candidate.stat().st_size > 1_000_000:
                continue
            return str(candidate), json.loads(candidate.read_text())
        except (OSError, ValueError):
            continue
    return None


@dataclass
class StageResult:
    """One stage's evidence: inputs, every query, every finding, the decision."""

    check: str
    weight: int
    mode: str  # "observe" / "drive"
    start: float = 0.0
    end: float = 0.0
    decided_at: float = 0.0
    traffic: dict[str, Any] = field(default_factory=dict)
    tracks: dict[str, gate.TrackData] = field(default_factory=dict)
    baseline_source: str = ""
    values: dict[str, dict[str, float | None]] = field(default_factory=dict)
    comparisons: list[stats.Comparison] = field(default_factory=list)
    triggers: list[TriggerState] = field(default_factory=list)
    findings: list[gate.Finding] = field(default_factory=list)
    queries: list[dict[str, Any]] = field(default_factory=list)
    decision: gate.Decision | None = None
    rollback: RollbackRecord | None = None

    def to_dict(self) -> dict[str, Any]:
        d = self.decision
        return {
            "check": self.check, "weight": self.weight, "mode": self.mode,
            "window": {"start": self.start, "end": self.end, "seconds": self.end - self.start},
            "decided_at": self.decided_at,
            "outcome": d.outcome if d else None,
            "message": d.message if d else "",
            "traffic": self.traffic,
            "tracks": {k: v.to_dict() for k, v in self.tracks.items()},
            "baseline_source": self.baseline_source,
            "values": self.values,
            "comparisons": [c.to_dict() for c in self.comparisons],
            "triggers": [
                {k: v for k, v in t.to_dict().items() if k != "queries"} for t in self.triggers
            ],
            "findings": [f.to_dict() for f in self.findings],
            "rollback": self.rollback.to_dict() if self.rollback else None,
        }  # fmt: skip

    def table(self) -> list[dict[str, Any]]:
        """Each of the six metrics: canary vs baseline, threshold, the test's decision."""
        rows = []
        comps = {c.metric: c for c in self.comparisons}
        for name, (tid, unit, _key) in gate.METRICS.items():
            comp = comps.get(name)
            rows.append(
                {
                    "metric": name, "unit": unit, "trigger": tid,
                    "canary": self.values.get("canary", {}).get(name),
                    "baseline": self.values.get("baseline", {}).get(name),
                    "p_value": comp.p_value if comp else None,
                    "test": comp.decision if comp else "",
                }
            )  # fmt: skip
        return rows

    def snapshot_text(self) -> str:
        """rollout_stage_<N>.txt: the decision trace a person reads top to bottom."""
        d = self.decision
        lines = [
            f"{self.check} stage {self.weight} % ({self.mode})",
            f"window: {self.start:.3f} .. {self.end:.3f} ({self.end - self.start:.1f} s)",
            f"decision: {d.outcome if d else '-'} -- {d.message if d else ''}",
            "",
            "metric                 canary        baseline      test      p-value",
        ]
        for row in self.table():
            p = "" if row["p_value"] is None else f"{row['p_value']:.3g}"
            lines.append(
                f"{row['metric']:22} {gate.fmt(row['canary'], row['unit']):13} "
                f"{gate.fmt(row['baseline'], row['unit']):13} {row['test']:9} {p}"
            )
        lines += ["", "findings:"]
        lines += [f"  [{f.level}] {f.what}: {f.message}" for f in self.findings]
        if self.rollback:
            lines += ["", f"rollback: {self.rollback.message}"]
            lines.append(json.dumps(self.rollback.to_dict(), sort_keys=True))
        lines += ["", "queries (raw responses):"]
        for q in self.queries:
            lines.append(json.dumps(q, sort_keys=True, default=str))
        return "\n".join(lines) + "\n"


@dataclass
class StageContext:
    """Everything one stage needs to run (built once per session by the checks)."""

    prom: Any
    settings: Settings
    triggers: list[Trigger]
    haproxy: HaproxyRuntime | None = None
    driver: Any = None  # an object with set_weight(int), when driving
    share_query: str = ""
    baseline_doc: tuple[str, dict[str, Any]] | None = None
    sleep: Callable[[float], None] = time.sleep


def _share_from_query(ctx: StageContext, window_s: float, at: float, log: list[Any]) -> float:
    promql = ctx.share_query.replace("$window", f"{max(round(window_s), 1)}s")
    result = ctx.prom.query(promql, at=at)
    log.append({"name": "share_query", "query": promql, "at": at, "result": result})
    value = gate.scalar(result)
    return math.nan if value is None else value


def _wait_window(ctx: StageContext, weight: int, start: float) -> float:
    """The window, stretched (up to max_window_s) until every track the weight feeds has
    min_requests in Prometheus -- the same counter the gate judges -- so a 1 % stage is
    judged on enough requests instead of being called inconclusive after a fixed time.

    Returns the window's end: a moment whose counts, read again after the scrape lag
    exactly as the gate will read them, still reach min_requests. increase() extrapolates
    a sparse counter to the window's edges, so a count read while the last samples are
    still arriving can shrink (CI: 10+ requests while waiting, 6 at the gate).
    """
    s = ctx.settings
    ctx.sleep(s.window_s)
    tracks = ("canary",) if weight == 100 else ("canary", "stable")

    def enough(at: float) -> bool:
        counts = []
        for track in tracks:
            promql = gate.track_queries(s.job, track, at - start)["requests"]
            counts.append(gate.scalar(ctx.prom.query(promql, at=at)) or 0.0)
        return min(counts) >= s.min_requests

    while (end := time.time()) - start < s.max_window_s:
        if enough(end):
            ctx.sleep(s.scrape_lag_s)
            if enough(end):
                return end
        ctx.sleep(1.0)
    return end


def run_stage(
    ctx: StageContext,
    weight: int,
    *,
    drive: bool,
    carried_baseline: gate.TrackData | None = None,
) -> StageResult:
    """One stage: (set the weight,) observe a window, gather, judge. A ProbeError or
    TrafficError propagates (the check's ERROR: could not verify)."""
    s = ctx.settings
    result = StageResult(check_id(weight), weight, "drive" if drive else "observe")
    if drive:
        if ctx.driver is None:
            raise ValueError(
                "--spark-rollout needs a traffic driver: canary.haproxy_socket + "
                "canary.haproxy_weights_map, or canary.traffic_driver = command with "
                "canary.weight_command (the sandbox has HAProxy built in)"
            )
        ctx.driver.set_weight(weight)
    before = ctx.haproxy.counters() if ctx.haproxy is not None else None
    result.start = time.time()
    result.end = _wait_window(ctx, weight, result.start)
    after = ctx.haproxy.counters() if ctx.haproxy is not None else None
    ctx.sleep(s.scrape_lag_s)  # the window's last samples reach Prometheus
    window, at, log = result.end - result.start, result.end, result.queries
    canary = gate.collect_track(ctx.prom, s.job, "canary", window, at, log)
    stable = gate.collect_track(ctx.prom, s.job, "stable", window, at, log)
    result.tracks = {"canary": canary, "stable": stable}
    pool_q = gate.pool_query(window)
    pool_r = ctx.prom.query(pool_q, at=at)
    log.append({"name": "pgbouncer_pool", "query": pool_q, "at": at, "result": pool_r})
    interval = evaluation_interval(ctx.prom, s.evaluation_interval_s)
    result.triggers = evaluate(ctx.prom, ctx.triggers, at, interval)
    for t in result.triggers:
        log.extend({"trigger": t.id, **q} for q in t.queries)
    findings: list[gate.Finding] = []
    # 1. traffic really at the weight
    if before is not None and after is not None:
        share, n = canary_share(before, after)
        source = "HAProxy session counters"
    elif ctx.share_query:
        share, n = _share_from_query(ctx, window, at, log), canary.n + stable.n
        source = "canary.share_query"
    else:
        share, n, source = math.nan, 0, "no traffic source"
    result.traffic = {"expected_pct": weight, "share": share, "n": n, "source": source}
    if source == "no traffic source":
        findings.append(
            gate.Finding(
                gate.ERROR,
                "traffic",
                "cannot confirm the weight: configure canary.haproxy_socket or canary.share_query",
            )
        )
    else:
        findings.append(
            gate.share_finding(
                weight,
                share,
                n,
                z=s.weight_z,
                abs_tol=s.weight_tolerance,
                min_n=s.min_requests,
                source=source,
            )
        )
    # 2. the six metrics over the window against T01..T06 (and enough canary data)
    baseline = stable
    if weight == 100 and carried_baseline is not None:
        baseline = carried_baseline
        result.baseline_source = "stable track of the previous stage's window (0 % at 100 %)"
    elif weight == 100:
        baseline = None  # type: ignore[assignment]
        result.baseline_source = "none: the stable track serves no traffic at 100 %"
    else:
        result.baseline_source = "stable track, same window"
    findings += gate.enough_data(canary, baseline, s.min_requests)
    values = gate.metric_values(canary)
    result.values["canary"] = values
    by_id = {t.id: t for t in ctx.triggers}
    findings += gate.absolute_findings(
        canary, by_id, alpha=s.alpha, pool_utilisation=gate.scalar(pool_r)
    )
    # 3. canary vs baseline: stable track (samples) and PF-09's baseline.json (values)
    if baseline is not None:
        result.values["baseline"] = gate.metric_values(baseline)
        result.comparisons = gate.compare_tracks(
            canary, baseline, min_requests=s.min_requests, alpha=s.alpha
        )
        findings += gate.comparison_findings(result.comparisons)
        ws = {"ws_staleness_p95": result.values["baseline"]["ws_staleness_p95"]}
        findings += gate.value_findings(
            {"ws_staleness_p95": values["ws_staleness_p95"]}, ws, "stable"
        )
    else:
        findings.append(
            gate.Finding(
                gate.WARN,
                "baseline",
                "no stable-track baseline for this stage: absolute thresholds and triggers only",
            )
        )
    if ctx.baseline_doc is not None:
        path, doc = ctx.baseline_doc
        ref = gate.baseline_values(doc)
        result.values["baseline.json"] = ref
        findings += gate.value_findings(values, ref, f"PF-09 baseline.json ({path})")
    # 4. the rollback triggers (T01..T16, Prometheus's pending/firing semantics)
    findings += gate.trigger_findings(result.triggers, stable_live=weight < 100)
    result.findings = findings
    result.decision = gate.decide(findings)
    result.decided_at = time.time()
    return result
