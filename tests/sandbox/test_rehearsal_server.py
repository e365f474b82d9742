"""PF-04's rehearsal on a real throwaway PostgreSQL: what each statement really does.

The right answers are the server's own behaviour (PostgreSQL 15; manual "ALTER
TABLE" Notes): which forms rewrite the table (new relfilenode) and which lock
each takes (pg_locks of the rehearsal's backend). The lint's guesses are then
confirmed or refuted by ``rehearsal.confirm_lint`` against these observations.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pytest_spark.probes import ProbeError, pitr
from pytest_spark.probes.sql_tools import apply_pending
from pytest_spark.rules.migration_lint import FunctionRef
from pytest_spark.rules.rehearsal import PendingMigration, confirm_lint, lint_findings, lint_pending

SCHEMA = """
CREATE TABLE accounts (id bigint PRIMARY KEY);
CREATE TABLE orders (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id bigint NOT NULL,
    symbol text NOT NULL,
    price numeric(18,8) NOT NULL,
    note varchar(20)
);
CREATE INDEX orders_price_idx ON orders (price);
CREATE SEQUENCE ref_seq;
CREATE FUNCTION next_ref() RETURNS text LANGUAGE plpgsql VOLATILE
    AS $$ BEGIN RETURN 'R' || nextval('ref_seq'); END $$;
