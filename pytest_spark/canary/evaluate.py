"""Which rollback triggers fire at a moment, decided the way Prometheus decides alerts.

An alerting rule is *firing* once its expression has returned a result at every
evaluation for its ``for`` duration, *pending* while that has not lasted long
enough, *inactive* when the expression returns nothing
(https://prometheus.io/docs/prometheus/latest/configuration/alerting_rules/).
The evaluator asks Prometheus for the trigger's expression over ``[t - for, t]``
at the evaluation interval, so the stage gates can say which triggers fire at
the end of a stage window, with every query and value as evidence, without
depending on an Alertmanager route. The test suite proves it agrees with
Prometheus's own ``ALERTS`` series on a live stack.

``state_of`` is pure; ``evaluate`` does the I/O through any object with the
``query`` / ``query_range`` methods of :class:`pytest_spark.probes.prometheus.Prometheus`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from .triggers import Trigger

FIRING, PENDING, INACTIVE = "firing", "pending", "inactive"
#: not Prometheus's: the value breaks the threshold but the trigger's precondition does
#: not hold (T09 on processes younger than its window), so quiet would be a guess
UNJUDGED = "unjudged"


class PromQuery(Protocol):
    def query(self, promql: str, *, at: float | None = None) -> list[dict[str, Any]]: ...

    def query_range(
        self, promql: str, *, start: float, end: float, step: float
    ) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class TriggerState:
    """One trigger at one moment: its state and the numbers behind it."""

    id: str
    alert: str
    state: str
    value: float | None  # the watched value at ``at`` (None: no data)
    threshold: float
    comparator: str
    for_s: float
    at: float
    active_steps: int = 0
    steps: int = 0
    queries: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "alert": self.alert, "state": self.state, "value": self.value,
            "threshold": self.threshold, "comparator": self.comparator, "for_s": self.for_s,
            "at": self.at, "active_steps": self.active_steps, "steps": self.steps,
            "queries": self.queries,
        }  # fmt: skip


def step_times(at: float, for_s: float, interval_s: float) -> list[float]:
    """The evaluation moments a ``for`` window spans, oldest first, ending at ``at``."""
    if interval_s <= 0 or not math.isfinite(interval_s):
        raise ValueError(f"evaluation interval must be a positive number, got {interval_s}")
    n = int(for_s // interval_s)
    return [at - (n - i) * interval_s for i in range(n + 1)]


def state_of(active: Sequence[bool]) -> str:
    """Prometheus's state for an alert whose expression was (not) active at each step.

    Firing needs the expression active at every step of the window (and at least
    one step); active now but not for the whole window is pending.
    """
    if not active or not active[-1]:
        return INACTIVE
    return FIRING if all(active) else PENDING


def breaks(value: float, comparator: str, threshold: float) -> bool:
    """``value <comparator> threshold``, as the alerting rule compares (NaN breaks nothing)."""
    return {
        ">": value > threshold,
        ">=": value >= threshold,
        "<": value < threshold,
        "<=": value <= threshold,
    }[comparator]


def _first_value(result: Iterable[dict[str, Any]]) -> float | None:
    for series in result:
        value = series.get("value")
        if value is not None:
            return float(value[1])
    return None


def _active_times(result: Iterable[dict[str, Any]]) -> set[float]:
    times: set[float] = set()
    for series in result:
        for t, _v in series.get("values", []):
            times.add(round(float(t), 3))
    return times


def evaluate_one(prom: PromQuery, trigger: Trigger, at: float, interval_s: float) -> TriggerState:
    """Ask Prometheus for one trigger's expression over its ``for`` window (ProbeError on
    an unreachable Prometheus, which the caller turns into ERROR, never a pass)."""
    times = step_times(at, trigger.for_s, interval_s)
    value_result = prom.query(trigger.value, at=at)
    queries = [{"query": trigger.value, "at": at, "result": value_result}]
    if len(times) == 1:
        result = prom.query(trigger.expr, at=at)
        queries.append({"query": trigger.expr, "at": at, "result": result})
        active = [bool(result)]
    else:
        result = prom.query_range(trigger.expr, start=times[0], end=times[-1], step=interval_s)
        queries.append(
            {"query": trigger.expr, "start": times[0], "end": times[-1], "step": interval_s,
             "result": result}
        )  # fmt: skip
        seen = _active_times(result)
        active = [round(t, 3) in seen for t in times]
    state, value = state_of(active), _first_value(value_result)
    if (
        state == INACTIVE
        and trigger.precondition
        and value is not None
        and breaks(value, trigger.comparator, trigger.threshold)
    ):
        state = UNJUDGED
    return TriggerState(
        id=trigger.id,
        alert=trigger.alert,
        state=state,
        value=value,
        threshold=trigger.threshold,
        comparator=trigger.comparator,
        for_s=trigger.for_s,
        at=at,
        active_steps=sum(active),
        steps=len(active),
        queries=queries,
    )


def evaluate(
    prom: PromQuery, triggers: Iterable[Trigger], at: float, interval_s: float
) -> list[TriggerState]:
    """Every trigger's state at ``at`` (unix seconds); ``interval_s`` is Prometheus's
    evaluation_interval (the step its rule engine uses)."""
    return [evaluate_one(prom, t, at, interval_s) for t in triggers]


def firing(states: Iterable[TriggerState]) -> list[str]:
    return [s.id for s in states if s.state == FIRING]
