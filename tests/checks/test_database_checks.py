"""BS-02, BS-04, PF-04, PF-06, RT-01, RT-02 against the real reference stack.

Each check passes on the healthy stack and fails, naming the problem, under
every fault CHECKS.md lists for it; an unreachable database is ERROR ("could
not verify"), never a hang; RT-02 without --spark-allow-writes is "not verified".
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pytest_spark.probes import ProbeError
from pytest_spark.probes.db import SESSION_SETTINGS_SQL, connect, rows
from pytest_spark.probes.sql_tools import SCRATCH_PREFIX, dsn_with_dbname, scratch_database
from pytest_spark.sandbox.faults import PENDING_SOURCE
from pytest_spark.sandbox.migrate import MIGRATIONS_DIR

CHECKS_DIR = Path(__file__).resolve().parents[2] / "checks"
IDS = ("BS-02", "BS-04", "PF-04", "PF-06", "RT-01", "RT-02")
REFUSED_DSN = "postgresql://spark:x@127.0.0.1:9/spark"  # port 9 (discard) refuses at once

# fault, check id, patterns the failure message must contain
FAULTS = [
    ("migration-behind", "BS-02", [r"schema_migrations: schema at migration 3, release expects 4"]),
    ("price-column-double", "BS-04", [r"money-like column orders\.price is double precision"]),
    (
        "api-floats",
        "BS-04",
        [r"GET http://\S+/quotes: money field \$\.quotes\[0\]\.\w+ is the JSON number"],
    ),
    (
        "pending-migration-failing",
        "PF-04",
        [r"0005_orders_fees\.sql statement 2 \(line 3\) failed in rehearsal", "commission_rate"],
    ),
    (
        "pending-migration-dangerous",
        "PF-04",
        [
            r"ADD COLUMN orders\.venue NOT NULL without DEFAULT",
            r"CREATE INDEX on existing table orders without CONCURRENTLY",
        ],
    ),
    (
        "sequence-near-int4-limit",
        "PF-06",
        [r"sequence orders_id_seq at 9\d\.\d % of int4 column orders\.id \(limit 85 %\)"],
    ),
    (
        "sequence-text-default-near-int4-limit",
        "PF-06",
        [
            r"sequence spark_fault_ticket_seq at 9\d\.\d % of int4 column "
            r"spark_fault_tickets\.id \(limit 85 %\)"
        ],
    ),
    (
        "positions-index-dropped",
        "RT-01",
        [r"no unique index on positions \(account_id, symbol\) WHERE status = 'open'"],
    ),
    (
        "positions-index-nondeterministic",
        "RT-01",
        [r'key column symbol uses nondeterministic collation "spark_case_insensitive"'],
    ),
    (
        "positions-index-predicate-changed",
        "RT-01",
        [r"positions_one_open_uq on positions has predicate status <> 'closed'"],
    ),
    (
        "no-idempotency-unique",
        "RT-02",
        [r"concurrent POSTs with one Idempotency-Key created ([2-9]|\d\d+) orders"],
    ),
    (
        "purge-stopped",
        "RT-02",
        [r"idempotency key\(s\) expired more than \S+ \w ago are still stored"],
    ),
]


def observation(record: dict[str, Any], name: str) -> Any:
    return next(o["data"] for o in record["observations"] if o["name"] == name)


def scratch_databases(sandbox: Any) -> list[str]:
    with psycopg.connect(sandbox.endpoints.db_dsn, connect_timeout=5) as conn:
        found = conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s", (SCRATCH_PREFIX + "%",)
        )
        return [r[0] for r in found.fetchall()]


def test_healthy_stack_passes_every_database_check(run_checks: Any, sandbox: Any) -> None:
    r = run_checks(*IDS, writes=True)
    assert {cid: r.outcome(cid) for cid in IDS} == dict.fromkeys(IDS, "passed"), r.output[-3000:]
    assert r.verdict["verdict"] == "GO", r.verdict["reasons"]
    assert observation(r.record("PF-04"), "result") == "no pending migrations"
    rt02 = r.record("RT-02")
    assert len(observation(rt02, "orders_for_key.rows")) == 1
    assert observation(rt02, "missing_key")["status"] == 400
    assert observation(rt02, "same_key_other_body")["status"] == 422
    usage = observation(r.record("PF-06"), "usage")
    assert any(u["sequence"] == "orders_id_seq" and u["limited_by"] == "column" for u in usage)


def test_pf04_clean_pending_migration_rehearses_and_drops_the_scratch(
    run_checks: Any, sandbox: Any
) -> None:
    """Plus an already-applied file: it is recognised by version and not run again."""
    pending = Path(sandbox.endpoints.pending_migrations_dir)
    sources = [*(PENDING_SOURCE / "ok").glob("*.sql"), MIGRATIONS_DIR / "0004_seed.sql"]
    copied = [shutil.copy(src, pending / src.name) for src in sources]
    assert len(copied) == 2
    try:
        r = run_checks("PF-04")
    finally:
        for path in copied:
            Path(path).unlink(missing_ok=True)
    record = r.record("PF-04")
    assert record["outcome"] == "passed", record["message"]
    files = observation(record, "pending_migrations")
    assert [f["name"] for f in files["files"]] == ["0005_orders_client_ref.sql"]
    assert files["already_applied"] == ["0004_seed.sql"]
    statements = observation(record, "statements")
    assert [s["status"] for s in statements] == ["ok"]
    assert statements[0]["statement"].startswith("ALTER TABLE orders ADD COLUMN client_order_ref")
    # a catalog-only change: no rewrite, a short ACCESS EXCLUSIVE the rehearsal saw
    assert statements[0]["observed"] is True and statements[0]["rewritten"] == []
    assert {"relation": "orders", "mode": "ACCESS EXCLUSIVE"} in statements[0]["locks"]
    [compared] = observation(record, "lint_vs_rehearsal")
    assert compared["rewrite"] == "none expected, none seen"
    assert observation(record, "pg_dump")["returncode"] == 0
    server = observation(record, "rehearsal_server")
    assert server["kind"] == "throwaway local PostgreSQL"
    assert server["version"].split(".")[0] == "15"
    assert not Path(server["directory"]).exists()  # stopped and removed
    assert "scratch_database" not in {o["name"] for o in record["observations"]}
    assert scratch_databases(sandbox) == []
    with psycopg.connect(sandbox.endpoints.db_dsn, connect_timeout=5) as conn:  # target untouched
        found = conn.execute(
            "SELECT 1 FROM information_schema.columns WHERE column_name = 'client_order_ref'"
        )
        assert found.fetchall() == []


def test_pf04_on_a_configured_rehearsal_server(run_checks: Any, sandbox: Any) -> None:
    """targets.rehearsal_dsn: a scratch database on that server (here the sandbox's own
    server plays it), dropped afterwards."""
    rehearsal_dsn = sandbox.endpoints.db_dsn
    with pending_files(sandbox, {"0005_a.sql": "ALTER TABLE orders ADD COLUMN a_ref text;"}):
        r = run_checks("PF-04", args=("--spark-set", f'targets.rehearsal_dsn="{rehearsal_dsn}"'))
    record = r.record("PF-04")
    assert record["outcome"] == "passed", record["message"]
    server = observation(record, "rehearsal_server")
    assert server["kind"] == "configured rehearsal server"
    assert server["scratch_database"]["dropped"] is True
    assert scratch_databases(sandbox) == []


def test_scratch_database_is_dropped_when_the_rehearsal_raises(sandbox: Any) -> None:
    with (
        pytest.raises(RuntimeError, match="rehearsal broke"),
        scratch_database(sandbox.endpoints.db_dsn, timeout=5.0) as scratch,
    ):
        assert scratch.name in scratch_databases(sandbox)
        raise RuntimeError("rehearsal broke")
    assert scratch.dropped is True
    assert scratch_databases(sandbox) == []


def test_scratch_database_needs_createdb(sandbox: Any) -> None:
    """The app role has no CREATEDB: the error says what PF-04 needs."""
    app_dsn = sandbox.endpoints.pgbouncer_dsn.replace(
        f":{sandbox.port('pgbouncer')}/", f":{sandbox.port('postgres')}/"
    )
    with (
        pytest.raises(ProbeError, match="needs a role with CREATEDB"),
        scratch_database(app_dsn, timeout=5.0),
    ):
        pass


@pytest.mark.parametrize(("fault", "cid", "patterns"), FAULTS, ids=[f[0] for f in FAULTS])
def test_check_fails_under_its_fault(
    run_checks: Any, sandbox: Any, fault: str, cid: str, patterns: list[str]
) -> None:
    with sandbox.inject(fault):
        r = run_checks(cid, writes=True)
    assert r.outcome(cid) == "failed", f"{cid} under {fault}: {r.message(cid)}\n{r.output[-2000:]}"
    assert cid in r.reason_ids()
    assert r.verdict["verdict"] == "NO-GO"
    for pattern in patterns:
        assert re.search(pattern, r.message(cid)), f"{pattern!r} not in {r.message(cid)!r}"


def test_unreachable_database_is_could_not_verify_quickly(run_checks: Any) -> None:
    t0 = time.monotonic()
    r = run_checks(*IDS, writes=True, args=("--spark-db-dsn", REFUSED_DSN))
    elapsed = time.monotonic() - t0
    assert {cid: r.outcome(cid) for cid in IDS} == dict.fromkeys(IDS, "error"), r.output[-3000:]
    assert r.verdict["verdict"] == "NO-GO"
    reasons = {x["check"]: x["message"] for x in r.verdict["reasons"]}
    for cid in IDS:
        assert reasons[cid].startswith("could not verify"), reasons[cid]
        assert "127.0.0.1:9" in reasons[cid] or "port 9" in reasons[cid], reasons[cid]
    assert elapsed < 20, f"took {elapsed:.1f} s"


def test_rt02_without_writes_is_not_verified(run_checks: Any) -> None:
    r = run_checks("RT-02")
    assert r.outcome("RT-02") == "skipped"
    assert r.record("RT-02")["skip_kind"] == "policy"
    assert r.verdict["verdict"] == "NO-GO"
    reasons = {x["check"]: x["message"] for x in r.verdict["reasons"]}
    assert reasons["RT-02"].startswith("not verified (skipped by policy)"), reasons
    assert "--spark-allow-writes" in reasons["RT-02"]


# ---------------------------------------------------------------------------
# could-not-verify instead of a vacuous pass; nothing unsafe ever runs
# ---------------------------------------------------------------------------


@contextmanager
def pending_files(sandbox: Any, files: dict[str, str]) -> Iterator[Path]:
    """Files (relative paths) in the sandbox's pending-migrations dir, removed afterwards."""
    pending = Path(sandbox.endpoints.pending_migrations_dir)
    written = []
    try:
        for rel, text in files.items():
            path = pending / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            written.append(path)
        yield pending
    finally:
        for path in written:
            path.unlink(missing_ok=True)
            if path.parent != pending:
                shutil.rmtree(path.parent, ignore_errors=True)


