"""The PF-04 tool helpers that need no server: DSNs, tool lookup, deadlines, SQL builders."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from psycopg import conninfo as pg_conninfo

from pytest_spark.probes import ProbeError
from pytest_spark.probes.sql_tools import (
    dsn_with_dbname,
    find_pg_tool,
    latest_ids_sql,
    libpq_args,
    load_pending,
    run_tool,
    sample_values_sql,
)

URL = "postgresql://spark_admin:s3cr%40t@127.0.0.1:5433/spark?sslmode=disable"
KV = "host=127.0.0.1 port=5433 dbname=spark user=spark_admin password='s3 cr'"


@pytest.mark.parametrize("dsn", [URL, KV])
def test_dsn_with_dbname_keeps_everything_else(dsn: str) -> None:
    before = pg_conninfo.conninfo_to_dict(dsn)
    after = pg_conninfo.conninfo_to_dict(dsn_with_dbname(dsn, "spark_rehearsal_ab12"))
    assert after.pop("dbname") == "spark_rehearsal_ab12"
    before.pop("dbname")
    assert after == before


@pytest.mark.parametrize(("dsn", "password"), [(URL, "s3cr@t"), (KV, "s3 cr")])
def test_libpq_args_move_the_password_out_of_argv(dsn: str, password: str) -> None:
    conninfo, env = libpq_args(dsn, connect_timeout=2.4)
    assert password not in conninfo
    assert "password" not in pg_conninfo.conninfo_to_dict(conninfo)
    assert env["PGPASSWORD"] == password
    assert pg_conninfo.conninfo_to_dict(conninfo)["connect_timeout"] == "2"


def test_libpq_args_without_password_drop_an_inherited_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PGPASSWORD", "from-the-shell")
    _, env = libpq_args("host=db dbname=x user=u", connect_timeout=5)
    assert "PGPASSWORD" not in env


def fake_tool(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)
    return path


def test_find_pg_tool_prefers_configured_then_same_major_then_newer(tmp_path: Path) -> None:
    root = tmp_path / "postgresql"
    v14 = fake_tool(root / "14" / "bin" / "pg_dump")
    v16 = fake_tool(root / "16" / "bin" / "pg_dump")
    v17 = fake_tool(root / "17" / "bin" / "pg_dump")
    env = {"PATH": ""}
    assert find_pg_tool("pg_dump", 16, environ=env, roots=[root]) == v16
    assert find_pg_tool("pg_dump", 15, environ=env, roots=[root]) == v16
    assert find_pg_tool("pg_dump", 14, environ=env, roots=[root]) == v14
    assert find_pg_tool("pg_dump", 17, environ=env, roots=[root]) == v17
    own = fake_tool(tmp_path / "own" / "pg_dump")
    assert find_pg_tool("pg_dump", 16, configured=str(own.parent), environ=env, roots=[root]) == own


def test_find_pg_tool_falls_back_to_path_and_explains_a_miss(tmp_path: Path) -> None:
    on_path = fake_tool(tmp_path / "bin" / "pg_restore")
    found = find_pg_tool("pg_restore", 15, environ={"PATH": str(on_path.parent)}, roots=[])
    assert found == on_path
    missing = r"pg_dump not found for PostgreSQL 15: .*targets.pg_bin_dir"
    with pytest.raises(ProbeError, match=missing):
        find_pg_tool("pg_dump", 15, environ={"PATH": str(tmp_path / "none")}, roots=[tmp_path])


def test_run_tool_deadline_kills_and_names_the_tool() -> None:
    argv = [sys.executable, "-c", "import time; time.sleep(30)"]
    with pytest.raises(ProbeError, match=r"timed out after 0.5 s running pg_dump of x"):
        run_tool(argv, env={}, timeout=0.5, what="pg_dump of x")


def test_run_tool_failure_carries_stderr() -> None:
    code = "import sys; print('pg_dump: error: connection refused', file=sys.stderr); sys.exit(1)"
    with pytest.raises(ProbeError, match=r"pg_dump failed \(exit 1\): .*connection refused"):
        run_tool([sys.executable, "-c", code], env={}, timeout=10, what="pg_dump")
    ok = run_tool([sys.executable, "-c", "pass"], env={}, timeout=10, what="python")
    assert ok.returncode == 0
    assert ok.to_dict()["tool"] == Path(sys.executable).name


def test_load_pending_orders_files_and_ignores_other_files(tmp_path: Path) -> None:
    (tmp_path / "0010_b.sql").write_text("SELECT 2;")
    (tmp_path / "0005_a.sql").write_text("SELECT 1;")
    (tmp_path / "README.md").write_text("not a migration")
    assert [m.name for m in load_pending(tmp_path)] == ["0005_a.sql", "0010_b.sql"]


def test_load_pending_skips_golang_migrate_down_files(tmp_path: Path) -> None:
    (tmp_path / "000005_fees.up.sql").write_text("ALTER TABLE orders ADD COLUMN fee numeric;")
    (tmp_path / "000005_fees.down.sql").write_text("ALTER TABLE orders DROP COLUMN fee;")
    (tmp_path / "000006_note.DOWN.SQL").write_text("DROP TABLE note;")  # not *.sql: ignored
    (tmp_path / "000006_note.up.sql").write_text("CREATE TABLE note (id int);")
    assert [m.name for m in load_pending(tmp_path)] == ["000005_fees.up.sql", "000006_note.up.sql"]
    only_down = tmp_path / "only_down"
    only_down.mkdir()
    (only_down / "000005_fees.down.sql").write_text("SELECT 1;")
    assert load_pending(only_down) == []


def test_load_pending_only_in_subdirectories_is_probe_error(tmp_path: Path) -> None:
    """The setting points one level too high: rehearsing nothing must not pass."""
    (tmp_path / "README.md").write_text("migrations live in the folders below")
    for sub in ("app", "reporting"):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "0005_x.sql").write_text("SELECT 1;")
    expected = (
        rf"pending migrations found only in subdirectories of {re.escape(str(tmp_path))} "
        r"\(app/0005_x\.sql, reporting/0005_x\.sql\); point release\.pending_migrations_dir "
        "at the folder that holds them"
    )
    with pytest.raises(ProbeError, match=expected):
        load_pending(tmp_path)
    (tmp_path / "0010_top.sql").write_text("SELECT 1;")  # files at the top: those are read
    assert [m.name for m in load_pending(tmp_path)] == ["0010_top.sql"]


def test_load_pending_nested_down_files_alone_are_not_pending(tmp_path: Path) -> None:
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "0001_x.down.sql").write_text("SELECT 1;")
    assert load_pending(tmp_path) == []


def test_load_pending_missing_dir_is_probe_error(tmp_path: Path) -> None:
    with pytest.raises(ProbeError, match=r"pending_migrations_dir .* is not a directory"):
        load_pending(tmp_path / "nope")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert load_pending(empty) == []


def test_sql_builders_quote_config_names() -> None:
    assert sample_values_sql("positions", "account_id", 3) == (
        "SELECT DISTINCT account_id::text AS value FROM positions "
        "WHERE account_id IS NOT NULL ORDER BY 1 LIMIT 3"
    )
    assert latest_ids_sql('my"orders', "order") == (
        'SELECT t."order"::text AS id FROM "my""orders" AS t ORDER BY t."order" DESC LIMIT 1'
    )
    assert "FROM trading.orders AS t" in latest_ids_sql("trading.orders")
