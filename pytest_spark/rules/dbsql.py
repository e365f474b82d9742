"""The read-only SQL the database-side checks run, in one reviewable place.

Why a catalog: every query a check runs is evidence ("the SQL it ran"), so it
must be a stable, named text a reviewer can read and re-run by hand. Nothing
here writes, takes a lock beyond AccessShare, or depends on an extension; all
of it is PostgreSQL 15 compatible and runs inside a read-only transaction.

Values are bound with psycopg ``%(name)s`` placeholders (never formatted into
the text). Table and column names cannot be bound, so the few queries whose
object names come from config are built by small functions that quote every
identifier with :func:`quote_ident`; their defaults are the Spark names and
the matching ``*_SQL`` constants are those defaults rendered once.

Timestamps that are compared with "now" come with the database's own
``clock_timestamp()`` as ``observed_at`` so the pure rules can measure ages on
one clock (the DB's), immune to skew between the test host and the server.
"""

from __future__ import annotations

import re

from pglast import keywords

__all__ = [
    "ACTIVITY_COUNTS_SQL",
    "ARCHIVER_SETTINGS_SQL",
    "ARCHIVER_STATS_SQL",
    "CONNECTION_SETTINGS_SQL",
    "IDEMPOTENCY_KEYS_SQL",
    "IDLE_IN_TRANSACTION_SQL",
    "MONEY_COLUMNS_SQL",
    "ORDERS_FOR_KEY_SQL",
    "OUTBOX_LAG_SQL",
    "SCHEMA_MIGRATIONS_SQL",
    "SEQUENCES_SQL",
    "SEQUENCE_DEFAULTS_SQL",
    "SEQUENCE_NAMES_SQL",
    "TABLE_EXISTS_SQL",
    "UNIQUE_INDEXES_SQL",
    "idempotency_keys_sql",
    "orders_for_key_sql",
    "outbox_lag_sql",
    "quote_ident",
    "quote_qualified",
    "schema_migrations_sql",
]

# ---------------------------------------------------------------------------
# PF-06 Sequences
# ---------------------------------------------------------------------------