def role_settings(sandbox: Any) -> list[Any]:
    with psycopg.connect(sandbox.endpoints.db_dsn, connect_timeout=5) as conn:
        found = conn.execute(
            "SELECT r.rolname, r.rolconnlimit, s.setconfig FROM pg_roles AS r "
            "LEFT JOIN pg_db_role_setting AS s ON s.setrole = r.oid ORDER BY 1"
        )
        return found.fetchall()


REFUSED = (
    "0007_x.sql statement 2 (line 5): ALTER ROLE is cluster-wide; PF-04 does not rehearse it "
    "(roles, settings and databases are not part of the schema copy) -- rehearse it by hand"
)


def test_pf04_refuses_a_cluster_wide_statement_and_runs_nothing(
    run_checks: Any, sandbox: Any
) -> None:
    """ALTER ROLE in a pending file would change the target's own server: ERROR, untouched."""
    text = (
        "-- a reporting role for the new dashboards\n"
        "ALTER TABLE orders ADD COLUMN dashboard_ref text;\n"
        "\n"
        "-- 'ALTER SYSTEM' in a comment is not a statement\n"
        "ALTER ROLE spark_app CONNECTION LIMIT 1;\n"
    )
    before = role_settings(sandbox)
    with pending_files(sandbox, {"0007_x.sql": text}):
        r = run_checks("PF-04")
    record = r.record("PF-04")
    assert record["outcome"] == "error", record["message"]
    assert REFUSED in record["message"]
    assert r.verdict["verdict"] == "NO-GO"
    names = {o["name"] for o in record["observations"]}
    assert "pg_dump" not in names and "rehearsal_server" not in names  # refused before any of it
    assert observation(record, "cluster_wide_statements") == [REFUSED]
    assert scratch_databases(sandbox) == []
    assert role_settings(sandbox) == before


