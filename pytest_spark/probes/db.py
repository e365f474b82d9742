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
    try:
        yield conn
    finally:
        conn.close()


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
