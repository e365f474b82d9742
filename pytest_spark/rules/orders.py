"""A valid order to probe the API with, built from what GET /quotes says.

Checks that write (RT-02) must send an order the API accepts, or they would
test validation instead of idempotency. The grid (tick and lot) and a price
come from the quotes document, so nothing about instruments is hard-coded: the
cheapest instrument (price x one lot) keeps the probe far below any risk
limit, and the price is the bid floored onto the tick grid with exact
decimal arithmetic.

Pure: a parsed JSON document in, a JSON body out.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = ["ProbeOrderError", "decimal_text", "probe_order", "with_other_quantity"]


class ProbeOrderError(ValueError):
    """The quotes document offers nothing a valid order can be built from."""


def decimal_text(value: Decimal) -> str:
    """Plain decimal notation without exponent or trailing zeros (``1000``, ``0.0001``)."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def _dec(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        return None
    return d if d.is_finite() and d > 0 else None


def probe_order(quotes: Any, account: str, *, side: str = "buy") -> dict[str, str]:
    """The cheapest on-grid order: one lot at the bid (floored to the tick).

    ``quotes`` is the GET /quotes document (``{"quotes": [{symbol, bid, ask,
    tick_size, lot_size, ...}]}``). Raises ProbeOrderError when no quote has a
    positive price, tick and lot.
    """
    items = quotes.get("quotes") if isinstance(quotes, Mapping) else None
    best: tuple[Decimal, dict[str, str]] | None = None
    for q in items or []:
        if not isinstance(q, Mapping) or not q.get("symbol"):
            continue
        tick, lot = _dec(q.get("tick_size")), _dec(q.get("lot_size"))
        price = _dec(q.get("bid")) or _dec(q.get("ask"))
        if tick is None or lot is None or price is None:
            continue
        on_grid = (price // tick) * tick
        if on_grid <= 0:
            on_grid = tick
        notional = on_grid * lot
        body = {
            "account": account,
            "symbol": str(q["symbol"]),
            "side": side,
            "price": decimal_text(on_grid),
            "quantity": decimal_text(lot),
        }
        if best is None or notional < best[0]:
            best = (notional, body)
    if best is None:
        raise ProbeOrderError("GET /quotes lists no instrument with a price, tick and lot size")
    return best[1]


def with_other_quantity(body: Mapping[str, str]) -> dict[str, str]:
    """The same order with twice the quantity: a different body, still on the lot grid."""
    qty = Decimal(body["quantity"]) * 2
    return {**body, "quantity": decimal_text(qty)}
