"""PF-04 rehearsal decisions: order, transaction mode, new tables, lint across files, findings."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pytest_spark.rules.findings import FAIL, codes
from pytest_spark.rules.rehearsal import (
    FAILED,
    LOCK_TIMEOUT,
    NOT_RUN,
    OK,
    STATEMENT_TIMEOUT,
    PendingMigration,
    created_tables,
    evaluate_rehearsal,
    file_version,
    is_transactional,
    lint_pending,
    order_pending,
    split_applied,
)


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
