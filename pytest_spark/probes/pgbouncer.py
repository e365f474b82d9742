"""PgBouncer's admin console (``dbname=pgbouncer``): SHOW commands with a real deadline.

The console speaks only the simple query protocol and accepts no startup
``options``. psycopg sends a parameterless ``execute`` with the simple
protocol, but a blocking ``execute`` has no deadline and the console has no
``statement_timeout``: a stalled PgBouncer would hang the run. So ``show``
drives libpq asynchronously (send_query + select on the socket) and gives up
after ``timeout`` seconds, closing the session.
"""

from __future__ import annotations

import re
import select
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import pq

from . import ProbeError
from .db import connect

_WHAT = re.compile(r"[A-Z_]+\Z")


@dataclass(frozen=True)
class ShowResult:
    """One SHOW answer: columns in order, rows as dicts (values typed like psycopg's)."""

    command: str
    columns: tuple[str, ...]
    rows: list[dict[str, Any]]
    elapsed_s: float

    def text(self) -> str:
        """The answer as an aligned text table (psql style): the raw capture for evidence."""
        cells = [[_cell(r.get(c)) for c in self.columns] for r in self.rows]
        widths = [
            max([len(c), *(len(row[i]) for row in cells)]) for i, c in enumerate(self.columns)
        ]
        line = " | ".join(c.ljust(w) for c, w in zip(self.columns, widths, strict=True))
        rule = "-+-".join("-" * w for w in widths)
        body = [" | ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
        count = f"({len(self.rows)} row{'s' if len(self.rows) != 1 else ''})"
        return "\n".join([f"=> {self.command}", line.rstrip(), rule, *map(str.rstrip, body), count])


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


@contextmanager
def admin_console(dsn: str, *, timeout: float) -> Iterator[psycopg.Connection[Any]]:
    """A session on the admin console: connect deadline set, no startup options sent."""
    with connect(dsn, timeout=timeout, options=False, target="PgBouncer admin console") as conn:
        yield conn


def show(conn: psycopg.Connection[Any], what: str, *, timeout: float) -> ShowResult:
    """``SHOW <what>`` (CONFIG, POOLS, CLIENTS, SERVERS, DATABASES ...) within ``timeout``."""
    what = what.strip().upper()
    if not _WHAT.match(what):
        raise ValueError(f"not a SHOW subject: {what!r}")
    command = f"SHOW {what}"
    pg = conn.pgconn
    started = time.monotonic()
    deadline = started + timeout
    results: list[pq.abc.PGresult] = []
    try:
        pg.send_query(command.encode())
        while pg.flush():
            _wait(conn, deadline, command, timeout, write=True)
        while True:
            pg.consume_input()
            while pg.is_busy():
                _wait(conn, deadline, command, timeout, write=False)
                pg.consume_input()
            res = pg.get_result()
            if res is None:
                break
            results.append(res)
    except psycopg.Error as exc:
        conn.close()
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ProbeError(f"PgBouncer admin console lost during {command}: {text}") from None
    elapsed = time.monotonic() - started
    if not results:
        raise ProbeError(f"PgBouncer admin console gave no answer to {command}")
    res = results[-1]
    if res.status != pq.ExecStatus.TUPLES_OK:
        msg = (res.error_message or b"").decode("utf-8", "replace").strip()
        raise ProbeError(f"PgBouncer admin console refused {command}: {msg or res.status.name}")
    return ShowResult(command, *_decode(conn, res), elapsed_s=round(elapsed, 6))


def _wait(
    conn: psycopg.Connection[Any], deadline: float, command: str, timeout: float, *, write: bool
) -> None:
    left = deadline - time.monotonic()
    if left > 0:
        fd = conn.pgconn.socket
        readable, writable, _ = select.select(
            [] if write else [fd], [fd] if write else [], [], left
        )
        if readable or writable:
            return
    conn.close()
    raise ProbeError(
        f"timed out after {timeout} s waiting for {command} on PgBouncer admin console"
    )


def _decode(
    conn: psycopg.Connection[Any], res: pq.abc.PGresult
) -> tuple[tuple[str, ...], list[dict[str, Any]]]:
    """Text-format values through psycopg's own loaders (int columns become ints)."""
    columns = tuple((res.fname(i) or b"").decode() for i in range(res.nfields))
    loaders = []
    for i in range(res.nfields):
        cls = conn.adapters.get_loader(res.ftype(i), pq.Format.TEXT)
        loaders.append(cls(res.ftype(i), conn) if cls is not None else None)
    rows: list[dict[str, Any]] = []
    for r in range(res.ntuples):
        row: dict[str, Any] = {}
        for i, name in enumerate(columns):
            raw = res.get_value(r, i)
            loader = loaders[i]
            if raw is None:
                row[name] = None
            elif loader is not None:
                row[name] = loader.load(raw)
            else:
                row[name] = bytes(raw).decode("utf-8", "replace")
        rows.append(row)
    return columns, rows
