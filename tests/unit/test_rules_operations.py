"""Pure helpers of the operations checks: PgBouncer overrides, Prometheus vectors, PITR."""

from __future__ import annotations

import shlex

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_spark.probes.pgbouncer import ShowResult
from pytest_spark.rules.findings import codes
from pytest_spark.rules.operations import (
    app_databases,
    archive_dir_from_command,
    evaluate_database_pool_modes,
    evaluate_sentinel,
    host_of,
    is_loopback,
    ratios,
    segment_archived,
    vector_by,
)

DATABASES = [
    {"name": "pgbouncer", "pool_mode": "statement", "pool_size": 2},
    {"name": "spark", "pool_mode": None, "pool_size": 10},
]


def test_admin_console_is_not_an_app_database() -> None:
    assert app_databases(DATABASES) == ["spark"]


def test_no_override_and_the_admin_console_mode_are_fine() -> None:
    assert evaluate_database_pool_modes(DATABASES, "transaction") == []


def test_session_override_on_an_app_database_is_named() -> None:
    rows = [*DATABASES, {"name": "reports", "pool_mode": "session"}]
    found = evaluate_database_pool_modes(rows, "transaction")
    assert codes(found) == ["pgbouncer-database-pool-mode"]
    assert (
        found[0].message == "database reports: pool_mode override is session, expected transaction"
    )


def test_vector_by_instance_skips_nan_and_malformed_samples() -> None:
    result = [
        {"metric": {"instance": "a:1"}, "value": [1.0, "0.25"]},
        {"metric": {"instance": "b:1"}, "value": [1.0, "NaN"]},
        {"metric": {"instance": "c:1"}},
        {"metric": {}, "value": [1.0, "3"]},
    ]
    assert vector_by(result) == {"a:1": 0.25, "": 3.0}


def test_ratios_against_one_limit_or_per_instance_limits() -> None:
    assert ratios({"a": 0.5, "b": 2.0}, 1.0) == {"a": 0.5, "b": 2.0}
    assert ratios({"a": 50.0, "b": 50.0}, {"a": 100.0}) == {"a": 0.5, "b": None}
    assert ratios({"a": 1.0}, 0.0) == {"a": None}
    assert ratios({"a": 1.0}, None) == {"a": None}


@pytest.mark.parametrize(
    ("instance", "host", "local"),
    [
        ("127.0.0.1:8080", "127.0.0.1", True),
        ("localhost:9", "localhost", True),
        ("[::1]:9100", "::1", True),
        ("api-1.internal:8000", "api-1.internal", False),
        ("10.0.0.5:80", "10.0.0.5", False),
        ("::1", "::1", True),
    ],
)
def test_host_of_instance_label(instance: str, host: str, local: bool) -> None:
    assert host_of(instance) == host
    assert is_loopback(host) is local


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("test ! -f /srv/wal/%f && cp %p /srv/wal/%f", "/srv/wal"),
        ("cp %p /var/lib/pg/archive//%f", "/var/lib/pg/archive"),
        ("rsync -a %p '/mnt/wal archive/%f'", "/mnt/wal archive"),
        ("pgbackrest --stanza=main archive-push %p", None),
        ("wal-g wal-push %p", None),
        ("rsync -a %p backup:/wal/%f", None),
        ("(disabled)", None),
        ("", None),
        ("cp %p 'unterminated", None),
    ],
)
def test_archive_dir_from_command(command: str, expected: str | None) -> None:
    assert archive_dir_from_command(command) == expected


@given(st.lists(st.from_regex(r"[A-Za-z0-9_. -]{1,12}", fullmatch=True), min_size=1, max_size=4))
def test_archive_dir_round_trips_any_quoted_path(parts: list[str]) -> None:
    directory = "/" + "/".join(p.strip("/") or "x" for p in parts)
    dest = shlex.quote(f"{directory}/%f")
    command = f"test ! -f {dest} && cp %p {dest}"
    assert archive_dir_from_command(command) == directory.rstrip("/")


SEG = "00000001000000000000001B"


@pytest.mark.parametrize(
    ("last", "done"),
    [
        (None, False),
        ("", False),
        ("00000001000000000000001A", False),
        (SEG, True),
        ("00000001000000000000001C", True),
        (SEG + ".00000028.backup", False),  # backup history file: segment not complete yet
        ("00000001000000000000001C.00000028.backup", True),
        ("00000002.history", False),
        ("00000002000000000000001C", False),  # another timeline
    ],
)
def test_segment_archived(last: str | None, done: bool) -> None:
    assert segment_archived(last, SEG) is done


@given(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1))
def test_segment_archived_follows_wal_order(a: int, b: int) -> None:
    name = lambda n: f"00000001{n >> 8:08X}{n & 0xFF:08X}"  # noqa: E731
    assert segment_archived(name(a), name(b)) is (a >= b)


def test_sentinel_present_and_after_row_absent_passes() -> None:
    rows = [{"token": "s1", "phase": "before-target"}]
    assert evaluate_sentinel(rows, sentinel_token="s1", after_token="a1", target_time="T") == []


def test_missing_sentinel_and_overshot_target_are_named() -> None:
    found = evaluate_sentinel(
        [{"token": "a1"}], sentinel_token="s1", after_token="a1", target_time="2026-01-01T00:00"
    )
    assert codes(found) == ["pitr-sentinel-missing", "pitr-target-overshot"]
    assert "s1" in found[0].message and "2026-01-01T00:00" in found[0].message
    assert "a1" in found[1].message


def test_show_result_text_is_an_aligned_table() -> None:
    res = ShowResult(
        "SHOW POOLS",
        ("database", "cl_waiting", "pool_mode"),
        [{"database": "spark", "cl_waiting": 0, "pool_mode": None}],
        0.001,
    )
    assert res.text().splitlines() == [
        "=> SHOW POOLS",
        "database | cl_waiting | pool_mode",
        "---------+------------+----------",
        "spark    | 0          |",
        "(1 row)",
    ]


@given(st.text(alphabet="/a%f ", max_size=12))
def test_archive_destination_is_what_the_documented_pattern_finds(word):
    """The ``DIR/%f`` shape as the regex ``^(/.*?)/+%f$`` read it (minus its quadratic
    backtracking on a word of slashes)."""
    import re

    from pytest_spark.rules.operations import _dest_dir

    m = re.match(r"^(?P<dir>/.*?)/+%f$", word)
    assert _dest_dir(word) == (m.group("dir") if m else None)


@pytest.mark.timeout(60)  # hang guards, not speed assertions: each was quadratic
def test_megabyte_inputs_from_a_hostile_server_end():
    from pytest_spark.rules.archiver import to_utc
    from pytest_spark.rules.operations import archive_dir_from_command
    from pytest_spark.rules.pgbouncer import parse_duration_s

    assert archive_dir_from_command("cp %p " + "/" * 1_000_000 + "x") is None
    assert parse_duration_s("1" + " " * 1_000_000 + "x") is None
    assert to_utc("2024-05-01 12:00:00" + " " * 1_000_000 + "x") is None
    assert parse_duration_s("  500ms ") == 0.5
    assert to_utc(" 2024-05-01 12:00:00 UTC ") is not None
