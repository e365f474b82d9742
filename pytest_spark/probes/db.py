"""PostgreSQL sessions for checks: read-only unless allowed, deadlines on both sides.

The server side has ``statement_timeout``; but a server that goes silent after
the session is set up (a stopped backend, a dead link, a proxy that stops
forwarding) never sends the cancel, and psycopg waits for ever (issue 8). So
every operation on a session also has a client-side deadline
(:class:`Session`): ``timeout`` + :data:`GRACE_S` (the server's own cancel,
with its clear message, comes first when the server is alive), after which
the connection is closed and it is a ``TimedOut``.

Ctrl-C and SIGTERM (which the plugin turns into KeyboardInterrupt) end a run
stuck in libpq too: psycopg answers an interrupt by cancelling the query and
waiting up to 5 s more for the server; a session here sends that cancel with
:data:`CANCEL_S` to spare and then drops the connection, so a silent server
costs about a second, not the whole wait.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from typing import Any

import psycopg
from psycopg.rows import dict_row

from ..dsn import describe
from . import ProbeError, TimedOut

#: Client-side deadline beyond the server's statement_timeout (same ``timeout``).
GRACE_S = 0.5
#: psycopg never waits less than this for a connection (its conninfo.timeout_from_conninfo).
CONNECT_FLOOR_S = 2
#: What a cancel request may cost when the run is interrupted.
CANCEL_S = 0.25


class Session(psycopg.Connection[Any]):
    """A psycopg connection whose every operation after connect ends by a deadline.

    ``Connection.wait`` is the one place psycopg's sync connection blocks on the
    server (execute, fetch, commit, COPY), so the deadline is put there.
    """

    deadline_s: float = 5.0 + GRACE_S
    timeout_s: float = 5.0
    where: str = "PostgreSQL"

    def wait(self, gen: Any, interval: float = 0.1, timeout: float | None = None) -> Any:
        limit = self.deadline_s if timeout is None else min(timeout, self.deadline_s)
        started = time.monotonic()
        try:
            return super().wait(gen, interval, timeout=limit)
        except psycopg.OperationalError as exc:
            # psycopg's wait timeout carries no SQLSTATE; a server's own error always does
            if exc.sqlstate is not None or time.monotonic() - started < limit:
                raise
            self.close()
            raise TimedOut(
                f"timed out after {self.timeout_s} s waiting for {self.where} "
                "(no answer; connection closed)"
            ) from None

    def cancel_safe(self, *, timeout: float = 30.0) -> None:
        """Cancel (briefly), then drop the connection: a silent server cannot hold an interrupt.

        psycopg calls this on KeyboardInterrupt before waiting for the query to
        end; with the socket shut down, that wait ends at once.
        """
        try:
            super().cancel_safe(timeout=min(timeout, CANCEL_S))
        except psycopg.Error:
            pass
        finally:
            self._drop()

    def _drop(self) -> None:
        """Shut the socket down under libpq (which still owns and later closes it)."""
        if self.closed:
            return
        with suppress(OSError, psycopg.Error):
            fd = os.dup(self.pgconn.socket)
            with socket.socket(fileno=fd) as sock:
                sock.shutdown(socket.SHUT_RDWR)


@contextmanager
def longer(conn: psycopg.Connection[Any], seconds: float) -> Iterator[None]:
    """Widen the client-side deadline of ``conn`` for a statement known to take long
    (set the server's statement_timeout to match)."""
    if not isinstance(conn, Session):
        yield
        return
    before = conn.deadline_s
    conn.deadline_s = max(before, seconds + GRACE_S)
    try:
        yield
    finally:
        conn.deadline_s = before


@contextmanager
def connect(
    dsn: str,
    *,
    timeout: float,
    read_only: bool = True,
    target: str = "PostgreSQL",
    options: bool = True,
) -> Iterator[psycopg.Connection[dict[str, Any]]]:
    """A session with default_transaction_read_only (unless writes are allowed) and timeouts.

    The options travel in the startup packet, which a pooler may silently drop
    (PgBouncer with ``ignore_startup_parameters = options``): the session is
    checked in one round-trip, and one that is not read-only when asked to be,
    or has no statement_timeout, is closed and a ProbeError.

    ``options=False`` is for PgBouncer's admin console, which accepts no startup options.
    """
    where = f"{target} {describe(dsn)}"
    kwargs: dict[str, Any] = {
        "connect_timeout": max(1, int(timeout)),
        "autocommit": True,
        "row_factory": dict_row,
        "prepare_threshold": None,
        "application_name": "pytest-spark",
    }
    if options:
        ms = int(timeout * 1000)
        opts = (
            f"-c statement_timeout={ms} -c lock_timeout={ms} "
            f"-c idle_in_transaction_session_timeout={ms * 4}"
        )
        if read_only:
            opts += " -c default_transaction_read_only=on"
        kwargs["options"] = opts
    try:
        conn = Session.connect(dsn, **kwargs)
    except psycopg.OperationalError as exc:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "timeout" in text.lower():
            floor = (
                f" (libpq waits at least {CONNECT_FLOOR_S} s)" if timeout < CONNECT_FLOOR_S else ""
            )
            raise TimedOut(f"timed out after {timeout} s connecting to {where}{floor}") from None
        raise ProbeError(f"cannot connect to {where}: {text}") from None
    conn.timeout_s, conn.deadline_s, conn.where = timeout, timeout + GRACE_S, where
    if options:
        try:
            _verify_session(conn, where, read_only=read_only)
        except BaseException:
            conn.close()
            raise
    try:
        yield conn
    finally:
        conn.close()


#: What the session really runs with (one round-trip, no bind parameters).
SESSION_SETTINGS_SQL = (
    "SELECT current_setting('default_transaction_read_only') AS read_only, "
    "current_setting('statement_timeout') AS statement_timeout"
)


def _verify_session(conn: psycopg.Connection[Any], where: str, *, read_only: bool) -> None:
    """ProbeError unless the startup options took effect (read-only when asked, a deadline)."""
    try:
        found = rows(conn, SESSION_SETTINGS_SQL)
    except psycopg.Error as exc:
        text = (exc.diag.message_primary or str(exc)).strip()
        raise ProbeError(f"cannot read the session settings on {where}: {text}") from None
    got = found[0] if found else {}
    lost = []
    if read_only and got.get("read_only") != "on":
        lost.append(f"default_transaction_read_only is {got.get('read_only')!r}")
    if str(got.get("statement_timeout", "0")).strip() in ("0", "0ms", "0s"):
        lost.append("statement_timeout is 0")
    if lost:
        raise ProbeError(
            f"{where} dropped the session options (read-only, statement_timeout): "
            f"cannot guarantee a safe session ({'; '.join(lost)}; a pooler that ignores "
            "startup 'options', e.g. PgBouncer's ignore_startup_parameters?)"
        )


def rows(
    conn: psycopg.Connection[Any], sql: str, params: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Run one query; a timeout or lost connection is a ProbeError, SQL errors propagate."""
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return list(cur.fetchall()) if cur.description else []
    except psycopg.errors.QueryCanceled as exc:
        raise ProbeError(f"query timed out ({exc.diag.message_primary})") from None
    except psycopg.OperationalError as exc:
        raise ProbeError(f"connection lost: {str(exc).strip()[:200]}") from None
