"""RT-08 archiver health: settings, pg_stat_archiver rows, and the time helpers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_spark.rules.archiver import (
    age_s,
    evaluate_archiver,
    noop_archive_command,
    settings_dict,
    to_utc,
)
from pytest_spark.rules.findings import codes

NOW = datetime(2026, 5, 4, 12, 0, 0, tzinfo=UTC)

SETTINGS = [  # ARCHIVER_SETTINGS_SQL rows
    {"name": "archive_command", "setting": "test ! -f /archive/%f && cp %p /archive/%f"},
    {"name": "archive_library", "setting": ""},
    {"name": "archive_mode", "setting": "on"},
    {"name": "archive_timeout", "setting": "60"},
    {"name": "wal_level", "setting": "replica"},
]


def stats(**over: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "archived_count": 42,
        "last_archived_wal": "000000010000000000000029",
        "last_archived_time": NOW - timedelta(seconds=50),
        "failed_count": 1,
        "last_failed_wal": "000000010000000000000003",
        "last_failed_time": NOW - timedelta(hours=3),
        "stats_reset": NOW - timedelta(days=1),
        "observed_at": NOW,
    }
    row.update(over)
    return row


def with_setting(name: str, value: str) -> list[dict[str, str]]:
    return [dict(r, setting=value) if r["name"] == name else r for r in SETTINGS]


def test_healthy_archiver_passes() -> None:
    assert evaluate_archiver(SETTINGS, stats()) == []


def test_now_parameter_overrides_observed_at() -> None:
    later = NOW + timedelta(minutes=10)
    assert codes(evaluate_archiver(SETTINGS, stats(), later)) == ["archive-stale"]


def test_needs_a_clock_reading() -> None:
    with pytest.raises(ValueError):
        evaluate_archiver(SETTINGS, stats(observed_at=None))


@pytest.mark.parametrize("mode", ["off", ""])
def test_archive_mode_off(mode: str) -> None:
    [f] = evaluate_archiver(with_setting("archive_mode", mode), stats())
    assert f.code == "archive-mode-off"


def test_archive_mode_always_is_fine() -> None:
    assert evaluate_archiver(with_setting("archive_mode", "always"), stats()) == []


def test_wal_level_minimal() -> None:
    [f] = evaluate_archiver(with_setting("wal_level", "minimal"), stats())
    assert f.code == "archive-wal-level" and "minimal" in f.message


def test_logical_wal_level_is_fine() -> None:
    assert evaluate_archiver(with_setting("wal_level", "logical"), stats()) == []


def test_no_archive_command_nor_library() -> None:
    assert codes(evaluate_archiver(with_setting("archive_command", ""), stats())) == [
        "archive-command-missing"
    ]
    disabled = settings_dict(with_setting("archive_command", "(disabled)"))
    assert codes(evaluate_archiver(disabled, stats())) == ["archive-command-missing"]
    library = dict(settings_dict(SETTINGS), archive_command="", archive_library="basic_archive")
    assert evaluate_archiver(library, stats()) == []


def test_failure_newer_than_success() -> None:
    row = stats(
        failed_count=7,
        last_failed_time=NOW - timedelta(seconds=5),
        last_failed_wal="00000001000000000000002A",
    )
    [f] = evaluate_archiver(SETTINGS, row)
    assert f.code == "archive-failing"
    assert "00000001000000000000002A" in f.message and "failed_count 7" in f.message
    assert "2026-05-04 11:59:55 UTC" in f.message


def test_never_archived_and_failing() -> None:
    row = stats(
        archived_count=0,
        last_archived_time=None,
        last_archived_wal=None,
        last_failed_time=NOW,
    )
    assert codes(evaluate_archiver(SETTINGS, row)) == ["archive-never-archived", "archive-failing"]


def test_stale_archive_names_age_and_limit() -> None:
    [f] = evaluate_archiver(SETTINGS, stats(last_archived_time=NOW - timedelta(minutes=12)))
    assert f.code == "archive-stale"
    assert "12.0 min ago" in f.message and "limit 5.0 min" in f.message


def test_max_age_is_a_parameter() -> None:
    row = stats(last_archived_time=NOW - timedelta(minutes=12))
    assert evaluate_archiver(SETTINGS, row, max_age_s=900) == []


def test_text_timestamps_are_accepted() -> None:
    row = stats(last_archived_time="2026-05-04 11:59:00+00", observed_at="2026-05-04T12:00:00Z")
    assert evaluate_archiver(SETTINGS, row) == []


# --- time helpers ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-05-04 12:00:00 UTC", NOW),
        ("2026-05-04T12:00:00Z", NOW),
        ("2026-05-04 14:00:00+02:00", NOW),
        ("2026-05-04 07:00:00 -0500", NOW),
        ("2026-05-04 12:00:00", NOW),
        (NOW.timestamp(), NOW),
        (datetime(2026, 5, 4, 12, 0, 0), NOW),
    ],
)
def test_to_utc(value: Any, expected: datetime) -> None:
    assert to_utc(value) == expected


@pytest.mark.parametrize("value", [None, "yesterday", True, "2026-13-40 99:00:00", 1e20])
def test_to_utc_unusable(value: Any) -> None:
    assert to_utc(value) is None


def test_age() -> None:
    assert age_s(NOW - timedelta(seconds=3), NOW) == 3.0
    assert age_s(None, NOW) is None


@given(st.datetimes(timezones=st.just(UTC)), st.integers(-(10**6), 10**6))
def test_age_roundtrip(then: datetime, seconds: int) -> None:
    try:
        now = then + timedelta(seconds=seconds)
    except OverflowError:
        return
    assert age_s(then, now) == seconds
    assert age_s(then.isoformat(), now.isoformat()) == seconds


@given(st.text(max_size=40))
def test_to_utc_never_raises(text: str) -> None:
    to_utc(text)


@pytest.mark.parametrize("command", ["/bin/true", "true", ":", "exit 0", "cd .", "echo %%p"])
def test_a_command_that_never_reads_a_segment_says_the_archive_receives_nothing(
    command: str,
) -> None:
    [f] = evaluate_archiver(with_setting("archive_command", command), stats())
    assert f.code == "archive-command-noop" and f.severity == "fail"
    assert f"archive_command {command!r} uses neither %p nor %f" in f.message
    assert "the archive receives nothing" in f.message


def test_empty_command_says_the_archive_receives_nothing() -> None:
    [f] = evaluate_archiver(with_setting("archive_command", ""), stats())
    assert "the archive receives nothing" in f.message


@pytest.mark.parametrize(
    ("command", "noop"),
    [
        ("cp %p /dev/null", True),
        ("cat %p > /dev/null", True),
        ("test ! -f /a/%f && cp %p /a/%f 2>/dev/null", False),
        ("/usr/local/bin/archive-wal.sh %f", False),  # a wrapper that finds pg_wal/%f itself
        ("pgbackrest --stanza=main archive-push %p", False),
        ("wal-g wal-push %p", False),
    ],
)
def test_noop_archive_command_kinds(command: str, noop: bool) -> None:
    assert bool(noop_archive_command(command)) is noop


def test_archive_library_makes_the_command_irrelevant() -> None:
    cfg = dict(settings_dict(SETTINGS), archive_command="true", archive_library="basic_archive")
    assert evaluate_archiver(cfg, stats()) == []
