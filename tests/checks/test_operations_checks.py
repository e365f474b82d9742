"""BS-03, PF-03, RT-03, RT-07, RT-08 against the real reference stack.

Each check passes on the healthy stack and fails, naming the problem, under
the fault CHECKS.md lists for it; unreachable or silent targets make them
ERROR within their deadline; the disruptive PITR drill is skipped by policy
unless allowed.
"""

from __future__ import annotations

import re
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

IDS = ("BS-03", "PF-03", "RT-03", "RT-07", "RT-08")
REFUSED = "postgresql://x:y@127.0.0.1:9/"


def wait_for(what: str, probe: Callable[[], bool], timeout: float = 20.0) -> None:
    """Poll until the injected fault is observable (faults take effect over time)."""
    deadline = time.monotonic() + timeout
    while not probe():
        assert time.monotonic() < deadline, f"fault not observable after {timeout} s: {what}"
        time.sleep(0.2)


def scalar(dsn: str, sql: str) -> Any:
    with psycopg.connect(dsn, connect_timeout=5, autocommit=True) as conn:
        row = conn.execute(sql).fetchone()
        return row[0] if row else None


def promql(url: str, query: str) -> list[dict[str, Any]]:
    resp = httpx.get(f"{url}/api/v1/query", params={"query": query}, timeout=5)
    return list(resp.json()["data"]["result"])


def assert_caught(run: Any, cid: str, pattern: str) -> str:
    """The check failed (not errored), blocks the verdict, and its message names the problem."""
    message = run.message(cid)
    assert run.outcome(cid) == "failed", f"{cid}: {run.outcome(cid)}: {message}\n{run.output}"
    assert run.verdict["verdict"] == "NO-GO"
    assert cid in run.reason_ids()
    assert re.search(pattern, message), message
    return message


def test_operations_checks_pass_on_healthy_stack(run_checks: Any, sandbox: Any) -> None:
    started = time.monotonic()
    run = run_checks(*IDS, disruptive=True)
    wall = time.monotonic() - started
    for cid in IDS:
        assert run.outcome(cid) == "passed", f"{cid}: {run.message(cid)}\n{run.output[-3000:]}"
    assert run.verdict["verdict"] == "GO", run.verdict
    drill = next(o["data"] for o in run.record("RT-08")["observations"] if o["name"] == "drill")
    assert drill["restore_error"] == ""
    tokens = [r["token"] for r in drill["restored_rows"]]
    assert tokens == [drill["sentinel"]["sentinel_token"]]  # present; the after-target row not
    assert drill["restore_settings"]["archive_mode"] == "off"
    # the archive found from archive_command is the sandbox's own
    assert sandbox.endpoints.wal_archive_dir in drill["restore_settings"]["restore_command"]
    assert {"backup_s", "restore_s", "recovery_s", "rto_s", "total_s"} <= set(drill["timings"])
    shown = {cid: run.record(cid)["duration_s"] for cid in IDS}
    print(f"\nhealthy run {wall:.2f} s; checks {shown}; drill {drill['timings']}")


def test_bs03_fails_on_session_pool_mode(run_checks: Any, sandbox: Any) -> None:
    with sandbox.inject("pgbouncer-session-mode"):
        run = run_checks("BS-03")
    assert_caught(run, "BS-03", r"PgBouncer pool_mode is session, expected transaction")


def test_bs03_fails_on_a_per_user_session_pool_mode(run_checks: Any, sandbox: Any) -> None:
    """[users] spark_app = pool_mode=session: SHOW CONFIG still says transaction."""
    with sandbox.inject("pgbouncer-user-session-mode"):
        run = run_checks("BS-03")
    message = assert_caught(
        run, "BS-03", r"PgBouncer user spark_app: pool_mode override is session"
    )
    assert "PgBouncer pool_mode is" not in message  # the global setting is fine
    after = run_checks("BS-03")  # the revert really restored the mode
    assert after.outcome("BS-03") == "passed", after.message("BS-03")


