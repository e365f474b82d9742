"""PF-04 migration lint: tokenizer, statement splitter, each long-lock rule, properties."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_spark.rules.findings import FAIL, WARN, codes
from pytest_spark.rules.migration_lint import lint_migration, split_statements, tokenize


def lint_codes(sql: str, **kw: object) -> list[str]:
    return codes(lint_migration(sql, **kw))  # type: ignore[arg-type]


# --- tokenizer -------------------------------------------------------------------


def test_tokenizer_kinds() -> None:
    sql = (
        "SELECT 'it''s', E'a\\'b', U&'x', \"Q\"\"id\", $$body; $$, $f$ $$ $f$, $1, 1.5e3 "
        "-- c\n/* a /* nested */ b */ x::int;"
    )
    kinds = [(t.kind, t.text) for t in tokenize(sql) if t.kind not in ("ws",)]
    assert ("string", "'it''s'") in kinds
    assert ("string", "E'a\\'b'") in kinds
    assert ("string", "U&'x'") in kinds
    assert ("qident", '"Q""id"') in kinds
    assert ("dollar", "$$body; $$") in kinds
    assert ("dollar", "$f$ $$ $f$") in kinds
    assert ("param", "$1") in kinds
    assert ("number", "1.5e3") in kinds
    assert ("comment", "-- c") in kinds
    assert ("comment", "/* a /* nested */ b */") in kinds
    assert ("op", "::") in kinds
    assert kinds[-1] == ("semicolon", ";")


def test_tokenizer_tracks_lines_and_unterminated_input() -> None:
    toks = tokenize("a\n'b\nc")
    assert [(t.kind, t.line) for t in toks] == [("word", 1), ("ws", 1), ("string", 2)]
    assert tokenize("/* open")[0].kind == "comment"
    assert tokenize("$x$ never closed")[0].kind == "dollar"


def test_identifier_with_dollar_is_one_word() -> None:
    assert [t.text for t in tokenize("a$b")] == ["a$b"]


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
        "ALTER TABLE orders ADD COLUMN venue text CHECK (venue IS NOT NULL)",
        "ALTER TABLE orders ADD COLUMN seen_at timestamptz NOT NULL DEFAULT now()",
        "ALTER TABLE orders ADD COLUMN acct bigint REFERENCES accounts (id)",
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
def test_lint_never_raises_and_tokenizer_is_lossless(text: str) -> None:
    assert "".join(t.text for t in tokenize(text)) == text
    lint_migration(text, hot_tables=["orders"], in_transaction=True)


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
    assert "".join(t.text for t in tokenize(text)) == text
    for stmt in split_statements(text):
        assert stmt.text and stmt.text in text
        assert stmt.text.startswith(stmt.tokens[0].text)
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