def test_pf04_skips_down_files(run_checks: Any, sandbox: Any) -> None:
    """golang-migrate's rollback files are not pending migrations (this one would fail)."""
    files = {"0005_orders_client_ref.down.sql": "ALTER TABLE orders DROP COLUMN client_order_ref;"}
    with pending_files(sandbox, files):
        r = run_checks("PF-04")
    record = r.record("PF-04")
    assert record["outcome"] == "passed", record["message"]
    assert observation(record, "result") == "no pending migrations"
    found = observation(record, "pending_migrations")
    assert found["files"] == []
    assert found["skipped_down_files"] == ["0005_orders_client_ref.down.sql"]


def test_pf04_migrations_only_in_subdirectories_is_could_not_verify(
    run_checks: Any, sandbox: Any
) -> None:
    with pending_files(sandbox, {"app/0005_x.sql": "SELECT 1;"}):
        r = run_checks("PF-04")
    message = r.message("PF-04")
    assert r.outcome("PF-04") == "error", message
    assert "pending migrations found only in subdirectories" in message, message
    assert "app/0005_x.sql" in message
    assert "point release.pending_migrations_dir at the folder that holds them" in message


def test_pf06_no_visible_sequence_is_could_not_verify(run_checks: Any, sandbox: Any) -> None:
    """The right server, the wrong database (no user sequences at all): not a pass."""
    dsn = dsn_with_dbname(sandbox.endpoints.db_dsn, "postgres")
    r = run_checks("PF-06", args=("--spark-db-dsn", dsn))
    message = r.message("PF-06")
    assert r.outcome("PF-06") == "error", message
    assert "no sequences visible in postgres: wrong database or missing privileges?" in message
    assert observation(r.record("PF-06"), "sequences_examined") == 0