#: One row per (sequence, column it feeds). A sequence with no column gets one
#: row with NULL column fields. ``link`` says how the column was found:
#: ``owned`` (OWNED BY / serial: pg_depend deptype 'a'), ``identity`` (identity
#: column: deptype 'i') or ``default`` (a column DEFAULT nextval(...) of a
#: sequence that is not owned, e.g. after a table was recreated). The column
#: type is resolved through one level of domain to its base type so that an
#: int4 domain counts as int4. ``last_value`` is NULL when the sequence was
#: never called *or* when the session may not read it; ``readable`` tells the
#: two apart so a missing privilege never looks like an unused sequence.
#: Bind: ``schemas`` (list of schema names, e.g. ``["public"]``).
SEQUENCES_SQL = """
WITH seq AS (
    SELECT c.oid AS seq_oid,
           s.schemaname AS sequence_schema,
           s.sequencename AS sequence_name,
           format_type(s.data_type, NULL) AS sequence_type,
           s.start_value,
           s.min_value,
           s.max_value,
           s.increment_by,
           s.cycle,
           s.last_value,
           (has_sequence_privilege(c.oid, 'SELECT')
            OR has_sequence_privilege(c.oid, 'USAGE')) AS readable
      FROM pg_catalog.pg_sequences AS s
      JOIN pg_catalog.pg_namespace AS n ON n.nspname = s.schemaname
      JOIN pg_catalog.pg_class AS c
        ON c.relnamespace = n.oid AND c.relname = s.sequencename AND c.relkind = 'S'
     WHERE s.schemaname = ANY(%(schemas)s::text[])
),
link AS (
    -- OWNED BY (serial, bigserial, ALTER SEQUENCE ... OWNED BY) and identity
    SELECT d.objid AS seq_oid,
           d.refobjid AS table_oid,
           d.refobjsubid AS attnum,
           CASE d.deptype WHEN 'i' THEN 'identity' ELSE 'owned' END AS link
      FROM pg_catalog.pg_depend AS d
     WHERE d.classid = 'pg_catalog.pg_class'::regclass
       AND d.refclassid = 'pg_catalog.pg_class'::regclass
       AND d.refobjsubid > 0
       AND d.deptype IN ('a', 'i')
    UNION
    -- DEFAULT nextval('seq') on a column, whether or not the sequence is owned
    SELECT d.refobjid AS seq_oid,
           ad.adrelid AS table_oid,
           ad.adnum AS attnum,
           'default' AS link
      FROM pg_catalog.pg_depend AS d
      JOIN pg_catalog.pg_attrdef AS ad ON ad.oid = d.objid
     WHERE d.classid = 'pg_catalog.pg_attrdef'::regclass
       AND d.refclassid = 'pg_catalog.pg_class'::regclass
       AND d.deptype = 'n'
)
SELECT seq.sequence_schema,
       seq.sequence_name,
       seq.sequence_type,
       seq.start_value,
       seq.min_value,
       seq.max_value,
       seq.increment_by,
       seq.cycle,
       seq.last_value,
       seq.readable,
       tn.nspname AS table_schema,
       t.relname AS table_name,
       a.attname AS column_name,
       format_type(a.atttypid, a.atttypmod) AS column_type,
       bt.typname AS column_base_type,
       (array_agg(link.link ORDER BY CASE link.link WHEN 'identity' THEN 0
                                                     WHEN 'owned' THEN 1 ELSE 2 END))[1] AS link
  FROM seq
  LEFT JOIN link ON link.seq_oid = seq.seq_oid
  LEFT JOIN pg_catalog.pg_class AS t ON t.oid = link.table_oid
  LEFT JOIN pg_catalog.pg_namespace AS tn ON tn.oid = t.relnamespace
  LEFT JOIN pg_catalog.pg_attribute AS a
         ON a.attrelid = link.table_oid AND a.attnum = link.attnum AND NOT a.attisdropped
  LEFT JOIN pg_catalog.pg_type AS ty ON ty.oid = a.atttypid
  LEFT JOIN pg_catalog.pg_type AS bt
         ON bt.oid = CASE WHEN ty.typtype = 'd' THEN ty.typbasetype ELSE ty.oid END
 GROUP BY seq.sequence_schema, seq.sequence_name, seq.sequence_type, seq.start_value,
          seq.min_value, seq.max_value, seq.increment_by, seq.cycle, seq.last_value,
          seq.readable, tn.nspname, t.relname, a.attname, a.atttypid, a.atttypmod, bt.typname
 ORDER BY seq.sequence_schema, seq.sequence_name, tn.nspname, t.relname, a.attname
"""

#: Column defaults that call nextval(), as PostgreSQL prints them. A default
#: ``nextval('s'::text)`` names its sequence by a text value resolved on every
#: insert, so pg_depend has no row for it (SEQUENCES_SQL cannot see the link);
#: ``rules.sequences.nextval_arguments`` parses these with PostgreSQL's own
#: parser (pglast). The strpos is only a pre-filter. Bind: ``schemas``.
SEQUENCE_DEFAULTS_SQL = """
SELECT n.nspname AS table_schema,
       c.relname AS table_name,
       a.attname AS column_name,
       format_type(a.atttypid, a.atttypmod) AS column_type,
       bt.typname AS column_base_type,
       pg_catalog.pg_get_expr(ad.adbin, ad.adrelid) AS default_expr
  FROM pg_catalog.pg_attrdef AS ad
  JOIN pg_catalog.pg_class AS c ON c.oid = ad.adrelid
  JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
  JOIN pg_catalog.pg_attribute AS a
    ON a.attrelid = ad.adrelid AND a.attnum = ad.adnum AND NOT a.attisdropped
  JOIN pg_catalog.pg_type AS ty ON ty.oid = a.atttypid
  JOIN pg_catalog.pg_type AS bt
    ON bt.oid = CASE WHEN ty.typtype = 'd' THEN ty.typbasetype ELSE ty.oid END
 WHERE n.nspname = ANY(%(schemas)s::text[])
   AND pg_catalog.strpos(lower(pg_catalog.pg_get_expr(ad.adbin, ad.adrelid)), 'nextval') > 0
 ORDER BY 1, 2, 3
"""

