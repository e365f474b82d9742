"""Canary: CN-00 blast radius, the stage gates CN-01..CN-100, RB-01 rollback drill.

``pytest -m canary --spark-stage 25`` judges one stage at the weight the user's
tooling set (observe); ``--spark-rollout --spark-allow-disruptive`` drives
CN-00 and every stage in order and stops at the first NO-GO; ``--spark-rollback``
(or ``canary.rollback_command``) rolls a NO-GO stage back and confirms it.
Each stage gathers through Prometheus and the router (pytest_spark.canary.rollout),
judges with pure functions (gate.py, stats.py) and records its whole decision
trace (``rollout_stage_<N>.txt`` plus the JSON ``stage`` observation).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_spark.canary.run import ONELINER, CanaryRun
from pytest_spark.canary.stages import STAGES, check_id
from pytest_spark.config import SparkConfig
from pytest_spark.evidence import Recorder
from pytest_spark.probes import ProbeError
from pytest_spark.session import POLICY_PREFIX

DRILL_FAULT = "canary-latency"
DRILL_WEIGHT = 25


@pytest.fixture(scope="module")
def canary(request: pytest.FixtureRequest, spark_config: SparkConfig) -> Iterator[CanaryRun]:
    from pytest_spark.plugin import SANDBOX

    run = CanaryRun(
        config=spark_config,
        box=request.config.stash.get(SANDBOX, None),
        evidence_dir=Path(request.config.getoption("spark_evidence_dir")),
        rollout=bool(request.config.getoption("spark_rollout")),
        rollback=bool(request.config.getoption("spark_rollback")),
    )
    try:
        yield run
    finally:
        run.restore()


@pytest.fixture
def canary_prometheus(prometheus: Any) -> Any:
    return prometheus


def _oneliner(run: CanaryRun, request: pytest.FixtureRequest, evidence: Recorder) -> None:
    from pytest_spark.canary.oneliner import summarize

    stages = [r.to_dict() for r in run.results]
    text = summarize(run.config.release["version"] or "", stages, blast=run.blast)
    evidence.attach("oneliner.txt", text + "\n")
    evidence.observe("oneliner", text)
    request.config.stash[ONELINER] = text


def _roll_back(run: CanaryRun, ctx: Any, detected_at: float) -> Any:
    from pytest_spark.canary.rollback import roll_back

    s = ctx.settings if ctx is not None else run.settings()
    return roll_back(
        detected_at=detected_at,
        haproxy=ctx.haproxy if ctx is not None else run.haproxy(),
        command=run.canary_cfg["rollback_command"],
        timeout=s.command_timeout_s,
        confirm_window_s=s.confirm_window_s,
    )


def _judge_stage(
    run: CanaryRun, weight: int, prometheus: Any, evidence: Recorder, *, drive: bool
) -> Any:
    """Run one stage; on NO-GO stop the rollout and roll back when asked. Returns the
    StageResult (its decision says GO or NO-GO)."""
    from pytest_spark.canary.rollout import run_stage

    ctx = run.context(prometheus)
    run.boost_sandbox_load()
    try:
        result = run_stage(ctx, weight, drive=drive, carried_baseline=run.carried_baseline)
    except Exception as exc:  # could not verify: still NO-GO, still roll back when asked
        run.stopped_at = check_id(weight)
        if run.rollback_wanted():
            rec = _roll_back(run, ctx, time.time())
            evidence.observe("rollback", rec.to_dict())
            raise ProbeError(
                f"{check_id(weight)} could not be judged: {exc}; {rec.message}"
            ) from None
        raise
    if result.decision.outcome != "GO":
        run.stopped_at = result.check
        if run.rollback_wanted():
            result.rollback = _roll_back(run, ctx, result.decided_at)
    elif weight < 100:
        run.carried_baseline = result.tracks["stable"]
    run.results.append(result)
    evidence.observe("stage", result.to_dict())
    evidence.attach(f"rollout_stage_{weight}.txt", result.snapshot_text())
    return result


def _verdict_of(result: Any) -> None:
    """Fail naming metric, trigger and numbers; ERROR when the gate could not judge."""
    from pytest_spark.canary.gate import Inconclusive

    d = result.decision
    rollback = f" -- {result.rollback.message}" if result.rollback else ""
    if d.failures:
        raise AssertionError(f"{result.check} NO-GO at {result.weight} %: {d.message}{rollback}")
    if d.errors:
        raise Inconclusive(f"{result.check} NO-GO at {result.weight} %: {d.message}{rollback}")


@pytest.mark.spark_check("CN-00")
def test_cn00_blast_radius(
    canary: CanaryRun,
    api_urls: list[str],
    spark_config: SparkConfig,
    timeout: float,
    evidence: Recorder,
) -> None:
    """Constant-rate open-model load on the canary alone: p95 and errors within budget."""
    from pytest_spark.canary.blast import blast, findings, is_loopback
    from pytest_spark.canary.gate import Inconclusive

    cfg = spark_config.canary
    if not all(is_loopback(u) for u in api_urls) and not spark_config.policy["allow_disruptive"]:
        pytest.skip(
            f"{POLICY_PREFIX}CN-00 loads non-loopback instances; pass --spark-allow-disruptive"
        )
    duration = float(cfg["blast_duration_s"]) or (5.0 if canary.box is not None else 30.0)
    plan = {
        "urls": api_urls, "path": cfg["blast_path"], "rate": float(cfg["blast_rate"]),
        "duration_s": duration, "max_inflight": int(cfg["blast_max_inflight"]),
        "timeout_s": timeout,
    }  # fmt: skip
    evidence.observe("plan", plan)
    if canary.rollout:  # before stage 1 the canary serves no public traffic
        canary.driver(canary.settings()).set_weight(0)
        evidence.observe("weight", {"set": 0, "why": "rollout starts with the canary at 0 %"})
    targets = spark_config.targets
    verify: bool | str = targets["ca_bundle"] or targets["verify_tls"]
    token = targets["auth_token"]
    result = blast(
        api_urls, path=plan["path"], rate=plan["rate"], duration_s=duration,
        max_inflight=plan["max_inflight"], timeout=timeout, verify=verify,
        headers={"Authorization": f"Bearer {token}"} if token else None,
    )  # fmt: skip
    evidence.observe("blast_radius", result.to_dict())
    invalid, failed = findings(
        result,
        slo_p95_s=float(spark_config.thresholds["slo_latency_p95_s"]),
        max_error_ratio=float(cfg["blast_max_error_ratio"]),
    )
    evidence.observe("findings", {"invalid": invalid, "failed": failed})
    rolled = ""
    canary.blast = {"outcome": "passed" if not (failed or invalid) else "failed", "rollback": None}
    if failed or invalid:
        canary.stopped_at = "CN-00"
        if canary.rollback_wanted():
            rec = _roll_back(canary, None, time.time())
            evidence.observe("rollback", rec.to_dict())
            canary.blast["rollback"] = rec.to_dict()
            rolled = f" -- {rec.message}"
    assert not failed, "CN-00 NO-GO: " + "; ".join(failed) + rolled
    if invalid:
        raise Inconclusive("CN-00 could not measure: " + "; ".join(invalid) + rolled)


@pytest.mark.parametrize(
    "weight",
    [pytest.param(w, marks=pytest.mark.spark_check(check_id(w)), id=check_id(w)) for w in STAGES],
)
def test_cn_stage_gate(
    weight: int,
    canary: CanaryRun,
    canary_prometheus: Any,
    request: pytest.FixtureRequest,
    evidence: Recorder,
) -> None:
    """Traffic at the weight; six metrics within T01..T06; canary vs baseline; T07..T16."""
    if canary.rollout and canary.stopped_at:
        if weight == STAGES[-1]:
            _oneliner(canary, request, evidence)
        pytest.skip(f"rollout stopped at {canary.stopped_at} (NO-GO): stage not attempted")
    result = _judge_stage(canary, weight, canary_prometheus, evidence, drive=canary.rollout)
    if canary.rollout and (result.decision.outcome != "GO" or weight == STAGES[-1]):
        _oneliner(canary, request, evidence)
    _verdict_of(result)


@pytest.mark.spark_check("RB-01")
def test_rb01_rollback_drill(canary: CanaryRun, canary_prometheus: Any, evidence: Recorder) -> None:
    """Inject a canary fault at a stage: the gate must say NO-GO, the rollback must run and
    be confirmed (no canary traffic) within canary.rollback_budget_s of the detection."""
    from pytest_spark.canary.rollout import run_stage

    box = canary.box
    if box is None:
        raise ProbeError("RB-01 drills on the reference stack: run with --spark-sandbox")
    ctx = canary.context(canary_prometheus)
    haproxy = ctx.haproxy
    previous = haproxy.weight()
    canary.boost_sandbox_load()
    evidence.observe("drill", {"fault": DRILL_FAULT, "weight": DRILL_WEIGHT, "previous": previous})
    try:
        with box.inject(DRILL_FAULT):
            haproxy.set_weight(DRILL_WEIGHT)
            result = run_stage(ctx, DRILL_WEIGHT, drive=False)
            if result.decision.outcome != "GO":
                result.rollback = _roll_back(canary, ctx, result.decided_at)
    finally:
        haproxy.set_weight(previous)
    evidence.observe("stage", {**result.to_dict(), "check": "RB-01"})
    evidence.attach(f"rollout_stage_{DRILL_WEIGHT}_drill.txt", result.snapshot_text())
    assert result.decision.failures, (
        f"RB-01: the gate did not catch {DRILL_FAULT} at {DRILL_WEIGHT} %: "
        f"{result.decision.outcome} -- {result.decision.message}"
    )
    rb = result.rollback
    assert rb is not None and rb.confirmed, f"RB-01: rollback not confirmed: {rb and rb.message}"
    took = rb.detection_to_confirmed_s or 0.0
    budget = ctx.settings.rollback_budget_s
    assert took <= budget, f"RB-01: detection to confirmed {took:.1f} s > budget {budget:g} s"