def test_healthy_pf06_records_how_many_sequences_it_examined(run_checks: Any) -> None:
    r = run_checks("PF-06")
    assert r.outcome("PF-06") == "passed", r.message("PF-06")
    examined = observation(r.record("PF-06"), "sequences_examined")
    assert examined == len(observation(r.record("PF-06"), "sequences.rows")) > 0


def test_sessions_through_pgbouncer_lose_their_options(sandbox: Any) -> None:
    """The sandbox PgBouncer ignores startup 'options': connect refuses such a session."""
    with connect(sandbox.endpoints.db_dsn, timeout=5.0) as conn:  # direct: options hold
        got = rows(conn, SESSION_SETTINGS_SQL)[0]
        assert got["read_only"] == "on"
        assert got["statement_timeout"] == "5s"
    with (
        pytest.raises(ProbeError, match=r"dropped the session options \(read-only, statement_t"),
        connect(sandbox.endpoints.pgbouncer_dsn, timeout=5.0, target="PgBouncer"),
    ):
        pass


def test_check_on_a_session_without_its_options_is_could_not_verify(
    run_checks: Any, sandbox: Any
) -> None:
    r = run_checks("PF-06", args=("--spark-db-dsn", sandbox.endpoints.pgbouncer_dsn))
    message = r.message("PF-06")
    assert r.outcome("PF-06") == "error", message
    assert (
        "dropped the session options (read-only, statement_timeout): cannot guarantee a safe "
        "session" in message
    )


