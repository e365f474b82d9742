"""The rollout layer of the reference stack, against the real HAProxy and Prometheus.

HAProxy splits public traffic between the stable (previous release) and the
canary (release under test) backends by the weight set through its runtime
API; Prometheus scrapes every API instance with a ``track`` label and loads the
trigger rules generated from the catalog; each canary fault makes the triggers
it targets fire and resolve after its revert; the gates' evaluator and
Prometheus's own ``ALERTS`` agree on which triggers fire.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from pytest_spark.canary import evaluate
from pytest_spark.canary.traffic import TrafficError, canary_share
from pytest_spark.sandbox.faults import CANARY_APP_FAULTS, FAULTS
from pytest_spark.sandbox.launcher import INITIAL_CANARY_WEIGHT, Sandbox, sandbox_triggers

# alerts and SLO windows are judged here: start from a quiet history (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("quiet_start")

FIRE_WITHIN_S = 60.0
EVAL_INTERVAL_S = 1.0  # the sandbox's evaluation_interval


class PromHttp:
    """Instant and range queries against the sandbox's Prometheus (test-side reader)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def _get(self, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        body = httpx.get(f"{self.url}/api/v1/{path}", params=params, timeout=5).json()
        assert body["status"] == "success", body
        return body["data"]["result"]

    def query(self, promql: str, *, at: float | None = None) -> list[dict[str, Any]]:
        return self._get("query", {"query": promql, **({"time": at} if at else {})})

    def query_range(
        self, promql: str, *, start: float, end: float, step: float
    ) -> list[dict[str, Any]]:
        return self._get("query_range", {"query": promql, "start": start, "end": end, "step": step})


def alerts_firing(prom: PromHttp, at: float | None = None) -> set[str]:
    result = prom.query('ALERTS{alertstate="firing",trigger=~"T[0-9]+"}', at=at)
    return {s["metric"]["trigger"] for s in result}


def wait_for(what: str, predicate: Any, timeout: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(0.5)
    raise AssertionError(f"{what}: not within {timeout} s")


@pytest.fixture
def weight(sandbox: Sandbox) -> Iterator[Any]:
    """The stack's traffic driver; the weight goes back to its initial value after."""
    driver = sandbox.traffic()
    try:
        yield driver
    finally:
        driver.set_weight(INITIAL_CANARY_WEIGHT)


def test_every_instance_is_scraped_with_its_track(sandbox: Sandbox) -> None:
    prom = PromHttp(sandbox.endpoints.prometheus_url)
    up = prom.query('up{job="spark-api"}')
    tracks = sorted((s["metric"]["track"], s["value"][1]) for s in up)
    assert tracks == [("canary", "1"), ("canary", "1"), ("stable", "1")]
    jobs = {s["metric"]["job"] for s in prom.query("up == 1")}
    assert {"haproxy", "pgbouncer"} <= jobs
    versions = {
        s["metric"]["track"]: s["metric"]["version"]
        for s in prom.query('spark_build_info{job="spark-api"}')
    }
    assert versions == {"canary": "1.4.0", "stable": "1.3.1"}


def test_health_checks_see_every_server_up(sandbox: Sandbox) -> None:
    assert sandbox.traffic().servers_up() == {
        "stable/stable-1": "UP",
        "canary/api-1": "UP",
        "canary/api-2": "UP",
    }


@pytest.mark.parametrize("percent", [0, 25, 100])
def test_weight_changes_show_in_haproxy_counters(
    sandbox: Sandbox, weight: Any, percent: int
) -> None:
    weight.set_weight(percent)
    assert weight.weight() == percent
    before = weight.counters()
    time.sleep(6)
    share, total = canary_share(before, weight.counters())
    assert total >= 30, f"only {total} requests through HAProxy in 6 s"
    # binomial: 4 standard deviations of the observed share, or exact at 0 and 100
    sigma = math.sqrt(percent / 100 * (1 - percent / 100) / total)
    assert abs(share - percent / 100) <= 4 * sigma + 1e-9, (share, percent, total)


def test_a_weight_outside_0_to_100_is_refused(weight: Any) -> None:
    for bad in (-1, 101, 2.5, True):
        with pytest.raises(TrafficError, match=r"0\.\.100"):
            weight.set_weight(bad)


@pytest.mark.parametrize("fault", sorted(CANARY_APP_FAULTS))
def test_canary_fault_fires_its_triggers_and_they_resolve_after_revert(
    sandbox: Sandbox, fault: str
) -> None:
    prom = PromHttp(sandbox.endpoints.prometheus_url)
    wanted = set(FAULTS[fault].targets)
    assert wanted and all(t.startswith("T") for t in wanted)
    assert not wanted & alerts_firing(prom), "already firing before the fault"
    with sandbox.inject(fault):
        wait_for(f"{fault}: {wanted} firing", lambda: wanted <= alerts_firing(prom), FIRE_WITHIN_S)
    wait_for(f"{fault}: {wanted} resolved", lambda: not wanted & alerts_firing(prom), FIRE_WITHIN_S)


@pytest.mark.usefixtures("fresh_after")
def test_evaluator_agrees_with_prometheus_alerts(sandbox: Sandbox) -> None:
    """Same stack, same moment: the triggers the gate's evaluator finds firing are exactly
    the ones in Prometheus's ALERTS series. Moments within one evaluation of a transition
    may legitimately differ (Prometheus evaluates on its own phase), so up to three
    moments are compared and one exact agreement is required with the fault firing."""
    prom = PromHttp(sandbox.endpoints.prometheus_url)
    catalog = sandbox_triggers()
    with sandbox.inject("canary-5xx"):
        wait_for("T02 firing", lambda: "T02" in alerts_firing(prom), FIRE_WITHIN_S)
        time.sleep(3)
        attempts = []
        for _ in range(3):
            at = time.time() - 2.0
            ours = set(evaluate.firing(evaluate.evaluate(prom, catalog, at, EVAL_INTERVAL_S)))
            theirs = alerts_firing(prom, at)
            attempts.append((ours, theirs))
            if ours == theirs and "T02" in ours:
                break
            time.sleep(2)
        else:
            pytest.fail(f"evaluator and ALERTS disagree at every moment: {attempts}")


def test_evaluator_says_no_data_instead_of_passing(sandbox: Sandbox) -> None:
    """A trigger whose value has no series has value None: the gate can call it inconclusive."""
    prom = PromHttp(sandbox.endpoints.prometheus_url)
    (t03,) = [t for t in sandbox_triggers() if t.id == "T03"]
    ghost = type(t03)(**{**t03.__dict__, "watch": 'track:ws_staleness_p95:seconds{track="nope"}'})
    state = evaluate.evaluate_one(prom, ghost, time.time(), EVAL_INTERVAL_S)
    assert (state.value, state.state) == (None, evaluate.INACTIVE)
