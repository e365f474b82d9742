"""PgBouncer pool exhaustion (CHAOS.md CH-05): server connections held idle in transaction.

``hold`` opens as many client connections as the app database's pool has
server connections (PgBouncer's ``SHOW DATABASES`` pool_size), through
PgBouncer as the app's own user, and leaves each idle in a transaction: in
transaction pooling every one pins a server connection, so the app's queries
queue in PgBouncer. A timer releases them after the deadline (the fault
expires by itself); so does the end of this process (the sockets close).

``probe_requests`` is the client side: GET /positions (a database read) on a
canary instance directly (HAProxy would hide it behind "no server"), every
attempt bounded in total time and body size, recording status, duration and
whether a stack trace leaked.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from pathlib import Path
from typing import Any

import httpx

REQUESTS_FILE = "requests.json"
ATTEMPT_DEADLINE_S = 12.0  # total per read: above PgBouncer's query_wait_timeout
MAX_BODY = 64 * 1024  # a position list or a problem body; enough to see a leaked trace
_lock = threading.Lock()
_held: list[Any] = []
_timer: threading.Timer | None = None


def pool_size(admin_dsn: str, database: str = "spark") -> int:
    """The app database's pool_size as PgBouncer has it (admin console SHOW DATABASES)."""
    import psycopg

    with psycopg.connect(
        admin_dsn, autocommit=True, connect_timeout=5, cursor_factory=psycopg.ClientCursor
    ) as conn:
        cur = conn.execute("SHOW DATABASES")
        names = [d.name for d in cur.description or []]
        for row in cur.fetchall():
            rec = dict(zip(names, row, strict=True))
            if rec.get("name") == database:
                return int(rec["pool_size"])
    raise RuntimeError(f"PgBouncer has no database {database!r}")


def hold(dsn: str, count: int, expires_s: float) -> int:
    """Pin count server connections (BEGIN; SELECT txid_current()); released after expires_s."""
    import psycopg

    global _timer
    if not 1 <= count <= 100 or not 1 <= expires_s <= 120:
        raise ValueError("count must be 1..100 and expires_s 1..120 s (a bounded fault)")
    release()
    with _lock:
        _timer = threading.Timer(expires_s, release)
        _timer.daemon = True
        _timer.start()
    for _ in range(count):
        conn = psycopg.connect(dsn, connect_timeout=5, prepare_threshold=None)
        with _lock:
            _held.append(conn)
        conn.execute("SET statement_timeout = '10s'")
        conn.execute("SELECT txid_current()")  # a transaction now pins a server connection
    return len(_held)


def release() -> int:
    """Give every held connection back (rolled back, closed); idempotent."""
    global _timer
    with _lock:
        held, _held[:] = list(_held), []
        if _timer is not None:
            _timer.cancel()
            _timer = None
    for conn in held:
        with contextlib.suppress(Exception):  # a broken connection is gone anyway
            conn.close()
    return len(held)


def held() -> int:
    with _lock:
        return len(_held)


async def _probe(base: str, account: str, duration_s: float, interval_s: float) -> list[dict]:
    out: list[dict[str, Any]] = []

    async def one(client: httpx.AsyncClient) -> None:
        t0, started = time.monotonic(), time.time()
        rec: dict[str, Any] = {"at": started, "status": None, "s": 0.0, "trace": False}
        try:
            # httpx's timeout bounds each phase; a trickled answer needs a total deadline
            async with asyncio.timeout(ATTEMPT_DEADLINE_S):
                status, ctype, body = await _get_capped(client, f"{base}/positions/{account}")
            rec["status"] = status
            rec["problem"] = ctype.startswith("application/problem+json")
            text = body.decode("utf-8", "replace")
            rec["trace"] = "Traceback" in text or 'File "' in text
        except (httpx.TimeoutException, TimeoutError):
            rec["status"] = "timeout"
        except httpx.HTTPError as exc:
            rec["status"] = type(exc).__name__
        rec["s"] = round(time.monotonic() - t0, 3)
        out.append(rec)

    # A fresh connection per read: a server may close an idle persistent connection at any
    # moment (RFC 9112 section 9.5), and a read sent on it just then gets no answer at all.
    # That is the client's pooling, not the API under exhaustion; a reset on a fresh
    # connection is still the API's and is still a finding.
    fresh = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=ATTEMPT_DEADLINE_S, limits=fresh) as client:
        tasks, t0, i = [], time.monotonic(), 0
        while (due := t0 + i * interval_s) < t0 + duration_s:
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            tasks.append(asyncio.create_task(one(client)))
            i += 1
        await asyncio.gather(*tasks)
    return sorted(out, key=lambda r: r["at"])


async def _get_capped(client: httpx.AsyncClient, url: str) -> tuple[int, str, bytes]:
    """GET: status, content type and at most MAX_BODY bytes of the body (the rest unread)."""
    body = b""
    async with client.stream("GET", url) as resp:
        async for chunk in resp.aiter_bytes():
            body += chunk
            if len(body) >= MAX_BODY:
                break
        return resp.status_code, resp.headers.get("content-type", ""), body[:MAX_BODY]


def probe_requests(
    base_url: str, account: str, duration_s: float, interval_s: float, run_dir: Path
) -> dict[str, Any]:
    """Send the reads (blocking), write them to the run directory, return a summary."""
    got = asyncio.run(_probe(base_url, account, duration_s, interval_s))
    (run_dir / REQUESTS_FILE).write_text(json.dumps(got))
    statuses = [r["status"] for r in got]
    return {
        "requests": len(got),
        "ok": statuses.count(200),
        "503": statuses.count(503),
        "500": statuses.count(500),
        "hung": statuses.count("timeout"),
        "max_s": max((r["s"] for r in got), default=0.0),
    }


def load_requests(run_dir: Path) -> list[dict[str, Any]] | None:
    try:
        return list(json.loads((run_dir / REQUESTS_FILE).read_text()))
    except FileNotFoundError:
        return None