def plain_run(pytester: pytest.Pytester, sandbox: Any, *ids: str, writes: bool = False) -> Any:
    """A run without --spark-sandbox: targets from the stack, release settings all unset."""
    evidence = pytester.path / "reports-plain"
    argv = [
        str(CHECKS_DIR), "-p", "no:cacheprovider", "--release", "v1.4.0",
        "--spark-evidence-dir", str(evidence), "--spark-check", ",".join(ids),
        "--spark-api-url", ",".join(sandbox.endpoints.api_urls),
        "--spark-db-dsn", sandbox.endpoints.db_dsn,
    ]  # fmt: skip
    if writes:
        argv.append("--spark-allow-writes")
    result = pytester.runpytest(*argv)
    (folder,) = [p for p in evidence.glob("*/*") if p.is_dir()]
    return folder, result.stdout.str()


def plain_record(folder: Path, cid: str) -> dict[str, Any]:
    return json.loads((folder / "checks" / f"{cid}.json").read_text())


def test_bs02_without_release_migration_is_could_not_verify(
    pytester: pytest.Pytester, sandbox: Any
) -> None:
    folder, output = plain_run(pytester, sandbox, "BS-02")
    record = plain_record(folder, "BS-02")
    assert record["outcome"] == "error", output[-3000:]
    assert (
        "release.migration is not set: cannot compare the schema's migration version"
        in record["message"]
    )
    assert observation(record, "applied_versions")  # the rows were read and kept
    assert observation(record, "findings") == []  # no failed or dirty row on the healthy stack


def test_writing_checks_without_test_account_error_before_any_write(
    pytester: pytest.Pytester, sandbox: Any
) -> None:
    """No schema.test_account: RT-02 and RT-06 never borrow a customer's account."""
    count = "SELECT count(*) FROM orders WHERE idempotency_key LIKE 'pytest-spark-%'"
    with psycopg.connect(sandbox.endpoints.db_dsn, connect_timeout=5) as conn:
        before = conn.execute(count).fetchone()
    folder, output = plain_run(pytester, sandbox, "RT-02", "RT-06", writes=True)
    for cid in ("RT-02", "RT-06"):
        record = plain_record(folder, cid)
        assert record["outcome"] == "error", (cid, output[-3000:])
        assert (
            "set schema.test_account: writing checks never place orders under a customer's account"
            in record["message"]
        )
    with psycopg.connect(sandbox.endpoints.db_dsn, connect_timeout=5) as conn:
        assert conn.execute(count).fetchone() == before


# ---------------------------------------------------------------------------
# issue 14 kind 9 on the real stack; issue 8: PF-04 never writes to the target's server
# ---------------------------------------------------------------------------


def test_pf04_add_column_unique_fails_and_the_rehearsal_sees_the_lock(
    run_checks: Any, sandbox: Any
) -> None:
    with pending_files(
        sandbox, {"0005_code.sql": "ALTER TABLE orders ADD COLUMN code text UNIQUE;"}
    ):
        r = run_checks("PF-04")
    record = r.record("PF-04")
    assert record["outcome"] == "failed", record["message"]
    assert "ADD COLUMN orders.code UNIQUE builds a unique index" in record["message"]
    [compared] = observation(record, "lint_vs_rehearsal")
    assert compared["lint_expected_lock"] == {"table": "orders", "mode": "ACCESS EXCLUSIVE"}
    assert compared["lock"] == "confirmed"


