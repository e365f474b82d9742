"""Operations checks: PgBouncer fit and leaks, headroom, outbox lag, PITR.

BS-03 pgBouncer, PF-03 Saturation, RT-03 Outbox lag, RT-07 pgBouncer leak,
RT-08 PITR test. Each gathers what the target says (SQL rows, SHOW output,
PromQL vectors), records it, and lets a pure rule judge it.

Settings (see the README's config reference): thresholds.pgbouncer_pool_mode,
pgbouncer_min_client_conn (BS-03); api_cpu_limit_cores -- one uvicorn worker
runs Python on one core at a time, so 1 core is what one API process can use --
and api_memory_limit_bytes (0: the host's memory from node_memory_MemTotal_bytes,
else this machine's when the API is on loopback) for PF-03; pool_samples
(RT-07); targets.relay_heartbeat_metric (RT-03: the relay's heartbeat is only a
metric); targets.pg_bin_dir, wal_archive_dir, schema.pitr_sentinel_table and
thresholds.pitr_drill_timeout_s (RT-08).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from pytest_spark.probes import ProbeError, pitr
from pytest_spark.probes.db import rows
from pytest_spark.probes.pgbouncer import ShowResult, admin_console, show
from pytest_spark.rules import archiver, dbsql, operations, outbox, pgbouncer, saturation
from pytest_spark.rules.findings import WARN, Finding, failures

BLOCKS_DRILL = {
    "archive-mode-off",
    "archive-wal-level",
    "archive-command-missing",
    "archive-command-noop",
    "archive-failing",
}


def _label(value: str) -> str:
    """A PromQL string literal (same escaping as JSON)."""
    return json.dumps(value)


def _report(evidence: Any, applied: Mapping[str, Any], findings: list[Finding]) -> None:
    """Record the thresholds applied and the findings, then fail naming every failure."""
    evidence.observe("thresholds", dict(applied))
    evidence.observe("findings", [f.to_dict() for f in findings])
    failed = failures(findings)
    assert not failed, "; ".join(f.message for f in failed)


def _show(admin: Any, what: str, timeout: float, evidence: Any, raw: bool = True) -> ShowResult:
    result = show(admin, what, timeout=timeout)
    if raw:
        evidence.attach(f"show-{what.lower()}.txt", result.text())
    return result


def _has_app_pools(pools: Iterable[Mapping[str, Any]]) -> bool:
    return any(r.get("database") not in (None, "", operations.ADMIN_DB) for r in pools)


def _require_app_pools(pools: Iterable[Mapping[str, Any]]) -> None:
    """SHOW POOLS with only the admin console's own pool judges nothing: ERROR, not a pass."""
    if not _has_app_pools(pools):
        raise ProbeError(
            "no application pools in SHOW POOLS: is pgbouncer_admin_dsn the app's PgBouncer?"
        )


@pytest.fixture
def pgbouncer_admin(spark_config: Any, timeout: float) -> Callable[[], AbstractContextManager[Any]]:
    """``with pgbouncer_admin() as admin``: the admin console, deadlines set."""
    dsn = spark_config.targets["pgbouncer_admin_dsn"]
    if not dsn:
        raise ProbeError(
            "no targets.pgbouncer_admin_dsn configured: set it in spark.toml or pass "
            "--spark-pgbouncer-admin-dsn (or use --spark-sandbox)"
        )
    return lambda: admin_console(dsn, timeout=timeout)


# --------------------------------------------------------------------------- BS-03


