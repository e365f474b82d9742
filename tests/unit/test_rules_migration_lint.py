"""PF-04 migration lint on PostgreSQL's parser (pglast): splitting, each long-lock rule,
column constraints inside ADD COLUMN, default volatility from the database, properties.

Right answers: PostgreSQL 15 manual, "ALTER TABLE" Notes (which forms rewrite, scan,
or only touch the catalog) and "Explicit Locking" (which lock each takes); the
rehearsal tests (tests/checks) observe the same on a real server.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_spark.rules.findings import FAIL, WARN, codes
from pytest_spark.rules.migration_lint import (
    FunctionRef,
    default_function_calls,
    function_definitions,
    lint_migration,
    lint_statements,
    resolve_volatility,
    split_statements,
)

#: What pg_proc says about the built-ins these tests use (PostgreSQL 15).
BUILTINS = {
    FunctionRef(None, "now", 0): "s",
    FunctionRef(None, "random", 0): "v",
    FunctionRef(None, "gen_random_uuid", 0): "v",
    FunctionRef(None, "clock_timestamp", 0): "v",
    FunctionRef(None, "lower", 1): "i",
    FunctionRef(None, "nextval", 1): "v",
}


def lint_codes(sql: str, **kw: object) -> list[str]:
    kw.setdefault("volatility", BUILTINS)
    return codes(lint_migration(sql, **kw))  # type: ignore[arg-type]


def test_statements_carry_postgres_parse_trees() -> None:
    [a, b] = split_statements("ALTER TABLE orders ADD COLUMN x int;\nVACUUM orders")
    assert (a.kind, b.kind) == ("AlterTableStmt", "VacuumStmt")
    assert (b.index, b.line, b.text) == (2, 2, "VACUUM orders")


def test_unparsable_file_is_one_finding_naming_the_line() -> None:
    [f] = lint_migration("SELECT 1;\nALTER TABLE orders ADD COLUMN;\n", source="0009.sql")
    assert f.code == "syntax-error" and f.severity == FAIL
    assert f.message.startswith("0009.sql: line 2: PostgreSQL's parser rejects the file: ")
    assert 'syntax error at or near ";"' in f.message
    # the rehearsal still gets the text, to let the server say the same
    [whole] = split_statements("SELECT 1;\nALTER TABLE orders ADD COLUMN;\n")
    assert whole.node is None and whole.kind == "unparsed"


# --- splitting ------------------------------------------------------------------


def test_split_ignores_semicolons_in_strings_comments_and_bodies() -> None:
    sql = """
    -- header; with a semicolon
    INSERT INTO t VALUES ('a;b');  /* ; */
    CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      UPDATE x SET y = 1; RETURN NEW;
    END $$;
    CREATE FUNCTION g() RETURNS int LANGUAGE sql
    BEGIN ATOMIC
      SELECT 1;
      SELECT CASE WHEN true THEN 2 END;
    END;
    ;;
    SELECT 3
    """
    stmts = split_statements(sql)
    assert [s.index for s in stmts] == [1, 2, 3, 4]
    assert stmts[0].text == "INSERT INTO t VALUES ('a;b')"
    assert stmts[0].line == 3
    assert stmts[2].text.endswith("END")
    assert stmts[3].text == "SELECT 3"


def test_split_of_comment_only_text_is_empty() -> None:
    assert split_statements("-- nothing\n/* here */ ;  ;") == []


# --- CREATE INDEX ----------------------------------------------------------------


def test_create_index_on_existing_table_fails() -> None:
    [f] = lint_migration("CREATE INDEX orders_price_idx ON orders (price);", source="0013.sql")
    assert f.code == "lock-create-index" and f.severity == FAIL
    assert f.message.startswith("0013.sql: statement 1 (line 1): CREATE INDEX on existing table")
    assert "orders" in f.message


@pytest.mark.parametrize(
    "sql",
    [
        "create unique index if not exists ix on only public.orders using btree (a)",
        'CREATE INDEX ON "orders" (a)',
        "CREATE INDEX ix ON orders USING gin (tags) WHERE status = 'open'",
    ],
)
def test_create_index_variants(sql: str) -> None:
    assert lint_codes(sql) == ["lock-create-index"]


def test_create_index_concurrently_is_fine() -> None:
    assert lint_codes("CREATE INDEX CONCURRENTLY ix ON orders (a)") == []


def test_index_on_table_created_in_same_migration_is_exempt() -> None:
    sql = "CREATE TABLE fills (id bigint, px numeric(20,8)); CREATE INDEX ON fills (px);"
    assert lint_codes(sql) == []


def test_index_on_table_named_in_new_tables_is_exempt() -> None:
    assert lint_codes("CREATE INDEX ix ON public.fills (px)", new_tables={"fills"}) == []
    assert lint_codes("CREATE INDEX ix ON fills (px)", new_tables={"public.fills"}) == []
    assert lint_codes("CREATE INDEX ix ON other.fills (px)", new_tables={"public.fills"}) == [
        "lock-create-index"
    ]


def test_concurrently_inside_begin_commit_is_error_prone() -> None:
    sql = "BEGIN; CREATE INDEX CONCURRENTLY ix ON orders (a); COMMIT;"
    [f] = lint_migration(sql)
    assert f.code == "concurrently-in-transaction" and f.severity == FAIL
    assert "statement 2" in f.message


def test_concurrently_after_commit_is_fine_but_file_mixing_is_warned() -> None:
    sql = "BEGIN; SELECT 1; COMMIT; CREATE INDEX CONCURRENTLY ix ON orders (a);"
    found = lint_migration(sql)
    assert [(f.code, f.severity) for f in found] == [("concurrently-with-other-statements", WARN)]


def test_concurrently_when_runner_wraps_in_transaction() -> None:
    sql = "CREATE INDEX CONCURRENTLY ix ON orders (a)"
    assert lint_codes(sql) == []
    assert lint_codes(sql, in_transaction=True) == ["concurrently-in-transaction"]


def test_drop_and_reindex_concurrently_in_transaction() -> None:
    sql = "START TRANSACTION; DROP INDEX CONCURRENTLY ix; REINDEX INDEX CONCURRENTLY iy; END;"
    assert lint_codes(sql) == ["concurrently-in-transaction", "concurrently-in-transaction"]


def test_rollback_to_savepoint_does_not_end_the_block() -> None:
    sql = "BEGIN; SAVEPOINT s; ROLLBACK TO SAVEPOINT s; CREATE INDEX CONCURRENTLY i ON t (a);"
    assert lint_codes(sql) == ["concurrently-in-transaction"]


# --- ALTER TABLE -----------------------------------------------------------------


def test_add_column_not_null_without_default() -> None:
    [f] = lint_migration("ALTER TABLE orders ADD COLUMN venue text NOT NULL;")
    assert f.code == "lock-add-column-not-null"
    assert "orders.venue" in f.message


@pytest.mark.parametrize(
    "sql",
    [
        "ALTER TABLE orders ADD COLUMN venue text NOT NULL DEFAULT 'X'",
        "ALTER TABLE orders ADD COLUMN venue text DEFAULT 'X' NOT NULL",
        "ALTER TABLE orders ADD COLUMN venue text",
        "ALTER TABLE orders ADD COLUMN seen_at timestamptz NOT NULL DEFAULT now()",
        "ALTER TABLE orders ADD COLUMN acct bigint DEFAULT lower('X')",
        "ALTER TABLE orders ADD COLUMN at timestamptz DEFAULT CURRENT_TIMESTAMP",
        "ALTER TABLE orders ADD COLUMN g int GENERATED ALWAYS AS (1) VIRTUAL",
        "ALTER TABLE orders DROP COLUMN legacy",
        "ALTER TABLE orders ALTER COLUMN price SET DEFAULT 0",
        "ALTER TABLE orders VALIDATE CONSTRAINT orders_qty_check",
        "ALTER TABLE orders ADD CONSTRAINT qty_pos CHECK (qty > 0) NOT VALID",
        "ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (a) REFERENCES accounts (id) NOT VALID",
        "ALTER TABLE orders ADD CONSTRAINT orders_pk PRIMARY KEY USING INDEX orders_pk_idx",
        "ALTER TABLE orders ADD CONSTRAINT u UNIQUE USING INDEX u_idx",
        "ALTER TABLE orders RENAME COLUMN a TO b",
    ],
)
def test_safe_alter_table_forms(sql: str) -> None:
    assert lint_codes(sql) == []


@pytest.mark.parametrize(
    ("sql", "code"),
    [
        ("ALTER TABLE orders ADD COLUMN k uuid DEFAULT gen_random_uuid()", "rewrite-add-column"),
        ("ALTER TABLE orders ADD COLUMN r float8 DEFAULT random() NOT NULL", "rewrite-add-column"),
        ("ALTER TABLE orders ADD COLUMN n bigserial", "rewrite-add-column"),
        (
            "ALTER TABLE orders ADD COLUMN n int GENERATED ALWAYS AS IDENTITY",
            "rewrite-add-column",
        ),
        (
            "ALTER TABLE orders ADD COLUMN n numeric GENERATED ALWAYS AS (px * qty) STORED",
            "rewrite-add-column",
        ),
        (
            "ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (a) REFERENCES accounts (id)",
            "lock-add-constraint-validate",
        ),
        ("ALTER TABLE orders ADD CHECK (qty > 0)", "lock-add-constraint-validate"),
        ("ALTER TABLE orders ADD PRIMARY KEY (id)", "lock-add-constraint-index"),
        ("ALTER TABLE orders ADD CONSTRAINT u UNIQUE (a, b)", "lock-add-constraint-index"),
        (
            "ALTER TABLE orders ADD CONSTRAINT ex EXCLUDE USING gist (r WITH &&)",
            "lock-add-constraint-index",
        ),
        (
            "ALTER TABLE orders ALTER COLUMN price TYPE numeric(20, 8)",
            "rewrite-alter-column-type",
        ),
        ("ALTER TABLE orders ALTER price SET DATA TYPE bigint", "rewrite-alter-column-type"),
        ("ALTER TABLE orders ALTER COLUMN qty SET NOT NULL", "lock-set-not-null"),
        ("ALTER TABLE orders SET TABLESPACE fast", "rewrite-table"),
        ("ALTER TABLE IF EXISTS ONLY orders SET LOGGED", "rewrite-table"),
    ],
)
def test_dangerous_alter_table_forms(sql: str, code: str) -> None:
    assert lint_codes(sql) == [code]


def test_type_change_message_names_target_and_severity() -> None:
    [f] = lint_migration("ALTER TABLE orders ALTER COLUMN price TYPE numeric(20, 8) USING price")
    assert "orders.price TYPE numeric(20, 8) rewrites" in f.message
    assert f.severity == FAIL
    [g] = lint_migration("ALTER TABLE orders ALTER COLUMN note TYPE text")
    assert g.severity == WARN


def test_set_not_null_is_a_warning() -> None:
    [f] = lint_migration("ALTER TABLE orders ALTER COLUMN qty SET NOT NULL")
    assert f.severity == WARN and "CHECK (qty IS NOT NULL)" in f.message


def test_several_actions_in_one_alter_table() -> None:
    sql = """ALTER TABLE orders
        ADD COLUMN a int NOT NULL,
        ADD COLUMN b numeric(10, 2) DEFAULT 0,
        ALTER COLUMN c TYPE bigint,
        ADD CONSTRAINT fk FOREIGN KEY (d) REFERENCES x (id);"""
    assert lint_codes(sql) == [
        "lock-add-column-not-null",
        "rewrite-alter-column-type",
        "lock-add-constraint-validate",
    ]


def test_alter_on_new_table_is_exempt() -> None:
    sql = """CREATE TABLE IF NOT EXISTS fills (id int);
             ALTER TABLE fills ADD COLUMN px numeric NOT NULL, ADD PRIMARY KEY (id);"""
    assert lint_codes(sql) == []


def test_rename_on_hot_table_only_when_configured() -> None:
    sql = "ALTER TABLE orders RENAME COLUMN qty TO quantity"
    assert lint_codes(sql) == []
    assert lint_codes(sql, hot_tables={"orders"}) == ["rename-hot-table"]
    assert lint_codes(sql, hot_tables={"positions"}) == []
    assert lint_codes("ALTER TABLE orders RENAME TO orders_v2", hot_tables=["orders"]) == [
        "rename-hot-table"
    ]


# --- maintenance and explicit locks ---------------------------------------------


@pytest.mark.parametrize(
    ("sql", "code"),
    [
        ("VACUUM FULL orders", "lock-vacuum-full"),
        ("vacuum full", "lock-vacuum-full"),
        ("VACUUM (VERBOSE, FULL) orders", "lock-vacuum-full"),
        ("VACUUM (FULL true, ANALYZE) orders", "lock-vacuum-full"),
        ("CLUSTER orders USING orders_pkey", "lock-cluster"),
        ("CLUSTER", "lock-cluster"),
        ("LOCK orders", "lock-table"),
        ("LOCK TABLE ONLY orders IN SHARE ROW EXCLUSIVE MODE NOWAIT", "lock-table"),
        ("REINDEX TABLE orders", "lock-reindex"),
        ("REFRESH MATERIALIZED VIEW daily_pnl", "lock-refresh-matview"),
    ],
)
def test_maintenance_and_lock_statements(sql: str, code: str) -> None:
    assert lint_codes(sql) == [code]


@pytest.mark.parametrize(
    "sql",
    [
        "VACUUM orders",
        "VACUUM (FULL false) orders",
        "VACUUM (ANALYZE) orders",
        "LOCK TABLE orders IN ACCESS SHARE MODE",
        "LOCK TABLE orders IN ROW EXCLUSIVE MODE",
        "REINDEX TABLE CONCURRENTLY orders",
        "REFRESH MATERIALIZED VIEW CONCURRENTLY daily_pnl",
        "CREATE TABLE t (id int); LOCK t; CLUSTER t USING t_pkey",
    ],
)
def test_harmless_maintenance(sql: str) -> None:
    assert lint_codes(sql) == []


def test_lock_message_names_mode() -> None:
    [f] = lint_migration("LOCK TABLE orders IN EXCLUSIVE MODE")
    assert "LOCK TABLE orders IN EXCLUSIVE MODE" in f.message


# --- keywords where they are not code ---------------------------------------------


def test_keywords_in_comments_strings_and_bodies_are_ignored() -> None:
    sql = """
    -- CREATE INDEX ix ON orders (a); VACUUM FULL;
    /* ALTER TABLE orders ADD COLUMN x int NOT NULL; /* LOCK orders; */ CLUSTER; */
    INSERT INTO audit (note) VALUES ('CREATE INDEX ix ON orders (a); VACUUM FULL');
    INSERT INTO audit (note) VALUES (E'LOCK TABLE orders\\'; CLUSTER');
    DO $do$ BEGIN EXECUTE 'VACUUM FULL orders'; END $do$;
    CREATE OR REPLACE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $fn$
    BEGIN
        ALTER TABLE orders ALTER COLUMN price TYPE float8;
    END
    $fn$;
    SELECT "vacuum full" FROM "lock";
    """
    assert lint_codes(sql) == []


def test_case_insensitive_and_line_numbers() -> None:
    sql = "select 1;\n\n  cReAtE   InDeX ix\n ON Orders (A);"
    [f] = lint_migration(sql)
    assert f.code == "lock-create-index"
    assert "statement 2 (line 3)" in f.message
    assert "table orders" in f.message


def test_long_statement_is_abbreviated_in_message() -> None:
    cols = ", ".join(f"c{i}" for i in range(80))
    [f] = lint_migration(f"CREATE INDEX ix ON orders ({cols})")
    assert f.message.endswith("...")


# --- properties ------------------------------------------------------------------


@given(st.text())
@settings(max_examples=300)
def test_lint_never_raises(text: str) -> None:
    lint_migration(text, hot_tables=["orders"], in_transaction=True)
    for stmt in split_statements(text):
        assert stmt.text and stmt.text in text


SQLISH = st.lists(
    st.sampled_from(
        [
            *"abcXYZ ;'\"$()*/-\n,.:=0",
            *("$$", "$a$", "--", "/*", "*/", "E'", "U&'", "BEGIN"),
            *("CREATE INDEX", " ON ", "ALTER TABLE", " ADD ", "NOT NULL", "VACUUM", "LOCK"),
        ]
    ),
    max_size=40,
).map("".join)


@given(SQLISH)
@settings(max_examples=200)
def test_lint_never_raises_on_sql_shaped_noise(text: str) -> None:
    for stmt in split_statements(text):
        assert stmt.text and stmt.text in text
    lint_migration(text)


DANGEROUS = st.sampled_from(
    [
        "CREATE INDEX ix ON orders (a)",
        "VACUUM FULL orders",
        "LOCK TABLE orders",
        "ALTER TABLE orders ADD COLUMN x int NOT NULL",
        "CLUSTER orders",
    ]
)


@given(DANGEROUS, st.sampled_from(["-- {}\n", "/* {} */", "'{}'", "$$ {} $$", "$q$ {} $q$"]))
def test_dangerous_sql_inside_non_code_is_never_flagged(stmt: str, wrapper: str) -> None:
    assert lint_codes(stmt) != []
    hidden = wrapper.format(stmt.replace("'", "''") if wrapper.startswith("'") else stmt)
    assert lint_codes(f"SELECT {hidden};" if not wrapper.startswith(("--", "/*")) else hidden) == []


@given(st.lists(DANGEROUS, min_size=1, max_size=6), st.sampled_from([";", ";\n", " ; -- x\n"]))
def test_each_dangerous_statement_is_found_once(stmts: list[str], sep: str) -> None:
    sql = sep.join(stmts)
    assert len(split_statements(sql)) == len(stmts)
    assert len(lint_migration(sql)) == len(stmts)


# --- issue 14 kind 9: column constraints inside ADD COLUMN --------------------------


def test_add_column_unique_builds_an_index_under_access_exclusive() -> None:
    """The issue's input: the UNIQUE is an index build over the whole table."""
    [f] = lint_migration("ALTER TABLE orders ADD COLUMN code text UNIQUE;")
    assert f.code == "lock-add-constraint-index" and f.severity == FAIL
    assert "ADD COLUMN orders.code UNIQUE builds a unique index" in f.message
    assert "ACCESS EXCLUSIVE" in f.message


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        (
            "ALTER TABLE orders ADD COLUMN code text CONSTRAINT c_uq UNIQUE",
            ["lock-add-constraint-index"],
        ),
        ("ALTER TABLE orders ADD COLUMN id2 bigint PRIMARY KEY", ["lock-add-constraint-index"]),
        (
            "ALTER TABLE orders ADD COLUMN acct bigint REFERENCES accounts (id)",
            ["lock-add-constraint-validate"],
        ),
        (
            "ALTER TABLE orders ADD COLUMN venue text CHECK (venue IS NOT NULL)",
            ["lock-add-constraint-validate"],
        ),
        (
            "ALTER TABLE orders ADD COLUMN n numeric GENERATED ALWAYS AS (px * qty) STORED",
            ["rewrite-add-column"],
        ),
        (  # two problems in one column: both named
            "ALTER TABLE orders ADD COLUMN ref text NOT NULL UNIQUE",
            ["lock-add-column-not-null", "lock-add-constraint-index"],
        ),
        (
            "ALTER TABLE orders ADD COLUMN k uuid DEFAULT gen_random_uuid() UNIQUE",
            ["rewrite-add-column", "lock-add-constraint-index"],
        ),
    ],
)
def test_column_constraints_inside_add_column(sql: str, expected: list[str]) -> None:
    assert lint_codes(sql) == expected