def test_bs03_fails_on_infinite_query_wait(run_checks: Any, sandbox: Any) -> None:
    with sandbox.inject("pgbouncer-no-query-wait-timeout"):
        run = run_checks("BS-03")
    assert_caught(run, "BS-03", r"PgBouncer query_wait_timeout is 0: must be > 0")


def test_pf03_fails_on_held_db_connections(run_checks: Any, sandbox: Any) -> None:
    with sandbox.inject("db-connections-held"):
        run = run_checks("PF-03")
    assert_caught(run, "PF-03", r"database connections at \d+\.\d %: \d+ of \d+ usable")


def test_rt03_fails_when_relay_stops(run_checks: Any, sandbox: Any, pytester: Any) -> None:
    """Thresholds lowered through spark.toml so the stale heartbeat shows in seconds."""
    toml = pytester.makefile(
        ".toml", spark="[thresholds]\nheartbeat_max_age_s = 2.0\noutbox_max_age_s = 2.0\n"
    )
    url = sandbox.endpoints.prometheus_url
    with sandbox.inject("relay-stopped"):
        stale = "time() - max(spark_outbox_relay_heartbeat_timestamp_seconds) > 2.5"
        wait_for("relay heartbeat stale", lambda: bool(promql(url, stale)))
        run = run_checks("RT-03", args=("--spark-config", str(toml)))
    assert_caught(run, "RT-03", r"outbox relay heartbeat is \d+\.\d s old \(limit 2 s\)")


def test_rt07_fails_on_leaked_connections(run_checks: Any, sandbox: Any, pytester: Any) -> None:
    """idle_in_tx_max_s lowered to 2 s through spark.toml: the leak shows sooner."""
    toml = pytester.makefile(".toml", spark="[thresholds]\nidle_in_tx_max_s = 2.0\n")
    dsn = sandbox.endpoints.db_dsn
    oldest = (
        "SELECT coalesce(max(extract(epoch FROM clock_timestamp() - xact_start)), 0)"
        " FROM pg_stat_activity WHERE state = 'idle in transaction'"
    )
    with sandbox.inject("leak-connections"):
        wait_for("a transaction idle past 2 s", lambda: float(scalar(dsn, oldest)) > 2.5)
        run = run_checks("RT-07", args=("--spark-config", str(toml)))
    assert_caught(run, "RT-07", r"(no new request|idle in transaction) for [\d.]+ s \(limit 2 s\)")


def test_rt08_says_a_noop_archive_command_archives_nothing(run_checks: Any, sandbox: Any) -> None:
    """'/bin/true' exits 0: pg_stat_archiver looks healthy, the archive gets nothing."""
    with sandbox.inject("archive-command-noop"):
        run = run_checks("RT-08", disruptive=True)
    assert_caught(
        run,
        "RT-08",
        r"archive_command '/bin/true' uses neither %p nor %f.*the archive receives nothing",
    )
    drill = next(o["data"] for o in run.record("RT-08")["observations"] if o["name"] == "drill")
    assert drill.startswith("not run")


def test_rt08_fails_when_archive_command_fails(run_checks: Any, sandbox: Any) -> None:
    with sandbox.inject("archive-command-failing"):
        run = run_checks("RT-08", disruptive=True)
    assert_caught(run, "RT-08", r"archiver is failing: last failure .* failed_count \d+")
    drill = next(o["data"] for o in run.record("RT-08")["observations"] if o["name"] == "drill")
    assert drill.startswith("not run")


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts TCP connections and never says a word (a hung server)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(16)
        yield int(srv.getsockname()[1])


