"""Database-side checks: migrations, decimals, sequences, unique index, idempotency.

Each test reads like a checklist line: ask PostgreSQL (read-only) or the API,
record the SQL and rows as evidence, let a pure rule from ``pytest_spark.rules``
decide, and fail with a message that names the object and the number. Names
and limits come from the run's config (``schema``, ``thresholds``, ``release``).
"""

from __future__ import annotations

import tempfile
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from pytest_spark.dsn import describe
from pytest_spark.evidence import Recorder
from pytest_spark.probes import ProbeError, pitr
from pytest_spark.probes import sql_tools as tools
from pytest_spark.probes.accounts import probe_account
from pytest_spark.probes.db import rows
from pytest_spark.probes.http import HttpResponse, get_json, request
from pytest_spark.rules import (
    collation,
    dbsql,
    decimal_columns,
    migration_lint,
    migrations,
    outbox,
    rehearsal,
    sequences,
)
from pytest_spark.rules.findings import FAIL, Finding
from pytest_spark.rules.orders import ProbeOrderError, probe_order, with_other_quantity

#: pg_dump / pg_restore may take this many times the per-call deadline (they
#: run many catalog queries, not one).
TOOL_DEADLINE_FACTOR = 6
#: Accounts whose positions BS-04 reads through the API.
SAMPLE_ACCOUNTS = 3
#: Findings spelled out in a failure message (all of them are in the evidence).
MAX_SHOWN = 6


# ---------------------------------------------------------------------------
# helpers: config, evidence, verdict
# ---------------------------------------------------------------------------


