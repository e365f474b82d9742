"""Read-only means read-only: the whole suite without an allow flag changes nothing.

PRODUCT.md "Safety rules"; issue 8 section 5. The servers are the witnesses:
PostgreSQL logs every statement (log_statement = 'all', with application_name
in log_line_prefix) and every API instance logs every request with its
method and User-Agent. Every session and client that is not the stack's own
(the API, the load generator, Prometheus, this audit) is judged -- the
checks label theirs ``pytest-spark``, and an unlabelled one is judged too. A
writing statement, or a request that is not GET/HEAD, is named in the failure.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from _read_only_audit import (
    LOG_LINE_PREFIX,
    Request,
    Statement,
    requests,
    statements,
    write_reason,
    writes,
)

from pytest_spark import catalog, config
from pytest_spark.sandbox.launcher import API_INSTANCES
from pytest_spark.sandbox.loadgen import IDENTITY as LOADGEN

AUDIT_APP = "spark-audit"  # our own ALTER SYSTEM / SHOW sessions

CHECK_APPS = "pytest-spark"  # application_name prefix of every session a check opens
CHECK_AGENT = "pytest-spark/"  # User-Agent prefix of every HTTP client a check uses
# The stack's own sessions and clients; everything else is judged, so a check session
# that forgot its application_name (or a client its User-Agent) cannot hide a write.
STACK_APPS = ("spark-api:", LOADGEN, AUDIT_APP)
STACK_AGENTS = (LOADGEN, "Prometheus/")
READ_METHODS = frozenset({"GET", "HEAD"})
GATED = {c.id for c in catalog.CHECKS if c.policy_gate}
# PF-04 (before rules-sql's branch) rehearses pending migrations in a scratch database it
# creates and drops on the target's own server (CREATE/DROP DATABASE spark_rehearsal_<hex>,
# then DDL inside it). rules-sql moves the rehearsal off the target (a throwaway server or
# targets.rehearsal_dsn, a config key that exists only with that change). Until that is
# merged these statements, and only these, are expected: the whole-suite test sets them
# aside and test_pf04_rehearsal_does_not_write_the_target is a strict xfail. Once merged,
# the xfail's condition is false and the test must pass. Remove PF04_ON_TARGET, the marker
# and _is_pf04_scratch after the merge.
PF04_SCRATCH_DB = "spark_rehearsal_"
PF04_ON_TARGET = "rehearsal_dsn" not in config.SCHEMA["targets"]
CLEAN_PENDING = Path(catalog.__file__).parent / "sandbox" / "migrations_pending" / "ok"


@dataclass
class Audit:
    """What PostgreSQL and the API saw from the checks while the audit was on."""

    statements: list[Statement] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)

    def check_statements(self) -> list[Statement]:
        """Statements of every session but the stack's own (unnamed sessions included)."""
        return [s for s in self.statements if not s.app.startswith(STACK_APPS)]

    def check_requests(self) -> list[Request]:
        """Requests from every client but the stack's own (no User-Agent included)."""
        return [r for r in self.requests if not r.user_agent.startswith(STACK_AGENTS)]

    def labelled(self) -> tuple[int, int]:
        """(statements, requests) the checks labelled as theirs: proof the audit saw them."""
        return (
            sum(s.app.startswith(CHECK_APPS) for s in self.statements),
            sum(r.user_agent.startswith(CHECK_AGENT) for r in self.requests),
        )

    def bad_requests(self) -> list[Request]:
        return [r for r in self.check_requests() if r.method not in READ_METHODS]


def _setting(dsn: str, name: str) -> str:
    with psycopg.connect(dsn, connect_timeout=5, application_name=AUDIT_APP) as conn:
        row = conn.execute("SELECT current_setting(%s)", (name,)).fetchone()
        assert row is not None
        return str(row[0])


def _configure(dsn: str, settings: dict[str, str | None]) -> None:
    """ALTER SYSTEM (None = RESET) + pg_reload_conf, then wait until new sessions see it."""
    with psycopg.connect(
        dsn, autocommit=True, connect_timeout=5, application_name=AUDIT_APP
    ) as conn:
        for name, value in settings.items():
            if value is None:
                conn.execute(f"ALTER SYSTEM RESET {name}")
            else:
                conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
        conn.execute("SELECT pg_reload_conf()")
    wanted = {k: v for k, v in settings.items() if v is not None}
    deadline = time.monotonic() + 10
    while any(_setting(dsn, k) != v for k, v in wanted.items()):
        assert time.monotonic() < deadline, f"PostgreSQL did not take {wanted} within 10 s"
        time.sleep(0.05)


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _read_from(path: Path, offset: int) -> str:
    with open(path, "rb") as fh:
        fh.seek(offset)
        return fh.read().decode("utf-8", "replace")


