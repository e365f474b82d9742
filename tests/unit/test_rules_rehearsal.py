"""PF-04 rehearsal decisions: order, transaction mode, new tables, lint across files, findings."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_spark.rules.findings import FAIL, codes
from pytest_spark.rules.migration_lint import split_statements
from pytest_spark.rules.rehearsal import (
    FAILED,
    LOCK_TIMEOUT,
    NOT_RUN,
    OK,
    STATEMENT_TIMEOUT,
    PendingMigration,
    cluster_wide,
    cluster_wide_statements,
    confirm_lint,
    created_tables,
    evaluate_rehearsal,
    file_version,
    is_transactional,
    lint_findings,
    order_pending,
    runs_outside_transaction,
    split_applied,
)
from pytest_spark.rules.rehearsal import lint_pending as lint_statements_of


def lint_pending(files: list[PendingMigration], **kw: object) -> list[object]:
    return lint_findings(lint_statements_of(files, **kw))  # type: ignore[arg-type]


def m(name: str, text: str = "SELECT 1;") -> PendingMigration:
    return PendingMigration(name, text)


def test_order_is_by_version_not_text() -> None:
    names = ["0010_b.sql", "0005_a.sql", "20240101120000_c.sql", "0009_z.sql"]
    ordered = [x.name for x in order_pending(m(n) for n in names)]
    assert ordered == ["0005_a.sql", "0009_z.sql", "0010_b.sql", "20240101120000_c.sql"]


@given(st.lists(st.integers(min_value=0, max_value=10**6), unique=True, max_size=20))
def test_order_sorts_numeric_prefixes(versions: list[int]) -> None:
    files = [m(f"{v:04d}_x.sql") for v in versions]
    assert [int(x.name.split("_")[0]) for x in order_pending(files)] == sorted(versions)


def test_transactional_unless_marked() -> None:
    assert is_transactional("ALTER TABLE t ADD COLUMN c int;")
    assert is_transactional("CREATE INDEX CONCURRENTLY i ON t (c);")  # fails, as in the deploy
    assert not is_transactional("-- spark:no-transaction\nCREATE INDEX CONCURRENTLY i ON t (c);")
    assert not is_transactional("\n  -- Spark:No-Transaction  \nVACUUM t;")
    assert is_transactional("SELECT 1; -- spark:no-transaction")


def test_created_tables_forms() -> None:
    sql = '''
        CREATE TABLE a (id int);
        create unlogged table if not exists Sch.B (id int);
        CREATE TEMP TABLE "Quoted ""T""" (id int);
        CREATE MATERIALIZED VIEW mv AS SELECT 1;
        CREATE INDEX i ON a (id);
        -- CREATE TABLE in_comment (id int);
        CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;
        CREATE OR REPLACE VIEW v AS SELECT 1;
    '''
    assert created_tables(sql) == ["a", "sch.b", 'Quoted "T"', "mv"]


def test_lint_exempts_tables_created_by_an_earlier_pending_file() -> None:
    first = m("0005_new.sql", "CREATE TABLE fills (id bigint, order_id int);")
    second = m("0006_idx.sql", "CREATE INDEX fills_order_idx ON fills (order_id);")
    assert lint_pending([first, second]) == []
    assert codes(lint_pending([second])) == ["lock-create-index"]


def test_lint_names_the_file_and_uses_the_transaction_mode() -> None:
    tx = m("0007_cc.sql", "CREATE INDEX CONCURRENTLY o_idx ON orders (symbol);")
    found = lint_pending([tx])
    assert codes(found) == ["concurrently-in-transaction"]
    assert found[0].message.startswith("0007_cc.sql: statement 1 (line 1)")
    no_tx = m("0007_cc.sql", "-- spark:no-transaction\nCREATE INDEX CONCURRENTLY o ON orders (s);")
    assert lint_pending([no_tx]) == []


def test_lint_renames_only_on_hot_tables() -> None:
    mig = m("0008_rename.sql", "ALTER TABLE orders RENAME COLUMN price TO limit_price;")
    assert codes(lint_pending([mig], hot_tables=["orders"])) == ["rename-hot-table"]
    assert lint_pending([mig], hot_tables=["positions"]) == []


def run(status: str, **over: object) -> dict[str, object]:
    row: dict[str, object] = {
        "migration": "0005_orders_fees.sql",
        "index": 2,
        "line": 3,
        "statement": "UPDATE orders SET fee = price * quantity * commission_rate",
        "status": status,
        "error": 'column "commission_rate" does not exist',
        "sqlstate": "42703",
    }
    row.update(over)
    return row


def test_clean_runs_have_no_findings() -> None:
    assert (
        evaluate_rehearsal([run(OK), run(NOT_RUN)], lock_timeout_s=5, statement_timeout_s=5) == []
    )


def test_failed_statement_is_named_with_file_line_and_sqlstate() -> None:
    (finding,) = evaluate_rehearsal([run(FAILED)], lock_timeout_s=5, statement_timeout_s=5)
    assert finding.code == "rehearsal-failed"
    assert finding.severity == FAIL
    assert finding.message == (
        "pending migration 0005_orders_fees.sql statement 2 (line 3) failed in rehearsal: "
        'column "commission_rate" does not exist [SQLSTATE 42703] -- '
        "UPDATE orders SET fee = price * quantity * commission_rate"
    )


def test_timeouts_name_the_limit() -> None:
    found = evaluate_rehearsal(
        [
            run(LOCK_TIMEOUT, sqlstate="55P03", error="canceling statement due to lock timeout"),
            run(STATEMENT_TIMEOUT, sqlstate="57014", statement="x " * 200),
        ],
        lock_timeout_s=2,
        statement_timeout_s=7.5,
    )
    assert codes(found) == ["rehearsal-lock-timeout", "rehearsal-statement-timeout"]
    assert "lock_timeout 2 s" in found[0].message
    assert "statement_timeout 7.5 s" in found[1].message
    assert found[1].message.endswith("...")


def test_pending_migration_evidence_form() -> None:
    mig = m("0005_a.sql", "ALTER TABLE t ADD COLUMN c int;\nSELECT 1;")
    data = mig.to_dict()
    assert data["name"] == "0005_a.sql"
    assert data["statements"] == 2
    assert data["transactional"] is True
    assert len(data["sha256"]) == 64


def test_file_version_forms() -> None:
    assert file_version("0005_orders_fees.sql") == "0005"
    assert file_version("000005_add_fee.up.sql") == "000005"
    assert file_version("20240101120000_x.sql") == "20240101120000"
    assert file_version("V1_2__add_fee.sql") == "1.2"
    assert file_version("V7__x.sql") == "7"


def test_applied_files_are_not_rehearsed_again() -> None:
    files = [m("0003_c.sql"), m("0004_seed.sql"), m("0005_new.sql"), m("V6__flyway.sql")]
    pending, done = split_applied(files, ["1", "2", "3", 4])
    assert [x.name for x in pending] == ["0005_new.sql", "V6__flyway.sql"]
    assert [x.name for x in done] == ["0003_c.sql", "0004_seed.sql"]
    assert split_applied(files, [])[0] == files


# ---------------------------------------------------------------------------
# cluster-wide statements: never run on the target's server
# ---------------------------------------------------------------------------

REFUSED_TAIL = (
    "is cluster-wide; PF-04 does not rehearse it (roles, settings and databases are not "
    "part of the schema copy) -- rehearse it by hand"
)


def test_cluster_wide_statement_is_named_with_file_statement_and_line() -> None:
    text = (
        "-- roles for the new reporting service\n"
        "CREATE TABLE reports (id bigint);\n"
        "\n"
        "\n"
        "ALTER ROLE reporter SET statement_timeout = '5s';\n"
    )
    assert cluster_wide_statements([m("0007_x.sql", text)]) == [
        f"0007_x.sql statement 2 (line 5): ALTER ROLE {REFUSED_TAIL}"
    ]


@pytest.mark.parametrize(
    ("sql", "what"),
    [
        ("CREATE ROLE reporter LOGIN", "CREATE ROLE"),
        ("create user app_ro with password 'x'", "CREATE USER"),
        ("CREATE USER mapping WITH LOGIN", "CREATE USER"),  # a role called "mapping"
        ("DROP ROLE IF EXISTS old_app", "DROP ROLE"),
        ("ALTER USER app NOSUPERUSER", "ALTER USER"),
        ("ALTER GROUP readers ADD USER app", "ALTER GROUP"),
        ("DROP GROUP readers", "DROP GROUP"),
        ("ALTER SYSTEM SET work_mem = '64MB'", "ALTER SYSTEM"),
        ("ALTER SYSTEM RESET ALL", "ALTER SYSTEM"),
        ("CREATE DATABASE reports", "CREATE DATABASE"),
        ("ALTER DATABASE spark SET timezone = 'UTC'", "ALTER DATABASE"),
        ("DROP DATABASE IF EXISTS reports", "DROP DATABASE"),
        ("CREATE TABLESPACE fast LOCATION '/ssd'", "CREATE TABLESPACE"),
        ("ALTER TABLESPACE fast OWNER TO app", "ALTER TABLESPACE"),
        ("DROP TABLESPACE fast", "DROP TABLESPACE"),
        ("GRANT readers TO app", "GRANT of role membership"),
        ("GRANT readers, writers TO app WITH ADMIN OPTION", "GRANT of role membership"),
        ("REVOKE readers FROM app", "REVOKE of role membership"),
        ("REVOKE ADMIN OPTION FOR readers FROM app", "REVOKE of role membership"),
        ("GRANT CONNECT ON DATABASE spark TO reporter", "GRANT ON DATABASE"),
        ("REVOKE CREATE ON TABLESPACE fast FROM app", "REVOKE ON TABLESPACE"),
        ("GRANT SET ON PARAMETER work_mem TO app", "GRANT ON PARAMETER"),
        ("COMMENT ON ROLE app IS 'the API'", "COMMENT ON ROLE"),
        ("COMMENT ON DATABASE spark IS 'trading'", "COMMENT ON DATABASE"),
        ("SECURITY LABEL FOR selinux ON ROLE app IS 'x'", "SECURITY LABEL ON ROLE"),
        ("DROP OWNED BY old_app", "DROP OWNED"),
        ("REASSIGN OWNED BY old_app TO app", "REASSIGN OWNED"),
        ("  /* leading comment */ alter\n  role app connection limit 5", "ALTER ROLE"),
    ],
)
def test_cluster_wide_forms(sql: str, what: str) -> None:
    (st,) = split_statements(sql)
    assert cluster_wide(st) == what


@pytest.mark.parametrize(
    "sql",
    [
        "GRANT SELECT ON orders TO reporter",
        "GRANT SELECT (id, price) ON orders TO reporter",
        "REVOKE ALL ON ALL TABLES IN SCHEMA public FROM reporter",
        "GRANT USAGE ON SCHEMA trading TO app",
        "ALTER DEFAULT PRIVILEGES IN SCHEMA trading GRANT SELECT ON TABLES TO reporter",
        "CREATE USER MAPPING FOR app SERVER remote OPTIONS (user 'x')",
        "CREATE USER MAPPING IF NOT EXISTS FOR app SERVER remote",
        "DROP USER MAPPING IF EXISTS FOR app SERVER remote",
        "ALTER TABLE orders SET TABLESPACE fast",
        "ALTER TABLE orders OWNER TO app",
        "COMMENT ON TABLE orders IS 'ALTER ROLE app; DROP DATABASE spark'",
        "COMMENT ON COLUMN orders.role IS 'GRANT readers TO app'",
        "CREATE TABLE roles (role text, database text, tablespace text)",
        "INSERT INTO audit (note) VALUES ('ALTER SYSTEM SET fsync = off')",
        "-- ALTER ROLE app SUPERUSER\nSELECT 1",
        "/* CREATE DATABASE x; DROP ROLE y */ SELECT 1",
        "CREATE FUNCTION f() RETURNS void LANGUAGE sql AS $$ SELECT 'DROP ROLE x' $$",
        "SET ROLE app",
        'ALTER TABLE "role" ADD COLUMN "user" text',
    ],
)
def test_not_cluster_wide(sql: str) -> None:
    statements = split_statements(sql)
    assert [cluster_wide(st) for st in statements] == [None] * len(statements)


def test_cluster_wide_keywords_in_comments_and_strings_never_match() -> None:
    text = (
        "-- we used to ALTER ROLE app here; DROP DATABASE is done by hand\n"
        "/* GRANT readers TO app; ALTER SYSTEM SET x = 1; */\n"
        "UPDATE settings SET note = 'CREATE ROLE x; GRANT a TO b' WHERE id = 1;\n"
        "DO $body$ BEGIN RAISE NOTICE 'DROP TABLESPACE t'; END $body$;\n"
    )
    assert cluster_wide_statements([m("0008_notes.sql", text)]) == []


def test_every_cluster_wide_statement_of_every_file_is_listed() -> None:
    files = [
        m("0005_ok.sql", "ALTER TABLE orders ADD COLUMN note text;"),
        m("0006_roles.sql", "CREATE ROLE a;\nGRANT a TO b;\nSELECT 1;"),
    ]
    found = cluster_wide_statements(files)
    assert found == [
        f"0006_roles.sql statement 1 (line 1): CREATE ROLE {REFUSED_TAIL}",
        f"0006_roles.sql statement 2 (line 2): GRANT of role membership {REFUSED_TAIL}",
    ]


@given(st.text(max_size=200))
def test_cluster_wide_never_raises(text: str) -> None:
    cluster_wide_statements([m("0001_x.sql", text)])


# ---------------------------------------------------------------------------
# the rehearsal confirms or refutes the lint
# ---------------------------------------------------------------------------


def observed(index: int, rewritten: list[dict[str, object]], **over: object) -> dict[str, object]:
    row: dict[str, object] = {
        "migration": "0005_x.sql",
        "index": index,
        "line": index,
        "statement": "ALTER TABLE orders ...",
        "status": OK,
        "observed": True,
        "rewritten": rewritten,
        "locks": [{"relation": "orders", "mode": "ACCESS EXCLUSIVE"}],
        "held": [{"relation": "orders", "mode": "ACCESS EXCLUSIVE"}],
    }
    row.update(over)
    return row


ORDERS = {"relation": "orders", "kind": "table", "table": "orders"}
PKEY = {"relation": "orders_pkey", "kind": "index", "table": "orders"}


def rewrite(rel: dict[str, object]) -> dict[str, object]:
    return {**rel, "relfilenode_before": 16390, "relfilenode_after": 16402}


def test_rehearsal_rewrite_the_lint_missed_fails() -> None:
    text = "ALTER TABLE orders ADD COLUMN q positive_int DEFAULT 1;"
    lints = lint_statements_of([m("0005_x.sql", text)])
    rows, found = confirm_lint(lints, [observed(1, [rewrite(ORDERS), rewrite(PKEY)])])
    assert rows[0]["rewrite"] == "missed by lint"
    [f] = found
    assert (f.code, f.severity) == ("rehearsal-rewrite", FAIL)
    assert f.message.startswith(
        "pending migration 0005_x.sql statement 1 (line 1) rewrote existing table orders and "
        "its indexes orders_pkey in rehearsal (relfilenode 16390 -> 16402)"
    )


def test_rehearsal_refutes_a_guessed_rewrite_into_a_warning() -> None:
    text = "ALTER TABLE orders ALTER COLUMN price TYPE numeric(30, 8);"
    lints = lint_statements_of([m("0005_x.sql", text)])
    rows, found = confirm_lint(lints, [observed(1, [])])
    assert found == [] and rows[0]["rewrite"] == "refuted"
    [f] = lint_findings(lints)
    assert f.severity == "warn" and f.message.endswith(
        "[refuted by the rehearsal: no relfilenode changed]"
    )


def test_rehearsal_confirms_and_tables_of_the_release_are_exempt() -> None:
    text = "CREATE TABLE fills (id int);\nALTER TABLE orders ADD COLUMN n bigserial;"
    lints = lint_statements_of([m("0005_x.sql", text)])
    runs = [
        observed(1, [], locks=[], held=[]),
        observed(2, [rewrite(ORDERS)]),
        observed(3, [rewrite({"relation": "fills", "kind": "table", "table": "fills"})]),
    ]
    rows, found = confirm_lint(lints, runs, new_tables=["fills"])
    assert [r["rewrite"] for r in rows] == [
        "none expected, none seen",
        "confirmed",
        "none expected, none seen",
    ]
    assert rows[1]["lock"] == "confirmed" and found == []
    assert codes(lint_findings(lints)) == ["rewrite-add-column"]


def test_unobserved_or_failed_statements_are_not_compared() -> None:
    lints = lint_statements_of([m("0005_x.sql", "VACUUM FULL orders;")])
    rows, found = confirm_lint(
        lints, [observed(1, [], observed=False), observed(1, [], status=FAILED)]
    )
    assert rows == [] and found == []
    assert lint_findings(lints)[0].severity == FAIL  # nothing refuted it


@pytest.mark.parametrize(
    ("sql", "outside"),
    [
        ("CREATE INDEX CONCURRENTLY i ON t (a)", True),
        ("DROP INDEX CONCURRENTLY i", True),
        ("REINDEX TABLE CONCURRENTLY t", True),
        ("VACUUM t", True),
        ("ANALYZE t", False),
        ("CLUSTER", True),
        ("CLUSTER t USING i", False),
        ("CREATE INDEX i ON t (a)", False),
        ("ALTER TABLE t ADD COLUMN c int", False),
        ("REFRESH MATERIALIZED VIEW CONCURRENTLY v", False),
    ],
)
def test_statements_postgres_runs_only_outside_a_transaction(sql: str, outside: bool) -> None:
    [st] = split_statements(sql)
    assert runs_outside_transaction(st) is outside