def query(
    conn: Any,
    evidence: Recorder,
    name: str,
    sql: str,
    params: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Run one read-only query and keep the SQL, its parameters and the rows as evidence."""
    found = rows(conn, sql, params)
    evidence.observe(f"{name}.sql", {"sql": sql, "params": dict(params or {})})
    evidence.observe(f"{name}.rows", found)
    return found


def resolve(conn: Any, evidence: Recorder, name: str, setting_name: str) -> dict[str, Any]:
    """A configured table as PostgreSQL sees it, or ERROR naming the setting."""
    found = tools.resolve_table(conn, name)
    evidence.observe(f"table {name}", found)
    if found is None:
        raise ProbeError(
            f"table {name} ({setting_name}) does not exist or is not visible to this role"
        )
    return found


def conclude(evidence: Recorder, findings: Iterable[Finding], prefix: str = "") -> None:
    """Record every finding; fail on those of severity "fail", naming each."""
    found = list(findings)
    evidence.observe("findings", [f.to_dict() for f in found])
    failures = [f.message for f in found if f.severity == FAIL]
    shown = "; ".join(failures[:MAX_SHOWN])
    extra = len(failures) - MAX_SHOWN
    more = f" (+{extra} more in the evidence)" if extra > 0 else ""
    assert not failures, prefix + shown + more


# ---------------------------------------------------------------------------
# BS-02 Migrate
# ---------------------------------------------------------------------------


@pytest.mark.spark_check("BS-02")
def test_bs02_schema_at_release_migration(
    db: Any, release: Any, schema: Any, evidence: Recorder
) -> None:
    """The schema is at the release's migration, with no failed or dirty one recorded.

    Without release.migration there is nothing to compare with: ERROR, not a pass
    (failed or dirty rows are still read and kept in the evidence).
    """
    table = schema["migrations_table"]
    expected = release["migration"] or None
    with db() as conn:
        found = resolve(conn, evidence, table, "schema.migrations_table")
        sql = dbsql.schema_migrations_sql(found["table_name"], found["table_schema"])
        applied = query(conn, evidence, "applied_migrations", sql)
    normalised = migrations.normalise_rows(applied)
    evidence.observe(
        "applied_versions",
        [{"version": m.version, "success": m.success, "dirty": m.dirty} for m in normalised],
    )
    evidence.observe(
        "thresholds",
        {"release.migration": expected, "compare": expected is not None},
    )
    findings = migrations.evaluate_migrations(applied, expected)
    if expected is None:
        evidence.observe("findings", [f.to_dict() for f in findings])
        failures = [f.message for f in findings if f.severity == FAIL]
        also = f" (also in {table}: {'; '.join(failures[:MAX_SHOWN])})" if failures else ""
        raise ProbeError(
            f"release.migration is not set: cannot compare the schema's migration version{also}"
        )
    conclude(evidence, findings, f"{table}: ")


# ---------------------------------------------------------------------------
# BS-04 Decimal
# ---------------------------------------------------------------------------


@pytest.mark.spark_check("BS-04")
def test_bs04_money_is_decimal_in_db_and_api(
    db: Any, http: Any, api_urls: list[str], schema: Any, evidence: Recorder
) -> None:
    """No money-like column is float/money/unconstrained; no money JSON field is a number."""
    patterns = list(schema["money_patterns"])
    evidence.observe("thresholds", {"money_patterns": patterns, "tables": schema["money_tables"]})
    with db() as conn:
        tables = [resolve(conn, evidence, t, "schema.money_tables") for t in schema["money_tables"]]
        pairs = {(t["table_schema"], t["table_name"]) for t in tables}
        params = {
            "schemas": sorted({s for s, _ in pairs}),
            "tables": sorted({t for _, t in pairs}),
        }
        columns = [
            c
            for c in query(conn, evidence, "columns", dbsql.MONEY_COLUMNS_SQL, params)
            if (c["table_schema"], c["table_name"]) in pairs
        ]
        positions = schema["positions_table"]
        accounts = query(
            conn,
            evidence,
            "sample_accounts",
            tools.sample_values_sql(positions, schema["positions_key"][0], SAMPLE_ACCOUNTS),
        )
        order_ids = query(
            conn, evidence, "latest_order", tools.latest_ids_sql(schema["orders_table"])
        )
    money_columns = [
        c for c in columns if decimal_columns.is_money_like(c["column_name"], patterns)
    ]
    evidence.observe("money_columns", money_columns)
    findings = decimal_columns.evaluate_columns(columns, patterns=patterns)

    paths = ["/quotes"]
    paths += [f"/positions/{quote(str(a['value']), safe='')}" for a in accounts]
    paths += [f"/orders/{quote(str(o['id']), safe='')}" for o in order_ids]
    if not accounts:
        evidence.observe("note", f"no rows in {positions}: /positions/{{account}} not sampled")
    if not order_ids:
        evidence.observe("note", f"no rows in {schema['orders_table']}: /orders/{{id}} not sampled")
    api_fields = dict.fromkeys(api_urls, 0)
    for base in api_urls:
        for path in paths:
            url = base + path
            doc = get_json(http, url)
            evidence.observe("api_response", {"url": url, "body": doc})
            api_fields[base] += len(decimal_columns.money_fields(doc, patterns))
            findings += decimal_columns.evaluate_json(doc, patterns=patterns, source=f"GET {url}")
    evidence.observe("api_money_fields", api_fields)
    blind = decimal_columns.unverified(
        money_columns, api_fields, patterns=patterns, tables=schema["money_tables"]
    )
    if blind:  # nothing judged is not a pass (a pattern typo, an API answering {})
        evidence.observe("findings", [f.to_dict() for f in findings])
        failures = [f.message for f in findings if f.severity == FAIL]
        also = f" (also: {'; '.join(failures[:MAX_SHOWN])})" if failures else ""
        raise ProbeError("; ".join(blind) + also)
    conclude(evidence, findings)


# ---------------------------------------------------------------------------
# PF-04 Migration
# ---------------------------------------------------------------------------


def applied_versions(conn: Any, evidence: Recorder, table: str) -> list[str]:
    """Versions the target records as applied (none when it has no migrations table)."""
    found = tools.resolve_table(conn, table)
    if found is None:
        evidence.observe("note", f"no migrations table {table}: every file counts as pending")
        return []
    sql = dbsql.schema_migrations_sql(found["table_name"], found["table_schema"])
    done = migrations.normalise_rows(query(conn, evidence, "applied_migrations", sql))
    return [m.version for m in done if m.success and not m.dirty]


def default_volatility(
    conn: Any, evidence: Recorder, pending: list[rehearsal.PendingMigration]
) -> dict[Any, str]:
    """``pg_proc.provolatile`` of each function the pending ADD COLUMN defaults call (read-only)."""
    calls = rehearsal.pending_function_calls(pending)
    if not calls:
        return {}
    names = sorted({c.name for c in calls})
    found = query(conn, evidence, "default_functions", tools.PROC_VOLATILITY_SQL, {"names": names})
    resolved = migration_lint.resolve_volatility(calls, found)
    evidence.observe("default_volatility", {str(k): v for k, v in resolved.items()})
    return resolved


@contextmanager
def rehearsal_server(
    spark_config: Any, version: Mapping[str, Any], timeout: float, deadline: float
) -> Iterator[tuple[str, dict[str, Any]]]:
    """(dsn, description) of where the migrations run -- never the target's server.

    ``targets.rehearsal_dsn`` set: a scratch database on that server (dropped
    after). Unset: a throwaway PostgreSQL of the target's major version started
    here (initdb in a temp dir), stopped and removed after, also on error.
    """
    configured = spark_config.targets.get("rehearsal_dsn", "")
    if configured:
        described = {"kind": "configured rehearsal server", "server": describe(configured)}
        with tools.scratch_database(configured, timeout=timeout) as scratch:
            yield scratch.dsn, described
        described["scratch_database"] = scratch.to_dict()  # after the drop
        return
    try:
        pg_bin = pitr.pg_bin_dir(
            int(version["server_version_num"]),
            spark_config.targets["pg_bin_dir"],
            tools=("initdb", "postgres"),
        )
    except ProbeError as exc:
        raise ProbeError(
            f"{exc} (PF-04 rehearses on a throwaway PostgreSQL of the target's major version; "
            "or set targets.rehearsal_dsn to a server it may create a scratch database on)"
        ) from None
    described: dict[str, Any] = {"kind": "throwaway local PostgreSQL"}
    with pitr.throwaway_server(pg_bin, deadline_s=deadline, timeout=timeout) as server:
        yield server.dsn, described
    described.update(server.to_dict())  # after it stopped: the stop time too


@pytest.mark.spark_check("PF-04")
def test_pf04_pending_migrations_rehearse_and_lint_clean(
    db: Any,
    configured: Any,
    spark_config: Any,
    schema: Any,
    timeout: float,
    evidence: Recorder,
) -> None:
    """Pending migrations apply to a copy of the schema and take no long locks.

    The target is only read: its schema is copied with pg_dump through a
    read-only session, and the migrations run on a throwaway PostgreSQL of the
    same major version (or ``targets.rehearsal_dsn``). The lint (PostgreSQL's
    parser, default volatility from the target's pg_proc) guesses which
    statements rewrite or lock; the rehearsal records per statement the
    relfilenodes it changed and the locks it took, and confirms or refutes
    the guess. A file with a cluster-wide statement (roles, ALTER SYSTEM,
    databases, tablespaces, role membership) is not rehearsed: ERROR.
    """
    dsn = configured("targets.db_dsn")
    directory = Path(configured("release.pending_migrations_dir"))
    files = tools.load_pending(directory)
    with db() as conn:  # reachability and version first: pg_dump must match the server
        version = query(conn, evidence, "server_version", tools.SERVER_VERSION_SQL)[0]
        applied = applied_versions(conn, evidence, schema["migrations_table"])
        pending, done = rehearsal.split_applied(files, applied)
        volatility = default_volatility(conn, evidence, pending)
    evidence.observe(
        "pending_migrations",
        {
            "directory": str(directory),
            "files": [m.to_dict() for m in pending],
            "already_applied": [m.name for m in done],
            "skipped_down_files": sorted(
                p.name for p in directory.glob("*.sql") if tools.is_down_migration(p)
            ),
        },
    )
    limits = {
        "lock_timeout_s": timeout,
        "statement_timeout_s": timeout,
        "tool_deadline_s": timeout * TOOL_DEADLINE_FACTOR,
    }
    evidence.observe("thresholds", limits)
    if not pending:
        evidence.observe("result", "no pending migrations")
        return

    major = int(version["server_version_num"]) // 10000
    hot = [schema[k] for k in ("orders_table", "positions_table", "idempotency_table")]
    hot += [schema["outbox_table"], *schema["money_tables"]]
    lints = rehearsal.lint_pending(
        pending, hot_tables=sorted(set(hot)), volatility=volatility, server_major=major
    )
    refused = rehearsal.cluster_wide_statements(pending)
    evidence.observe("cluster_wide_statements", refused)
    if refused:
        evidence.observe("lint", [f.to_dict() for f in rehearsal.lint_findings(lints)])
        raise ProbeError("; ".join(refused))

    pg_bin = spark_config.targets["pg_bin_dir"]
    pg_dump = tools.find_pg_tool("pg_dump", major, configured=pg_bin)
    pg_restore = tools.find_pg_tool("pg_restore", major, configured=pg_bin)
    deadline = limits["tool_deadline_s"]
    local = not spark_config.targets.get("rehearsal_dsn", "")
    with tempfile.TemporaryDirectory(prefix="spark-pf04-") as tmp:
        dump, roles = Path(tmp) / "schema.dump", Path(tmp) / "roles.sql"
        dumped = tools.dump_schema(
            dsn, dump, pg_dump=pg_dump, timeout=deadline, connect_timeout=timeout
        )
        evidence.observe("pg_dump", dumped.to_dict())
        if local:  # the throwaway server gets the target's roles (no passwords): GRANTs rehearse
            pg_dumpall = tools.find_pg_tool("pg_dumpall", major, configured=pg_bin)
            evidence.observe(
                "pg_dumpall",
                tools.dump_roles(
                    dsn, roles, pg_dumpall=pg_dumpall, timeout=deadline, connect_timeout=timeout
                ).to_dict(),
            )
        with rehearsal_server(spark_config, version, timeout, deadline) as (where, server):
            if local:
                script = roles.read_text(encoding="utf-8", errors="replace")
                evidence.observe("roles", tools.create_roles(where, script, timeout=timeout))
            restored = tools.restore_schema(
                where, dump, pg_restore=pg_restore, timeout=deadline, connect_timeout=timeout
            )
            evidence.observe("pg_restore", restored.to_dict())
            runs = tools.apply_pending(
                where,
                pending,
                timeout=timeout,
                lock_timeout_s=limits["lock_timeout_s"],
                statement_timeout_s=limits["statement_timeout_s"],
            )
        evidence.observe("rehearsal_server", server)
    statements = [r.to_dict() for r in runs]
    evidence.observe("statements", statements)
    created = [t for m in pending for t in rehearsal.created_tables(m.text)]
    compared, missed = rehearsal.confirm_lint(lints, statements, new_tables=created)
    evidence.observe("lint_vs_rehearsal", compared)
    lint = rehearsal.lint_findings(lints)
    evidence.observe("lint", [f.to_dict() for f in lint])
    findings = rehearsal.evaluate_rehearsal(
        statements,
        lock_timeout_s=limits["lock_timeout_s"],
        statement_timeout_s=limits["statement_timeout_s"],
    )
    conclude(evidence, [*findings, *missed, *lint])


# ---------------------------------------------------------------------------
# PF-06 Sequences
# ---------------------------------------------------------------------------


@pytest.mark.spark_check("PF-06")
def test_pf06_no_sequence_near_exhaustion(db: Any, thresholds: Any, evidence: Recorder) -> None:
    """Every sequence, measured against the narrower of itself and the column it feeds
    (found through pg_depend and through nextval() in column defaults)."""
    limits = {
        "fail_at": thresholds["sequence_fail_ratio"],
        "warn_at": thresholds["sequence_warn_ratio"],
    }
    evidence.observe("thresholds", limits)
    with db() as conn:
        schemas = [
            r["schema_name"] for r in query(conn, evidence, "schemas", tools.USER_SCHEMAS_SQL)
        ]
        found = query(conn, evidence, "sequences", dbsql.SEQUENCES_SQL, {"schemas": schemas})
        defaults = query(
            conn, evidence, "sequence_defaults", dbsql.SEQUENCE_DEFAULTS_SQL, {"schemas": schemas}
        )
        names = [
            (name, str(d["table_schema"]))
            for d in defaults
            for name in sequences.nextval_arguments(str(d["default_expr"] or ""))[0]
        ]
        resolved = (
            query(
                conn,
                evidence,
                "sequence_default_names",
                dbsql.SEQUENCE_NAMES_SQL,
                {"names": [n for n, _ in names], "table_schemas": [t for _, t in names]},
            )
            if names
            else []
        )
        database = conn.info.dbname
    evidence.observe("sequences_examined", len(found))
    if not found:
        raise ProbeError(
            f"no sequences visible in {database}: wrong database or missing privileges?"
        )
    # defaults like nextval('s'::text) leave no pg_depend row: link them from the text
    linked, notes = sequences.default_links(found, defaults, resolved)
    evidence.observe("usage", [u.to_dict() for u in sequences.measure_sequences(linked)])
    conclude(evidence, [*sequences.evaluate_sequences(linked, **limits), *notes])


# ---------------------------------------------------------------------------
# RT-01 UNIQUE collation
# ---------------------------------------------------------------------------


@pytest.mark.spark_check("RT-01")
def test_rt01_one_open_position_index_holds(db: Any, schema: Any, evidence: Recorder) -> None:
    """A valid partial unique index with the expected predicate and deterministic collations."""
    table = schema["positions_table"]
    expected = {
        "table": table,
        "key_columns": list(schema["positions_key"]),
        "predicate": schema["positions_predicate"],
    }
    evidence.observe("thresholds", expected)
    with db() as conn:
        found = resolve(conn, evidence, table, "schema.positions_table")
        params = {"schema": found["table_schema"], "table": found["table_name"]}
        indexes = query(conn, evidence, "indexes", dbsql.UNIQUE_INDEXES_SQL, params)
    findings = collation.evaluate_unique_index(
        indexes,
        table=table,
        key_columns=expected["key_columns"],
        predicate=expected["predicate"] or None,
    )
    conclude(evidence, findings)


# ---------------------------------------------------------------------------
# RT-02 Idempotency TTL (writes)
# ---------------------------------------------------------------------------


def post_order(http: Any, url: str, body: Mapping[str, str], key: str | None) -> HttpResponse:
    headers = {"Idempotency-Key": key} if key is not None else {}
    return request(http, "POST", f"{url}/orders", headers=headers, json=dict(body))


def summary(resp: HttpResponse) -> dict[str, Any]:
    """What evidence keeps of one POST /orders answer."""
    try:
        doc = resp.json()
    except ProbeError:
        doc = resp.body.decode("utf-8", "replace")[:500]
    order_id = doc.get("id") if isinstance(doc, dict) and resp.status < 300 else None
    return {
        "url": resp.url,
        "status": resp.status,
        "order_id": None if order_id is None else str(order_id),
        "replayed": resp.header("Idempotent-Replayed"),
        "elapsed_s": round(resp.elapsed_s, 4),
        "body": doc,
    }


def race(http: Any, urls: list[str], body: Mapping[str, str], key: str, n: int) -> list[Any]:
    """N POSTs with one key, released together by a barrier, spread over the instances."""
    barrier = threading.Barrier(n)

    def one(i: int) -> dict[str, Any]:
        barrier.wait(timeout=10)
        return summary(post_order(http, urls[i % len(urls)], body, key))

    with ThreadPoolExecutor(max_workers=n, thread_name_prefix="spark-rt02") as pool:
        return list(pool.map(one, range(n)))


@pytest.mark.spark_check("RT-02")
def test_rt02_idempotency_holds_under_concurrency(
    db: Any,
    http: Any,
    api_urls: list[str],
    schema: Any,
    thresholds: Any,
    evidence: Recorder,
) -> None:
    """Concurrent same-key POSTs make one order; misuse is refused; keys live and get purged."""
    n = max(2, int(thresholds["idempotency_concurrency"]))
    limits = {
        "concurrency": n,
        "ttl_min_s": thresholds["idempotency_ttl_min_s"],
        "grace_s": thresholds["idempotency_grace_s"],
    }
    evidence.observe("thresholds", limits)
    account = probe_account(schema, evidence)  # schema.test_account only, never a customer's
    with db() as conn:  # read-only, and opened first: no write happens if the DB is unreachable
        quotes = get_json(http, f"{api_urls[0]}/quotes")
        try:
            body = probe_order(quotes, account)
        except ProbeOrderError as exc:
            raise ProbeError(str(exc)) from None
        key = f"pytest-spark-rt02-{uuid.uuid4()}"
        evidence.observe("request", {"idempotency_key": key, "body": body})

        responses = race(http, api_urls, body, key, n)
        evidence.observe("race_responses", responses)
        sql = dbsql.orders_for_key_sql(schema["orders_table"])
        stored = query(conn, evidence, "orders_for_key", sql, {"key": key})
        findings = outbox.evaluate_idempotency_race(responses, [r["id"] for r in stored])

        other = summary(post_order(http, api_urls[-1], with_other_quantity(body), key))
        missing = summary(post_order(http, api_urls[0], body, None))
        evidence.observe("same_key_other_body", other)
        evidence.observe("missing_key", missing)
        findings += outbox.evaluate_key_misuse(
            different_body_status=other["status"], missing_key_status=missing["status"]
        )

        sql = dbsql.idempotency_keys_sql(schema["idempotency_table"])
        ttl = query(conn, evidence, "key_ttl", sql, {"grace_s": limits["grace_s"]})[0]
    findings += outbox.evaluate_key_ttl(
        **ttl, ttl_min_s=limits["ttl_min_s"], grace_s=limits["grace_s"]
    )
    conclude(evidence, findings)
