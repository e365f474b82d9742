"""probes.db: a PostgreSQL that goes silent after the session is set up cannot hang a check.

A real PostgreSQL behind hang_servers.FreezingProxy, which stops forwarding the
server's bytes after its N-th ReadyForQuery (1: right after start-up, 2: after
the session check, 3: mid-session) while the socket stays open. Every case ends
as a TimedOut at the client-side deadline; a live server's own statement_timeout
still comes first, with its message; an interrupt (SIGINT, or SIGTERM as the
plugin turns it into KeyboardInterrupt) ends a process stuck there.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import psycopg
import pytest
from _pg import PgServer, pg  # noqa: F401  (fixture)
from hang_servers import FreezingProxy, wait_for

from pytest_spark.probes import ProbeError, TimedOut
from pytest_spark.probes import db as db_probe

TIMEOUT = 0.5
pytestmark = pytest.mark.timeout(60)


def _default_sigint() -> None:
    """A job started in the background ignores SIGINT, and so would the child: undo that."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def url(server: PgServer) -> str:
    return f"postgresql://postgres@127.0.0.1:{server.port}/postgres"


@pytest.fixture
def freezing(pg: PgServer) -> Iterator[type[FreezingProxy]]:  # noqa: F811
    made: list[FreezingProxy] = []

    def make(freeze_after: int) -> FreezingProxy:
        proxy = FreezingProxy(("127.0.0.1", pg.port), freeze_after=freeze_after)
        made.append(proxy)
        return proxy

    yield make  # type: ignore[misc]
    for proxy in made:
        proxy.close()


def test_silent_right_after_start_up_times_out_in_the_session_check(pg, freezing) -> None:  # noqa: F811
    proxy = freezing(1)
    with pytest.raises(TimedOut) as err, db_probe.connect(proxy.dsn(url(pg)), timeout=TIMEOUT):
        pass
    assert str(err.value).startswith(f"timed out after {TIMEOUT} s waiting for PostgreSQL ")
    assert "connection closed" in str(err.value)
    assert proxy.frozen.is_set()


@pytest.mark.parametrize("freeze_after", [2, 3])
def test_silent_mid_session_times_out_the_query(pg, freezing, freeze_after: int) -> None:  # noqa: F811
    proxy = freezing(freeze_after)
    with db_probe.connect(proxy.dsn(url(pg)), timeout=TIMEOUT) as conn:
        with pytest.raises(TimedOut, match=rf"timed out after {TIMEOUT} s waiting for"):
            for n in range(3):
                db_probe.rows(conn, f"SELECT {n} AS n")
        assert conn.closed


def test_a_session_without_server_timeouts_still_has_the_client_deadline(pg, freezing) -> None:  # noqa: F811
    """options=False (PgBouncer's admin console): no statement_timeout at all on the server."""
    proxy = freezing(1)
    dsn = proxy.dsn(url(pg))
    with db_probe.connect(dsn, timeout=TIMEOUT, options=False) as conn, pytest.raises(TimedOut):
        db_probe.rows(conn, "SELECT 1")


def test_a_live_server_cancels_first_with_its_own_message(pg) -> None:  # noqa: F811
    with db_probe.connect(url(pg), timeout=TIMEOUT) as conn:
        with pytest.raises(ProbeError, match="canceling statement due to statement timeout") as err:
            db_probe.rows(conn, "SELECT pg_sleep(3)")
        assert not isinstance(err.value, TimedOut)
        assert db_probe.rows(conn, "SELECT 1 AS ok") == [{"ok": 1}]  # the session survives


def test_longer_widens_the_client_deadline_for_a_known_long_statement(pg) -> None:  # noqa: F811
    with db_probe.connect(url(pg), timeout=TIMEOUT) as conn:
        conn.execute("SET statement_timeout = 3000")
        with db_probe.longer(conn, 3.0):
            assert db_probe.rows(conn, "SELECT 1 AS ok FROM pg_sleep(1.2)") == [{"ok": 1}]
        with pytest.raises(TimedOut):
            db_probe.rows(conn, "SELECT pg_sleep(2)")


def test_a_refused_port_is_cannot_connect() -> None:
    refused = "postgresql://x@127.0.0.1:9/db"
    with pytest.raises(ProbeError, match="cannot connect"), db_probe.connect(refused, timeout=1):
        pass


STUCK = textwrap.dedent(
    """
    from pytest_spark import session
    from pytest_spark.probes import db
    session.interrupt_on_sigterm()
    with db.connect({dsn!r}, timeout=60) as conn:
        try:
            db.rows(conn, "SELECT 1")
        except KeyboardInterrupt as exc:
            print("interrupted:", exc, flush=True)
            raise SystemExit(130)
    """
)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupt_ends_a_process_stuck_on_a_silent_server(pg, freezing, sig) -> None:  # noqa: F811
    proxy = freezing(2)  # start-up and the session check answered, then silence
    script = STUCK.format(dsn=proxy.dsn(url(pg)))
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        preexec_fn=_default_sigint,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(proxy.frozen)  # the query is sent, its answer held back; 60 s deadline away
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=5)  # psycopg alone would wait 5 s + 5 s
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert "interrupted:" in out, (out, err)


def test_session_is_a_psycopg_connection(pg) -> None:  # noqa: F811
    with db_probe.connect(url(pg), timeout=TIMEOUT) as conn:
        assert isinstance(conn, psycopg.Connection)
        assert isinstance(conn, db_probe.Session)