def test_column_constraints_on_a_new_table_are_exempt() -> None:
    sql = "CREATE TABLE fills (id int); ALTER TABLE fills ADD COLUMN code text UNIQUE;"
    assert lint_codes(sql) == []


def test_references_message_names_both_tables() -> None:
    [f] = lint_migration("ALTER TABLE orders ADD COLUMN acct bigint REFERENCES public.accounts")
    assert "REFERENCES public.accounts validates every existing row" in f.message
    assert "SHARE ROW EXCLUSIVE on public.accounts" in f.message


# --- issue 14 kind 9: default volatility asked of the database ----------------------


def test_volatile_user_function_default_rewrites() -> None:
    """The issue's input: next_ref() is a user function pg_proc calls VOLATILE."""
    sql = "ALTER TABLE orders ADD COLUMN ref text DEFAULT next_ref();"
    [f] = lint_migration(sql, volatility={FunctionRef(None, "next_ref", 0): "v"})
    assert f.code == "rewrite-add-column" and f.severity == FAIL
    assert "DEFAULT next_ref() (next_ref() is VOLATILE)" in f.message
    assert lint_codes(sql, volatility={FunctionRef(None, "next_ref", 0): "s"}) == []


def test_function_unknown_to_the_database_is_a_warning_not_silence() -> None:
    [f] = lint_migration("ALTER TABLE orders ADD COLUMN ref text DEFAULT next_ref()")
    assert f.code == "unknown-volatility" and f.severity == WARN