@contextlib.contextmanager
def audit(sandbox: Any) -> Iterator[Audit]:
    """log_statement = 'all' for the block (reverted after); the block's statements and requests."""
    dsn = sandbox.endpoints.db_dsn  # spark_admin: the sandbox's superuser
    pg_log = Path(sandbox.record("postgres").log)
    request_logs = {name: sandbox.layout.request_log(name) for name in API_INSTANCES}
    _configure(dsn, {"log_statement": "all", "log_line_prefix": LOG_LINE_PREFIX})
    found = Audit()
    try:
        pg_start = _size(pg_log)
        req_start = {name: _size(path) for name, path in request_logs.items()}
        yield found
        found.statements = statements(_read_from(pg_log, pg_start))
        for name, path in request_logs.items():
            found.requests += requests(name, _read_from(path, req_start[name]))
    finally:
        _configure(dsn, {"log_statement": None, "log_line_prefix": None})


@pytest.fixture
def release_with_pending_migration(sandbox: Any) -> Iterator[None]:
    """A release that brings a clean migration, so PF-04 rehearses instead of skipping work."""
    pending = Path(sandbox.endpoints.pending_migrations_dir)
    copied = [Path(shutil.copy(src, pending / src.name)) for src in CLEAN_PENDING.glob("*.sql")]
    assert copied, f"no clean pending migration in {CLEAN_PENDING}"
    try:
        yield
    finally:
        for path in copied:
            path.unlink(missing_ok=True)


def _is_pf04_scratch(stmt: Statement) -> bool:
    """PF-04's CREATE/DROP DATABASE spark_rehearsal_* and the rehearsal inside it."""
    if stmt.db.startswith(PF04_SCRATCH_DB):
        return True
    words = stmt.sql.split()
    return (
        len(words) >= 3
        and words[0].upper() in ("CREATE", "DROP")
        and words[1].upper() == "DATABASE"
        and PF04_SCRATCH_DB in stmt.sql
    )


def _named(items: list[Any]) -> str:
    return "\n  ".join(str(i) for i in items)


def _report(title: str, found: Audit) -> None:
    """What the audit saw, for the run's output (pytest -s / -rA shows it)."""
    writing = writes(found.check_statements())
    apps = Counter(s.app for s in found.statements)
    print(f"\n{title}: statements by application_name: {dict(apps)}")
    print(f"  {len(found.check_statements())} statements from sessions not the stack's own")
    print(f"  writing: {len(writing)}")
    for stmt, why in writing:
        print(f"    {why}: {stmt}")
    agents = Counter(r.user_agent for r in found.requests)
    print(f"  API requests by User-Agent: {dict(agents)}")
    for req in found.bad_requests():
        print(f"    not GET/HEAD: {req}")


@pytest.mark.usefixtures("release_with_pending_migration")
def test_whole_suite_without_allow_flags_writes_nothing(run_checks: Any, sandbox: Any) -> None:
    # the pre-deploy suites and the contract checks; the canary gates only read Prometheus
    # and drive HAProxy's runtime API (a full rollout would take minutes here), and the
    # chaos scenarios are disruptive (refused without the flag)
    slow = (catalog.Suite.CANARY, catalog.Suite.CHAOS)
    ids = [c.id for c in catalog.CHECKS if c.suite not in slow]
    with audit(sandbox) as found:
        r = run_checks(*ids)
    _report("whole suite, no allow flag", found)

    # the audit is not blind: the checks' sessions and requests were seen
    statements_seen, requests_seen = found.labelled()
    assert statements_seen, "no statement from a pytest-spark session was logged"
    assert requests_seen, "no request from pytest-spark reached the API"
    # and every check that needs no permission really ran (an ERROR would prove nothing)
    outcomes = {cid: r.outcome(cid) for cid in ids}
    assert {cid for cid, o in outcomes.items() if o == "skipped"} == GATED & set(ids), outcomes
    silent = {cid: r.message(cid) for cid, o in outcomes.items() if o == "error"}
    assert not silent, f"checks that did not get to talk to the stack: {silent}"

    writing = [
        f"{why}: {stmt}"
        for stmt, why in writes(found.check_statements())
        if not (PF04_ON_TARGET and _is_pf04_scratch(stmt))
    ]
    assert not writing, "writing statements from the checks' sessions:\n  " + _named(writing)
    bad = found.bad_requests()
    assert not bad, "requests other than GET/HEAD from the checks:\n  " + _named(bad)


class PF04StillWritesTheTarget(AssertionError):
    """PF-04's known scratch-database writes, and nothing else, were seen (see PF04_SCRATCH_DB)."""


@pytest.mark.xfail(
    PF04_ON_TARGET,
    strict=True,
    raises=PF04StillWritesTheTarget,
    reason="PF-04 still CREATEs/DROPs a scratch database on the target server; "
    "rules-sql's branch fixes it -- remove this marker after that merge",
)
@pytest.mark.usefixtures("release_with_pending_migration")
def test_pf04_rehearsal_does_not_write_the_target(run_checks: Any, sandbox: Any) -> None:
    with audit(sandbox) as found:
        r = run_checks("PF-04")
    _report("PF-04 alone", found)
    if "PF-04" in GATED:  # fixed by gating instead: then it must not have run at all
        assert r.outcome("PF-04") == "skipped", r.message("PF-04")
    else:
        assert r.outcome("PF-04") == "passed", r.message("PF-04")
        assert found.labelled()[0], "no statement from a pytest-spark session was logged"
    writing = [
        (f"{why}: {stmt}", _is_pf04_scratch(stmt)) for stmt, why in writes(found.check_statements())
    ]
    other = [text for text, known in writing if not known]
    assert not other, "PF-04 wrote on the target's server:\n  " + _named(other)
    if writing:  # only the expected failure may be expected
        raise PF04StillWritesTheTarget(
            "PF-04 wrote on the target's server:\n  " + _named([t for t, _ in writing])
        )