#: The sequences those nextval() texts name, resolved by the server as an insert
#: would: the name as written (this session's search_path), else -- if it is
#: unqualified -- in the table's own schema. NULL columns: no such sequence.
#: Bind: ``names`` and ``table_schemas`` (parallel text arrays).
SEQUENCE_NAMES_SQL = """
SELECT r.name, r.table_schema, sn.nspname AS sequence_schema, s.relname AS sequence_name
  FROM unnest(%(names)s::text[], %(table_schemas)s::text[]) AS r(name, table_schema)
  LEFT JOIN LATERAL (
       SELECT coalesce(
                pg_catalog.to_regclass(r.name),
                CASE WHEN array_length(pg_catalog.parse_ident(r.name), 1) = 1
                     THEN pg_catalog.to_regclass(
                              pg_catalog.quote_ident(r.table_schema) || '.'
                              || pg_catalog.quote_ident((pg_catalog.parse_ident(r.name))[1]))
                END) AS oid
  ) AS x ON true
  LEFT JOIN pg_catalog.pg_class AS s ON s.oid = x.oid AND s.relkind = 'S'
  LEFT JOIN pg_catalog.pg_namespace AS sn ON sn.oid = s.relnamespace
"""

# ---------------------------------------------------------------------------
# BS-04 Decimal (DB side)
# ---------------------------------------------------------------------------

#: Every column of the configured tables (views included: an API that reads a
#: float view leaks floats too). The money-like name rule is applied in Python
#: (``rules.decimal_columns``) so its patterns stay configurable and testable.
#: For a column on a domain, information_schema reports the domain's base type.
#: ``udt_name`` lets arrays be judged by element type (``_float8``).
#: Bind: ``schemas`` (list), ``tables`` (list of table names; empty list = all
#: tables of those schemas).
MONEY_COLUMNS_SQL = """
SELECT c.table_schema,
       c.table_name,
       c.column_name,
       c.data_type,
       c.udt_name,
       c.domain_name,
       c.numeric_precision,
       c.numeric_scale,
       t.table_type
  FROM information_schema.columns AS c
  JOIN information_schema.tables AS t
    ON t.table_schema = c.table_schema AND t.table_name = c.table_name
 WHERE c.table_schema = ANY(%(schemas)s::text[])
   AND (cardinality(%(tables)s::text[]) = 0 OR c.table_name = ANY(%(tables)s::text[]))
 ORDER BY c.table_schema, c.table_name, c.ordinal_position
"""

# ---------------------------------------------------------------------------
# RT-01 UNIQUE collation
# ---------------------------------------------------------------------------