def test_function_created_by_the_migration_has_its_declared_volatility() -> None:
    base = "CREATE FUNCTION next_ref() RETURNS text LANGUAGE sql {} AS $$ SELECT 'r' $$;\n"
    add = "ALTER TABLE orders ADD COLUMN ref text DEFAULT next_ref();"
    assert lint_codes(base.format("") + add) == ["rewrite-add-column"]  # VOLATILE by default
    assert lint_codes(base.format("VOLATILE") + add) == ["rewrite-add-column"]
    assert lint_codes(base.format("STABLE") + add) == []
    assert lint_codes(base.format("IMMUTABLE PARALLEL SAFE") + add) == []


def test_volatility_siblings() -> None:
    assert lint_codes("ALTER TABLE orders ADD COLUMN at timestamptz DEFAULT now()") == []
    assert lint_codes("ALTER TABLE orders ADD COLUMN at float8 DEFAULT random() * 2") == [
        "rewrite-add-column"
    ]
    # volatile anywhere inside the expression
    assert lint_codes(
        "ALTER TABLE orders ADD COLUMN r text DEFAULT lower(clock_timestamp()::text)"
    ) == ["rewrite-add-column"]
    assert lint_codes("ALTER TABLE orders ADD COLUMN n bigint DEFAULT nextval('s')") == [
        "rewrite-add-column"
    ]


