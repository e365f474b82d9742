"""combine: the newest fresh result per check decides; nothing else can make a release GO."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_spark import catalog
from pytest_spark.combine import CombineError, Run, combine, parse_max_age, required_ids
from pytest_spark.waivers import Waiver

NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


def rec(cid: str, outcome: str, hours_ago: float, severity: str = "blocker") -> dict:
    end = (NOW - dt.timedelta(hours=hours_ago)).isoformat()
    return {"id": cid, "outcome": outcome, "severity": severity, "end": end, "message": "m"}


def run(rid: str, *records: dict, release: str = "1.4.0", waivers=(), exempt=()) -> Run:
    start = min((dt.datetime.fromisoformat(r["end"]) for r in records), default=NOW)
    return Run(rid, rid, release, start, records, tuple(waivers), frozenset(exempt), "NO-GO")


def test_newest_result_wins_per_check():
    old = run("r1", rec("PF-01", "passed", 5), rec("PF-02", "failed", 5))
    new = run("r2", rec("PF-02", "passed", 1))
    v = combine([old, new], required=["PF-01", "PF-02"], now=NOW, max_age=DAY)
    assert v["verdict"] == "GO" and v["checks"]["PF-02"]["run_id"] == "r2"
    newer_failure = run("r3", rec("PF-01", "failed", 0.5))
    v = combine([old, new, newer_failure], required=["PF-01", "PF-02"], now=NOW, max_age=DAY)
    assert v["verdict"] == "NO-GO" and v["reasons"][0]["check"] == "PF-01"


def test_a_later_skip_does_not_hide_an_earlier_failure():
    runs = [run("r1", rec("RT-02", "failed", 3)), run("r2", rec("RT-02", "skipped", 1))]
    v = combine(runs, required=["RT-02"], now=NOW, max_age=DAY)
    assert v["verdict"] == "NO-GO" and v["checks"]["RT-02"]["outcome"] == "failed"


def test_required_checks_without_a_fresh_result_block():
    v = combine([run("r1", rec("PF-01", "passed", 1))], required=["PF-01", "PF-02"], now=NOW,
                max_age=DAY)  # fmt: skip
    assert v["verdict"] == "NO-GO" and v["scope"]["not_run"] == ["PF-02"]
    v = combine([run("r1", rec("PF-01", "passed", 30))], required=["PF-01"], now=NOW, max_age=DAY)
    assert v["verdict"] == "NO-GO" and v["reasons"][0]["message"].startswith("stale:")
    v = combine([run("r1", rec("PF-01", "passed", -2))], required=["PF-01"], now=NOW, max_age=DAY)
    assert v["verdict"] == "NO-GO" and "future" in v["reasons"][0]["message"]


def test_waivers_are_judged_again_as_of_now_and_only_from_their_own_run():
    expired = Waiver("PF-01", "j", "a", "2026-11-29")
    v = combine([run("r1", rec("PF-01", "failed", 1), waivers=[expired])], required=["PF-01"],
                now=NOW, max_age=DAY)  # fmt: skip
    assert v["verdict"] == "NO-GO" and v["waivers"]["expired"]
    valid = Waiver("PF-01", "j", "a", "2026-12-31")
    runs = [
        run("r1", rec("PF-02", "passed", 1), waivers=[valid]),
        run("r2", rec("PF-01", "failed", 1)),
    ]
    assert combine(runs, required=["PF-01", "PF-02"], now=NOW, max_age=DAY)["verdict"] == "NO-GO"


def test_refuses_mixed_releases_and_nothing():
    with pytest.raises(CombineError, match="mix releases"):
        combine([run("a", release="1.4.0"), run("b", release="1.4.1")], required=[], now=NOW,
                max_age=DAY)  # fmt: skip
    with pytest.raises(CombineError, match="mix releases"):
        combine([run("a", release="")], required=[], now=NOW, max_age=DAY)
    with pytest.raises(CombineError, match="no bundle"):
        combine([], required=[], now=NOW, max_age=DAY)


def test_options():
    assert parse_max_age("90m") == dt.timedelta(minutes=90)
    for bad in ("0h", "-1h", "nan", "inf", "1e9s", "91d", "soon"):
        with pytest.raises(CombineError):
            parse_max_age(bad)
    assert required_ids("preflight") == [f"PF-0{i}" for i in range(1, 10)]
    assert len(required_ids("")) == len(catalog.CHECKS)
    with pytest.raises(CombineError):
        required_ids("prefligth")


OUTCOMES = st.sampled_from(["passed", "failed", "error", "skipped"])
IDS = st.sampled_from(["PF-01", "PF-02", "PF-03"])


@given(
    st.lists(st.lists(st.tuples(IDS, OUTCOMES, st.floats(0, 48)), max_size=4), max_size=4),
    st.lists(IDS, min_size=1, unique=True),
)
def test_release_go_only_when_every_required_check_newest_fresh_result_passed(runs, required):
    built = [run(f"r{i}", *(rec(c, o, h) for c, o, h in rows)) for i, rows in enumerate(runs)]
    try:
        v = combine(built, required=required, now=NOW, max_age=DAY)
    except CombineError:
        assert not built
        return
    if v["verdict"] != "GO":
        return
    for cid in required:
        results = [(h, o) for rows in runs for c, o, h in rows if c == cid]
        assert results, f"{cid} GO without any result"
        ran = [(h, o) for h, o in results if o != "skipped"]
        hours, outcome = min(ran or results)
        assert outcome == "passed" and hours <= 24


def test_one_release_under_its_two_spellings_combines():
    a = run("a", rec("PF-01", "passed", 1), release="1.4.0")
    b = run("b", rec("PF-02", "passed", 1), release="v1.4.0")
    assert combine([a, b], required=["PF-01", "PF-02"], now=NOW, max_age=DAY)["verdict"] == "GO"
