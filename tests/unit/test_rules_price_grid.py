"""RT-06: grids from quotes, passive probe orders on them, and judging their round trip."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_spark.rules import price_grid as pg
from pytest_spark.rules.findings import codes

AAPL = {"symbol": "AAPL", "bid": "189.99", "ask": "190.02", "tick_size": "0.01", "lot_size": "1"}


def grid(**changes: str) -> pg.Grid:
    found = pg.grid_for({**AAPL, **changes})
    assert found is not None
    return found


def test_grid_of_a_quote() -> None:
    g = grid()
    assert (g.symbol, g.tick, g.lot) == ("AAPL", Decimal("0.01"), Decimal("1"))
    assert (g.buy_low, g.buy_high) == (17100, 18999)  # 10 % under the bid .. the bid
    assert (g.sell_low, g.sell_high) == (19002, 20902)  # the ask .. 10 % over it
    assert (g.price(18999), g.quantity(), g.quantity(3)) == ("189.99", "1", "3")
    assert g.sides() == ("buy", "sell")
    assert (g.off_tick("buy"), g.off_tick("sell")) == ("189.985", "190.025")


def test_crossed_quote_moves_both_sides_one_tick_away() -> None:
    g = grid(bid="190.02", ask="190.02")
    assert g.price(g.buy_high) == "190.01" and g.price(g.sell_low) == "190.03"


def test_bid_below_one_tick_allows_only_sells() -> None:
    g = grid(bid="0.001", ask="0.02")
    assert g.buy_high == 0 and g.sides() == ("sell",)


@pytest.mark.parametrize(
    "changes",
    [{"tick_size": "0"}, {"bid": "1e2"}, {"lot_size": "-1"}, {"ask": " 190.02"}],
)
def test_unusable_values_give_no_grid(changes: dict[str, str]) -> None:
    assert pg.grid_for({**AAPL, **changes}) is None
    assert pg.grid_for({k: v for k, v in AAPL.items() if k != "bid"}) is None


@given(
    bid=st.decimals(min_value="0.01", max_value="99999", places=2),
    spread=st.integers(min_value=-3, max_value=50),
)
def test_probe_prices_never_cross_the_spread(bid: Decimal, spread: int) -> None:
    ask = bid + spread * Decimal("0.01")
    g = pg.grid_for({**AAPL, "bid": f"{bid:.2f}", "ask": f"{max(ask, Decimal('0.01')):.2f}"})
    assert g is not None
    for side in g.sides():
        low, high = g.ticks(side)
        assert low <= high
        for k in (low, high):
            price = Decimal(g.price(k))
            assert (price <= g.bid and price < g.ask) if side == "buy" else (price >= g.ask)


def test_quote_findings_name_the_symbol_and_json_numbers() -> None:
    assert pg.quote_findings(AAPL) == []
    found = pg.quote_findings({**AAPL, "tick_size": Decimal("0.01")})
    assert "tick_size-json-number" in codes(found)
    assert all(f.message.startswith("AAPL: ") for f in found)
    assert codes(pg.quote_findings(["AAPL"])) == ["quote-not-object"]


def test_survey_keeps_grids_only_of_quotes_without_findings() -> None:
    bad = {**AAPL, "symbol": "BAD", "bid": 189.99}
    findings, grids = pg.survey([AAPL, bad, "x"])
    assert [g.symbol for g in grids] == ["AAPL"]
    assert codes(findings) == [*codes(pg.quote_findings(bad)), "quote-not-object"]


ACCOUNT = "ACC-T"
SENT = pg.order_body(ACCOUNT, grid(), "buy", "189.99", "1")
ANSWER = json.dumps({"id": 7, "price": "189.99", "quantity": "1"}).encode()
ROW = [{"price": Decimal("189.99"), "quantity": Decimal("1")}]


def trip(**changes: object) -> pg.RoundTrip:
    base: dict[str, object] = {
        "sent": SENT,
        "post_to": "http://a",
        "status": 201,
        "body": ANSWER,
        "read_url": "http://b/orders/7",
        "read_status": 200,
        "read_body": ANSWER,
        "stored": ROW,
    }
    return pg.RoundTrip(**{**base, **changes})  # type: ignore[arg-type]


def test_order_body_field_order() -> None:
    assert list(SENT) == ["account", "symbol", "side", "price", "quantity"]
    assert SENT["account"] == ACCOUNT


def test_exact_round_trip_has_no_problem() -> None:
    t = trip()
    assert t.accepted and t.order_id == 7
    assert pg.round_trip_problems(t, "orders") == []


def test_a_float_in_the_path_is_named_at_each_place() -> None:
    floated = json.dumps({"id": 7, "price": 189.99, "quantity": "1"}).encode()
    t = trip(read_body=floated, stored=[{"price": 189.99, "quantity": Decimal("1")}])
    assert pg.round_trip_problems(t, "public.orders") == [
        (
            "order buy 1 AAPL @ 189.99: price 189.99 came back as 189.99 (a JSON number)",
            "GET http://b/orders/7",
        ),
        (
            "order buy 1 AAPL @ 189.99: price 189.99 is stored as 189.99 in "
            "public.orders.price (id 7)",
            "",
        ),
    ]


def test_unreadable_order_and_missing_row() -> None:
    found = pg.round_trip_problems(trip(read_status=404, stored=[]), "orders")
    assert [where for _, where in found] == [
        "GET http://b/orders/7",
        "",
        "GET http://b/orders/7",
        "",
    ]
    assert "came back as None" in found[0][0] and "is stored as None" in found[1][0]


def test_a_refused_order_is_one_problem_with_the_api_detail() -> None:
    refused = json.dumps({"detail": "risk limit"}).encode()
    t = trip(status=422, body=refused)
    assert not t.accepted
    assert pg.round_trip_problems(t, "orders") == [
        ("on-grid order buy 1 AAPL @ 189.99 was answered HTTP 422: risk limit", "http://a/orders")
    ]
    [(message, _)] = pg.round_trip_problems(trip(status=500, body=b"boom"), "orders")
    assert message.endswith("HTTP 500: boom")
    assert not trip(body=b'{"price": "189.99"}').accepted  # created, but no id to read back


def test_off_grid_orders_are_passive_and_off_by_half_a_step() -> None:
    grids = {"ZZZ": grid(symbol="ZZZ"), "AAPL": grid()}
    price, quantity = pg.off_grid_orders(grids, ACCOUNT)
    assert (price.name, price.body["symbol"], price.body["side"]) == ("price", "AAPL", "buy")
    assert (price.body["price"], price.body["quantity"], price.step) == (
        "189.985",
        "1",
        "tick 0.01",
    )
    assert (quantity.body["price"], quantity.body["quantity"], quantity.step) == (
        "189.99",
        "1.5",
        "lot 1",
    )


def test_off_grid_order_must_be_refused_with_a_4xx() -> None:
    [order, _] = pg.off_grid_orders({"AAPL": grid()}, ACCOUNT)
    assert order.problems(422, "http://a/orders") == []
    assert order.problems(201, "http://a/orders") == [
        (
            "off-grid price 189.985 (AAPL, tick 0.01) was answered HTTP 201, "
            "expected a 4xx rejection",
            "http://a/orders",
        )
    ]
