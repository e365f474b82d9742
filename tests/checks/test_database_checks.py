"""BS-02, BS-04, PF-04, PF-06, RT-01, RT-02 against the real reference stack.

Each check passes on the healthy stack and fails, naming the problem, under
every fault CHECKS.md lists for it; an unreachable database is ERROR ("could
not verify"), never a hang; RT-02 without --spark-allow-writes is "not verified".
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pytest_spark.probes import ProbeError
from pytest_spark.probes.sql_tools import SCRATCH_PREFIX, scratch_database
from pytest_spark.sandbox.faults import PENDING_SOURCE
from pytest_spark.sandbox.migrate import MIGRATIONS_DIR

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
    assert observation(record, "pg_dump")["returncode"] == 0
    assert observation(record, "scratch_database")["dropped"] is True
    assert scratch_databases(sandbox) == []
    with psycopg.connect(sandbox.endpoints.db_dsn, connect_timeout=5) as conn:  # target untouched
        found = conn.execute(
            "SELECT 1 FROM information_schema.columns WHERE column_name = 'client_order_ref'"
        )
        assert found.fetchall() == []


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