def test_default_function_calls_lists_what_to_ask() -> None:
    sql = (
        "ALTER TABLE orders ADD COLUMN ref text DEFAULT s.next_ref(1) || now(),"
        " ADD g int GENERATED ALWAYS AS (f(a)) STORED;"
        "SELECT not_a_default();"
    )
    assert default_function_calls(sql) == [
        FunctionRef("s", "next_ref", 1),
        FunctionRef(None, "now", 0),
        FunctionRef(None, "f", 1),
    ]


def test_function_definitions_cover_optional_arguments() -> None:
    sql = "CREATE FUNCTION s.ref(a int, b int DEFAULT 1) RETURNS text LANGUAGE sql STABLE AS 'x'"
    found = function_definitions(sql)
    assert found[FunctionRef(None, "ref", 1)] == "s"
    assert found[FunctionRef("s", "ref", 2)] == "s"
    assert FunctionRef(None, "ref", 0) not in found


def row(name: str, v: str, **kw: object) -> dict[str, object]:
    base = {"schema": "public", "name": name, "nargs": 0, "ndefaults": 0, "variadic": False}
    return {**base, "volatility": v, "visible": True, **kw}


def test_resolve_volatility_like_the_server() -> None:
    calls = [
        FunctionRef(None, "next_ref", 0),
        FunctionRef("audit", "next_ref", 0),
        FunctionRef(None, "fmt", 1),
        FunctionRef(None, "pick", 3),
        FunctionRef(None, "hidden", 0),
    ]
    rows = [
        row("next_ref", "s"),
        row("next_ref", "v", schema="audit", visible=False),
        row("fmt", "i", nargs=2, ndefaults=1),
        row("fmt", "v", nargs=1),  # an overload: without types, the most volatile answers
        row("pick", "s", nargs=1, variadic=True),
        row("hidden", "v", schema="other", visible=False),  # not on the search_path
    ]
    assert resolve_volatility(calls, rows) == {
        FunctionRef(None, "next_ref", 0): "s",
        FunctionRef("audit", "next_ref", 0): "v",
        FunctionRef(None, "fmt", 1): "v",
        FunctionRef(None, "pick", 3): "s",
    }


