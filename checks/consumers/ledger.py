"""ledger: books every accepted order from the outbox's OrderAccepted events.

It keys entries by the message key (the order id), books exact decimal
amounts and needs the order's creation time for the booking date.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

from pytest_spark.contracts.matchers import decimal_string, iso_timestamp, match, string_matching

CONSUMER = "ledger"
VERSION = "1.9.0"
KIND = "message"


def expectations(pact: Any) -> None:
    (
        pact.upon_receiving("an OrderAccepted event", "Async")
        .given("an order was accepted")
        .with_body(
            {
                "id": match.int(1042),
                "account": match.str("ACC-1"),
                "price": decimal_string("65000.10"),
                "quantity": decimal_string("0.0001"),
                "created_at": iso_timestamp("2026-11-30T08:50:42.123456Z"),
            },
            "application/json",
        )
        .with_metadata(
            {
                "contentType": "application/json",
                "eventType": "OrderAccepted",
                "key": string_matching("1042", r"^[0-9]+$"),
            }
        )
    )


def handle(body: Any, metadata: dict[str, Any]) -> None:
    """The ledger's handler: one booking of price x quantity on the order's date."""
    event = json.loads(body)
    amount = Decimal(event["price"]) * Decimal(event["quantity"])
    booked_on = datetime.fromisoformat(event["created_at"].replace("Z", "+00:00")).date()
    assert amount > 0 and booked_on.year > 2000 and str(metadata["key"]) == str(event["id"])