@contextmanager
def target_function(sandbox: Any, volatility: str) -> Iterator[None]:
    """next_ref() on the target itself (test setup, as the application's schema would have it)."""
    with psycopg.connect(sandbox.endpoints.db_dsn, autocommit=True, connect_timeout=5) as conn:
        conn.execute("CREATE SEQUENCE IF NOT EXISTS spark_test_ref_seq")
        conn.execute(
            "CREATE OR REPLACE FUNCTION next_ref() RETURNS text LANGUAGE plpgsql "
            f"{volatility} AS $$ BEGIN RETURN 'R' || nextval('spark_test_ref_seq'); END $$"
        )
    try:
        yield
    finally:
        with psycopg.connect(sandbox.endpoints.db_dsn, autocommit=True, connect_timeout=5) as c:
            c.execute("DROP FUNCTION IF EXISTS next_ref()")
            c.execute("DROP SEQUENCE IF EXISTS spark_test_ref_seq")


def test_pf04_volatile_user_function_default_is_asked_of_the_database(
    run_checks: Any, sandbox: Any
) -> None:
    """The issue's input: pg_proc says next_ref() is VOLATILE; the rehearsal sees the rewrite."""
    files = {"0005_ref.sql": "ALTER TABLE orders ADD COLUMN ref text DEFAULT next_ref();"}
    with target_function(sandbox, "VOLATILE"), pending_files(sandbox, files):
        r = run_checks("PF-04")
    record = r.record("PF-04")
    assert record["outcome"] == "failed", record["message"]
    assert (
        "ADD COLUMN orders.ref with DEFAULT next_ref() (next_ref() is VOLATILE)"
        in (record["message"])
    )
    assert observation(record, "default_volatility") == {"next_ref()": "v"}
    [compared] = observation(record, "lint_vs_rehearsal")
    assert compared["rewrite"] == "confirmed"
    assert [w["relation"] for w in compared["rehearsal_rewritten"] if w["kind"] == "table"] == [
        "orders"
    ]


def test_pf04_stable_user_function_default_passes(run_checks: Any, sandbox: Any) -> None:
    files = {"0005_ref.sql": "ALTER TABLE orders ADD COLUMN ref text DEFAULT next_ref();"}
    with target_function(sandbox, "STABLE"), pending_files(sandbox, files):
        r = run_checks("PF-04")
    record = r.record("PF-04")
    assert record["outcome"] == "passed", record["message"]
    assert observation(record, "default_volatility") == {"next_ref()": "s"}
    [compared] = observation(record, "lint_vs_rehearsal")
    assert compared["rewrite"] == "none expected, none seen"


def test_pf04_rewrite_the_lint_cannot_see_fails_from_the_rehearsal(
    run_checks: Any, sandbox: Any
) -> None:
    """A domain with a CHECK as the new column's type: PostgreSQL 15 rewrites the table even
    for a constant default; only the rehearsal sees it."""
    text = (
        "CREATE DOMAIN positive_qty AS integer CHECK (VALUE > 0);\n"
        "ALTER TABLE orders ADD COLUMN min_qty positive_qty DEFAULT 1;\n"
    )
    with pending_files(sandbox, {"0005_qty.sql": text}):
        r = run_checks("PF-04")
    record = r.record("PF-04")
    assert record["outcome"] == "failed", record["message"]
    assert re.search(
        r"0005_qty\.sql statement 2 \(line 2\) rewrote existing table orders and its indexes "
        r"\S+.* in rehearsal \(relfilenode \d+ -> \d+\), which the lint did not expect",
        record["message"],
    ), record["message"]