def test_constant_default_rewrites_before_postgres_11() -> None:
    sql = "ALTER TABLE orders ADD COLUMN venue text NOT NULL DEFAULT 'X'"
    assert lint_codes(sql, server_major=15) == []
    [f] = lint_migration(sql, server_major=10)
    assert f.code == "rewrite-add-column" and "PostgreSQL 10 (before 11)" in f.message
    assert lint_codes("ALTER TABLE orders ADD COLUMN v text DEFAULT NULL", server_major=10) == []


def test_statement_lint_says_what_the_rehearsal_should_see() -> None:
    sql = (
        "ALTER TABLE orders ADD COLUMN code text UNIQUE;\n"
        "ALTER TABLE orders ALTER COLUMN price TYPE numeric(30, 8);\n"
        "CREATE INDEX ix ON public.orders (code);\n"
        "ALTER TABLE orders ADD COLUMN note text;"
    )
    got = [(r.table, r.rewrite, r.lock) for r in lint_statements(sql)]
    assert got == [
        ("orders", False, "ACCESS EXCLUSIVE"),
        ("orders", True, "ACCESS EXCLUSIVE"),
        ("public.orders", False, "SHARE"),
        ("", False, ""),
    ]


def test_lines_and_error_positions_count_characters_not_bytes() -> None:
    text = "-- é é é é\nSELECT 'ü';\n  CREATE INDEX i ON orders (a);"
    assert [(s.line, s.text) for s in split_statements(text)] == [
        (2, "SELECT 'ü'"),
        (3, "CREATE INDEX i ON orders (a)"),
    ]
    [f] = lint_migration("-- é é é é\nSELECT 'ü';\nALTER TABLE orders ADD COLUMN;")
    assert f.message.startswith("line 3: ")
