"""The trigger timeline of a chaos run, and the verdict on it (pure: no I/O).

Prometheus keeps an ``ALERTS{alertname, alertstate="pending"|"firing"}``
series for every active alert, written at each rule evaluation and marked
stale when the alert resolves
(https://prometheus.io/docs/prometheus/latest/configuration/alerting_rules/).
A range query over the run therefore gives, per trigger, when its expression
first held (pending; with ``for: 0s`` straight to firing), when it fired and
when it resolved. CHAOS.md's hypotheses are judged on that timeline:
``fire delay`` = firing - pending start (the ``for`` wait plus evaluation
lag), bounded by ``for`` + 2 evaluation intervals.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Episode:
    """One alert episode of a trigger: pending from, firing from, resolved at (unix s)."""

    trigger: str
    pending_at: float | None
    firing_at: float | None
    resolved_at: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _runs(times: Sequence[float], step: float) -> list[tuple[float, float]]:
    """Contiguous runs of sample times (a gap over 1.5 steps ends a run)."""
    runs: list[tuple[float, float]] = []
    for t in sorted(times):
        if runs and t - runs[-1][1] <= 1.5 * step:
            runs[-1] = (runs[-1][0], t)
        else:
            runs.append((t, t))
    return runs


def episodes(
    series: Iterable[Mapping[str, Any]],
    step: float,
    end: float,
    active_now: set[str] | None = None,
) -> list[Episode]:
    """Episodes from a ``query_range`` result of ``ALERTS{trigger=...}``.

    A firing run joins the pending run that ends right before it; a run has
    resolved (at its last sample + one step, the first evaluation that no
    longer found it) when its last sample is before ``end - 1.5 step``, or,
    when ``active_now`` (the triggers an instant query finds active) is given,
    when its trigger is not in it: the range's last step may lag the instant.
    """

    def resolved_at(trig: str, last: float) -> float | None:
        if last < end - 1.5 * step or (active_now is not None and trig not in active_now):
            return last + step
        return None

    by_trigger: dict[str, dict[str, list[float]]] = {}
    for s in series:
        metric = s.get("metric", {})
        trig, state = metric.get("trigger", "?"), metric.get("alertstate", "")
        times = [float(v[0]) for v in s.get("values", [])]
        by_trigger.setdefault(trig, {}).setdefault(state, []).extend(times)
    out: list[Episode] = []
    for trig, states in sorted(by_trigger.items()):
        pend = _runs(states.get("pending", []), step)
        fire = _runs(states.get("firing", []), step)
        used: set[int] = set()
        for f0, f1 in fire:
            p_at = None
            for i, (p0, p1) in enumerate(pend):
                if i not in used and p1 <= f0 and f0 - p1 <= 1.5 * step:
                    p_at, _ = p0, used.add(i)
            out.append(Episode(trig, p_at if p_at is not None else f0, f0, resolved_at(trig, f1)))
        for i, (p0, p1) in enumerate(pend):
            if i not in used:  # held, but not long enough to fire
                out.append(Episode(trig, p0, None, resolved_at(trig, p1)))
    return sorted(out, key=lambda e: (e.pending_at or 0.0, e.trigger))


@dataclass(frozen=True)
class Expectation:
    """What one scenario demands of one trigger."""

    trigger: str
    must_fire: bool  # False: must NOT fire
    for_s: float = 0.0
    eval_interval_s: float = 1.0
    fire_within_s: float = 60.0  # from fault start to firing
    resolve_within_s: float = 60.0  # from fault end to resolved


def judge(
    exp: Expectation,
    eps: Sequence[Episode],
    fault_start: float | None,
    fault_end: float | None,
) -> tuple[bool, str, dict[str, Any]]:
    """(ok, message, figures) for one trigger on the run's timeline.

    Without a fault (steady state, or before the method) no trigger may fire:
    an alert that fires on a healthy stack is as wrong as one that stays quiet.
    """
    mine = [e for e in eps if e.trigger == exp.trigger and e.firing_at is not None]
    if fault_start is None:
        if mine:
            return False, f"{exp.trigger} fired at {mine[0].firing_at:.0f} without a fault", {}
        return True, f"{exp.trigger} quiet (no fault injected)", {}
    after = [e for e in mine if e.firing_at is not None and e.firing_at >= fault_start - 1.0]
    before = [e for e in mine if e not in after]
    if before:
        return False, f"{exp.trigger} was already firing before the fault", {}
    if not exp.must_fire:
        if after:
            fired = after[0].firing_at
            assert fired is not None
            msg = f"{exp.trigger} fired {fired - fault_start:.1f} s after the fault; it must not"
            return False, msg, {"fired_at": fired}
        return True, f"{exp.trigger} did not fire, as required", {}
    if not after:
        return False, f"{exp.trigger} did not fire within the run (fault at {fault_start:.0f})", {}
    ep = after[0]
    assert ep.firing_at is not None and ep.pending_at is not None
    figures = {
        "fire_delay_s": round(ep.firing_at - ep.pending_at, 3),
        "fired_after_fault_s": round(ep.firing_at - fault_start, 3),
        "resolved_after_revert_s": (
            round(ep.resolved_at - fault_end, 3) if ep.resolved_at and fault_end else None
        ),
    }
    budget = exp.for_s + 2 * exp.eval_interval_s
    if figures["fire_delay_s"] > budget + 1.0:  # +1: the range query's 1 s resolution
        return (
            False,
            (
                f"{exp.trigger} fired {figures['fire_delay_s']} s after its condition held; budget "
                f"for + 2 evaluations = {budget:g} s"
            ),
            figures,
        )
    if figures["fired_after_fault_s"] > exp.fire_within_s:
        return (
            False,
            (
                f"{exp.trigger} fired {figures['fired_after_fault_s']} s after the fault; "
                f"budget {exp.fire_within_s:g} s"
            ),
            figures,
        )
    if fault_end is not None:
        if ep.resolved_at is None:
            return False, f"{exp.trigger} still firing after the revert", figures
        if ep.resolved_at - fault_end > exp.resolve_within_s:
            return (
                False,
                (
                    f"{exp.trigger} resolved {figures['resolved_after_revert_s']} s after the "
                    f"revert; budget {exp.resolve_within_s:g} s"
                ),
                figures,
            )
    return True, f"{exp.trigger} fired after {figures['fire_delay_s']} s and resolved", figures