#: Every index on one table (not only the good one, so a failure can say what
#: *was* found), with validity, the partial predicate as PostgreSQL prints it
#: (``pg_get_expr``) and, per key column (INCLUDE columns excluded), its
#: collation and whether that collation is deterministic. ``key_columns`` is a
#: JSON array (psycopg returns a list of dicts): ``position``, ``column_name``
#: (NULL for an expression), ``expression`` (the column or expression text),
#: ``data_type``, ``collation_name`` (NULL when not collatable),
#: ``collation_provider`` (c = libc, i = icu, d = default) and
#: ``collation_deterministic``.
#: Bind: ``schema``, ``table``.
UNIQUE_INDEXES_SQL = """
SELECT ic.relname AS index_name,
       tn.nspname AS table_schema,
       t.relname AS table_name,
       i.indisunique AS is_unique,
       i.indisvalid AS is_valid,
       i.indisready AS is_ready,
       i.indisprimary AS is_primary,
       i.indnullsnotdistinct AS nulls_not_distinct,
       pg_catalog.pg_get_expr(i.indpred, i.indrelid, true) AS predicate,
       pg_catalog.pg_get_indexdef(i.indexrelid) AS definition,
       (SELECT json_agg(json_build_object(
                   'position', k.pos + 1,
                   'column_name', ta.attname,
                   'expression', pg_catalog.pg_get_indexdef(i.indexrelid, k.pos + 1, true),
                   'data_type', format_type(ia.atttypid, ia.atttypmod),
                   'collation_name', coll.collname,
                   'collation_provider', coll.collprovider,
                   'collation_deterministic', coll.collisdeterministic)
                   ORDER BY k.pos)
          FROM generate_series(0, i.indnkeyatts - 1) AS k(pos)
          LEFT JOIN pg_catalog.pg_attribute AS ta
                 ON ta.attrelid = i.indrelid
                AND ta.attnum = i.indkey[k.pos]
                AND i.indkey[k.pos] <> 0
          LEFT JOIN pg_catalog.pg_attribute AS ia
                 ON ia.attrelid = i.indexrelid AND ia.attnum = k.pos + 1
          LEFT JOIN pg_catalog.pg_collation AS coll ON coll.oid = i.indcollation[k.pos]
       ) AS key_columns
  FROM pg_catalog.pg_index AS i
  JOIN pg_catalog.pg_class AS ic ON ic.oid = i.indexrelid
  JOIN pg_catalog.pg_class AS t ON t.oid = i.indrelid
  JOIN pg_catalog.pg_namespace AS tn ON tn.oid = t.relnamespace
 WHERE tn.nspname = %(schema)s
   AND t.relname = %(table)s
 ORDER BY ic.relname
"""

# ---------------------------------------------------------------------------
# PF-03 Saturation, BS-03 pgBouncer, RT-07 pgBouncer leak (PostgreSQL side)
# ---------------------------------------------------------------------------

#: ``max_connections`` and the slots PostgreSQL keeps back for superusers
#: (BS-03 sizes PgBouncer's pools against what is left). PG 15 has no
#: ``reserved_connections`` (that is 16+). No bind parameters.
CONNECTION_SETTINGS_SQL = """
SELECT current_setting('max_connections')::int AS max_connections,
       current_setting('superuser_reserved_connections')::int AS superuser_reserved_connections
"""

#: How full PostgreSQL is (PF-03): client backends by state, against
#: ``max_connections``. A role without pg_read_all_stats sees other users'
#: rows with backend_type and state NULL; those rows (when they have a user)
#: are counted as clients -- at worst a background worker is over-counted,
#: which errs towards "saturated", never towards "fine". ``hidden_rows`` and
#: ``can_read_all_stats`` tell the evidence reader how much was visible.
#: No bind parameters.
ACTIVITY_COUNTS_SQL = """
SELECT count(*) FILTER (WHERE a.backend_type = 'client backend'
                           OR (a.backend_type IS NULL AND a.usesysid IS NOT NULL))
           AS client_connections,
       count(*) FILTER (WHERE a.backend_type = 'client backend' AND a.state = 'active') AS active,
       count(*) FILTER (WHERE a.backend_type = 'client backend' AND a.state = 'idle') AS idle,
       count(*) FILTER (WHERE a.state = 'idle in transaction') AS idle_in_transaction,
       count(*) FILTER (WHERE a.state = 'idle in transaction (aborted)')
           AS idle_in_transaction_aborted,
       count(*) FILTER (WHERE a.backend_type IS NULL) AS hidden_rows,
       count(*) AS all_backends,
       pg_has_role(current_user, 'pg_read_all_stats', 'USAGE') AS can_read_all_stats,
       current_setting('max_connections')::int AS max_connections,
       current_setting('superuser_reserved_connections')::int AS superuser_reserved_connections,
       clock_timestamp() AS observed_at
  FROM pg_catalog.pg_stat_activity AS a
"""