def test_unreachable_or_silent_targets_error_within_deadline(
    run_checks: Any, pytester: Any, silent_server: int
) -> None:
    """PostgreSQL refuses, PgBouncer accepts but never answers: every check ERRORs fast."""
    toml = pytester.makefile(".toml", spark="[policy]\ntimeout_s = 1.0\n")
    started = time.monotonic()
    run = run_checks(
        *IDS,
        disruptive=True,
        args=(
            "--spark-config", str(toml),
            "--spark-db-dsn", REFUSED + "spark",
            "--spark-pgbouncer-admin-dsn", f"postgresql://x:y@127.0.0.1:{silent_server}/pgbouncer",
        ),
    )  # fmt: skip
    wall = time.monotonic() - started
    assert run.verdict["verdict"] == "NO-GO"
    reasons = {r["check"]: r["message"] for r in run.verdict["reasons"]}
    for cid in IDS:
        assert run.outcome(cid) == "error", f"{cid}: {run.outcome(cid)}: {run.message(cid)}"
        # libpq never waits less than 2 s for a connect, whatever connect_timeout says
        assert run.record(cid)["duration_s"] < 4.0, run.record(cid)["duration_s"]
        assert reasons[cid].startswith("could not verify"), reasons[cid]
    for cid in ("BS-03", "RT-07"):  # PgBouncer first: the connect deadline
        assert "timed out after 1.0 s connecting to PgBouncer admin console" in reasons[cid]
    for cid in ("PF-03", "RT-03", "RT-08"):  # PostgreSQL first: refused at once
        assert "cannot connect to PostgreSQL x@127.0.0.1:9/spark" in reasons[cid]
    assert wall < 30, f"took {wall:.1f} s"


def test_rt08_without_disruptive_is_not_verified(run_checks: Any) -> None:
    run = run_checks("RT-08")
    assert run.outcome("RT-08") == "skipped"
    assert run.verdict["verdict"] == "NO-GO"
    reason = next(r for r in run.verdict["reasons"] if r["check"] == "RT-08")
    assert reason["message"].startswith("not verified"), reason


@pytest.fixture
def bare_pgbouncer(sandbox: Any) -> Iterator[str]:
    """A second PgBouncer in front of the sandbox's PostgreSQL that no app ever used:
    its SHOW POOLS has only the admin console's own pool. Yields its admin DSN."""
    from psycopg import conninfo

    from pytest_spark.sandbox import components as c

    admin = conninfo.conninfo_to_dict(sandbox.endpoints.pgbouncer_admin_dsn)
    run_dir = Path(tempfile.mkdtemp(prefix="spark-pgb-test-", dir="/tmp"))
    c.chown_service(run_dir)
    (port,) = c.free_ports(1)
    c.write_private(
        run_dir / "userlist.txt", f'"spark_admin" "{admin["password"]}"\n', service=True
    )
    ini = run_dir / "pgbouncer.ini"
    c.write_private(
        ini,
        c.pgbouncer_ini(port=port, pg_port=sandbox.port("postgres"), run_dir=run_dir),
        service=True,
    )
    rec = c.start_pgbouncer(ini, run_dir / "pgbouncer.log")
    try:
        dsn = conninfo.make_conninfo(**{**admin, "port": str(port)})
        wait_for("second PgBouncer listening", lambda: not c.port_is_free(port), timeout=10)
        yield dsn
    finally:
        c.stop(rec)
        shutil.rmtree(run_dir, ignore_errors=True)


def test_pgbouncer_without_application_pools_is_could_not_verify(
    run_checks: Any, bare_pgbouncer: str
) -> None:
    """An admin DSN of some other PgBouncer (no app pool): RT-07 and PF-03 ERROR, never pass."""
    started = time.monotonic()
    run = run_checks("PF-03", "RT-07", args=("--spark-pgbouncer-admin-dsn", bare_pgbouncer))
    reasons = {r["check"]: r["message"] for r in run.verdict["reasons"]}
    for cid in ("PF-03", "RT-07"):
        assert run.outcome(cid) == "error", f"{cid}: {run.outcome(cid)}: {run.message(cid)}"
        assert (
            "no application pools in SHOW POOLS: is pgbouncer_admin_dsn the app's PgBouncer?"
            in reasons[cid]
        ), reasons[cid]
    assert run.verdict["verdict"] == "NO-GO"
    # RT-07 gives up on its first sample, not after the whole sampling window
    assert run.record("RT-07")["duration_s"] < 5.0, run.record("RT-07")["duration_s"]
    assert time.monotonic() - started < 60
