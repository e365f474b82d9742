"""Bounded, realistic loopback traffic so every canary metric has data.

Runs as its own process (``python -m pytest_spark.sandbox.loadgen``) so the
stack keeps its traffic when the process that started it exits (detached
CLI use); the owner's death is the lifeline's business (``lifeline.py``),
from the first spawned process on. Traffic pauses while ``loadgen.paused`` exists in the
state directory (the "no-traffic" fault); ``loadgen.rate`` (a number)
overrides the request rate (the 5xx-burst fault speeds traffic up).

It also closes the current WAL segment every few seconds when WAL was written
(PostgreSQL's archive_timeout did not fire in our measurements), so WAL
archiving is continuously exercised and RT-08 sees recent archives.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import random
import signal
import sys
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

RATE_PER_S = 12.0  # total across instances: enough for rates, light on 2 cores
REQUEST_TIMEOUT_S = 3.0
WATCH_INTERVAL_S = 0.5
#: User-Agent and application_name: a server's logs tell the stack's own traffic from a check's.
IDENTITY = "spark-loadgen"
WAL_SWITCH_INTERVAL_S = 10.0
# (weight, action) -- orders dominate because idempotency/risk metrics need them
MIX = (
    (3, "quotes"),
    (1, "version"),
    (1, "flags"),
    (2, "positions"),
    (5, "order"),
    (1, "replay"),
    (0.1, "conflict"),  # ~1.5 % of idempotent requests: well below T05's 5 %
    (0.3, "risk_block"),
    (0.3, "csp_report"),
    (0.5, "page"),
)
RISKY_NOTIONAL = Decimal(2_000_000)
FALLBACK_QUOTES = {"BTC-USD": ("65000.00", "0.0010"), "ETH-USD": ("3200.00", "0.010")}


@dataclass
class Traffic:
    """What the generator needs to make valid requests, plus a small memory for replays."""

    api_urls: list[str]
    quotes: dict[str, tuple[str, str]] = field(default_factory=dict)
    recent: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    sent: int = 0

    def url(self) -> str:
        return random.choice(self.api_urls)


def _order_body(t: Traffic, *, big: bool = False) -> dict[str, Any]:
    """An on-grid order; big ones exceed the risk limit (notional > 1,000,000)."""
    quotes = t.quotes or FALLBACK_QUOTES
    symbol = random.choice(sorted(quotes))
    price, lot = quotes[symbol]
    lots = (
        math.ceil(RISKY_NOTIONAL / (Decimal(price) * Decimal(lot))) if big else random.randint(1, 5)
    )
    return {
        "account": "LOADGEN",
        "symbol": symbol,
        "side": random.choice(["buy", "sell"]),
        "price": price,
        "quantity": str(Decimal(lot) * lots),
    }


async def _refresh_quotes(client: httpx.AsyncClient, t: Traffic) -> None:
    """Learn on-grid prices and lot sizes from /quotes (shape tolerant)."""
    with contextlib.suppress(Exception):
        r = await client.get(f"{t.url()}/quotes")
        data = r.json()
        items = data.get("quotes", data) if isinstance(data, dict) else data
        out: dict[str, tuple[str, str]] = {}
        for q in items if isinstance(items, list) else []:
            price = q.get("bid") or q.get("price") or q.get("ask")
            lot = q.get("lot_size") or q.get("lot")
            if q.get("symbol") and isinstance(price, str) and isinstance(lot, str):
                out[q["symbol"]] = (price, lot)
        if out:
            t.quotes = out


async def _one(client: httpx.AsyncClient, t: Traffic, action: str) -> None:
    base = t.url()
    if action == "quotes":
        await _refresh_quotes(client, t)
    elif action in ("version", "flags"):
        await client.get(f"{base}/{action}")
    elif action == "positions":
        await client.get(f"{base}/positions/LOADGEN")
    elif action == "page":
        await client.get(f"{base}/")
    elif action in ("order", "risk_block"):
        key, body = str(uuid.uuid4()), _order_body(t, big=action == "risk_block")
        await client.post(f"{base}/orders", json=body, headers={"Idempotency-Key": key})
        t.recent = [*t.recent[-19:], (base, key, body)]
    elif action == "replay" and t.recent:
        _base, key, body = random.choice(t.recent)
        await client.post(f"{base}/orders", json=body, headers={"Idempotency-Key": key})
    elif action == "conflict" and t.recent:
        _base, key, body = random.choice(t.recent)
        other = {**body, "side": "sell" if body["side"] == "buy" else "buy"}
        await client.post(f"{base}/orders", json=other, headers={"Idempotency-Key": key})
    elif action == "csp_report":
        report = {
            "csp-report": {
                "document-uri": f"{base}/",
                "violated-directive": "script-src-elem",
                "effective-directive": "script-src-elem",
                "blocked-uri": "inline",
                "disposition": "enforce",
            }
        }
        await client.post(
            f"{base}/csp-report",
            content=json.dumps(report),
            headers={"Content-Type": "application/csp-report"},
        )


async def _ws_client(url: str, paused: Path, stop: asyncio.Event) -> None:
    """Keep one price-stream subscriber per instance, reconnecting after drops."""
    import websockets

    ws_url = url.replace("http://", "ws://") + "/ws/prices"
    while not stop.is_set():
        if paused.exists():
            await asyncio.sleep(0.5)
            continue
        with contextlib.suppress(Exception):
            async with websockets.connect(ws_url, open_timeout=3, close_timeout=1) as ws:
                while not stop.is_set() and not paused.exists():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(ws.recv(), timeout=1.0)
        await asyncio.sleep(0.5)


def _switch_wal_if_written(dsn: str, last: list[str]) -> None:
    """pg_switch_wal() when WAL moved since the last call (blocking; run in a thread)."""
    import psycopg

    with psycopg.connect(
        dsn, autocommit=True, connect_timeout=3, application_name=IDENTITY
    ) as conn:
        conn.execute("SET statement_timeout = '5s'")
        lsn = str(conn.execute("SELECT pg_current_wal_insert_lsn()").fetchone()[0])
        if lsn != (last[0] if last else ""):
            conn.execute("SELECT pg_switch_wal()")
            lsn = str(conn.execute("SELECT pg_current_wal_insert_lsn()").fetchone()[0])
        last[:] = [lsn]


async def _wal_ticker(dsn: str, stop: asyncio.Event) -> None:
    """Keep WAL segments flowing to the archive while the stack runs."""
    last: list[str] = []
    while not stop.is_set():
        with contextlib.suppress(Exception):
            await asyncio.to_thread(_switch_wal_if_written, dsn, last)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=WAL_SWITCH_INTERVAL_S)


def _current_rate(rate_file: Path, default: float) -> float:
    """Requests per second: the override file if present and sane, else the default."""
    try:
        value = float(rate_file.read_text().strip())
    except (OSError, ValueError):
        return default
    return min(max(value, 0.1), 200.0)


async def run(state_dir: Path, load: bool, rate: float) -> int:
    """Send traffic until stopped."""
    state = json.loads((state_dir / "state.json").read_text())
    endpoints = state["endpoints"]
    # requests go through HAProxy (the stable/canary split); every instance keeps one
    # price-stream subscriber of its own, so both tracks always have WebSocket data
    public = endpoints.get("public_url")
    t = Traffic(api_urls=[public] if public else list(endpoints["api_urls"]))
    ws_urls = [*endpoints["api_urls"], *endpoints.get("stable_urls", [])]
    paused = state_dir / "loadgen.paused"
    rate_file = state_dir / "loadgen.rate"
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    weights = [w for w, _ in MIX]
    actions = [a for _, a in MIX]
    timeout = httpx.Timeout(REQUEST_TIMEOUT_S)
    limits = httpx.Limits(max_connections=8)
    headers = {"User-Agent": IDENTITY}
    async with httpx.AsyncClient(timeout=timeout, limits=limits, headers=headers) as client:
        background = (
            [asyncio.create_task(_ws_client(u, paused, stop)) for u in ws_urls] if load else []
        )
        background.append(asyncio.create_task(_wal_ticker(state["endpoints"]["db_dsn"], stop)))
        inflight: set[asyncio.Task[None]] = set()
        last_watch = 0.0
        current = rate
        while not stop.is_set():
            now = time.monotonic()
            if now - last_watch > WATCH_INTERVAL_S:
                last_watch = now
                current = _current_rate(rate_file, rate)
            if load and not paused.exists() and len(inflight) < 32:
                action = random.choices(actions, weights)[0]
                task = asyncio.create_task(_safe(_one(client, t, action)))
                inflight.add(task)
                task.add_done_callback(inflight.discard)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=random.expovariate(current))
        for task in [*background, *inflight]:
            task.cancel()
        await asyncio.gather(*background, *inflight, return_exceptions=True)
    return 0


async def _safe(coro: Any) -> None:
    with contextlib.suppress(Exception):
        await coro


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="pytest_spark.sandbox.loadgen")
    p.add_argument("--state-dir", type=Path, required=True)
    p.add_argument("--no-load", action="store_true", help="WAL ticker only, no traffic")
    p.add_argument("--rate", type=float, default=RATE_PER_S, help="requests per second (total)")
    args = p.parse_args(argv)
    return asyncio.run(run(args.state_dir, not args.no_load, args.rate))


if __name__ == "__main__":
    sys.exit(main())
