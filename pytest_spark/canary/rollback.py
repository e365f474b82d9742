"""Roll back a NO-GO stage and prove it: no canary traffic for a confirmation window.

Two ways to roll back (CANARY.md "Rollback"): the traffic driver's weight to 0
(HAProxy's runtime API on the sandbox), or ``canary.rollback_command`` -- an
argv run without a shell, with a deadline and a capped output, for any other
deploy tooling. Either way the rollback is only *confirmed* when the canary
served no request for ``confirm_window_s`` while the router still served
traffic (HAProxy session counters; elsewhere the canary track's request counter
in Prometheus). Detection, start, end and confirmation times are recorded so
the drill can report detection-to-confirmed (goal: one evaluation interval +
10 s; seed: 5 minutes).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ..probes.command import CommandError, run_argv
from .traffic import HaproxyRuntime, TrafficError, canary_share

OUTPUT_CAP = 4000


class RollbackError(Exception):
    """The rollback could not be run at all (nothing configured, command missing)."""


@dataclass
class RollbackRecord:
    method: str  # "haproxy weight 0" or "command"
    detected_at: float
    started_at: float = 0.0
    ended_at: float = 0.0
    confirmed_at: float | None = None
    confirmed: bool = False
    confirm_window_s: float = 0.0
    canary_requests: int | None = None  # during the confirmation window
    total_requests: int | None = None
    command: list[str] = field(default_factory=list)
    returncode: int | None = None
    output: str = ""
    message: str = ""

    @property
    def detection_to_confirmed_s(self) -> float | None:
        return None if self.confirmed_at is None else self.confirmed_at - self.detected_at

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["detection_to_confirmed_s"] = self.detection_to_confirmed_s
        return out


def run_command(argv: Sequence[str], timeout: float) -> tuple[int, str]:
    """Run argv (no shell) with a total deadline; (returncode, output tail). A command that
    cannot start or overruns raises RollbackError with one line."""
    try:
        done = run_argv(argv, timeout=timeout, cap=OUTPUT_CAP)
    except CommandError as exc:
        raise RollbackError(str(exc)) from None
    return done.returncode, (done.stdout + done.stderr)[-OUTPUT_CAP:]


def confirm_haproxy(haproxy: HaproxyRuntime, window_s: float) -> tuple[int, int]:
    """(canary requests, total requests) HAProxy routed during ``window_s`` from now."""
    before = haproxy.counters()
    time.sleep(window_s)
    after = haproxy.counters()
    _share, total = canary_share(before, after)
    canary = after.sessions.get("canary", 0) - before.sessions.get("canary", 0)
    return canary, total


def roll_back(
    *,
    detected_at: float,
    haproxy: HaproxyRuntime | None,
    command: Sequence[str],
    timeout: float,
    confirm_window_s: float,
    confirm: Callable[[float], tuple[int, int]] | None = None,
) -> RollbackRecord:
    """Run the rollback and confirm it. ``confirm(window_s) -> (canary, total)`` counts
    requests over a window (default: HAProxy's counters)."""
    method = "command" if command else "haproxy weight 0" if haproxy is not None else ""
    if not method:
        raise RollbackError(
            "nothing to roll back with: set canary.rollback_command (argv) or use a traffic "
            "driver with a runtime API (HAProxy)"
        )
    rec = RollbackRecord(
        method=method, detected_at=detected_at, command=list(command),
        confirm_window_s=confirm_window_s,
    )  # fmt: skip
    rec.started_at = time.time()
    try:
        if command:
            rec.returncode, rec.output = run_command(command, timeout)
            if rec.returncode != 0:
                rec.ended_at = time.time()
                rec.message = f"rollback command exited {rec.returncode}: {rec.output[-200:]}"
                return rec
        else:
            assert haproxy is not None
            haproxy.set_weight(0)
    except (RollbackError, TrafficError) as exc:
        rec.ended_at = time.time()
        rec.message = f"rollback failed: {exc}"
        return rec
    rec.ended_at = time.time()
    if confirm is None:
        if haproxy is None:
            rec.message = "rollback ran; no way to confirm it (no HAProxy, no Prometheus)"
            return rec
        confirm = lambda w: confirm_haproxy(haproxy, w)  # noqa: E731
    try:
        rec.canary_requests, rec.total_requests = confirm(confirm_window_s)
    except Exception as exc:  # the probe's one-line errors: not confirmed, say why
        rec.message = f"rollback ran; confirmation failed: {exc}"
        return rec
    if rec.total_requests <= 0:
        rec.message = (
            f"rollback ran; not confirmed: no traffic at all in the {confirm_window_s:g} s "
            "confirmation window (silence proves nothing)"
        )
    elif rec.canary_requests > 0:
        rec.message = (
            f"rollback ran; not confirmed: the canary still served {rec.canary_requests} of "
            f"{rec.total_requests} requests in {confirm_window_s:g} s"
        )
    else:
        rec.confirmed, rec.confirmed_at = True, time.time()
        rec.message = (
            f"rollback confirmed: 0 of {rec.total_requests} requests on the canary for "
            f"{confirm_window_s:g} s; detection to confirmed "
            f"{rec.detection_to_confirmed_s:.1f} s"
        )
    return rec
