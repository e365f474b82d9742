"""The trigger timeline of a chaos run and its verdict (pure)."""

from __future__ import annotations

from pytest_spark.chaos.timeline import Episode, Expectation, episodes, judge


def series(trigger: str, state: str, times: range) -> dict:
    return {
        "metric": {"trigger": trigger, "alertstate": state},
        "values": [[t, "1"] for t in times],
    }


RANGE = [series("T01", "pending", range(100, 105)), series("T01", "firing", range(105, 120))]


def test_pending_then_firing_then_resolved_is_one_episode() -> None:
    assert episodes(RANGE, 1.0, end=200) == [Episode("T01", 100, 105, 120)]


def test_an_episode_running_at_the_end_is_unresolved_unless_the_instant_says_so() -> None:
    assert episodes(RANGE, 1.0, end=120)[0].resolved_at is None
    assert episodes(RANGE, 1.0, end=120, active_now=set())[0].resolved_at == 120
    assert episodes(RANGE, 1.0, end=120, active_now={"T01"})[0].resolved_at is None


def test_pending_that_never_fired_is_an_episode_without_firing() -> None:
    eps = episodes([series("T02", "pending", range(10, 12))], 1.0, end=100)
    assert eps == [Episode("T02", 10, None, 12)]


EXP = Expectation("T01", must_fire=True, for_s=5, eval_interval_s=1, fire_within_s=30)


def test_fired_within_budget_and_resolved_passes_with_figures() -> None:
    ok, msg, figures = judge(EXP, [Episode("T01", 100, 105, 120)], 95, 110)
    assert ok, msg
    assert figures == {
        "fire_delay_s": 5,
        "fired_after_fault_s": 10,
        "resolved_after_revert_s": 10,
    }


def test_never_fired_fails() -> None:
    ok, msg, _ = judge(EXP, [], 95, 110)
    assert not ok and "T01 did not fire" in msg


def test_fired_too_slowly_after_its_condition_fails() -> None:
    ok, msg, _ = judge(EXP, [Episode("T01", 100, 110, 120)], 95, 112)
    assert not ok and "budget for + 2 evaluations = 7 s" in msg


def test_still_firing_after_revert_fails() -> None:
    ok, msg, _ = judge(EXP, [Episode("T01", 100, 105, None)], 95, 110)
    assert not ok and "still firing after the revert" in msg


def test_firing_without_a_fault_fails_and_quiet_passes() -> None:
    ok, msg, _ = judge(EXP, [Episode("T01", 100, 105, 120)], None, None)
    assert not ok and "without a fault" in msg
    assert judge(EXP, [], None, None)[0]


def test_already_firing_before_the_fault_fails() -> None:
    ok, msg, _ = judge(EXP, [Episode("T01", 10, 15, None)], 95, 110)
    assert not ok and "already firing before the fault" in msg


def test_must_not_fire_fails_when_it_fires() -> None:
    exp = Expectation("T02", must_fire=False)
    ok, msg, _ = judge(exp, [Episode("T02", 100, 101, 130)], 95, 110)
    assert not ok and "it must not" in msg
    assert judge(exp, [], 95, 110)[0]
