"""The evaluator's decision: Prometheus's pending/firing semantics, pure."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_spark.canary import evaluate as ev
from pytest_spark.canary import triggers


@given(st.lists(st.booleans(), max_size=30))
def test_firing_only_when_active_at_every_step(active: list[bool]) -> None:
    state = ev.state_of(active)
    if not active or not active[-1]:
        assert state == ev.INACTIVE
    elif all(active):
        assert state == ev.FIRING
    else:
        assert state == ev.PENDING


def test_no_steps_is_never_firing() -> None:
    assert ev.state_of([]) == ev.INACTIVE


def test_step_times_span_the_for_window() -> None:
    assert ev.step_times(100.0, 10.0, 5.0) == [90.0, 95.0, 100.0]
    assert ev.step_times(100.0, 0.0, 5.0) == [100.0]


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_a_bad_interval_is_refused(bad: float) -> None:
    with pytest.raises(ValueError):
        ev.step_times(100.0, 10.0, bad)


class Recorded:
    """A stand-in for Prometheus answers of one instant and one range query."""

    def __init__(self, value: list[dict[str, Any]], active_at: list[float]) -> None:
        self.value, self.active_at = value, active_at

    def query(self, promql: str, *, at: float | None = None) -> list[dict[str, Any]]:
        return (
            self.value
            if ">" not in promql
            else ([{"value": [at, "1"]}] if at in self.active_at else [])
        )

    def query_range(
        self, promql: str, *, start: float, end: float, step: float
    ) -> list[dict[str, Any]]:
        return [{"metric": {}, "values": [[t, "1"] for t in self.active_at if start <= t <= end]}]


def test_evaluate_one_reports_state_value_and_queries() -> None:
    t01 = triggers.configured({"T01": {"for": "10s"}}, ids=["T01"])[0]
    prom = Recorded([{"metric": {"track": "canary"}, "value": [100, "0.52"]}], [90.0, 95.0, 100.0])
    state = ev.evaluate_one(prom, t01, 100.0, 5.0)
    assert (state.state, state.value, state.active_steps, state.steps) == (ev.FIRING, 0.52, 3, 3)
    assert [q["query"] for q in state.queries] == [t01.value, t01.expr]
    pending = ev.evaluate_one(Recorded([], [95.0, 100.0]), t01, 100.0, 5.0)
    assert (pending.state, pending.value) == (ev.PENDING, None)


def test_t09_breaking_its_threshold_on_young_processes_is_unjudged_not_inactive() -> None:
    """The rule's precondition (process older than the window) keeps Prometheus quiet; the
    gate must not read that as "no leak" while the value itself breaks the threshold."""
    t09 = triggers.configured({"T09": {"for": "10s"}}, ids=["T09"])[0]
    leaking = Recorded([{"metric": {}, "value": [100, "900000"]}], [])
    assert ev.evaluate_one(leaking, t09, 100.0, 5.0).state == ev.UNJUDGED
    flat = Recorded([{"metric": {}, "value": [100, "12"]}], [])
    assert ev.evaluate_one(flat, t09, 100.0, 5.0).state == ev.INACTIVE
    t01 = triggers.configured({"T01": {"for": "10s"}}, ids=["T01"])[0]
    slow = Recorded([{"metric": {}, "value": [100, "0.9"]}], [])  # no precondition: inactive
    assert ev.evaluate_one(slow, t01, 100.0, 5.0).state == ev.INACTIVE


@pytest.mark.parametrize("comparator", [">", ">=", "<", "<="])
def test_breaks_compares_like_the_rule_and_nan_breaks_nothing(comparator: str) -> None:
    assert not ev.breaks(float("nan"), comparator, 1.0)
    assert ev.breaks(1.0, comparator, 1.0) == (comparator in (">=", "<="))
