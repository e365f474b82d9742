"""The verdict policy, row by row (EVIDENCE.md), as a pure function."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from pytest_spark.verdict import GO, NO_GO, compute, one_line, worst
from pytest_spark.waivers import Waiver

DAY = dt.date(2026, 11, 26)


def rec(cid: str, outcome: str, severity: str = "blocker", skip_kind: str = "", msg: str = ""):
    return {
        "id": cid,
        "outcome": outcome,
        "severity": severity,
        "skip_kind": skip_kind,
        "message": msg,
    }


def waiver(cid: str, expires: str = "2026-12-31") -> Waiver:
    return Waiver(cid, "known, fix in 1.4.1", "jane@example.com", expires)


def test_all_blockers_passed_is_go():
    v = compute([rec("BS-01", "passed"), rec("BS-02", "passed")], day=DAY)
    assert v["verdict"] == GO and v["reasons"] == []


def test_blocker_failed_is_no_go_with_its_message():
    v = compute([rec("BS-01", "passed"), rec("BS-02", "failed", msg="at 3, expected 4")], day=DAY)
    assert v["verdict"] == NO_GO
    assert v["reasons"] == [{"check": "BS-02", "outcome": "failed", "message": "at 3, expected 4"}]


def test_blocker_error_is_could_not_verify():
    v = compute([rec("PF-02", "error", msg="timed out after 2 s talking to ntp")], day=DAY)
    assert v["verdict"] == NO_GO
    assert v["reasons"][0]["message"].startswith("could not verify: timed out")


def test_blocker_skipped_by_policy_is_not_verified():
    v = compute([rec("BS-01", "passed"), rec("RT-02", "skipped", skip_kind="policy")], day=DAY)
    assert v["verdict"] == NO_GO
    assert "not verified (skipped by policy)" in v["reasons"][0]["message"]


def test_policy_skip_of_an_exempt_blocker_does_not_block():
    records = [rec("BS-01", "passed"), rec("RT-08", "skipped", skip_kind="policy")]
    assert compute(records, exempt=["RT-08"], day=DAY)["verdict"] == GO


def test_warning_failure_is_listed_but_never_blocks():
    v = compute([rec("BS-01", "passed"), rec("BS-02", "failed", severity="warning")], day=DAY)
    assert v["verdict"] == GO
    assert v["warnings"][0]["check"] == "BS-02"


def test_waived_failure_is_go_and_stays_visible():
    v = compute(
        [rec("BS-01", "passed"), rec("BS-02", "failed")], waivers=[waiver("BS-02")], day=DAY
    )
    assert v["verdict"] == GO
    assert v["outcomes"]["BS-02"] == "waived"
    assert v["waivers"]["applied"][0]["check"] == "BS-02"


def test_expired_waiver_does_not_apply_and_is_reported():
    w = waiver("BS-02", expires="2026-11-25")
    v = compute([rec("BS-01", "passed"), rec("BS-02", "failed")], waivers=[w], day=DAY)
    assert v["verdict"] == NO_GO
    assert v["waivers"]["expired"][0]["expires"] == "2026-11-25"


def test_waiver_is_valid_through_its_expiry_day():
    w = waiver("BS-02", expires="2026-11-26")
    assert compute([rec("BS-02", "failed")], waivers=[w], day=DAY)["verdict"] == GO


def test_nothing_ran_is_no_go():
    assert compute([], day=DAY)["reasons"][0]["outcome"] == "nothing-ran"
    only_skips = [rec("BS-01", "skipped", skip_kind="policy")]
    assert compute(only_skips, exempt=["BS-01"], day=DAY)["verdict"] == NO_GO


def test_interrupted_or_unfinished_run_is_incomplete():
    v = compute([rec("BS-01", "passed")], interrupted=True, day=DAY)
    assert v["verdict"] == NO_GO and v["reasons"][-1]["outcome"] == "incomplete"
    v = compute([rec("BS-01", "passed")], not_run=["checks/x.py::t"], day=DAY)
    assert "1 selected test(s) did not run" in v["reasons"][-1]["message"]


def test_one_line_names_verdict_reasons_and_bundle():
    v = compute([rec("BS-02", "failed")], day=DAY)
    line = one_line(v, "reports/x.tar.gz")
    assert line.startswith("SPARK VERDICT: NO-GO") and "BS-02 failed" in line and "x.tar.gz" in line


OUTCOME = st.sampled_from(["passed", "failed", "error", "skipped"])


@given(
    st.lists(
        st.tuples(st.sampled_from(["BS-01", "BS-02", "PF-01", "RT-02"]), OUTCOME, st.booleans()),
        unique_by=lambda t: t[0],
    )
)
def test_go_exactly_when_every_blocker_passed(rows):
    records = [rec(cid, o, "blocker" if blocker else "warning") for cid, o, blocker in rows]
    v = compute(records, day=DAY)
    ran = any(o in ("passed", "failed", "error") for _, o, _ in rows)
    blockers_ok = all(o == "passed" for _, o, b in rows if b)
    assert (v["verdict"] == GO) == (ran and blockers_ok)


@given(st.lists(OUTCOME, min_size=1))
def test_worst_is_order_independent(outcomes):
    assert worst(outcomes) == worst(list(reversed(outcomes)))
