"""The migration runner and the schema it builds, against a real PostgreSQL."""

from __future__ import annotations

import shutil
from pathlib import Path

import psycopg
import pytest
from _app_server import sql
from _pg import PgServer, pg  # noqa: F401  (fixture)

from pytest_spark.sandbox.migrate import (
    CURRENT_MIGRATION_VERSION,
    MIGRATIONS_DIR,
    PENDING_DIR,
    ChecksumMismatch,
    DirtyDatabase,
    MigrationError,
    MigrationFailed,
    applied_versions,
    apply_migrations,
    discover,
    latest_version,
)

_counter = iter(range(1_000))


@pytest.fixture
def fresh_dsn(pg: PgServer) -> str:  # noqa: F811
    """An empty database per test."""
    return pg.create_database(f"mig_{next(_counter)}")


def test_current_version_constant_is_the_highest_file() -> None:
    assert latest_version() == CURRENT_MIGRATION_VERSION
    assert [m.version for m in discover()] == list(range(1, CURRENT_MIGRATION_VERSION + 1))


def test_pending_sets_are_numbered_one_above_current() -> None:
    for name in ("ok", "failing", "dangerous"):
        versions = [m.version for m in discover(PENDING_DIR / name)]
        assert versions == [CURRENT_MIGRATION_VERSION + 1], name


def test_apply_all_records_every_version(fresh_dsn: str) -> None:
    assert applied_versions(fresh_dsn) == []
    assert apply_migrations(fresh_dsn) == [1, 2, 3, 4]
    rows = applied_versions(fresh_dsn)
    assert [r.version for r in rows] == [1, 2, 3, 4]
    assert all(r.success and not r.dirty for r in rows)
    assert rows[0].name == "accounts_instruments"
    assert {r.checksum for r in rows} == {m.checksum for m in discover(MIGRATIONS_DIR)}
    # Idempotent: a second run applies nothing.
    assert apply_migrations(fresh_dsn) == []


def test_target_stops_at_a_version_and_resumes(fresh_dsn: str) -> None:
    assert apply_migrations(fresh_dsn, target=2) == [1, 2]
    assert [r.version for r in applied_versions(fresh_dsn)] == [1, 2]
    assert apply_migrations(fresh_dsn) == [3, 4]


def test_schema_objects_exist(fresh_dsn: str) -> None:
    apply_migrations(fresh_dsn)
    money = sql(
        fresh_dsn,
        "SELECT table_name, column_name, data_type, numeric_precision, numeric_scale"
        " FROM information_schema.columns WHERE column_name IN"
        " ('price', 'quantity', 'avg_price', 'tick_size', 'lot_size', 'ref_price')"
        " ORDER BY 1, 2",
    )
    assert len(money) == 7
    assert {(t, p, s) for _, _, t, p, s in money} == {("numeric", 18, 8)}
    # orders.id is int4 fed by a bigint sequence owned by the column.
    seq = sql(
        fresh_dsn,
        "SELECT s.data_type, c.data_type FROM information_schema.sequences s,"
        " information_schema.columns c WHERE s.sequence_name = 'orders_id_seq'"
        " AND c.table_name = 'orders' AND c.column_name = 'id'",
    )
    assert seq == [("bigint", "integer")]
    owner = sql(fresh_dsn, "SELECT pg_get_serial_sequence('orders', 'id')")
    assert owner == [("public.orders_id_seq",)]
    index = sql(
        fresh_dsn,
        "SELECT indexdef FROM pg_indexes WHERE indexname = 'positions_one_open_uq'",
    )
    assert index and "UNIQUE" in index[0][0] and "WHERE (status = 'open'::text)" in index[0][0]
    constraint = sql(
        fresh_dsn,
        "SELECT contype FROM pg_constraint WHERE conname = 'idempotency_keys_key_uq'",
    )
    assert constraint == [("u",)]
    expires = sql(
        fresh_dsn,
        "SELECT is_nullable FROM information_schema.columns"
        " WHERE table_name = 'idempotency_keys' AND column_name = 'expires_at'",
    )
    assert expires == [("NO",)]
    seeded = sql(fresh_dsn, "SELECT symbol, tick_size, lot_size FROM instruments ORDER BY 1")
    assert [r[0] for r in seeded] == ["AAPL", "BTC-USD", "ETH-USD", "EUR-USD"]
    assert len({r[1] for r in seeded}) >= 2 and len({r[2] for r in seeded}) >= 3


