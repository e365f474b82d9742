"""spark-mobile, the phone app: a subset of the web client's calls, with older expectations.

The app reads fewer fields (it predates positions' timestamps and the order's
account), never places orders itself (it opens the web flow), and is slow to
upgrade: pacts of its versions still in the stores stay in the pact dir.
"""

from __future__ import annotations

from typing import Any

import httpx

from pytest_spark.contracts.matchers import decimal_string, from_state, match

CONSUMER = "spark-mobile"
VERSION = "2.11.0"
KIND = "http"

EXAMPLE_ACCOUNT = "ACC-1"
JSON = "application/json"


def expectations(pact: Any) -> None:
    (
        pact.upon_receiving("a request for quotes")
        .given("the price feed is running")
        .with_request("GET", "/quotes")
        .will_respond_with(200)
        .with_body(
            {
                "quotes": match.each_like(
                    {
                        "symbol": match.str("ETH-USD"),
                        "bid": decimal_string("3200.10"),
                        "ask": decimal_string("3200.20"),
                    }
                )
            },
            content_type=JSON,
        )
    )
    (
        pact.upon_receiving("a request for an order")
        .given("an order exists")
        .with_request("GET", from_state("/orders/${orderId}", "/orders/7", r"^/orders/[0-9]+$"))
        .will_respond_with(200)
        .with_body(
            {
                "id": match.int(7),
                "symbol": match.str("ETH-USD"),
                "side": match.regex("sell", regex=r"^(buy|sell)$"),
                "price": decimal_string("3200.10"),
                "quantity": decimal_string("0.001"),
                "status": match.str("accepted"),
            },
            content_type=JSON,
        )
    )
    (
        pact.upon_receiving("a request for the account's positions")
        .given("an account holds an open position")
        .with_request(
            "GET",
            from_state(
                "/positions/${account}", f"/positions/{EXAMPLE_ACCOUNT}", r"^/positions/[^/]+$"
            ),
        )
        .will_respond_with(200)
        .with_body(
            {
                "positions": match.each_like(
                    {
                        "symbol": match.str("ETH-USD"),
                        "quantity": decimal_string("0.001"),
                        "avg_price": decimal_string("3200.10"),
                    }
                )
            },
            content_type=JSON,
        )
    )
    (
        pact.upon_receiving("a request for the version")
        .with_request("GET", "/version")
        .will_respond_with(200)
        .with_body({"version": match.str("1.4.0")}, content_type=JSON)
    )


def exercise(base_url: str) -> None:
    """The app's calls, as it makes them (against Pact's mock server here)."""
    with httpx.Client(base_url=base_url, timeout=10) as client:
        quote = client.get("/quotes").json()["quotes"][0]
        assert isinstance(quote["bid"], str) and isinstance(quote["ask"], str)
        assert client.get("/orders/7").json()["status"] == "accepted"
        position = client.get(f"/positions/{EXAMPLE_ACCOUNT}").json()["positions"][0]
        assert isinstance(position["avg_price"], str)
        assert client.get("/version").json()["version"]
