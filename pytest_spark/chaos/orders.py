"""The chaos run's own order load: open-model POST /orders with Idempotency-Keys.

Sent through HAProxy (the public URL) at a fixed rate for a bounded time. A
client that does not get a final answer (201, or a replay of it) retries the
same key with a short backoff, as a careful trading client does; each key's
first attempt is hedged (sent twice at once, as a client that timed out and
retried while the first request was still in flight). Every attempt has a
deadline; one that hits it is a hang. The record goes to the run directory
for the reconciliation against the database.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

ATTEMPT_DEADLINE_S = 8.0  # above the API's own 5 s database deadline
SETTLE_S = 25.0  # a key is retried at most this long
BACKOFF_S = 0.3
ACCOUNT = "LOADGEN"
ORDERS_FILE = "orders.json"


def _body(quotes: dict[str, tuple[str, str]], i: int) -> dict[str, Any]:
    symbol = sorted(quotes)[i % len(quotes)]
    price, lot = quotes[symbol]
    return {"account": ACCOUNT, "symbol": symbol, "side": "buy", "price": price, "quantity": lot}


async def _quotes(client: httpx.AsyncClient, base: str) -> dict[str, tuple[str, str]]:
    from ..sandbox.loadgen import FALLBACK_QUOTES

    try:
        data = (await client.get(f"{base}/quotes")).json()
        items = data.get("quotes", data) if isinstance(data, dict) else data
        out = {
            q["symbol"]: (q.get("bid") or q.get("price"), q.get("lot_size") or q.get("lot"))
            for q in items
            if isinstance(q, dict) and q.get("symbol")
        }
        return {k: v for k, v in out.items() if all(isinstance(x, str) for x in v)} or dict(
            FALLBACK_QUOTES
        )
    except (httpx.HTTPError, ValueError, TypeError):
        return dict(FALLBACK_QUOTES)


async def _attempt(
    client: httpx.AsyncClient, url: str, key: str, body: dict[str, Any], rec: dict[str, Any]
) -> int | None:
    t0 = time.monotonic()
    try:
        resp = await client.post(url, json=body, headers={"Idempotency-Key": key})
        status: int | None = resp.status_code
    except httpx.TimeoutException:
        rec["timeouts"] += 1
        status = None
    except httpx.HTTPError:
        status = None
    rec["max_attempt_s"] = round(max(rec["max_attempt_s"], time.monotonic() - t0), 3)
    rec["statuses"].append(status)
    return status


async def _one_key(client: httpx.AsyncClient, url: str, i: int, quotes: Any, out: dict) -> None:
    key = f"chaos-{uuid.uuid4()}"
    rec: dict[str, Any] = {"statuses": [], "timeouts": 0, "max_attempt_s": 0.0, "accepted": False}
    out[key] = rec
    body = _body(quotes, i)
    end = time.monotonic() + SETTLE_S
    first = await asyncio.gather(*(_attempt(client, url, key, body, rec) for _ in range(2)))
    status = 201 if 201 in first else first[0]
    while status != 201 and time.monotonic() < end:
        await asyncio.sleep(BACKOFF_S)
        status = await _attempt(client, url, key, body, rec)
    rec["accepted"] = status == 201


async def _run(base: str, rate: float, duration_s: float) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    limits = httpx.Limits(max_connections=64)
    async with httpx.AsyncClient(timeout=ATTEMPT_DEADLINE_S, limits=limits) as client:
        quotes = await _quotes(client, base)
        url = f"{base}/orders"
        tasks, t0, i = [], time.monotonic(), 0
        while (due := t0 + i / rate) < t0 + duration_s:  # open model: send on schedule
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            tasks.append(asyncio.create_task(_one_key(client, url, i, quotes, out)))
            i += 1
        await asyncio.gather(*tasks)
    return out


def run(base_url: str, rate: float, duration_s: float, run_dir: Path) -> dict[str, Any]:
    """Send the load (blocking); write the per-key record; return the summary."""
    t0 = time.monotonic()
    sent = asyncio.run(_run(base_url, rate, duration_s))
    (run_dir / ORDERS_FILE).write_text(json.dumps(sent))
    attempts = [s for r in sent.values() for s in r["statuses"]]
    return {
        "keys": len(sent),
        "attempts": len(attempts),
        "rate_per_s": round(len(sent) / max(duration_s, 0.001), 2),
        "accepted": sum(r["accepted"] for r in sent.values()),
        "client_5xx": sum(1 for s in attempts if s is not None and s >= 500),
        "client_409": sum(1 for s in attempts if s == 409),
        "transport_errors": sum(1 for s in attempts if s is None),
        "timeouts": sum(r["timeouts"] for r in sent.values()),
        "max_attempt_s": max((r["max_attempt_s"] for r in sent.values()), default=0.0),
        "wall_s": round(time.monotonic() - t0, 1),
    }


def load_sent(run_dir: Path) -> dict[str, dict[str, Any]] | None:
    try:
        return dict(json.loads((run_dir / ORDERS_FILE).read_text()))
    except FileNotFoundError:
        return None
