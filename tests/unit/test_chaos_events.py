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
