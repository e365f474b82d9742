"""BS-07 manifest rules and PF-07 snapshot drift/freshness rules."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_spark.rules import flags
from pytest_spark.rules.findings import codes, failures

NOW = dt.datetime(2026, 1, 1, 12, 0, 0, tzinfo=dt.UTC)
MANIFEST = {"new_flags": ["new_checkout_flow"], "kill_switches": ["kill_trading", "kill_ws_feed"]}


def doc(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "flags": {
            "new_checkout_flow": False,
            "dark_mode_ui": True,
            "kill_trading": False,
            "kill_ws_feed": False,
        },
        "definitions": {"new_checkout_flow": {"default": False, "introduced_in": "1.4.0"}},
        "snapshot_version": 7,
        "snapshot_time": "2026-01-01T11:59:58.000Z",
    }
    body.update(over)
    return body


def test_empty_manifest_cannot_be_judged() -> None:
    assert flags.empty_manifest([], []) == (
        "release.new_flags and release.kill_switches are empty: nothing to compare /flags "
        "against (set them in spark.toml [release])"
    )
    assert flags.empty_manifest(["new_checkout_flow"], []) is None
    assert flags.empty_manifest([], ["kill_trading"]) is None
    assert flags.empty_manifest(**MANIFEST) is None


def test_healthy_manifest() -> None:
    assert flags.manifest_findings(doc(), "http://a", **MANIFEST) == []


def test_new_flag_defaulting_on_is_named() -> None:
    d = doc()
    d["flags"]["new_checkout_flow"] = True
    d["definitions"]["new_checkout_flow"]["default"] = True
    found = flags.manifest_findings(d, "http://a", **MANIFEST)
    assert codes(found) == ["new-flag-default-on", "new-flag-on"]
    assert "new flag new_checkout_flow defaults to true on http://a" in found[0].message


def test_served_on_without_definitions_fails() -> None:
    d = doc(definitions=None)
    d["flags"]["new_checkout_flow"] = True
    assert codes(flags.manifest_findings(d, "http://a", **MANIFEST)) == ["new-flag-on"]


def test_missing_new_flag_and_kill_switch() -> None:
    d = doc(definitions={})
    del d["flags"]["new_checkout_flow"]
    del d["flags"]["kill_ws_feed"]
    found = flags.manifest_findings(d, "http://a", **MANIFEST)
    assert codes(found) == ["new-flag-missing", "kill-switch-missing"]
    assert "kill switch kill_ws_feed does not exist" in found[1].message


def test_kill_switch_on_only_warns() -> None:
    d = doc()
    d["flags"]["kill_trading"] = True
    found = flags.manifest_findings(d, "http://a", **MANIFEST)
    assert codes(found) == ["kill-switch-on"] and failures(found) == []


def test_malformed_document() -> None:
    assert codes(flags.manifest_findings([], "http://a", **MANIFEST)) == ["flags-malformed"]


def test_fresh_and_same_snapshot() -> None:
    found, seen = flags.snapshot_findings(
        {"http://a": doc(), "http://b": doc()}, now=NOW, max_age_s=60
    )
    assert found == []
    assert seen["http://a"]["age_s"] == 2.0


def test_stale_and_drifting_snapshot() -> None:
    stale = doc(snapshot_version=6, snapshot_time="2026-01-01T11:50:00Z")
    found, _ = flags.snapshot_findings(
        {"http://a": doc(), "http://b": stale}, now=NOW, max_age_s=60
    )
    assert codes(found) == ["snapshot-version-drift", "snapshot-stale"]
    assert "7 on http://a; 6 on http://b" in found[0].message
    assert "600.0 s old (max 60 s)" in found[1].message


def test_missing_or_bad_snapshot_fields() -> None:
    found, _ = flags.snapshot_findings(
        {"http://a": doc(snapshot_version=None, snapshot_time="yesterday")}, now=NOW, max_age_s=60
    )
    assert codes(found) == ["snapshot-version-missing", "snapshot-time-missing"]


def test_future_snapshot_warns() -> None:
    found, _ = flags.snapshot_findings(
        {"http://a": doc(snapshot_time="2026-01-01T13:00:00+00:00")}, now=NOW, max_age_s=60
    )
    assert codes(found) == ["snapshot-in-future"] and failures(found) == []


def test_parse_time_naive_is_utc() -> None:
    assert flags.parse_time("2026-01-01T12:00:00") == NOW
    assert flags.parse_time(5) is None


@settings(max_examples=150, deadline=None)
@given(
    st.dictionaries(
        st.text(max_size=5),
        st.none() | st.booleans() | st.integers() | st.text(max_size=30) | st.lists(st.booleans()),
        max_size=6,
    )
)
def test_never_crash_on_arbitrary_documents(body: dict[str, Any]) -> None:
    flags.manifest_findings(body, "http://a", **MANIFEST)
    flags.snapshot_findings({"http://a": body}, now=NOW, max_age_s=60)