#: Sessions sitting in a transaction without running anything (RT-07: a
#: leaking app holds a PgBouncer server connection this way). Ages are
#: computed on the DB clock. The probe's own backend is excluded. Other
#: users' sessions show a state only to a role with pg_read_all_stats (or
#: the same user); without it use PgBouncer's SHOW SERVERS instead.
#: No bind parameters.
IDLE_IN_TRANSACTION_SQL = """
SELECT a.pid,
       a.datname,
       a.usename,
       a.application_name,
       host(a.client_addr) AS client_addr,
       a.state,
       a.xact_start,
       a.state_change,
       EXTRACT(EPOCH FROM clock_timestamp() - a.xact_start)::float8 AS xact_age_s,
       EXTRACT(EPOCH FROM clock_timestamp() - a.state_change)::float8 AS state_age_s,
       clock_timestamp() AS observed_at
  FROM pg_catalog.pg_stat_activity AS a
 WHERE a.state IN ('idle in transaction', 'idle in transaction (aborted)')
   AND a.pid <> pg_backend_pid()
 ORDER BY a.xact_start
"""

# ---------------------------------------------------------------------------
# RT-08 PITR (archiver health)
# ---------------------------------------------------------------------------

#: The settings that decide whether WAL is archived at all. ``archive_library``
#: (PG 15+) is the alternative to ``archive_command``. No bind parameters.
ARCHIVER_SETTINGS_SQL = """
SELECT name, setting
  FROM pg_catalog.pg_settings
 WHERE name IN ('archive_mode', 'wal_level', 'archive_command', 'archive_library',
                'archive_timeout')
 ORDER BY name
"""

#: The archiver's counters and last success / failure (one row), plus the DB
#: clock to measure "last archive younger than N min" against.
#: No bind parameters.
ARCHIVER_STATS_SQL = """
SELECT s.archived_count,
       s.last_archived_wal,
       s.last_archived_time,
       s.failed_count,
       s.last_failed_wal,
       s.last_failed_time,
       s.stats_reset,
       clock_timestamp() AS observed_at
  FROM pg_catalog.pg_stat_archiver AS s
"""

# ---------------------------------------------------------------------------
# Object-name-dependent queries (BS-02, RT-02, RT-03)
# ---------------------------------------------------------------------------

_SIMPLE_IDENT = re.compile(r"[a-z_][a-z0-9_]*\Z")

#: Every keyword PostgreSQL's quote_ident quotes: all but the unreserved ones
#: (ruleutils.c quote_identifier), from the parser's own keyword list (pglast,
#: PostgreSQL 18: a superset of older majors', so the quoting is valid on them).
_RESERVED = frozenset(
    keywords.RESERVED_KEYWORDS | keywords.TYPE_FUNC_NAME_KEYWORDS | keywords.COL_NAME_KEYWORDS
)


def quote_ident(name: str) -> str:
    """Quote one SQL identifier the way PostgreSQL's quote_ident does (``$`` and
    non-unreserved keywords such as ``position`` are quoted, as the server does).

    Config supplies table names; quoting (rather than validating against a
    pattern) keeps any legal name usable while making injection impossible.
    """
    if not name:
        raise ValueError("empty SQL identifier")
    if "\x00" in name:
        raise ValueError("SQL identifier contains a NUL byte")
    if _SIMPLE_IDENT.match(name) and name not in _RESERVED:
        return name
    return '"' + name.replace('"', '""') + '"'


def quote_qualified(name: str, default_schema: str | None = None) -> str:
    """Quote ``table`` or ``schema.table`` (a dot splits schema from table).

    A name that itself contains a dot must be given pre-split via
    ``default_schema``; config names in practice never do.
    """
    schema, dot, table = name.rpartition(".")
    if not dot:
        schema = default_schema or ""
    return f"{quote_ident(schema)}.{quote_ident(table)}" if schema else quote_ident(table)


