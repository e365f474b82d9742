"""The SQL catalog: read-only single SELECTs, documented bind parameters, safe quoting."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pglast import ast
from pglast.parser import scan

from pytest_spark.rules import dbsql
from pytest_spark.rules.migration_lint import split_statements

#: constant -> the bind parameters its docstring promises
BINDS: dict[str, set[str]] = {
    "SEQUENCES_SQL": {"schemas"},
    "SEQUENCE_DEFAULTS_SQL": {"schemas"},
    "SEQUENCE_NAMES_SQL": {"names", "table_schemas"},
    "MONEY_COLUMNS_SQL": {"schemas", "tables"},
    "UNIQUE_INDEXES_SQL": {"schema", "table"},
    "CONNECTION_SETTINGS_SQL": set(),
    "ACTIVITY_COUNTS_SQL": set(),
    "IDLE_IN_TRANSACTION_SQL": set(),
    "ARCHIVER_SETTINGS_SQL": set(),
    "ARCHIVER_STATS_SQL": set(),
    "TABLE_EXISTS_SQL": {"name"},
    "SCHEMA_MIGRATIONS_SQL": set(),
    "OUTBOX_LAG_SQL": set(),
    "IDEMPOTENCY_KEYS_SQL": {"grace_s"},
    "ORDERS_FOR_KEY_SQL": {"key"},
}
WRITE_WORDS = {
    "INSERT", "UPDATE", "DELETE", "MERGE", "CREATE", "ALTER", "DROP", "TRUNCATE", "GRANT",
    "REVOKE", "COPY", "LOCK", "VACUUM", "CLUSTER", "REINDEX", "CALL", "DO", "SET", "NEXTVAL",
    "SETVAL", "PG_SWITCH_WAL",
}  # fmt: skip


def test_every_constant_is_catalogued() -> None:
    consts = {n for n in dbsql.__all__ if n.endswith("_SQL")}
    assert consts == set(BINDS)


@pytest.mark.parametrize("name", sorted(BINDS))
def test_constant_is_one_read_only_select(name: str) -> None:
    sql = getattr(dbsql, name)
    [stmt] = split_statements(re.sub(r"%\(\w+\)s", "$1", sql))  # binds as PostgreSQL params
    assert isinstance(stmt.node, ast.SelectStmt)  # PostgreSQL's parser says: one SELECT
    words = {sql[t.start : t.end + 1].upper() for t in scan(sql) if t.name != "SCONST"}
    assert not words & WRITE_WORDS, words & WRITE_WORDS


@pytest.mark.parametrize("name", sorted(BINDS))
def test_bind_parameters_match_the_documentation(name: str) -> None:
    sql = getattr(dbsql, name)
    assert set(re.findall(r"%\((\w+)\)s", sql)) == BINDS[name]
    # no stray % that psycopg would read as a placeholder
    assert "%" not in re.sub(r"%\(\w+\)s", "", sql)


def test_catalog_queries_are_schema_qualified() -> None:
    for name in ("SEQUENCES_SQL", "UNIQUE_INDEXES_SQL", "ARCHIVER_STATS_SQL"):
        assert "pg_catalog." in getattr(dbsql, name)


@pytest.mark.parametrize(
    ("name", "quoted"),
    [
        ("orders", "orders"),
        ("Orders", '"Orders"'),
        ("order items", '"order items"'),
        ('we"ird', '"we""ird"'),
        ("select", '"select"'),
        ("user", '"user"'),
        # what PostgreSQL 15's own quote_ident() returns (asked of a real server)
        ("position", '"position"'),
        ("between", '"between"'),
        ("int", '"int"'),
        ("filter", "filter"),
        ("name", "name"),
        ("_x$1", '"_x$1"'),
        ("1abc", '"1abc"'),
    ],
)
def test_quote_ident(name: str, quoted: str) -> None:
    assert dbsql.quote_ident(name) == quoted


def test_quote_ident_rejects_empty_and_nul() -> None:
    with pytest.raises(ValueError):
        dbsql.quote_ident("")
    with pytest.raises(ValueError):
        dbsql.quote_ident("a\x00b")


def test_quote_qualified() -> None:
    assert dbsql.quote_qualified("trading.orders") == "trading.orders"
    assert dbsql.quote_qualified("Orders", "App") == '"App"."Orders"'
    assert dbsql.quote_qualified("orders") == "orders"


def test_builders_use_config_names() -> None:
    sql = dbsql.outbox_lag_sql("Outbox Events", "queued_at", "sent_at", schema="relay")
    assert 'FROM relay."Outbox Events"' in sql and "sent_at IS NULL" in sql
    assert "min(queued_at)" in sql
    assert 'FROM "Keys"' in dbsql.idempotency_keys_sql("Keys")
    assert "WHERE idem_key = %(key)s" in dbsql.orders_for_key_sql(key_column="idem_key")
    assert dbsql.schema_migrations_sql("flyway_schema_history", "ops") == (
        "SELECT to_jsonb(m) AS row FROM ops.flyway_schema_history AS m"
    )


@given(st.text(min_size=1, max_size=20).filter(lambda s: "\x00" not in s))
def test_quoted_identifier_is_one_identifier(name: str) -> None:
    """PostgreSQL's parser reads the quoted name back as exactly that name."""
    quoted = dbsql.quote_ident(name)
    [stmt] = split_statements(f"SELECT FROM {quoted}")
    assert stmt.node.fromClause[0].relname == name
