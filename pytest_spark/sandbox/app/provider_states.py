"""POST /__sandbox/provider-states: Pact provider states, only in sandbox mode.

The route exists only when the app runs with a control token (the sandbox),
and answers only a loopback caller with that token, like /__sandbox/faults.
The body is Pact's state change request, ``{"state", "params", "action"}``
(docs.pact.io/provider/using_provider_states_effectively); a JSON object
answered for a setup is what the verifier injects into requests through
``fromProviderState`` generators (``${orderId}``, ``${account}``...).

States write only under the account the caller names (the suite passes
schema.test_account) and through the real order path (OrderService.place),
so an order made for a state also writes its real outbox event.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from .control import _authorised, _forbidden
from .money import format_money
from .responses import json_response, problem, render_json

if TYPE_CHECKING:
    from .runtime import Runtime

FEED_WAIT_S = 5.0


class StateError(Exception):
    """The state cannot be set (its detail says why)."""


async def _feed_running(rt: Runtime, params: dict[str, Any]) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + FEED_WAIT_S
    while not rt.ticker.ready:
        if loop.time() > deadline:
            raise StateError(f"the price feed has not started within {FEED_WAIT_S} s")
        await asyncio.sleep(0.1)
    return {}


async def _account(rt: Runtime, params: dict[str, Any]) -> str:
    account = params.get("account")
    if not isinstance(account, str) or not account:
        raise StateError("params.account (the test account) is required")
    async with rt.db.transaction() as conn:
        cur = await conn.execute("SELECT 1 FROM accounts WHERE id = %s", (account,))
        if await cur.fetchone() is None:
            raise StateError(f"no account {account!r}")
    if rt.flags.enabled("kill_trading"):
        raise StateError("kill switch kill_trading is on: no account may place orders")
    return account


async def _may_order(rt: Runtime, params: dict[str, Any]) -> dict[str, Any]:
    account = await _account(rt, params)
    return {"account": account, "idempotencyKey": str(uuid.uuid4())}


async def _place(rt: Runtime, account: str) -> int:
    """A passive buy of one lot at the bid of the first quoted instrument: order id."""
    await _feed_running(rt, {})
    symbol = sorted(rt.ticker.quotes)[0]
    quote = rt.ticker.quotes[symbol]
    instrument = quote.instrument
    body = {
        "account": account,
        "symbol": symbol,
        "side": "buy",
        "price": format_money(quote.bid, instrument.price_scale),
        "quantity": format_money(instrument.lot_size, instrument.quantity_scale),
    }
    outcome = await rt.orders.place(f"pact-state-{uuid.uuid4()}", render_json(body))
    if outcome.status not in (200, 201) or "id" not in outcome.body:
        raise StateError(f"the probe order was refused: {outcome.status} {outcome.body}")
    return int(outcome.body["id"])


async def _order_exists(rt: Runtime, params: dict[str, Any]) -> dict[str, Any]:
    account = await _account(rt, params)
    return {"account": account, "orderId": await _place(rt, account)}


async def _open_position(rt: Runtime, params: dict[str, Any]) -> dict[str, Any]:
    account = await _account(rt, params)
    async with rt.db.transaction() as conn:
        cur = await conn.execute(
            "SELECT 1 FROM positions WHERE account_id = %s AND status = 'open' LIMIT 1",
            (account,),
        )
        found = await cur.fetchone() is not None
    if not found:
        await _place(rt, account)
    return {"account": account}


StateFn = Callable[["Runtime", dict[str, Any]], Awaitable[dict[str, Any]]]

#: Every state the reference API can set, by the name consumers use in ``given(...)``.
STATES: dict[str, StateFn] = {
    "the price feed is running": _feed_running,
    "an account may place orders": _may_order,
    "an order exists": _order_exists,
    "an account holds an open position": _open_position,
}


async def provider_state(request: Request) -> Response:
    """Set (or tear down: nothing to undo) one provider state."""
    rt: Runtime = request.app.state.runtime
    if not _authorised(request, rt.settings.control_token):
        return _forbidden()
    try:
        data = json.loads(await request.body() or b"{}")
    except ValueError as exc:
        return problem(400, "bad-state-request", "Bad state request", str(exc))
    if not isinstance(data, dict):
        return problem(400, "bad-state-request", "Bad state request", "body must be an object")
    state, action = data.get("state") or "", data.get("action") or "setup"
    params = data.get("params") if isinstance(data.get("params"), dict) else {}
    if action == "teardown" or state == "":
        return json_response({})
    handler = STATES.get(state)
    if handler is None:
        known = ", ".join(repr(s) for s in STATES)
        return problem(
            404, "unknown-state", "Unknown provider state", f"no state {state!r}; known: {known}"
        )
    try:
        return json_response(await handler(rt, params))
    except StateError as exc:
        return problem(409, "state-not-set", "Provider state not set", f"{state!r}: {exc}")