@pytest.mark.spark_check("BS-03")
def test_bs03_pgbouncer_config(
    pgbouncer_admin: Any, db: Any, thresholds: Any, timeout: float, evidence: Any
) -> None:
    """PgBouncer pools in transaction mode, never queues forever, and fits PostgreSQL.

    The *effective* configuration: per-user and per-database pool_mode
    overrides (SHOW USERS, SHOW DATABASES, SHOW POOLS' pool_mode), and every
    server connection the pools can open (per-database pool_size + reserve,
    one pool per user+database pair, max_db/max_user_connections caps).
    """
    with pgbouncer_admin() as admin:
        config = _show(admin, "CONFIG", timeout, evidence)
        databases = _show(admin, "DATABASES", timeout, evidence)
        users = _show(admin, "USERS", timeout, evidence)
        pools = _show(admin, "POOLS", timeout, evidence)
    with db() as conn:
        pg = rows(conn, dbsql.CONNECTION_SETTINGS_SQL)[0]
    cfg = pgbouncer.parse_show_config(config.rows)
    app_dbs = operations.app_databases(databases.rows)
    keys = (
        "pool_mode", "query_wait_timeout", "max_client_conn", "default_pool_size",
        "max_db_connections", "reserve_pool_size", "max_user_connections",
    )  # fmt: skip
    evidence.observe("show", [r.command for r in (config, databases, users, pools)])
    evidence.observe("pgbouncer_config", {k: cfg.get(k) for k in keys})
    evidence.observe("pgbouncer_databases", databases.rows)
    evidence.observe("pgbouncer_users", users.rows)
    evidence.observe("pgbouncer_pools", pools.rows)
    evidence.observe("sql", dbsql.CONNECTION_SETTINGS_SQL)
    evidence.observe("postgres_settings", pg)
    mode = thresholds["pgbouncer_pool_mode"]
    min_clients = int(thresholds["pgbouncer_min_client_conn"])
    applied = {"pool_mode": mode, "min_client_conn": min_clients, "app_databases": app_dbs}
    findings = pgbouncer.evaluate_config(
        cfg,
        pg_max_connections=int(pg["max_connections"]),
        reserved=int(pg["superuser_reserved_connections"]),
        n_databases=max(1, len(app_dbs)),
        expected_app_connections=min_clients,
        expected_pool_mode=mode,
        databases=databases.rows,
        pools=pools.rows,
        users=users.rows,
    )
    findings += operations.evaluate_database_pool_modes(databases.rows, mode)
    findings += pgbouncer.evaluate_pool_modes(
        pools.rows, users.rows, mode, global_mode=cfg.get("pool_mode")
    )
    _report(evidence, applied, [replace(f, message=f"PgBouncer {f.message}") for f in findings])


# --------------------------------------------------------------------------- PF-03


def _host_memory(prometheus: Any, instances: list[str], evidence: Any) -> dict[str, float | None]:
    """Each instance's host memory: node_exporter's figure, or ours for loopback instances."""
    query = "node_memory_MemTotal_bytes"
    by_host = {
        operations.host_of(inst): value
        for inst, value in operations.vector_by(prometheus.query(query)).items()
    }
    local = float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    limits: dict[str, float | None] = {}
    sources: dict[str, str] = {}
    for inst in instances:
        host = operations.host_of(inst)
        if host in by_host:
            limits[inst], sources[inst] = by_host[host], f"promql {query}"
        elif operations.is_loopback(host):
            limits[inst], sources[inst] = local, "memory of the test host (instance on loopback)"
        else:
            limits[inst], sources[inst] = None, "unknown: set thresholds.api_memory_limit_bytes"
    evidence.observe("promql", query)
    evidence.observe("memory_limit_source", sources)
    return limits


@pytest.mark.spark_check("PF-03")
def test_pf03_saturation(
    db: Any,
    pgbouncer_admin: Any,
    prometheus: Any,
    spark_config: Any,
    thresholds: Any,
    timeout: float,
    evidence: Any,
) -> None:
    """API CPU and memory, DB connections and the PgBouncer queue all have headroom."""
    with db() as conn:
        activity = rows(conn, dbsql.ACTIVITY_COUNTS_SQL)[0]
    evidence.observe("sql", dbsql.ACTIVITY_COUNTS_SQL)
    evidence.observe("db_activity", activity)
    with pgbouncer_admin() as admin:
        pools = _show(admin, "POOLS", timeout, evidence)
    evidence.observe("show", pools.command)
    evidence.observe("pgbouncer_pools", pools.rows)
    _require_app_pools(pools.rows)
    waiting, maxwait = pgbouncer.pool_pressure(pools.rows)

    job = _label(spark_config.targets["api_job"])
    cpu_q = f"rate(process_cpu_seconds_total{{job={job}}}[1m])"
    mem_q = f"process_resident_memory_bytes{{job={job}}}"
    cpu = operations.vector_by(prometheus.query(cpu_q))
    mem = operations.vector_by(prometheus.query(mem_q))
    evidence.observe("promql", [cpu_q, mem_q])
    evidence.observe("api_cpu_cores_used", cpu)
    evidence.observe("api_resident_memory_bytes", mem)
    cores = float(thresholds["api_cpu_limit_cores"])
    mem_limit = float(thresholds["api_memory_limit_bytes"])
    limits = mem_limit or _host_memory(prometheus, sorted(mem), evidence)
    cpu_ratio = operations.ratios(cpu, cores)
    mem_ratio = operations.ratios(mem, limits)
    evidence.observe(
        "utilisation",
        {
            "api_cpu": cpu_ratio,
            "api_memory": mem_ratio,
            "db_connections": [activity["client_connections"], activity["max_connections"]],
            "pgbouncer_cl_waiting": waiting,
            "pgbouncer_maxwait_s": maxwait,
        },
    )
    applied = {
        "saturation_ratio": thresholds["saturation_ratio"],
        "pgbouncer_max_wait_s": thresholds["pgbouncer_max_wait_s"],
        "api_cpu_limit_cores": cores,
        "api_memory_limit_bytes": limits,
    }
    findings = saturation.evaluate_saturation(
        cpu=cpu_ratio or None,
        memory=mem_ratio or None,
        db_connections_used=int(activity["client_connections"]),
        db_connections_max=int(activity["max_connections"]),
        db_reserved=int(activity["superuser_reserved_connections"]),
        pgbouncer_cl_waiting=waiting,
        pgbouncer_maxwait_s=maxwait,
        limit=thresholds["saturation_ratio"],
        max_wait_s=thresholds["pgbouncer_max_wait_s"],
    )
    _report(evidence, applied, findings)