def postgres_log(sandbox: Any) -> Path:
    return sandbox.layout.log("postgres")


def test_pf04_sends_no_create_or_drop_database_to_the_target(run_checks: Any, sandbox: Any) -> None:
    """With log_statement = 'all' on the target, a whole PF-04 rehearsal (a clean file and a
    failing one) shows the checks' own reads there, and no CREATE/DROP DATABASE, no
    migration statement."""
    log = postgres_log(sandbox)
    with psycopg.connect(sandbox.endpoints.db_dsn, autocommit=True, connect_timeout=5) as conn:
        conn.execute("ALTER SYSTEM SET log_statement = 'all'")
        conn.execute("SELECT pg_reload_conf()")
    start = log.stat().st_size
    files = {
        "0005_ok.sql": "ALTER TABLE orders ADD COLUMN audit_ref text;",
        "0006_bad.sql": "UPDATE orders SET audit_ref = no_such_column;",
    }
    try:
        time.sleep(0.5)  # the reload reaches the postmaster's children asynchronously
        with pending_files(sandbox, files):
            r = run_checks("PF-04")
    finally:
        with psycopg.connect(sandbox.endpoints.db_dsn, autocommit=True, connect_timeout=5) as c:
            c.execute("ALTER SYSTEM RESET log_statement")
            c.execute("SELECT pg_reload_conf()")
    record = r.record("PF-04")
    assert record["outcome"] == "failed", record["message"]  # the rehearsal ran, and failed
    assert "0006_bad.sql statement 1 (line 1) failed in rehearsal" in record["message"]
    with log.open("rb") as fh:
        fh.seek(start)
        seen = fh.read().decode(errors="replace")
    assert "server_version_num" in seen  # the log did record PF-04's own queries
    assert "CREATE DATABASE" not in seen.upper()
    assert "DROP DATABASE" not in seen.upper()
    assert "audit_ref" not in seen  # no migration statement reached the target
    with psycopg.connect(sandbox.endpoints.db_dsn, connect_timeout=5) as conn:
        found = conn.execute(
            "SELECT 1 FROM information_schema.columns WHERE column_name = 'audit_ref'"
        )
        assert found.fetchall() == []


def test_pf04_grants_to_the_targets_roles_rehearse(run_checks: Any, sandbox: Any) -> None:
    """The throwaway server gets the target's roles (pg_dumpall --roles-only, no passwords),
    so a GRANT to the application's role rehearses as on the target."""
    text = (
        "CREATE TABLE order_notes (id bigint PRIMARY KEY, note text);\n"
        "GRANT SELECT, INSERT ON order_notes TO spark_app;\n"
    )
    with pending_files(sandbox, {"0005_notes.sql": text}):
        r = run_checks("PF-04")
    record = r.record("PF-04")
    assert record["outcome"] == "passed", record["message"]
    assert observation(record, "pg_dumpall")["returncode"] == 0
    assert "--no-role-passwords" in observation(record, "pg_dumpall")["argv"]
    assert observation(record, "roles")["statements_run"] > 0
    assert [s["status"] for s in observation(record, "statements")] == ["ok", "ok"]


def test_bs04_money_patterns_matching_nothing_is_could_not_verify(run_checks: Any) -> None:
    """Review finding 3: patterns that match no column and no JSON field judged nothing."""
    r = run_checks("BS-04", args=("--spark-set", 'schema.money_patterns=["zzzz"]'))
    assert r.outcome("BS-04") == "error", r.output[-2000:]
    assert r.verdict["verdict"] == "NO-GO"
    reason = {x["check"]: x["message"] for x in r.verdict["reasons"]}["BS-04"]
    assert reason.startswith("could not verify: no money column matched schema.money_patterns")
    assert re.search(r"no money field matched \S+ \['zzzz'\] in the JSON of http://", reason)
    assert set(observation(r.record("BS-04"), "api_money_fields").values()) == {0}
