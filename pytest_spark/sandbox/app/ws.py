"""WebSocket /ws/prices: a snapshot of every symbol, then each tick's updates.

The loop ends when the client goes away, the app stops, or the feed is killed;
every end of a connected stream counts one spark_ws_disconnects_total.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from .flags import iso_utc
from .money import format_money
from .responses import render_json
from .ticker import Quote

if TYPE_CHECKING:
    from .runtime import Runtime

IDLE_TIMEOUT_S = 1.0
CLOSE_TRY_AGAIN_LATER = 1013


def price_message(quote: Quote, floats: bool) -> dict[str, Any]:
    """One price update as sent on the stream."""
    i = quote.instrument

    def money(value: Any, scale: int) -> str | float:
        text = format_money(value, scale)
        return float(text) if floats else text

    return {
        "type": "price",
        "symbol": i.symbol,
        "bid": money(quote.bid, i.price_scale),
        "ask": money(quote.ask, i.price_scale),
        "bid_size": money(quote.bid_size, i.quantity_scale),
        "ask_size": money(quote.ask_size, i.quantity_scale),
        "seq": quote.seq,
        "time": iso_utc(quote.ts),
    }


async def prices(websocket: WebSocket) -> None:
    """Stream price updates until the client or the app goes away."""
    rt: Runtime = websocket.app.state.runtime
    await websocket.accept()
    if rt.flags.enabled("kill_ws_feed"):
        await websocket.close(CLOSE_TRY_AGAIN_LATER)
        return
    watcher = asyncio.create_task(_wait_for_close(websocket))
    last_seq = -1
    try:
        while not rt.stopping.is_set() and not watcher.done():
            quotes = [q for q in rt.ticker.quotes.values() if q.seq > last_seq]
            floats = rt.faults.on("api-floats")
            for quote in sorted(quotes, key=lambda q: q.instrument.symbol):
                await websocket.send_text(render_json(price_message(quote, floats)).decode())
                last_seq = max(last_seq, quote.seq)
            if rt.flags.enabled("kill_ws_feed") or rt.faults.on("ws-storm"):
                break
            await rt.ticker.wait_next(IDLE_TIMEOUT_S)
    except (WebSocketDisconnect, RuntimeError, OSError):
        pass
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await watcher
        rt.metrics.ws_disconnects.inc()
        with contextlib.suppress(Exception):
            await websocket.close()


async def _wait_for_close(websocket: WebSocket) -> None:
    """Drain client messages; returns when the client disconnects."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
