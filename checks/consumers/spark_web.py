"""spark-web, the browser client: quotes, orders with Idempotency-Key, positions, flags, version.

What the web client reads from spark-api, as its consumer test: the
interactions (with matchers) and the client's own calls made against Pact's
mock server. Copy this file to add a consumer; see pytest_spark.contracts.consumers.
"""

from __future__ import annotations

from typing import Any

import httpx

from pytest_spark.contracts.matchers import (
    UUID,
    decimal_string,
    from_state,
    iso_timestamp,
    match,
    string_matching,
)

CONSUMER = "spark-web"
VERSION = "3.8.0"
KIND = "http"

EXAMPLE_ACCOUNT = "ACC-1"
JSON = "application/json"


def order_document() -> dict[str, Any]:
    """An order as the web client reads it (POST /orders and GET /orders/{id})."""
    return {
        "id": match.int(1042),
        "account": match.str(EXAMPLE_ACCOUNT),
        "symbol": match.str("BTC-USD"),
        "side": match.regex("buy", regex=r"^(buy|sell)$"),
        "price": decimal_string("1.00"),
        "quantity": decimal_string("0.0001"),
        "status": match.regex("accepted", regex=r"^(accepted|filled|cancelled)$"),
        "created_at": iso_timestamp("2026-11-30T08:50:42.123456Z"),
    }


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
                        "symbol": match.str("BTC-USD"),
                        "bid": decimal_string("65000.10"),
                        "ask": decimal_string("65000.20"),
                        "bid_size": decimal_string("0.5000"),
                        "ask_size": decimal_string("0.7000"),
                        "tick_size": decimal_string("0.01"),
                        "lot_size": decimal_string("0.0001"),
                        "seq": match.int(7),
                        "time": iso_timestamp("2026-11-30T08:50:42.123Z"),
                    }
                )
            },
            content_type=JSON,
        )
    )
    (
        pact.upon_receiving("a request to place an order")
        .given("an account may place orders")
        .with_request("POST", "/orders")
        .with_header(
            "Idempotency-Key",
            from_state("${idempotencyKey}", "0b7c6d2e-1f3a-4c5b-9d8e-7f6a5b4c3d2e", UUID),
        )
        .with_body(
            {
                "account": from_state("${account}", EXAMPLE_ACCOUNT),
                "symbol": "BTC-USD",
                "side": "buy",
                "price": "1.00",
                "quantity": "0.0001",
            },
            content_type=JSON,
        )
        .will_respond_with(201)
        .with_header("Location", string_matching("/orders/1042", r"^/orders/[0-9]+$"))
        .with_body(order_document(), content_type=JSON)
    )
    (
        pact.upon_receiving("a request to place an order without an Idempotency-Key")
        .given("an account may place orders")
        .with_request("POST", "/orders")
        .with_body(
            {
                "account": from_state("${account}", EXAMPLE_ACCOUNT),
                "symbol": "BTC-USD",
                "side": "buy",
                "price": "1.00",
                "quantity": "0.0001",
            },
            content_type=JSON,
        )
        .will_respond_with(400)
        .with_body(
            {
                "type": string_matching(
                    "https://spark.example/problems/idempotency-key-missing",
                    r"^https?://.+/idempotency-key-missing$",
                ),
                "title": match.str("Idempotency-Key header required"),
                "status": 400,
                "detail": match.str("POST /orders needs an Idempotency-Key header"),
            },
            content_type="application/problem+json",
        )
    )
    (
        pact.upon_receiving("a request for an order")
        .given("an order exists")
        .with_request("GET", from_state("/orders/${orderId}", "/orders/1042", r"^/orders/[0-9]+$"))
        .will_respond_with(200)
        .with_body(order_document(), content_type=JSON)
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
                "account": match.str(EXAMPLE_ACCOUNT),
                "positions": match.each_like(
                    {
                        "account": match.str(EXAMPLE_ACCOUNT),
                        "symbol": match.str("BTC-USD"),
                        "quantity": decimal_string("0.0001"),
                        "avg_price": decimal_string("1.00"),
                        "status": match.str("open"),
                        "opened_at": iso_timestamp("2026-11-30T08:50:42.123456Z"),
                        "updated_at": iso_timestamp("2026-11-30T08:50:42.123456Z"),
                    }
                ),
            },
            content_type=JSON,
        )
    )
    (
        pact.upon_receiving("a request for the feature flags")
        .with_request("GET", "/flags")
        .will_respond_with(200)
        .with_body(
            {
                "flags": {
                    "kill_trading": match.bool(False),
                    "new_checkout_flow": match.bool(False),
                },
                "snapshot_version": match.int(1),
                "snapshot_time": iso_timestamp("2026-11-30T08:50:42.123Z"),
            },
            content_type=JSON,
        )
    )
    (
        pact.upon_receiving("a request for the version")
        .with_request("GET", "/version")
        .will_respond_with(200)
        .with_body(
            {
                "service": match.str("spark-api"),
                "version": match.str("1.4.0"),
                "git_sha": match.regex("0" * 40, regex=r"^[0-9a-f]{40}$"),
            },
            content_type=JSON,
        )
    )


def exercise(base_url: str) -> None:
    """The web client's calls, as it makes them (against Pact's mock server here)."""
    with httpx.Client(base_url=base_url, timeout=10) as client:
        quotes = client.get("/quotes").json()["quotes"]
        assert quotes[0]["bid"] and isinstance(quotes[0]["bid"], str)
        order = {
            "account": EXAMPLE_ACCOUNT,
            "symbol": "BTC-USD",
            "side": "buy",
            "price": "1.00",
            "quantity": "0.0001",
        }
        placed = client.post(
            "/orders",
            json=order,
            headers={"Idempotency-Key": "0b7c6d2e-1f3a-4c5b-9d8e-7f6a5b4c3d2e"},
        )
        assert placed.status_code == 201, placed.text
        assert placed.headers["Location"] == f"/orders/{placed.json()['id']}"
        refused = client.post("/orders", json=order)
        assert refused.status_code == 400
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert client.get("/orders/1042").json()["status"] in ("accepted", "filled", "cancelled")
        positions = client.get(f"/positions/{EXAMPLE_ACCOUNT}").json()["positions"]
        assert isinstance(positions[0]["avg_price"], str)
        assert isinstance(client.get("/flags").json()["flags"]["kill_trading"], bool)
        assert len(client.get("/version").json()["git_sha"]) == 40
