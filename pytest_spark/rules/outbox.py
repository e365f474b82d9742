"""RT-03 (outbox lag) and the pure parts of RT-02 (idempotency under attack).

Outbox: order events are written to the outbox in the order's transaction
and published by a relay. If the relay stops, orders still succeed but
nobody downstream hears of them -- silent data loss until someone notices.
The symptoms are an old unpublished row, a growing backlog and a stale relay
heartbeat; each is judged here from measured values.

Idempotency: a retried or concurrent order POST with one Idempotency-Key
must create exactly one order; the others replay it or get 409; reusing the
key with another body is 422; an order POST without a key is 400. Keys must
live at least 24 h (clients retry for that long) and expired keys must be
purged (else the table grows forever and old keys block legitimate reuse).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from .archiver import age_s
from .findings import Finding
from .limits import below, reaches

__all__ = [
    "evaluate_idempotency_race",
    "evaluate_key_misuse",
    "evaluate_key_ttl",
    "evaluate_outbox",
]

Timestamp = datetime | float | str | None


def _fmt_s(seconds: float) -> str:
    if seconds >= 7200:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds:.1f} s"


def evaluate_outbox(
    *,
    backlog: int | None,
    oldest_age_s: float | None = None,
    oldest_created_at: Timestamp = None,
    observed_at: Timestamp = None,
    heartbeat_at: Timestamp = None,
    heartbeat_age_s: float | None = None,
    now: Timestamp = None,
    max_age_s: float = 30.0,
    max_backlog: int = 1000,
    heartbeat_max_age_s: float = 10.0,
    require_heartbeat: bool = True,
) -> list[Finding]:
    """RT-03 findings. Accepts an ``OUTBOX_LAG_SQL`` row as keywords
    (``backlog``, ``oldest_age_s``, ``oldest_created_at``, ``observed_at``)
    plus the relay heartbeat as ``heartbeat_age_s`` or ``heartbeat_at``
    (then measured against ``now``, default ``observed_at``: pass the clock
    the heartbeat was written with).

    Codes: outbox-lag, outbox-backlog, outbox-heartbeat-stale,
    outbox-heartbeat-missing, outbox-unmeasured.
    """
    findings: list[Finding] = []
    clock = now if now is not None else observed_at
    if backlog is None:
        findings.append(Finding("outbox-unmeasured", "outbox backlog not measured"))
    else:
        age = oldest_age_s
        if age is None and oldest_created_at is not None:
            age = age_s(oldest_created_at, observed_at if observed_at is not None else clock)
        if backlog > 0 and age is None:
            findings.append(
                Finding(
                    "outbox-unmeasured",
                    f"{backlog} unpublished outbox rows but their age was not measured",
                )
            )
        if age is not None and backlog > 0 and reaches(age, max_age_s):
            findings.append(
                Finding(
                    "outbox-lag",
                    f"oldest unpublished outbox row is {_fmt_s(age)} old "
                    f"(limit {max_age_s:g} s); backlog {backlog}",
                )
            )
        if reaches(backlog, max_backlog):
            findings.append(
                Finding(
                    "outbox-backlog",
                    f"outbox backlog {backlog} unpublished rows (limit {max_backlog})",
                )
            )
    hb_age = heartbeat_age_s
    if hb_age is None and heartbeat_at is not None:
        hb_age = age_s(heartbeat_at, clock)
    if hb_age is None:
        if require_heartbeat:
            findings.append(
                Finding(
                    "outbox-heartbeat-missing",
                    "no relay heartbeat found: cannot tell whether the outbox relay runs",
                )
            )
    elif reaches(hb_age, heartbeat_max_age_s):
        findings.append(
            Finding(
                "outbox-heartbeat-stale",
                f"outbox relay heartbeat is {_fmt_s(hb_age)} old "
                f"(limit {heartbeat_max_age_s:g} s): the relay is not running",
            )
        )
    return findings


# ---------------------------------------------------------------------------
# RT-02
# ---------------------------------------------------------------------------


def _response(item: Mapping[str, Any] | Sequence[Any]) -> tuple[int, str | None]:
    if isinstance(item, Mapping):
        status, order_id = item.get("status"), item.get("order_id")
    else:
        status = item[0]
        order_id = item[1] if len(item) > 1 else None
    return int(status), (None if order_id in (None, "") else str(order_id))


def evaluate_idempotency_race(
    responses: Iterable[Mapping[str, Any] | Sequence[Any]],
    db_orders: int | Collection[Any],
    *,
    success_statuses: Collection[int] = (200, 201),
    conflict_statuses: Collection[int] = (409,),
) -> list[Finding]:
    """Judge N concurrent same-key POSTs: exactly one order in the DB, every
    response a success carrying that order or a conflict.

    ``responses``: dicts with ``status`` and ``order_id`` (or
    ``(status, order_id)`` tuples). ``db_orders``: the order count, or the
    order ids the DB holds for the key (then ids are cross-checked).

    Codes: idempotency-duplicate-orders, idempotency-no-order,
    idempotency-unexpected-status, idempotency-no-success,
    idempotency-divergent-replay, idempotency-order-mismatch.
    """
    got = [_response(r) for r in responses]
    n = len(got)
    findings: list[Finding] = []
    if isinstance(db_orders, int):
        count, db_ids = db_orders, None
    else:
        db_ids = {str(i) for i in db_orders}
        count = len(db_orders)
    if count > 1:
        ids = f" ({', '.join(sorted(db_ids)[:10])})" if db_ids else ""
        findings.append(
            Finding(
                "idempotency-duplicate-orders",
                f"{n} concurrent POSTs with one Idempotency-Key created {count} orders{ids}; "
                "expected exactly 1",
            )
        )
    elif count == 0:
        findings.append(
            Finding(
                "idempotency-no-order",
                f"{n} concurrent POSTs with one Idempotency-Key created no order",
            )
        )
    allowed = set(success_statuses) | set(conflict_statuses)
    odd = [s for s, _ in got if s not in allowed]
    if odd:
        findings.append(
            Finding(
                "idempotency-unexpected-status",
                f"{len(odd)} of {n} responses had unexpected status "
                f"({', '.join(str(s) for s in sorted(set(odd)))}); allowed: "
                f"{', '.join(str(s) for s in sorted(allowed))}",
            )
        )
    successes = [oid for s, oid in got if s in success_statuses]
    if not successes and n:
        findings.append(
            Finding("idempotency-no-success", f"none of {n} concurrent POSTs succeeded")
        )
    distinct = sorted({oid or "(none)" for oid in successes})
    if len(distinct) > 1:
        findings.append(
            Finding(
                "idempotency-divergent-replay",
                f"successful responses carried {len(distinct)} different order ids "
                f"({', '.join(distinct[:10])}); every replay must return the first order",
            )
        )
    if db_ids is not None:
        foreign = sorted({oid for oid in successes if oid is not None and oid not in db_ids})
        if foreign:
            findings.append(
                Finding(
                    "idempotency-order-mismatch",
                    f"responses name order ids not stored for the key: {', '.join(foreign[:10])}",
                )
            )
    return findings


def evaluate_key_misuse(
    *,
    different_body_status: int | None,
    missing_key_status: int | None,
    expected_different_body: int = 422,
    expected_missing_key: int = 400,
) -> list[Finding]:
    """Same key with another body must be refused (422); an order POST
    without a key must be refused (400). None = not tried.

    Codes: idempotency-body-mismatch, idempotency-missing-key.
    """
    findings: list[Finding] = []
    if different_body_status is not None and different_body_status != expected_different_body:
        findings.append(
            Finding(
                "idempotency-body-mismatch",
                f"reusing an Idempotency-Key with a different body got {different_body_status}, "
                f"expected {expected_different_body}",
            )
        )
    if missing_key_status is not None and missing_key_status != expected_missing_key:
        findings.append(
            Finding(
                "idempotency-missing-key",
                f"an order POST without Idempotency-Key got {missing_key_status}, "
                f"expected {expected_missing_key}",
            )
        )
    return findings


def evaluate_key_ttl(
    *,
    key_count: int | None,
    min_ttl_s: float | None,
    overdue_count: int | None = None,
    oldest_expires_at: Timestamp = None,
    observed_at: Timestamp = None,
    ttl_min_s: float = 86400.0,
    grace_s: float = 3600.0,
) -> list[Finding]:
    """Key TTL and purge findings from an ``IDEMPOTENCY_KEYS_SQL`` row (pass it
    as keywords). ``overdue_count`` (keys expired more than ``grace_s`` ago)
    is derived from ``oldest_expires_at`` and ``observed_at`` when absent.

    Codes: idempotency-no-keys, idempotency-ttl-short,
    idempotency-purge-stalled.
    """
    findings: list[Finding] = []
    if not key_count:
        return [
            Finding(
                "idempotency-no-keys",
                "no idempotency keys stored: the key TTL cannot be verified",
            )
        ]
    if min_ttl_s is not None and below(min_ttl_s, ttl_min_s):
        findings.append(
            Finding(
                "idempotency-ttl-short",
                f"shortest idempotency key TTL (expires_at - created_at) is {_fmt_s(min_ttl_s)}, "
                f"below the required {_fmt_s(ttl_min_s)}",
            )
        )
    expired_for = age_s(oldest_expires_at, observed_at) if oldest_expires_at is not None else None
    overdue, at_least = overdue_count, ""
    if overdue is None and expired_for is not None:
        overdue, at_least = (1 if expired_for > grace_s else 0), "at least "
    if overdue:
        oldest = f"; oldest expired {_fmt_s(expired_for)} ago" if expired_for is not None else ""
        findings.append(
            Finding(
                "idempotency-purge-stalled",
                f"{at_least}{overdue} idempotency key(s) expired more than {_fmt_s(grace_s)} ago "
                f"are still stored{oldest}: the purge is not running",
            )
        )
    return findings