#: Does a table exist (and is it visible)? Bind: ``name`` (``table`` or
#: ``schema.table``, as text).
TABLE_EXISTS_SQL = "SELECT to_regclass(%(name)s) IS NOT NULL AS exists"


def schema_migrations_sql(table: str = "schema_migrations", schema: str | None = None) -> str:
    """Every row of the migrations table, each as one JSON object ``row``.

    Migration tools disagree on the table's columns (golang-migrate: version
    + dirty, one row; Flyway: version + success per migration; Rails:
    version only). ``to_jsonb`` returns whatever columns exist, and
    ``rules.migrations`` reads ``version`` / ``success`` / ``dirty`` from it.
    No bind parameters.
    """
    return f"SELECT to_jsonb(m) AS row FROM {quote_qualified(table, schema)} AS m"


def outbox_lag_sql(
    table: str = "outbox",
    created_column: str = "created_at",
    published_column: str = "published_at",
    schema: str | None = None,
) -> str:
    """RT-03: backlog and oldest unpublished row of the outbox, on the DB clock.

    One row: ``backlog``, ``oldest_created_at`` (NULL when empty),
    ``oldest_age_s`` and ``observed_at``. No bind parameters.
    """
    created = quote_ident(created_column)
    published = quote_ident(published_column)
    return (
        "SELECT count(*) AS backlog,\n"
        f"       min({created}) AS oldest_created_at,\n"
        f"       EXTRACT(EPOCH FROM clock_timestamp() - min({created}))::float8 AS oldest_age_s,\n"
        "       clock_timestamp() AS observed_at\n"
        f"  FROM {quote_qualified(table, schema)}\n"
        f" WHERE {published} IS NULL"
    )


def idempotency_keys_sql(
    table: str = "idempotency_keys",
    created_column: str = "created_at",
    expires_column: str = "expires_at",
    schema: str | None = None,
) -> str:
    """RT-02: what the stored idempotency keys say about TTL and purging.

    One row: ``key_count``, ``min_ttl_s`` (shortest ``expires_at -
    created_at``), ``oldest_expires_at``, ``overdue_count`` (keys expired more
    than ``grace_s`` ago, i.e. ones the purge should have removed) and
    ``observed_at``. Bind: ``grace_s`` (seconds, number).
    """
    created = quote_ident(created_column)
    expires = quote_ident(expires_column)
    return (
        "SELECT count(*) AS key_count,\n"
        f"       EXTRACT(EPOCH FROM min({expires} - {created}))::float8 AS min_ttl_s,\n"
        f"       min({expires}) AS oldest_expires_at,\n"
        f"       count(*) FILTER (WHERE {expires} < clock_timestamp()\n"
        "                          - make_interval(secs => %(grace_s)s::float8))"
        " AS overdue_count,\n"
        "       clock_timestamp() AS observed_at\n"
        f"  FROM {quote_qualified(table, schema)}"
    )


def orders_for_key_sql(
    table: str = "orders",
    key_column: str = "idempotency_key",
    id_column: str = "id",
    schema: str | None = None,
) -> str:
    """RT-02: the orders one idempotency key created (exactly one is right).

    Rows: ``id`` (as text, to compare with the ids the API returned).
    Bind: ``key``.
    """
    return (
        f"SELECT {quote_ident(id_column)}::text AS id\n"
        f"  FROM {quote_qualified(table, schema)}\n"
        f" WHERE {quote_ident(key_column)} = %(key)s\n"
        f" ORDER BY 1"
    )


#: The Spark defaults of the builders above, rendered once.
SCHEMA_MIGRATIONS_SQL = schema_migrations_sql()
OUTBOX_LAG_SQL = outbox_lag_sql()
IDEMPOTENCY_KEYS_SQL = idempotency_keys_sql()
ORDERS_FOR_KEY_SQL = orders_for_key_sql()
