"""reconcile.events_exactly_once: the consumer's deliveries by event id against the outbox."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pytest_spark.chaos.reconcile import events_exactly_once


def test_every_published_event_heard_once_is_clean() -> None:
    assert events_exactly_once([1, 2, 3], {"1": 1, "2": 1, "3": 1}, 0) == []


def test_lost_duplicated_and_stuck_events_are_each_named() -> None:
    found = events_exactly_once([1, 2, 3], {"1": 1, "3": 2, "0": 3}, 4)
    assert found == [
        "event 2 was published but never reached the consumer",
        "event 0 reached the consumer 3 times (no dedupe)",
        "event 3 reached the consumer 2 times (no dedupe)",
        "4 event(s) still unpublished after the resume: backlog not drained",
    ]


def test_an_event_heard_but_published_after_the_cut_is_not_a_finding() -> None:
    assert events_exactly_once([1], {"1": 1, "2": 1}, 0) == []


@given(st.dictionaries(st.integers(1, 50), st.integers(0, 4)))
def test_clean_exactly_when_each_published_event_is_heard_once(counts: dict[int, int]) -> None:
    published = sorted(counts)
    deliveries = {str(k): v for k, v in counts.items() if v}
    clean = all(v == 1 for v in counts.values())
    assert (events_exactly_once(published, deliveries, 0) == []) == clean


def _read(at: float, status: object, s: float = 0.1, **kw: object) -> dict[str, object]:
    return {"at": at, "status": status, "s": s, "problem": status == 503, "trace": False, **kw}


def test_pool_exhaustion_answers_in_time_with_a_503_and_recovery_are_clean() -> None:
    from pytest_spark.chaos.reconcile import pool_exhaustion_answers

    reads = [_read(1, 200), _read(11, 503, 5.0), _read(21, 200), _read(22, 200)]
    assert pool_exhaustion_answers(reads, 10.0, 20.0, 9.5) == []


def test_pool_exhaustion_names_hangs_500s_traces_and_an_unfelt_fault() -> None:
    from pytest_spark.chaos.reconcile import pool_exhaustion_answers

    reads = [
        _read(11, "timeout", 12.0),
        _read(12, 500),
        _read(13, 200, trace=True),
        _read(14, 503, 5.0, problem=False),
    ]
    found = pool_exhaustion_answers(reads, 10.0, None, 9.5)
    assert found == [
        "read at 11.0 hung 12.0 s (budget 9.5 s)",
        "read at 12.0 answered 500 with a stack trace or internal error",
        "read at 13.0 answered 200 with a stack trace or internal error",
        "read at 14.0 answered 503 without a problem+json body",
        "the API did not recover after the release",
    ]
    assert "no read was answered 503 while the pool was exhausted" in pool_exhaustion_answers(
        [_read(11, 200)], 10.0, 12.0, 9.5
    )
    assert pool_exhaustion_answers([_read(11, 200)], None, None, 9.5) == []  # steady state


def test_feed_backoff_is_capped_full_jitter() -> None:
    import random

    from pytest_spark.chaos.feed import BACKOFF_CAP_S, backoff_s

    rng = random.Random(1)
    waits = [backoff_s(n, rng) for n in range(20) for _ in range(20)]
    assert all(0 <= w <= BACKOFF_CAP_S for w in waits)
    assert max(backoff_s(0, rng) for _ in range(50)) <= 0.25


def test_feed_judge_names_a_reconnect_loop_and_a_client_left_stale() -> None:
    from pytest_spark.chaos.feed import judge, max_rate

    loop = {"connects": [i * 0.1 for i in range(100)], "messages": [5.0, 30.0]}
    calm = {"connects": [0.0, 4.0], "messages": [0.5, 19.5]}
    assert max_rate(loop["connects"], 5.0) > 10
    assert judge([calm], 10.0, 2, 10, 2) == []
    found = judge([loop, calm], 10.0, 2, 10, 2)
    assert found[0].startswith("client 0 reconnected") and "no backoff" in found[0]
    assert found[1] == (
        "client 0: newest price older than 2 s 10 s after the storm (staleness did not recover)"
    )
    assert judge([{"connects": [0.0], "messages": []}], None, 2, 10, 2) == [
        "client 0 never received a price"
    ]