def test_allowed_writes_are_seen_by_the_audit(run_checks: Any, sandbox: Any) -> None:
    """The witness can fail: with --spark-allow-writes, BS-05's report POST shows up."""
    with audit(sandbox) as found:
        r = run_checks("BS-05", writes=True)
    assert r.outcome("BS-05") == "passed", r.message("BS-05")
    posts = [q for q in found.bad_requests() if q.path == "/csp-report"]
    # report-uri and report-to on each instance: the 4 POSTs issue 8 counted
    assert len(posts) == 2 * len(API_INSTANCES), found.check_requests()
    assert {q.method for q in posts} == {"POST"}, found.check_requests()


def test_bs05_without_writes_judges_the_policy_and_says_acceptance_was_not_tested(
    run_checks: Any,
) -> None:
    r = run_checks("BS-05")
    assert r.outcome("BS-05") == "passed", r.message("BS-05")
    observations = r.record("BS-05")["observations"]
    names = {o["name"] for o in observations}
    assert "report_post" not in names
    acceptance = [o["data"] for o in observations if o["name"] == "report_acceptance"]
    assert {(a["via"], a["exercised"], a["well_formed"]) for a in acceptance} == {
        ("report-uri", False, True),
        ("report-to", False, True),
    }
    assert all("--spark-allow-writes" in a["why"] for a in acceptance)
    assert "BS-05: report endpoint acceptance not exercised" in r.output
    assert "--spark-allow-writes" in r.output


# --- the audit's own judgement (pure), so a blind classifier cannot pass the proof above


@pytest.mark.parametrize(
    "sql",
    [
        "CREATE DATABASE spark_rehearsal_ab TEMPLATE template0",
        'DROP DATABASE IF EXISTS "spark_rehearsal_ab" WITH (FORCE)',
        "INSERT INTO orders (id) VALUES (1)",
        "WITH gone AS (DELETE FROM outbox RETURNING id) SELECT count(*) FROM gone",
        "SELECT nextval('orders_id_seq')",
        "SELECT pg_catalog.pg_switch_wal()",
        "SELECT * FROM positions FOR UPDATE",
        "LOCK TABLE orders",
        "COPY orders FROM STDIN",
        "ANALYZE orders",
        "ALTER SYSTEM SET log_statement = 'all'",
        "SELECT 1 INTO scratch",
        "SELECT FROM WHERE",  # unparseable: cannot be shown read-only
    ],
)
def test_writing_sql_is_recognised(sql: str) -> None:
    assert write_reason(sql), sql


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT current_setting('default_transaction_read_only')",
        "SHOW CONFIG",
        "SET statement_timeout = 4000",
        "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
        "LOCK TABLE public.orders IN ACCESS SHARE MODE",
        "COPY public.orders (id) TO stdout",
        "WITH s AS (SELECT 1 AS x) SELECT x FROM s",
        "SELECT clock_timestamp() AS observed_at",
    ],
)
def test_reading_sql_is_not_a_write(sql: str) -> None:
    assert write_reason(sql) is None, sql


def test_log_lines_are_parsed_with_session_identity_and_continuations() -> None:
    log = (
        "2026-11-30 08:00:00.123 UTC [41] app=pytest-spark user=spark_admin db=spark "
        "LOG:  statement: SELECT 1\n"
        "2026-11-30 08:00:00.124 UTC [42] app= user=spark_admin db=spark "
        "LOG:  execute <unnamed>: INSERT INTO t\n"
        "\tVALUES ($1)\n"
        "2026-11-30 08:00:00.124 UTC [42] app= user=spark_admin db=spark "
        "DETAIL:  parameters: $1 = '7'\n"
        "2026-11-30 08:00:00.125 UTC [43] app=spark-api:api-1 user=spark_app db=spark "
        "ERROR:  relation does not exist\n"
    )
    found = statements(log)
    assert [(s.pid, s.app, s.db) for s in found] == [
        (41, "pytest-spark", "spark"),
        (42, "", "spark"),
    ]
    assert found[1].sql == "INSERT INTO t\n\tVALUES ($1)"
    assert [why for _, why in writes(found)] == ["InsertStmt is not a read-only statement"]


def test_request_log_lines_are_parsed() -> None:
    line = '{"t": 1.0, "method": "POST", "path": "/csp-report", "status": 204, "user_agent": "u"}'
    assert requests("api-1", line + "\n") == [Request("api-1", "POST", "/csp-report", 204, "u")]
