"""BS-02 migration state: golang-migrate, Flyway and Rails style tables."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_spark.rules.findings import codes
from pytest_spark.rules.migrations import evaluate_migrations, normalise_rows, version_key


def flyway(*versions: Any, failed: Any = None) -> list[dict[str, Any]]:
    """Rows as SCHEMA_MIGRATIONS_SQL returns them: {"row": <to_jsonb of the table row>}."""
    return [
        {"row": {"installed_rank": i, "version": str(v), "success": v != failed}}
        for i, v in enumerate(versions, 1)
    ]


def test_version_ordering() -> None:
    assert version_key(12) < version_key("0013") < version_key("20240101120000")
    assert version_key("1.2") < version_key("1.10")
    assert version_key("0012") == version_key(12)
    assert version_key("1.2.a") > version_key("1.2.1")


def test_rows_are_read_tolerantly() -> None:
    rows = [
        {"row": {"version": 12, "dirty": False}},
        {"version": "13", "success": "f"},
        {"row": {"version": None, "description": "repeatable"}},
        {"version": ""},
    ]
    got = [(m.version, m.success, m.dirty) for m in normalise_rows(rows)]
    assert got == [("12", True, False), ("13", False, False)]
    assert "AppliedMigration('12'" in repr(normalise_rows(rows)[0])


def test_golang_migrate_single_row_at_expected_version() -> None:
    assert evaluate_migrations([{"row": {"version": 12, "dirty": False}}], 12) == []


def test_one_behind() -> None:
    [f] = evaluate_migrations([{"row": {"version": 11, "dirty": False}}], 12)
    assert f.code == "migration-behind"
    assert f.message == "schema at migration 11, release expects 12"


def test_behind_lists_pending_when_known() -> None:
    [f] = evaluate_migrations(flyway(1, 2, 3), 5, known_versions=[1, 2, 3, 4, 5])
    assert f.message.endswith("2 pending: 4, 5")


def test_ahead() -> None:
    [f] = evaluate_migrations([{"version": 13, "dirty": False}], 12)
    assert f.code == "migration-ahead" and "schema at migration 13, ahead of the 12" in f.message


def test_dirty_migration() -> None:
    found = evaluate_migrations([{"row": {"version": 12, "dirty": True}}], 12)
    assert codes(found) == ["migration-dirty", "migration-behind"]
    assert "migration 12 is marked dirty" in found[0].message


def test_failed_flyway_migration() -> None:
    found = evaluate_migrations(flyway(1, 2, 3, failed=3), 3)
    assert codes(found) == ["migration-failed", "migration-behind"]
    assert found[0].message == "migration 3 is recorded as failed"
    assert found[1].message == "schema at migration 2, release expects 3"


def test_empty_table() -> None:
    [f] = evaluate_migrations([], 12)
    assert f.code == "migration-table-empty" and "release expects 12" in f.message


def test_only_failures() -> None:
    assert codes(evaluate_migrations(flyway(1, failed=1), 1)) == [
        "migration-failed",
        "migration-behind",
    ]


@pytest.mark.parametrize("expected", [None, 0, "0", ""])
def test_no_expected_version_only_checks_health(expected: Any) -> None:
    assert evaluate_migrations(flyway(1, 2), expected) == []
    assert codes(evaluate_migrations([{"version": 3, "dirty": True}], expected)) == [
        "migration-dirty"
    ]


def test_gap_against_known_versions() -> None:
    [f] = evaluate_migrations(flyway(1, 2, 4, 5), 5, known_versions=range(1, 6))
    assert f.code == "migration-gap" and f.message.endswith(": 3")


def test_single_row_table_has_no_false_gaps() -> None:
    rows = [{"row": {"version": 5, "dirty": False}}]
    assert evaluate_migrations(rows, 5, known_versions=range(1, 6)) == []


def test_unknown_applied_migration() -> None:
    [f] = evaluate_migrations(flyway(1, 2, 3), 3, known_versions=[1, 3])
    assert codes([f]) == ["migration-unknown"] and f.message.endswith(": 2")


def test_sequential_gap_without_known_versions() -> None:
    [f] = evaluate_migrations(flyway(1, 2, 5), 5, sequential=True)
    assert f.code == "migration-gap"
    assert f.message == "version numbers missing between 1 and 5: 3, 4"
    assert evaluate_migrations(flyway(1, 2, 5), 5) == []


def test_timestamp_versions() -> None:
    rows = [{"version": "20240101120000"}, {"version": "20240301090000"}]
    assert evaluate_migrations(rows, "20240301090000") == []
    assert codes(evaluate_migrations(rows, "20240401000000")) == ["migration-behind"]


def test_long_lists_are_abbreviated() -> None:
    [f] = evaluate_migrations(flyway(1), 40, known_versions=range(1, 41))
    assert "39 pending" in f.message and "(+29 more)" in f.message


@given(st.sets(st.integers(1, 60), min_size=1, max_size=30), st.integers(1, 60))
def test_behind_ahead_agree_with_integer_order(applied: set[int], expected: int) -> None:
    found = codes(evaluate_migrations([{"version": v} for v in applied], expected))
    current = max(applied)
    assert ("migration-behind" in found) == (current < expected)
    assert ("migration-ahead" in found) == (current > expected)
