"""RT-06: the tick/lot grid of each quoted instrument, probe orders on it, and their round trip.

Probe orders must never trade against a real one, so every order RT-06 sends
is passive (a buy at or below the bid, a sell at or above the ask), priced
within :data:`PRICE_BAND` of the quote and one lot in size, which also keeps
it clear of price bands and risk limits while the digits vary. An on-grid
order must come back exactly as sent (POST answer, GET on another instance,
the stored row); an off-grid one must be refused with a 4xx.

Pure: decoded quotes, order bodies and answers as received in; grids, bodies
and problems out. The HTTP and database side is
:mod:`pytest_spark.probes.orders`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

from pytest_spark.rules import ticks
from pytest_spark.rules.findings import Finding
from pytest_spark.rules.json_values import field, loads, shown
from pytest_spark.rules.problems import Problem

__all__ = [
    "PRICE_BAND",
    "Grid",
    "OffGridOrder",
    "RoundTrip",
    "grid_for",
    "off_grid_orders",
    "order_body",
    "quote_findings",
    "round_trip_problems",
    "survey",
]

#: Probe orders are priced within this share of the quote.
PRICE_BAND = Decimal("0.10")


@dataclass(frozen=True)
class Grid:
    """One instrument's grid as quoted, and the passive prices test orders come from.

    A probe order must never trade against a real one, so it never crosses the
    spread: a buy is priced at or below the bid (and below the ask), a sell at
    or above the ask (and above the bid), on the tick grid and within
    PRICE_BAND of the quote. ``buy_high`` 0 means no passive buy exists (a bid
    below one tick).
    """

    symbol: str
    tick: Decimal
    lot: Decimal
    bid: Decimal
    ask: Decimal
    buy_low: int  # buy price = k * tick for buy_low <= k <= buy_high (at or below the bid)
    buy_high: int
    sell_low: int  # sell price = k * tick for sell_low <= k <= sell_high (at or above the ask)
    sell_high: int

    @staticmethod
    def places(step: Decimal) -> int:
        exponent = step.normalize().as_tuple().exponent
        return max(0, -exponent) if isinstance(exponent, int) else 0

    def price(self, k: int) -> str:
        return f"{k * self.tick:.{self.places(self.tick)}f}"

    def quantity(self, lots: int = 1) -> str:
        return f"{lots * self.lot:.{self.places(self.lot)}f}"

    def sides(self) -> tuple[str, ...]:
        """The sides a passive order can be placed on."""
        return ("buy", "sell") if self.buy_high >= 1 else ("sell",)

    def ticks(self, side: str) -> tuple[int, int]:
        """(lowest, highest) k of a passive order on ``side``."""
        return (self.buy_low, self.buy_high) if side == "buy" else (self.sell_low, self.sell_high)

    def off_tick(self, side: str) -> str:
        """A passive price half a tick off the grid (just below the bid, or above the ask)."""
        half = self.tick / 2
        if side == "buy":
            value = self.buy_high * self.tick - half
        else:
            value = self.sell_low * self.tick + half
        return f"{value:.{self.places(self.tick) + 1}f}"


def grid_for(quote: Mapping[str, Any]) -> Grid | None:
    """The quote's grid, if its values are usable decimal strings."""
    values = [quote.get(k) for k in ("tick_size", "lot_size", "bid", "ask")]
    if not all(isinstance(v, str) and ticks.parse_decimal(v) is not None for v in values):
        return None
    tick, lot, bid, ask = (Decimal(v) for v in values)
    if tick <= 0 or lot <= 0 or bid <= 0 or ask <= 0:
        return None

    def k(value: Decimal, rounding: str) -> int:
        return int((value / tick).to_integral_value(rounding))

    # passive: a buy at or below the bid and under the ask; a sell at or above the ask
    # and over the bid (a locked or crossed quote moves both one tick away)
    buy_high = max(0, min(k(bid, ROUND_FLOOR), k(ask, ROUND_CEILING) - 1))
    buy_low = min(max(1, k(bid * (1 - PRICE_BAND), ROUND_CEILING)), buy_high)
    sell_low = max(1, k(ask, ROUND_CEILING), k(bid, ROUND_FLOOR) + 1)
    sell_high = max(sell_low, k(ask * (1 + PRICE_BAND), ROUND_FLOOR))
    return Grid(
        str(quote.get("symbol")), tick, lot, bid, ask, buy_low, buy_high, sell_low, sell_high
    )


