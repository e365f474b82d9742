"""CH-01's pure verdicts: exactly-once orders by Idempotency-Key, hangs, T02 vs 5xx."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pytest_spark.chaos.reconcile import hangs, longest_above, orders_exactly_once, t02_consistent


def rec(accepted: bool = True, timeouts: int = 0) -> dict:
    return {"accepted": accepted, "statuses": [201], "timeouts": timeouts}


def test_each_key_once_is_clean() -> None:
    assert orders_exactly_once({"a": rec(), "b": rec()}, {"a": 1, "b": 1}) == []


def test_duplicate_missing_and_unsettled_keys_are_named() -> None:
    found = orders_exactly_once(
        {"dup": rec(), "lost": rec(), "gave-up": rec(accepted=False)}, {"dup": 2}
    )
    assert found == [
        "Idempotency-Key dup created 2 orders (retries not idempotent)",
        "Idempotency-Key gave-up never settled (statuses [201]); the client gave up",
        "Idempotency-Key lost was answered 201 but no order exists",
    ]


def test_a_timed_out_attempt_is_a_hang() -> None:
    assert hangs({"a": rec(timeouts=1), "b": rec()}) == [
        "Idempotency-Key a: 1 attempt(s) hung past the client deadline"
    ]


def test_longest_above_measures_contiguous_spans() -> None:
    series = [(0, 0.0), (1, 0.1), (2, 0.1), (3, 0.0), (4, 0.2), (5, 0.2), (6, 0.2), (7, 0.2)]
    assert longest_above(series, 0.03) == 3


@given(st.lists(st.tuples(st.integers(0, 100), st.floats(0, 1)), max_size=40))
def test_longest_above_never_exceeds_the_series_span(raw: list[tuple[int, float]]) -> None:
    series = sorted(dict(raw).items())
    span = series[-1][0] - series[0][0] if series else 0
    assert 0 <= longest_above(series, 0.5) <= span


def test_t02_must_agree_with_the_5xx_share() -> None:
    assert t02_consistent(False, 2.0, 0.05, 5, 1)[0]  # a blip shorter than `for`
    assert t02_consistent(True, 9.0, 0.2, 5, 1) == (
        True,
        "T02 fired: the 5xx share exceeded the 3 % budget (max 0.200)",
    )
    ok, msg = t02_consistent(False, 20.0, 0.5, 5, 1)
    assert not ok and "T02 did not fire although the 5xx share stayed above 3 % for 20 s" in msg
    ok, msg = t02_consistent(True, 0.0, 0.01, 5, 1)
    assert not ok and "never exceeded 3 %" in msg
