"""The verdict policy, row by row (EVIDENCE.md), as a pure function."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_spark.config import ConfigError
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


# ---- waiver expiry with an offset (issue 8, section 6) ---------------------------------


def parsed(expires_toml: str) -> Waiver:
    import tomllib

    from pytest_spark.waivers import parse

    body = tomllib.loads(
        f'[BS-01]\njustification = "j"\napprover = "a"\nexpires = {expires_toml}\n'
    )
    (w,) = parse(body, "waivers.toml")
    return w


def test_offset_expiry_is_compared_in_utc():
    """Issue 8: 2026-11-30T00:00:01+14:00 is 2026-11-29T10:00:01Z; it was applied on the 30th."""
    w = parsed("2026-11-30T00:00:01+14:00")
    assert w.expires == "2026-11-29T10:00:01Z"
    assert not w.active_on(dt.date(2026, 11, 30))
    assert not w.active_on(dt.date(2026, 11, 29))  # it ends during that UTC day
    assert w.active_on(dt.date(2026, 11, 28))
    v = compute([rec("BS-01", "failed")], waivers=[w], day=dt.date(2026, 11, 30))
    assert v["verdict"] == NO_GO and v["waivers"]["expired"][0]["expires"] == w.expires


def test_offset_expiry_west_of_utc_and_at_midnight():
    w = parsed("2026-11-30T20:00:00-05:00")  # 2026-12-01T01:00:00Z
    assert w.expires == "2026-12-01T01:00:00Z" and w.active_on(dt.date(2026, 11, 30))
    assert not w.active_on(dt.date(2026, 12, 1))
    midnight = parsed("2026-12-01T00:00:00Z")
    assert midnight.active_on(dt.date(2026, 11, 30))
    assert not midnight.active_on(dt.date(2026, 12, 1))


def test_date_expiry_is_still_valid_through_that_utc_day():
    w = parsed("2026-11-30")
    assert w.expires == "2026-11-30" and w.active_on(dt.date(2026, 11, 30))
    assert parsed('"2026-11-30"').expires == "2026-11-30"
    assert parsed('"2026-11-30T00:00:01+14:00"').expires == "2026-11-29T10:00:01Z"


@pytest.mark.parametrize(
    ("expires", "message"),
    [
        ("2026-11-30T00:00:01", "has no UTC offset"),
        ('"2026-11-30T00:00:01"', "has no UTC offset"),
        ("00:00:01", "must be a date"),
        ('"next week"', "must be a date"),
        ("20261130", "must be a date"),
    ],
)
def test_ambiguous_or_malformed_expiry_is_refused(expires, message):
    with pytest.raises(ConfigError, match=message):
        parsed(expires)


@given(
    st.datetimes(
        min_value=dt.datetime(2000, 1, 1),
        max_value=dt.datetime(2100, 1, 1),
        timezones=st.sampled_from(
            [dt.timezone(dt.timedelta(minutes=m)) for m in (-720, -300, 0, 60, 330, 840)]
        ),
    ),
    st.dates(min_value=dt.date(1999, 12, 1), max_value=dt.date(2100, 2, 1)),
)
def test_a_waiver_never_covers_a_moment_after_its_instant(instant, day):
    w = parsed(instant.isoformat())
    end_of_day = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), dt.UTC)
    if w.active_on(day):
        assert end_of_day <= instant
    else:
        assert end_of_day > instant - dt.timedelta(days=1)  # conservative by < 1 day


# ---- never GO on nothing (issue 8, section 2) ------------------------------------------

ANY_OUTCOME = st.sampled_from(
    ["passed", "failed", "error", "skipped", "waived", "", "xfailed", "nan", "PASSED", "None"]
)
ANY_SEVERITY = st.sampled_from(["blocker", "warning", "", "Blocker", "critical", "nan"])
IDS = st.sampled_from(["BS-01", "BS-02", "PF-01", "PF-02", "RT-02", "RT-03"])


@settings(max_examples=400)
@given(
    st.lists(st.tuples(IDS, ANY_OUTCOME, ANY_SEVERITY), unique_by=lambda t: t[0]),
    st.lists(IDS, unique=True),
    st.lists(st.sampled_from(["checks/a.py::t", "checks/b.py::t (no call phase)"])),
    st.booleans(),
)
def test_never_go_on_nothing_unknown_or_unfinished(rows, in_scope, not_run, interrupted):
    records = [rec(cid, o, sev, msg="nan") for cid, o, sev in rows]
    scope = {"name": "x", "in_scope": in_scope}
    v = compute(records, day=DAY, not_run=not_run, interrupted=interrupted, scope=scope)
    if v["verdict"] != GO:
        assert v["reasons"]
        return
    assert any(o in ("passed", "failed", "error") for _, o, _ in rows)  # something ran
    assert not not_run and not interrupted
    assert set(in_scope) <= {cid for cid, _, _ in rows}  # every in-scope check has a result
    for _cid, outcome, severity in rows:  # everything not a known warning really passed
        if severity != "warning" or outcome not in ("passed", "failed", "error", "skipped"):
            assert outcome == "passed"


def test_unknown_outcome_or_severity_blocks():
    assert compute([rec("BS-01", "xfailed")], day=DAY)["verdict"] == NO_GO
    assert compute([rec("BS-01", "passed"), rec("BS-02", "")], day=DAY)["verdict"] == NO_GO
    assert compute([rec("BS-01", "failed", severity="critical")], day=DAY)["verdict"] == NO_GO
    odd = compute([rec("BS-01", "passed"), rec("BS-02", "nan", severity="warning")], day=DAY)
    assert odd["verdict"] == NO_GO and odd["reasons"][0]["message"] == "unknown outcome 'nan'"


def test_in_scope_checks_without_a_result_are_not_run_and_block():
    scope = {"name": "preflight", "in_scope": ["PF-01", "PF-02"], "partial": ""}
    v = compute([rec("PF-01", "passed")], day=DAY, scope=scope)
    assert v["verdict"] == NO_GO and v["not_run"] == ["PF-02"]
    assert v["reasons"] == [
        {"check": "PF-02", "outcome": "not run", "message": "in scope but produced no result"}
    ]
    assert v["scope"]["not_run"] == ["PF-02"]
    line = one_line(v)
    assert line == "SPARK VERDICT: NO-GO for preflight (1 of 2) -- 1 in scope not run (PF-02)"
    again = compute([rec("PF-01", "passed")], day=DAY, not_run=v["not_run"])  # what verify does
    assert again["reasons"] == v["reasons"]


def test_go_line_names_the_scope_and_a_partial_selection():
    scope = {"name": "preflight", "in_scope": ["PF-01"], "partial": ""}
    assert one_line(compute([rec("PF-01", "passed")], day=DAY, scope=scope)) == (
        "SPARK VERDICT: GO for preflight (1 of 1)"
    )
    scope = dict(scope, name="--spark-check PF-01", partial="1 of 28 catalog checks")
    assert one_line(compute([rec("PF-01", "passed")], day=DAY, scope=scope)) == (
        "SPARK VERDICT: GO for --spark-check PF-01 (1 of 1), PARTIAL: 1 of 28 catalog checks"
    )


def test_a_raw_waived_outcome_or_a_duplicate_record_blocks():
    """A raw outcome is never "waived" (only a waiver makes it so); one id, one record."""
    assert compute([rec("BS-01", "passed"), rec("BS-02", "waived")], day=DAY)["verdict"] == NO_GO
    v = compute([rec("BS-01", "failed"), rec("BS-01", "passed")], day=DAY)
    assert v["verdict"] == NO_GO and "more than one record" in v["reasons"][0]["message"]


def test_empty_scope_or_records_is_never_go():
    assert compute([], day=DAY, scope={"in_scope": []})["verdict"] == NO_GO
    assert compute([], day=DAY, scope={"in_scope": ["PF-01"]})["verdict"] == NO_GO