-- VOLATILE, but a SQL body PostgreSQL inlines to a constant: no rewrite
CREATE FUNCTION const_ref() RETURNS text LANGUAGE sql VOLATILE AS $$ SELECT 'r' $$;
CREATE FUNCTION today_ref() RETURNS text LANGUAGE sql STABLE AS $$ SELECT 't' $$;
CREATE DOMAIN positive_int AS int CHECK (VALUE > 0);
"""

#: statement -> (rewritten relations the server shows, lock it takes on orders)
CASES: list[tuple[str, list[str], str]] = [
    ("ALTER TABLE orders ADD COLUMN code text UNIQUE", [], "ACCESS EXCLUSIVE"),
    ("ALTER TABLE orders ADD COLUMN ref text DEFAULT next_ref()", ["orders"], "ACCESS EXCLUSIVE"),
    ("ALTER TABLE orders ADD COLUMN ref2 text DEFAULT today_ref()", [], "ACCESS EXCLUSIVE"),
    ("ALTER TABLE orders ADD COLUMN ref3 text DEFAULT const_ref()", [], "ACCESS EXCLUSIVE"),
    ("ALTER TABLE orders ADD COLUMN seen timestamptz DEFAULT now()", [], "ACCESS EXCLUSIVE"),
    ("ALTER TABLE orders ADD COLUMN n bigserial", ["orders"], "ACCESS EXCLUSIVE"),
    ("CREATE INDEX orders_symbol_idx ON orders (symbol)", [], "SHARE"),
    (
        "ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (account_id) REFERENCES accounts (id)",
        [],
        "SHARE ROW EXCLUSIVE",
    ),
    # numeric precision up, same scale: binary coercible, no rewrite, index kept
    ("ALTER TABLE orders ALTER COLUMN price TYPE numeric(30,8)", [], "ACCESS EXCLUSIVE"),
    # scale changes: rewrite, and the index on it is rebuilt
    ("ALTER TABLE orders ALTER COLUMN price TYPE numeric(30,10)", ["orders"], "ACCESS EXCLUSIVE"),
    # a domain with a CHECK: PG 15 rewrites even for a constant default
    ("ALTER TABLE orders ADD COLUMN q positive_int DEFAULT 1", ["orders"], "ACCESS EXCLUSIVE"),
]


@pytest.fixture(scope="module")
def server() -> Any:
    try:
        pg_bin = pitr.pg_bin_dir(150000, tools=("initdb", "postgres"))
    except ProbeError as exc:
        pytest.skip(str(exc))
    with pitr.throwaway_server(pg_bin, deadline_s=60, timeout=5) as srv:
        yield srv


def fresh_db(server: Any, name: str) -> str:
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    dsn = server.dsn.replace("dbname=postgres", f"dbname={name}")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(SCHEMA)
    return dsn


def rehearse(dsn: str, text: str, name: str = "0005_x.sql") -> list[dict[str, Any]]:
    runs = apply_pending(
        dsn, [PendingMigration(name, text)], timeout=5, lock_timeout_s=5, statement_timeout_s=5
    )
    return [r.to_dict() for r in runs]


def test_throwaway_server_is_private_and_removed(server: Any) -> None:
    assert server.version.startswith("15.")
    assert Path(server.directory).is_dir()
    tcp = f"host=127.0.0.1 port={server.port} user=spark_rehearsal dbname=postgres"
    with pytest.raises(psycopg.OperationalError, match=r"no pg_hba\.conf entry"):
        psycopg.connect(tcp, connect_timeout=3)


def test_throwaway_server_is_removed_on_error() -> None:
    pg_bin = pitr.pg_bin_dir(150000, tools=("initdb", "postgres"))
    with (
        pytest.raises(RuntimeError, match="boom"),
        pitr.throwaway_server(pg_bin, deadline_s=60, timeout=5) as srv,
    ):
        directory = srv.directory
        raise RuntimeError("boom")
    assert not Path(directory).exists()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(f"host={directory} port={srv.port} user=spark_rehearsal", connect_timeout=2)


def test_throwaway_server_is_removed_on_ctrl_c(tmp_path: Path) -> None:
    """SIGINT while it runs: the finally stops postgres and deletes the directory."""
    script = tmp_path / "hold.py"
    script.write_text(
        textwrap.dedent(
            """
            import sys, time
            from pytest_spark.probes import pitr
            pg_bin = pitr.pg_bin_dir(150000, tools=("initdb", "postgres"))
            with pitr.throwaway_server(pg_bin, deadline_s=60, timeout=5) as srv:
                print(srv.directory, flush=True)
                time.sleep(60)
            """
        )
    )
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    directory = proc.stdout.readline().strip()
    assert Path(directory).is_dir()
    os.kill(proc.pid, signal.SIGINT)
    proc.wait(timeout=30)
    assert not Path(directory).exists()
    postmasters = subprocess.run(
        ["pgrep", "-f", f"postgres -D {directory}/data"], capture_output=True, text=True
    )
    assert postmasters.stdout.strip() == ""


@pytest.mark.parametrize(("sql", "rewritten", "lock"), CASES, ids=[c[0][:60] for c in CASES])
def test_rehearsal_records_rewrites_and_locks(
    server: Any, sql: str, rewritten: list[str], lock: str
) -> None:
    dsn = fresh_db(server, "case")
    [run] = rehearse(dsn, sql + ";")
    assert run["status"] == "ok", run
    assert run["observed"] is True
    tables = [w["relation"] for w in run["rewritten"] if w["kind"] == "table"]
    indexes = {w["relation"] for w in run["rewritten"] if w["kind"] == "index"}
    assert tables == rewritten
    # a table rewrite rebuilds its indexes (an index on a column whose type changes is
    # built anew, with a new oid); without a rewrite nothing touches them
    assert "orders_pkey" in indexes if rewritten else indexes == set()
    on_orders = {lk["mode"] for lk in run["locks"] if lk["relation"] == "orders"}
    assert lock in on_orders, run["locks"]
    if "REFERENCES accounts" in sql:
        assert {"relation": "accounts", "mode": "SHARE ROW EXCLUSIVE"} in run["locks"]


def test_lint_confirmed_refuted_and_missed_by_the_rehearsal(server: Any) -> None:
    text = ";\n".join(sql for sql, _, _ in CASES) + ";"
    dsn = fresh_db(server, "all")
    pending = [PendingMigration("0005_x.sql", text)]
    volatility = {
        FunctionRef(None, "next_ref", 0): "v",
        FunctionRef(None, "today_ref", 0): "s",
        FunctionRef(None, "const_ref", 0): "v",
        FunctionRef(None, "now", 0): "s",
    }
    lints = lint_pending(pending, volatility=volatility, server_major=15)
    runs = rehearse(dsn, text)
    assert [r["status"] for r in runs] == ["ok"] * len(CASES)
    rows, missed = confirm_lint(lints, runs)
    verdicts = [(r["index"], r["rewrite"], r.get("lock")) for r in rows]
    held = "already held (ACCESS EXCLUSIVE) by an earlier statement of the transaction"
    assert verdicts == [
        (1, "none expected, none seen", "confirmed"),
        (2, "confirmed", held),
        (3, "none expected, none seen", None),
        (4, "refuted", held),  # const_ref() is inlined to a constant: no rewrite
        (5, "none expected, none seen", None),
        (6, "confirmed", held),
        (7, "none expected, none seen", held),
        (8, "none expected, none seen", "confirmed"),  # SHARE ROW EXCLUSIVE: a new lock
        (9, "refuted", held),
        (10, "confirmed", held),
        (11, "missed by lint", None),
    ]
    # the domain default the lint cannot see: a failing finding from the rehearsal
    [f] = missed
    assert f.code == "rehearsal-rewrite" and f.severity == "fail"
    assert "statement 11 (line 11) rewrote existing table orders and its indexes" in f.message
    # the refuted type change stays in the evidence, as a warning that says why
    by_code = {
        (f.code, f.severity)
        for f in lint_findings(lints)
        if "price TYPE numeric(30,8)" in f.message
    }
    assert by_code == {("rewrite-alter-column-type", "warn")}