def test_partial_unique_index_blocks_a_second_open_position(fresh_dsn: str) -> None:
    apply_migrations(fresh_dsn)
    insert = (
        "INSERT INTO positions (account_id, symbol, quantity, avg_price, status)"
        " VALUES ('ACC-1', 'AAPL', 1, 190, %s)"
    )
    sql(fresh_dsn, insert, ("open",))
    sql(fresh_dsn, insert, ("closed",))
    with pytest.raises(psycopg.errors.UniqueViolation):
        sql(fresh_dsn, insert, ("open",))


def test_failing_migration_is_rolled_back_and_recorded(fresh_dsn: str, tmp_path: Path) -> None:
    apply_migrations(fresh_dsn)
    with pytest.raises(MigrationFailed) as info:
        apply_migrations(fresh_dsn, PENDING_DIR / "failing")
    assert info.value.version == CURRENT_MIGRATION_VERSION + 1
    assert "commission_rate" in str(info.value)
    last = applied_versions(fresh_dsn)[-1]
    assert (last.version, last.success, last.dirty) == (CURRENT_MIGRATION_VERSION + 1, False, False)
    # Rolled back: the column added before the failing statement is not there.
    cols = sql(
        fresh_dsn,
        "SELECT 1 FROM information_schema.columns WHERE table_name = 'orders'"
        " AND column_name = 'fee'",
    )
    assert cols == []
    # A fixed file under the same version is retried and then recorded as success.
    fixed = tmp_path / "fixed"
    fixed.mkdir()
    (fixed / "0005_orders_fees.sql").write_text("ALTER TABLE orders ADD COLUMN fee numeric(18,8);")
    assert apply_migrations(fresh_dsn, fixed) == [5]
    assert applied_versions(fresh_dsn)[-1].success


def test_ok_and_dangerous_pending_sets_apply_on_an_empty_copy(pg: PgServer) -> None:  # noqa: F811
    for name in ("ok", "dangerous"):
        dsn = pg.create_database(f"pending_{name}")
        apply_migrations(dsn)
        assert apply_migrations(dsn, PENDING_DIR / name) == [CURRENT_MIGRATION_VERSION + 1]


def test_edited_applied_migration_is_detected(fresh_dsn: str, tmp_path: Path) -> None:
    work = tmp_path / "m"
    shutil.copytree(MIGRATIONS_DIR, work, ignore=shutil.ignore_patterns("__*"))
    apply_migrations(fresh_dsn, work)
    path = work / "0001_accounts_instruments.sql"
    path.write_text(path.read_text() + "\n-- edited\n")
    with pytest.raises(ChecksumMismatch):
        apply_migrations(fresh_dsn, work)


def test_interrupted_no_transaction_migration_leaves_dirty(fresh_dsn: str, tmp_path: Path) -> None:
    work = tmp_path / "m"
    shutil.copytree(MIGRATIONS_DIR, work, ignore=shutil.ignore_patterns("__*"))
    apply_migrations(fresh_dsn, work)
    (work / "0005_concurrent_index.sql").write_text(
        "-- spark:no-transaction\n"
        "CREATE INDEX CONCURRENTLY orders_status_idx ON orders (status);\n"
        "CREATE INDEX CONCURRENTLY broken_idx ON orders (no_such_column);\n"
    )
    with pytest.raises(MigrationFailed):
        apply_migrations(fresh_dsn, work)
    last = applied_versions(fresh_dsn)[-1]
    assert (last.version, last.success, last.dirty) == (5, False, True)
    with pytest.raises(DirtyDatabase):
        apply_migrations(fresh_dsn, work)


def test_no_transaction_migration_runs_concurrently_built_index(
    fresh_dsn: str, tmp_path: Path
) -> None:
    work = tmp_path / "m"
    shutil.copytree(MIGRATIONS_DIR, work, ignore=shutil.ignore_patterns("__*"))
    (work / "0005_concurrent_index.sql").write_text(
        "-- spark:no-transaction\nCREATE INDEX CONCURRENTLY orders_status_idx ON orders (status);\n"
    )
    assert apply_migrations(fresh_dsn, work) == [1, 2, 3, 4, 5]
    last = applied_versions(fresh_dsn)[-1]
    assert (last.success, last.dirty) == (True, False)


def test_bad_file_names_and_duplicates_are_rejected(tmp_path: Path) -> None:
    (tmp_path / "1_x.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="not a migration file name"):
        discover(tmp_path)
    (tmp_path / "1_x.sql").unlink()
    (tmp_path / "0001_a.sql").write_text("SELECT 1;")
    (tmp_path / "00001_b.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="duplicate"):
        discover(tmp_path)
    assert latest_version(tmp_path / "nothing-here") == 0
