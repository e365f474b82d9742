"""Pure verdicts on a chaos run's own load: exactly-once orders, hangs, 5xx vs T02.

The load client (orders.py) keeps, per Idempotency-Key, every attempt's status
and duration; the database says how many orders carry each key. A promise to
users (CHAOS.md CH-01) holds when every key that was sent exists exactly once
(a key retried until it succeeded must not create two orders, and a key the
client saw accepted must exist), and no attempt ran into the client deadline
(the API answers within its own deadline even while its connections die).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def orders_exactly_once(
    sent: Mapping[str, Mapping[str, Any]], counts: Mapping[str, int]
) -> list[str]:
    """Findings: keys stored twice or more, accepted keys missing, keys never settled."""
    findings = []
    for key, rec in sorted(sent.items()):
        n = int(counts.get(key, 0))
        if n > 1:
            findings.append(f"Idempotency-Key {key} created {n} orders (retries not idempotent)")
        elif n == 0 and rec.get("accepted"):
            findings.append(f"Idempotency-Key {key} was answered 201 but no order exists")
        elif n == 0:
            findings.append(
                f"Idempotency-Key {key} never settled (statuses {rec.get('statuses')}); "
                "the client gave up"
            )
    return findings


def hangs(sent: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Attempts that hit the client's deadline: the API did not answer in time."""
    return [
        f"Idempotency-Key {key}: {rec['timeouts']} attempt(s) hung past the client deadline"
        for key, rec in sorted(sent.items())
        if rec.get("timeouts")
    ]


def longest_above(values: Sequence[tuple[float, float]], threshold: float) -> float:
    """Longest span (s) during which a sampled series stayed above threshold."""
    best, start, last = 0.0, None, None
    for t, v in values:
        if v > threshold:
            start = t if start is None else start
            last = t
            best = max(best, last - start)
        else:
            start = None
    return best


def t02_consistent(
    fired: bool, above_s: float, max_ratio: float, for_s: float, eval_s: float
) -> tuple[bool, str]:
    """T02 fires exactly when the canary 5xx share held above 3 % for its `for`."""
    if fired and max_ratio <= 0.03:
        return False, f"T02 fired although the 5xx share never exceeded 3 % (max {max_ratio:.3f})"
    if not fired and above_s >= for_s + 2 * eval_s + 1:
        return False, (
            f"T02 did not fire although the 5xx share stayed above 3 % for {above_s:g} s "
            f"(max {max_ratio:.3f}); its for is {for_s:g} s"
        )
    if fired:
        return True, f"T02 fired: the 5xx share exceeded the 3 % budget (max {max_ratio:.3f})"
    return True, f"T02 quiet: the 5xx share stayed within budget (max {max_ratio:.3f})"


def events_exactly_once(
    published: Sequence[int], deliveries: Mapping[str, int], stuck: int
) -> list[str]:
    """Findings: published events the consumer never heard or heard more than once, and a
    backlog that never drained (CHAOS.md CH-04: every event exactly once by event id)."""
    findings = []
    for event_id in published:
        n = int(deliveries.get(str(event_id), 0))
        if n == 0:
            findings.append(f"event {event_id} was published but never reached the consumer")
    for event_id, n in sorted(deliveries.items(), key=lambda kv: int(kv[0])):
        if n > 1:
            findings.append(f"event {event_id} reached the consumer {n} times (no dedupe)")
    if stuck:
        findings.append(f"{stuck} event(s) still unpublished after the resume: backlog not drained")
    return findings


def pool_exhaustion_answers(
    requests: Sequence[Mapping[str, Any]],
    fault_start: float | None,
    recovered_at: float | None,
    max_s: float,
) -> list[str]:
    """Findings on the reads sent while PgBouncer's pool was exhausted (CHAOS.md CH-05).

    Every answer must be 200 or a 503 problem, none a 500 or a leaked stack trace,
    none slower than max_s (the database wait is bounded below query_wait_timeout);
    with a fault, at least one 503 must show the exhaustion was felt (else the run
    proved nothing), and the reads after recovery must be 200 again.
    """
    findings = []
    for r in requests:
        status = r.get("status")
        when = f"read at {float(r.get('at', 0)):.1f}"
        if status == "timeout" or float(r.get("s", 0)) > max_s:
            findings.append(f"{when} hung {r.get('s')} s (budget {max_s:g} s)")
        elif status == 500 or r.get("trace"):
            findings.append(f"{when} answered {status} with a stack trace or internal error")
        elif status == 503 and not r.get("problem"):
            findings.append(f"{when} answered 503 without a problem+json body")
        elif status not in (200, 503):
            findings.append(f"{when} answered {status!r}")
    if fault_start is not None:
        during = [r for r in requests if float(r.get("at", 0)) >= fault_start]
        if not any(r.get("status") == 503 for r in during):
            findings.append("no read was answered 503 while the pool was exhausted")
        after = [r for r in requests if recovered_at and float(r.get("at", 0)) >= recovered_at]
        if recovered_at is None:
            findings.append("the API did not recover after the release")
        elif after and any(r.get("status") != 200 for r in after[-3:]):
            findings.append("reads still failed after the release and recovery")
    return findings
