"""PostgreSQL sessions for checks: read-only unless allowed, connect + statement deadlines."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.rows import dict_row

from ..dsn import describe
from . import ProbeError


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
        "connect_timeout": max(1, round(timeout)),
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
        conn = psycopg.connect(dsn, **kwargs)
    except psycopg.OperationalError as exc:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "timeout" in text.lower():
            raise ProbeError(f"timed out after {timeout} s connecting to {where}") from None
        raise ProbeError(f"cannot connect to {where}: {text}") from None
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