def quote_findings(quote: Any) -> list[Finding]:
    """The tick rules for one quote, with tick and lot sizes that must be JSON strings too."""
    if not isinstance(quote, Mapping):
        return [Finding("quote-not-object", f"quote {quote!r} is not an object")]
    found = ticks.validate_quote(quote)
    for key in ("tick_size", "lot_size"):
        value = quote.get(key)
        if value is not None and not isinstance(value, str):
            found.append(
                Finding(f"{key}-json-number", f"{key} is a JSON number ({value}), not a string")
            )
    return [Finding(f.code, f"{quote.get('symbol', '?')}: {f.message}", f.severity) for f in found]


def survey(quotes: Sequence[Any]) -> tuple[list[Finding], list[Grid]]:
    """Every quote's findings, and the grids of the quotes that have none (in quote order)."""
    findings: list[Finding] = []
    grids: list[Grid] = []
    for quote in quotes:
        found = quote_findings(quote)
        findings += found
        grid = grid_for(quote) if isinstance(quote, Mapping) and not found else None
        if grid is not None:
            grids.append(grid)
    return findings, grids


def order_body(account: str, grid: Grid, side: str, price: str, quantity: str) -> dict[str, str]:
    """The POST /orders body of a probe order, decimals as strings."""
    return {
        "account": account,
        "symbol": grid.symbol,
        "side": side,
        "price": price,
        "quantity": quantity,
    }


@dataclass(frozen=True)
class RoundTrip:
    """One on-grid order as sent, and what came back from the API and the database."""

    sent: Mapping[str, str]
    post_to: str  # the API instance the order was POSTed to
    status: int  # of the POST
    body: bytes  # the POST's answer as received
    read_url: str = ""  # GET of the order on another instance ("" when the POST failed)
    read_status: int = 0
    read_body: bytes = b""
    stored: Sequence[Mapping[str, Any]] = ()  # the order's row(s) as read from the database

    @property
    def answer(self) -> Any:
        return loads(self.body)

    @property
    def order_id(self) -> Any:
        return field(self.answer, "id")

    @property
    def accepted(self) -> bool:
        """Created (201) with an id, so it can be read back."""
        return self.status == 201 and self.order_id is not None


def round_trip_problems(trip: RoundTrip, table: str) -> list[Problem]:
    """Every place an on-grid order's price or quantity did not come back exactly as sent."""
    body = trip.sent
    where = f"order {body['side']} {body['quantity']} {body['symbol']} @ {body['price']}"
    doc = trip.answer
    if not trip.accepted:
        detail = field(doc, "detail") or trip.body[:200].decode("utf-8", "replace")
        return [
            (f"on-grid {where} was answered HTTP {trip.status}: {detail}", f"{trip.post_to}/orders")
        ]
    read = loads(trip.read_body) if trip.read_status == 200 else None
    out: list[Problem] = []
    for name in ("price", "quantity"):
        sent = body[name]
        for label, value in (
            (f"POST {trip.post_to}/orders", field(doc, name)),
            (f"GET {trip.read_url}", field(read, name)),
        ):
            if value != sent:
                out.append((f"{where}: {name} {sent} came back as {shown(value)}", label))
        column = trip.stored[0][name] if trip.stored else None
        if not isinstance(column, Decimal) or column != Decimal(sent):
            out.append(
                (
                    f"{where}: {name} {sent} is stored as {column!s} in "
                    f"{table}.{name} (id {trip.order_id})",
                    "",
                )
            )
    return out


@dataclass(frozen=True)
class OffGridOrder:
    """A passive probe order with one field off its grid, which the API must refuse."""

    name: str  # the field off its grid: "price" or "quantity"
    body: dict[str, str]
    step: str  # the grid it misses, e.g. "tick 0.01"

    def problems(self, status: int, url: str) -> list[Problem]:
        """The problem when the API did not refuse it with a 4xx."""
        if 400 <= status < 500:
            return []
        return [
            (
                f"off-grid {self.name} {self.body[self.name]} ({self.body['symbol']}, "
                f"{self.step}) was answered HTTP {status}, expected a 4xx rejection",
                url,
            )
        ]


def off_grid_orders(grids: Mapping[str, Grid], account: str) -> list[OffGridOrder]:
    """Half a tick off, then half a lot off, on the first instrument (by symbol).

    Passive too: should the API wrongly accept one, it must not trade.
    """
    grid = grids[sorted(grids)[0]]
    side = grid.sides()[0]
    passive_k = grid.ticks(side)[1 if side == "buy" else 0]  # the bid, or the ask
    half_lot = f"{grid.lot * Decimal('1.5'):.{Grid.places(grid.lot) + 1}f}"
    return [
        OffGridOrder(
            "price",
            order_body(account, grid, side, grid.off_tick(side), grid.quantity()),
            f"tick {grid.tick}",
        ),
        OffGridOrder(
            "quantity",
            order_body(account, grid, side, grid.price(passive_k), half_lot),
            f"lot {grid.lot}",
        ),
    ]
