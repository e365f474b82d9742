"""JSON endpoints of the trading API."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from .faults import DEFAULT_MISSING_FAMILY
from .flags import iso_utc
from .money import format_money, scale_of
from .orders import order_document
from .responses import json_response, problem

if TYPE_CHECKING:
    from .runtime import Runtime

MAX_BODY_BYTES = 16 * 1024
INT4_MAX = 2**31 - 1


def _rt(request: Request) -> Runtime:
    return request.app.state.runtime  # type: ignore[no-any-return]


async def post_order(request: Request) -> Response:
    """POST /orders: idempotent order placement (see orders.py)."""
    rt = _rt(request)
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        return problem(413, "too-large", "Body too large", f"at most {MAX_BODY_BYTES} bytes")
    outcome = await rt.orders.place(request.headers.get("idempotency-key"), body)
    if outcome.status >= 400:
        if rt.faults.on("idempotency-error-changed") and outcome.body.get("type", "").endswith(
            "/idempotency-key-missing"
        ):
            return json_response({"error": "missing idempotency key"}, 422)
        return problem_from(outcome.body, outcome.status, outcome.headers)
    status = 200 if outcome.status == 201 and rt.faults.on("order-created-200") else outcome.status
    return json_response(_order_view(outcome.body, rt), status, outcome.headers)


def _order_view(document: dict[str, Any], rt: Runtime) -> dict[str, Any]:
    """An order document as served (contract-field-renamed calls ``status`` ``state``)."""
    if rt.faults.on("contract-field-renamed") and "status" in document:
        document = {("state" if k == "status" else k): v for k, v in document.items()}
    return document


def problem_from(body: dict[str, Any], status: int, headers: dict[str, str]) -> Response:
    """A stored problem document as an application/problem+json response."""
    response = json_response(body, status, headers)
    response.headers["content-type"] = "application/problem+json"
    return response


_ORDER = """
SELECT o.id, o.account_id, o.symbol, o.side, o.price, o.quantity, o.status, o.created_at
FROM orders o WHERE o.id = %s
"""


async def get_order(request: Request) -> Response:
    """GET /orders/{id}: the stored order, money formatted on the instrument's grid."""
    rt = _rt(request)
    raw = request.path_params["id"]
    if not raw.isdigit() or int(raw) > INT4_MAX:
        return problem(404, "not-found", "Order not found", f"no order {raw!r}")
    async with rt.db.transaction() as conn:
        cur = await conn.execute(_ORDER, (int(raw),))
        row = await cur.fetchone()
        names = [c.name for c in cur.description or ()]
    if row is None:
        return problem(404, "not-found", "Order not found", f"no order {raw}")
    stored = dict(zip(names, row, strict=True))
    instrument = await rt.instruments.get(stored["symbol"])
    assert instrument is not None
    document = order_document(stored, instrument, rt.faults.on("api-floats"))
    return json_response(_order_view(document, rt))


_POSITIONS = """
SELECT p.symbol, p.quantity, p.avg_price, p.status, p.opened_at, p.updated_at,
       i.tick_size, i.lot_size
FROM positions p JOIN instruments i ON i.symbol = p.symbol
WHERE p.account_id = %s AND p.status = 'open'
ORDER BY p.symbol, p.id
"""


async def get_positions(request: Request) -> Response:
    """GET /positions/{account}: the account's open positions."""
    rt = _rt(request)
    account = request.path_params["account"]
    floats = rt.faults.on("api-floats")
    async with rt.db.transaction() as conn:
        cur = await conn.execute("SELECT 1 FROM accounts WHERE id = %s", (account,))
        if await cur.fetchone() is None:
            return problem(404, "unknown-account", "Unknown account", f"no account {account!r}")
        cur = await conn.execute(_POSITIONS, (account,))
        rows = await cur.fetchall()
    items = []
    for symbol, qty, avg, status, opened, updated, tick, lot in rows:
        quantity = format_money(qty, scale_of(lot))
        avg_price = format_money(avg, scale_of(tick))
        items.append(
            {
                "account": account,
                "symbol": symbol,
                "quantity": float(quantity) if floats else quantity,
                "avg_price": float(avg_price) if floats else avg_price,
                "status": status,
                "opened_at": opened.isoformat().replace("+00:00", "Z"),
                "updated_at": updated.isoformat().replace("+00:00", "Z"),
            }
        )
    return json_response({"account": account, "positions": items})


async def get_quotes(request: Request) -> Response:
    """GET /quotes: top of book per instrument, every value on its grid, as strings."""
    rt = _rt(request)
    if not rt.ticker.ready:
        return problem(503, "no-quotes", "No quotes yet", "the price feed has not started")
    floats = rt.faults.on("api-floats")

    def money(value: Any, scale: int) -> str | float:
        text = format_money(value, scale)
        return float(text) if floats else text

    quotes = []
    for symbol in sorted(rt.ticker.quotes):
        q = rt.ticker.quotes[symbol]
        i = q.instrument
        quotes.append(
            {
                "symbol": symbol,
                "bid": money(q.bid, i.price_scale),
                "ask": money(q.ask, i.price_scale),
                "bid_size": money(q.bid_size, i.quantity_scale),
                "ask_size": money(q.ask_size, i.quantity_scale),
                "tick_size": money(i.tick_size, 0),
                "lot_size": money(i.lot_size, 0),
                "seq": q.seq,
                "time": iso_utc(q.ts),
            }
        )
    return json_response({"quotes": quotes})


async def get_version(request: Request) -> Response:
    """GET /version: what this instance claims to run."""
    rt = _rt(request)
    s = rt.settings
    return json_response(
        {
            "service": s.service,
            "version": rt.reported_version,
            "git_sha": s.git_sha,
            "build_time": s.build_time,
            "instance": s.instance,
        }
    )


async def get_flags(request: Request) -> Response:
    """GET /flags: flag values with snapshot version and time."""
    return json_response(_rt(request).flags.snapshot())


async def get_healthz(request: Request) -> Response:
    """GET /healthz: 200 when the database answers within a second, else 503."""
    rt = _rt(request)
    try:
        async with asyncio.timeout(1.0), rt.db.transaction() as conn:
            await conn.execute("SELECT 1")
        db_ok = True
    except Exception:
        db_ok = False
    body = {
        "status": "ok" if db_ok else "degraded",
        "db": db_ok,
        "instance": rt.settings.instance,
        "price_feed": rt.ticker.ready,
    }
    return json_response(body, 200 if db_ok else 503)


async def get_metrics(request: Request) -> Response:
    """GET /metrics: this instance's private registry plus process metrics."""
    rt = _rt(request)
    for symbol, age in rt.ticker.ages().items():
        rt.metrics.ws_age.labels(symbol).set(age)
    hidden: set[str] = set()
    if rt.faults.on("metric-family-missing"):
        hidden.add(str(rt.faults.value("metric-family-missing", DEFAULT_MISSING_FAMILY)))
    return Response(
        rt.metrics.exposition(hidden),
        media_type="text/plain; version=0.0.4; charset=utf-8",
    )
