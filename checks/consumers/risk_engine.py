"""risk-engine: consumes the outbox's OrderAccepted events to update exposure per account.

It needs who traded what, which way, at what price and size; money as decimal
strings; the event type and the aggregate key in the message metadata.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from pytest_spark.contracts.matchers import decimal_string, match, string_matching

CONSUMER = "risk-engine"
VERSION = "5.2.0"
KIND = "message"


def expectations(pact: Any) -> None:
    (
        pact.upon_receiving("an OrderAccepted event", "Async")
        .given("an order was accepted")
        .with_body(
            {
                "id": match.int(1042),
                "account": match.str("ACC-1"),
                "symbol": match.str("BTC-USD"),
                "side": match.regex("buy", regex=r"^(buy|sell)$"),
                "price": decimal_string("65000.10"),
                "quantity": decimal_string("0.0001"),
            },
            "application/json",
        )
        .with_metadata(
            {
                "eventType": "OrderAccepted",
                "key": string_matching("1042", r"^[0-9]+$"),
            }
        )
    )


def handle(body: Any, metadata: dict[str, Any]) -> None:
    """The engine's handler: exposure = signed quantity x price, exact decimals."""
    event = json.loads(body)
    assert metadata["eventType"] == "OrderAccepted"
    sign = 1 if event["side"] == "buy" else -1
    exposure = sign * Decimal(event["quantity"]) * Decimal(event["price"])
    assert exposure != 0 and str(event["id"]) == str(metadata["key"])
