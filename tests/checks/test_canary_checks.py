"""The canary checks against the real reference stack (HAProxy, Prometheus, the API).

One full rollout proves the happy path (five stages GO, the one-liner printed and
stored); each canary fault is judged on a single stage (100 %, the stack's
initial weight) and must fail naming the metric, the trigger and the numbers,
with the rollback run and confirmed; too little traffic and an unreachable
Prometheus are ERRORs (NO-GO), never a pass. The blast-radius generator is
checked for holding its rate and for counting omitted sends.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_spark.canary.blast import RATE_TOLERANCE, blast, findings
from pytest_spark.cli import main as cli_main
from pytest_spark.sandbox.launcher import INITIAL_CANARY_WEIGHT

# alerts and SLO windows are judged here: start from a quiet history (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("quiet_start")

CHECKS_DIR = Path(__file__).resolve().parents[2] / "checks"
STAGE_IDS = ("CN-00", "CN-01", "CN-05", "CN-25", "CN-50", "CN-100")
#: fault -> (what the stage gate's failure must name)
FAULT_NAMES = {
    "canary-latency": ("latency_p95", "T01"),
    "canary-5xx": ("http_5xx", "T02"),
    "canary-float-prices": ("T14", "SparkCanaryDecimalPrecisionErrors"),
    "canary-memory-leak": ("T09", "SparkCanaryMemoryLeak"),
    "canary-ws-storm": ("T13", "SparkCanaryWebSocketDisconnectStorm"),
}


@pytest.fixture
def weight_restored(sandbox: Any) -> Iterator[Any]:
    driver = sandbox.traffic()
    try:
        yield driver
    finally:
        driver.set_weight(INITIAL_CANARY_WEIGHT)


def _stage(run: Any, cid: str) -> dict[str, Any]:
    (obs,) = [o for o in run.record(cid)["observations"] if o["name"] == "stage"]
    return obs["data"]


# Cheap tests first: on a cold stack they warm it before the rollout judges its latency.


def test_canary_marker_without_a_mode_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest(str(CHECKS_DIR), "-p", "no:cacheprovider", "-m", "canary")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "needs --spark-stage N" in result.stderr.str() + result.stdout.str()
    result = pytester.runpytest(str(CHECKS_DIR), "-p", "no:cacheprovider", "--spark-rollout")
    assert "pass --spark-allow-disruptive" in result.stderr.str() + result.stdout.str()


def test_blast_radius_holds_its_rate(endpoints: Any) -> None:
    res = blast(list(endpoints.api_urls), path="/version", rate=20, duration_s=3,
                max_inflight=32, timeout=5)  # fmt: skip
    assert res.planned == 60 and res.sent == 60 and res.omitted == 0
    assert abs(res.achieved_rate - 20) <= 20 * RATE_TOLERANCE, res.achieved_rate
    assert res.late <= res.sent and res.max_lateness_ms >= 0
    assert res.completed == 60 and res.p50_ms is not None and res.max_ms >= res.p99_ms
    assert res.histogram  # the HDR histogram itself, re-decodable by any HdrHistogram
    assert json.dumps(res.to_dict())


def test_blast_radius_counts_omitted_sends_against_a_hung_server(blackhole: str) -> None:
    res = blast([blackhole], path="/", rate=20, duration_s=1, max_inflight=2, timeout=1)
    assert res.omitted == res.planned - 2 and res.sent == 2
    assert res.errors["omitted (max in flight: server not keeping up)"] == res.omitted
    invalid, failed = findings(res, slo_p95_s=0.2, max_error_ratio=0.01)
    assert not invalid and any("omitted" in text for text in failed)


def test_prometheus_down_is_an_error(run_checks: Any) -> None:
    run = run_checks(
        "CN-100",
        args=(
            "--spark-stage", "100", "--spark-prometheus-url", "http://127.0.0.1:9",
            "--spark-set", "canary.stage_window_s=2",
        ),
    )  # fmt: skip
    assert run.verdict["verdict"] == "NO-GO"
    assert run.outcome("CN-100") == "error"
    assert "Prometheus at http://127.0.0.1:9" in run.message("CN-100")


def test_too_little_traffic_is_inconclusive_never_go(run_checks: Any, sandbox: Any) -> None:
    with sandbox.inject("no-traffic", wait_s=3.0):
        run = run_checks(
            "CN-100",
            args=("--spark-stage", "100", "--spark-set", "canary.max_window_s=10"),
        )
    assert run.verdict["verdict"] == "NO-GO"
    # error (inconclusive); or failed when a trigger fires besides (CI once saw T09 on the
    # canary's memory slope during this test): both are NO-GO, and the stage must still
    # say it could not judge the canary on zero requests
    assert run.outcome("CN-100") in ("error", "failed")
    assert "inconclusive: 0 requests" in run.message("CN-100")


@pytest.mark.timeout(600)  # the 1 % stage may wait up to 240 s for its canary requests
def test_healthy_rollout_passes_every_stage_and_prints_the_oneliner(
    run_checks: Any, weight_restored: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    run = run_checks(*STAGE_IDS, disruptive=True, args=("--spark-rollout",))
    assert run.verdict["verdict"] == "GO", run.output[-4000:]
    assert {cid: run.outcome(cid) for cid in STAGE_IDS} == dict.fromkeys(STAGE_IDS, "passed")
    for cid in STAGE_IDS[1:]:
        stage = _stage(run, cid)
        assert stage["mode"] == "drive" and stage["outcome"] == "GO"
        assert stage["traffic"]["n"] > 0 and stage["tracks"]["canary"]["requests"] > 0
        assert len(stage["triggers"]) == 16 and stage["comparisons"]
    blast_obs = [
        o["data"] for o in run.record("CN-00")["observations"] if o["name"] == "blast_radius"
    ]
    assert blast_obs[0]["omitted"] == 0 and blast_obs[0]["p95_ms"] is not None
    assert "canary release one-liner" in run.output
    line = (run.folder / "artifacts" / "CN-100" / "oneliner.txt").read_text().strip()
    assert line.startswith("Spark v1.4.0 canary: 5/5 stages GO, 0 rollbacks | p95 ")
    assert line.endswith("-- GO") and line in run.output
    assert (run.folder / "artifacts" / "CN-25" / "rollout_stage_25.txt").is_file()
    capsys.readouterr()
    assert cli_main(["oneliner", str(run.folder), "--lang", "tr"]) == 0
    assert capsys.readouterr().out.startswith("Spark v1.4.0 kanarya: 5/5 aşama GO")


@pytest.mark.usefixtures("fresh_after")
@pytest.mark.parametrize("fault", sorted(FAULT_NAMES))
def test_canary_fault_fails_the_stage_and_the_rollback_is_confirmed(
    run_checks: Any, sandbox: Any, weight_restored: Any, fault: str
) -> None:
    # a 20 s window (~250 canary requests): over the default 10 s, ~100 requests under
    # three stacks' CPU load once showed canary-5xx's 10 % as 3.3 %, too few to name T02
    window = ("--spark-set", "canary.stage_window_s=20")
    with sandbox.inject(fault):
        run = run_checks("CN-100", args=("--spark-stage", "100", "--spark-rollback", *window))
    assert run.verdict["verdict"] == "NO-GO"
    assert run.outcome("CN-100") == "failed", run.message("CN-100")
    message = run.message("CN-100")
    for name in FAULT_NAMES[fault]:
        assert name in message, message
    assert "rollback confirmed: 0 of" in message
    stage = _stage(run, "CN-100")
    rb = stage["rollback"]
    assert rb["confirmed"] and rb["canary_requests"] == 0 and rb["total_requests"] > 0
    assert rb["detected_at"] <= rb["started_at"] <= rb["ended_at"] <= rb["confirmed_at"]
    assert weight_restored.weight() == 0  # rolled back


@pytest.mark.usefixtures("fresh_after")
def test_rollback_drill_catches_the_fault_and_confirms_the_rollback(run_checks: Any) -> None:
    run = run_checks("RB-01", disruptive=True)
    assert run.outcome("RB-01") == "passed", run.message("RB-01")
    (stage,) = [o["data"] for o in run.record("RB-01")["observations"] if o["name"] == "stage"]
    assert stage["outcome"] == "NO-GO" and stage["rollback"]["confirmed"]
    assert stage["rollback"]["detection_to_confirmed_s"] < 60
