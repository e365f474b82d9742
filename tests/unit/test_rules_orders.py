"""The probe order RT-02 sends: on the tick and lot grid, cheapest instrument, exact decimals."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_spark.rules.orders import (
    ProbeOrderError,
    decimal_text,
    probe_order,
    with_other_quantity,
)

QUOTES = {
    "quotes": [
        {"symbol": "BTC-USD", "bid": "64999.91", "ask": "64999.94", "tick_size": "0.01",
         "lot_size": "0.0001"},
        {"symbol": "EUR-USD", "bid": "1.08498", "ask": "1.08499", "tick_size": "0.00001",
         "lot_size": "1000"},
        {"symbol": "AAPL", "bid": "189.99", "ask": "190.02", "tick_size": "0.01",
         "lot_size": "1"},
    ]
}  # fmt: skip


def test_cheapest_instrument_one_lot_at_the_bid() -> None:
    assert probe_order(QUOTES, "ACC-1") == {
        "account": "ACC-1",
        "symbol": "BTC-USD",
        "side": "buy",
        "price": "64999.91",
        "quantity": "0.0001",
    }


def test_off_grid_bid_is_floored_and_numbers_are_accepted() -> None:
    doc = {"quotes": [{"symbol": "X", "bid": 10.037, "tick_size": "0.05", "lot_size": 10}]}
    body = probe_order(doc, "A", side="sell")
    assert body["price"] == "10"
    assert body["quantity"] == "10"
    assert body["side"] == "sell"


def test_ask_is_used_without_bid_and_bad_rows_are_skipped() -> None:
    doc = {
        "quotes": [
            {"symbol": "BAD", "bid": "NaN", "tick_size": "0.01", "lot_size": "1"},
            {"symbol": "NEG", "bid": "-1", "tick_size": "0.01", "lot_size": "1"},
            {"bid": "1", "tick_size": "0.01", "lot_size": "1"},
            "junk",
            {"symbol": "OK", "ask": "2.50", "tick_size": "0.25", "lot_size": "1"},
        ]
    }
    assert probe_order(doc, "A")["price"] == "2.5"


def test_tiny_price_becomes_one_tick() -> None:
    doc = {"quotes": [{"symbol": "P", "bid": "0.001", "tick_size": "0.01", "lot_size": "1"}]}
    assert probe_order(doc, "A")["price"] == "0.01"


@pytest.mark.parametrize("doc", [{}, {"quotes": []}, [], None, {"quotes": [{"symbol": "X"}]}])
def test_nothing_usable_is_a_clear_error(doc: object) -> None:
    with pytest.raises(ProbeOrderError, match="no instrument with a price, tick and lot size"):
        probe_order(doc, "A")


def test_other_quantity_stays_on_the_lot_grid() -> None:
    body = probe_order(QUOTES, "A")
    other = with_other_quantity(body)
    assert other["quantity"] == "0.0002"
    assert {k: v for k, v in other.items() if k != "quantity"} == {
        k: v for k, v in body.items() if k != "quantity"
    }


decimals = st.decimals(min_value=Decimal("0.00000001"), max_value=Decimal("1e9"), places=8)


@given(decimals)
def test_decimal_text_is_plain_and_exact(value: Decimal) -> None:
    text = decimal_text(value)
    assert "E" not in text.upper()
    assert Decimal(text) == value
    assert not (("." in text) and text.endswith("0"))


@given(
    price=decimals,
    tick=st.sampled_from(["0.00001", "0.01", "0.05", "0.25", "1", "5"]),
    lot=st.sampled_from(["0.0001", "0.001", "1", "10", "1000"]),
)
def test_probe_order_is_on_grid(price: Decimal, tick: str, lot: str) -> None:
    doc = {"quotes": [{"symbol": "S", "bid": str(price), "tick_size": tick, "lot_size": lot}]}
    body = probe_order(doc, "A")
    p = Decimal(body["price"])
    assert p > 0
    assert p % Decimal(tick) == 0
    assert p <= max(price, Decimal(tick))
    assert Decimal(body["quantity"]) == Decimal(lot)