# --------------------------------------------------------------------------- RT-03


@pytest.mark.spark_check("RT-03")
def test_rt03_outbox_lag(
    db: Any,
    prometheus: Any,
    spark_config: Any,
    thresholds: Any,
    schema: Any,
    evidence: Any,
) -> None:
    """The outbox drains: oldest unpublished row young, backlog small, relay heartbeat fresh."""
    sql = dbsql.outbox_lag_sql(schema["outbox_table"])
    with db() as conn:
        lag = rows(conn, sql)[0]
    evidence.observe("sql", sql)
    evidence.observe("outbox", lag)
    metric = spark_config.targets["relay_heartbeat_metric"]
    query = f"time() - {metric}{{job={_label(spark_config.targets['api_job'])}}}"
    ages = operations.vector_by(prometheus.query(query))
    evidence.observe("promql", query)
    evidence.observe("relay_heartbeat_age_s", ages)
    limit = thresholds["heartbeat_max_age_s"]
    freshest = min(ages.values()) if ages else None
    findings = outbox.evaluate_outbox(
        backlog=int(lag["backlog"]),
        oldest_age_s=lag["oldest_age_s"],
        oldest_created_at=lag["oldest_created_at"],
        observed_at=lag["observed_at"],
        heartbeat_age_s=freshest,
        max_age_s=thresholds["outbox_max_age_s"],
        max_backlog=thresholds["outbox_max_backlog"],
        heartbeat_max_age_s=limit,
    )
    if freshest is not None and freshest < limit:  # the relay runs; name idle instances
        findings += [
            Finding(
                "outbox-heartbeat-instance-stale",
                f"relay heartbeat of {inst} is {age:.1f} s old (limit {limit:g} s); "
                "another instance still relays",
                severity=WARN,
            )
            for inst, age in sorted(ages.items())
            if age >= limit
        ]
    applied = {
        k: thresholds[k] for k in ("outbox_max_age_s", "outbox_max_backlog", "heartbeat_max_age_s")
    }
    _report(evidence, applied, findings)


# --------------------------------------------------------------------------- RT-07


def _sample(admin: Any, conn: Any, timeout: float) -> tuple[pgbouncer.PoolSample, dict[str, Any]]:
    at = datetime.now(UTC)
    pools = show(admin, "POOLS", timeout=timeout)
    clients = show(admin, "CLIENTS", timeout=timeout)
    servers = show(admin, "SERVERS", timeout=timeout)
    activity = rows(conn, dbsql.IDLE_IN_TRANSACTION_SQL)
    sample = pgbouncer.PoolSample(
        at=at, pools=pools.rows, clients=clients.rows, servers=servers.rows, activity=activity
    )
    raw = {r.command: r.text() for r in (pools, clients, servers)}
    return sample, raw


@pytest.mark.spark_check("RT-07")
def test_rt07_pgbouncer_leak(
    db: Any, pgbouncer_admin: Any, thresholds: Any, timeout: float, evidence: Any
) -> None:
    """Over a short window: nobody queues, no transaction sits idle, clients do not pile up."""
    window = float(thresholds["pool_sample_window_s"])
    count = max(2, int(thresholds["pool_samples"]))
    samples: list[pgbouncer.PoolSample] = []
    raw: dict[str, list[str]] = {}
    with pgbouncer_admin() as admin, db() as conn:
        start = time.monotonic()
        for i in range(count):
            sample, texts = _sample(admin, conn, timeout)
            if i == 0 and not _has_app_pools(sample.pools):  # before waiting out the window
                evidence.attach("show-pools.txt", texts["SHOW POOLS"])
                _require_app_pools(sample.pools)
            samples.append(sample)
            for command, text in texts.items():
                raw.setdefault(command, []).append(f"-- sample {i + 1} at {sample.at}\n{text}")
            if i + 1 < count:
                time.sleep(max(0.0, start + window * (i + 1) / (count - 1) - time.monotonic()))
    for command, texts in raw.items():
        evidence.attach(f"{command.lower().replace(' ', '-')}.txt", "\n\n".join(texts))
    evidence.observe("show", sorted(raw))
    evidence.observe("sql", dbsql.IDLE_IN_TRANSACTION_SQL)
    evidence.observe("samples", [_sample_summary(s) for s in samples])
    applied = {
        "pool_sample_window_s": window,
        "pool_samples": count,
        "pgbouncer_max_wait_s": thresholds["pgbouncer_max_wait_s"],
        "idle_in_tx_max_s": thresholds["idle_in_tx_max_s"],
    }
    findings = pgbouncer.evaluate_pools(
        samples,
        max_wait_s=applied["pgbouncer_max_wait_s"],
        idle_in_transaction_s=applied["idle_in_tx_max_s"],
    )
    _report(evidence, applied, findings)


