"""One failure line for many responses: each problem once, every place it was seen."""

from __future__ import annotations

from pytest_spark.rules.findings import FAIL, WARN, Finding
from pytest_spark.rules.problems import SHOW_MAX, fail_messages, summary


def test_same_problem_on_many_pages_is_named_once_with_each_place() -> None:
    problems = [
        ("script-src allows 'unsafe-inline'", "http://a/"),
        ("script-src allows 'unsafe-inline'", "http://b/"),
        ("script-src allows 'unsafe-inline'", "http://a/"),
        ("no Content-Security-Policy header", ""),
    ]
    assert summary(problems) == (
        "script-src allows 'unsafe-inline' on http://a/, http://b/; "
        "no Content-Security-Policy header"
    )


def test_problems_beyond_show_max_are_counted_not_spelled_out() -> None:
    problems = [(f"problem {i}", "") for i in range(SHOW_MAX + 2)]
    line = summary(problems)
    assert line.endswith(f"problem {SHOW_MAX - 1}; ... and 2 more")
    assert f"problem {SHOW_MAX};" not in line
    assert summary(problems[:SHOW_MAX]) == "; ".join(f"problem {i}" for i in range(SHOW_MAX))
    assert summary([("a", ""), ("b", "")], show_max=1) == "a; ... and 1 more"


def test_summary_of_nothing_is_empty() -> None:
    assert summary([]) == ""


def test_only_failing_findings_become_problems_at_the_place_given() -> None:
    findings = [Finding("x", "bad", FAIL), Finding("y", "meh", WARN), Finding("z", "worse")]
    assert fail_messages(findings, "http://a/") == [("bad", "http://a/"), ("worse", "http://a/")]
    assert fail_messages(findings) == [("bad", ""), ("worse", "")]
    assert fail_messages(()) == []