def _sample_summary(sample: pgbouncer.PoolSample) -> dict[str, Any]:
    """What a reviewer needs per sample; the full SHOW output is attached raw."""
    waiting, maxwait = pgbouncer.pool_pressure(sample.pools)
    linked = [
        {k: s.get(k) for k in ("database", "user", "state", "request_time", "remote_pid")}
        for s in sample.servers or ()
        if s.get("link") and s.get("database") != operations.ADMIN_DB
    ]
    return {
        "at": sample.at,
        "pools": [p for p in sample.pools if p.get("database") != operations.ADMIN_DB],
        "cl_waiting": waiting,
        "maxwait_s": maxwait,
        "client_connections": pgbouncer.client_count(sample),
        "servers_linked": linked,
        "idle_in_transaction": sample.activity,
    }


# --------------------------------------------------------------------------- RT-08


@pytest.mark.spark_check("RT-08")
def test_rt08_pitr_restore_drill(
    db: Any,
    spark_config: Any,
    thresholds: Any,
    schema: Any,
    timeout: float,
    evidence: Any,
) -> None:
    """WAL archiving is healthy and a restore to a point in time brings back a sentinel row."""
    with db() as conn:
        settings = rows(conn, dbsql.ARCHIVER_SETTINGS_SQL)
        before = rows(conn, dbsql.ARCHIVER_STATS_SQL)[0]
        facts = pitr.server_facts(conn)
    evidence.observe("sql", [dbsql.ARCHIVER_SETTINGS_SQL, dbsql.ARCHIVER_STATS_SQL])
    evidence.observe("archiver_settings", settings)
    evidence.observe("archiver_stats_before", before)
    evidence.observe("server", facts)
    max_age = thresholds["archive_max_age_s"]
    applied: dict[str, Any] = {"archive_max_age_s": max_age}
    health = archiver.evaluate_archiver(settings, before, max_age_s=max_age)
    if any(f.code in BLOCKS_DRILL for f in health):
        evidence.observe("drill", "not run: WAL archiving is broken, a restore cannot succeed")
        _report(evidence, applied, health)
        return

    targets = spark_config.targets
    if not facts.get("can_replicate"):
        raise ProbeError(f"role {facts.get('role')} may not take a base backup (needs REPLICATION)")
    if facts.get("extra_tablespaces"):
        raise ProbeError("the restore drill does not support tablespaces outside the data dir")
    applied["pitr_drill_timeout_s"] = float(thresholds["pitr_drill_timeout_s"])
    drill = pitr.restore_drill(
        targets["db_dsn"],
        timeout=timeout,
        deadline_s=applied["pitr_drill_timeout_s"],
        pg_bin=pitr.pg_bin_dir(facts["server_version_num"], targets["pg_bin_dir"]),
        archive=pitr.archive_dir(facts["archive_command"], targets["wal_archive_dir"]),
        table=schema["pitr_sentinel_table"],
        cluster_bytes=facts.get("cluster_bytes"),
    )
    evidence.observe("drill", drill.to_dict())
    evidence.attach("restored-postgres.log", drill.postgres_log)
    with db() as conn:
        after = rows(conn, dbsql.ARCHIVER_STATS_SQL)[0]
    evidence.observe("archiver_stats_after", after)
    # judged after the drill's forced WAL switch: a quiet archiver is not a broken one
    findings = archiver.evaluate_archiver(settings, after, max_age_s=max_age)
    findings += [
        Finding(f.code, f"{f.message} (before the drill's WAL switch)", severity=WARN)
        for f in health
    ]
    if drill.restore_error:
        findings.append(Finding("pitr-restore-failed", f"restore drill: {drill.restore_error}"))
    else:
        findings += operations.evaluate_sentinel(
            drill.restored_rows,
            sentinel_token=drill.sentinel["sentinel_token"],
            after_token=drill.sentinel["after_target_token"],
            target_time=drill.sentinel["recovery_target_time"],
        )
    evidence.observe("rto_s", drill.timings.get("rto_s"))
    _report(evidence, applied, findings)
