"""Messages for the verifier, taken from the real outbox (CONTRACTS.md "Message verification").

For a message pact's state ("an order was accepted") a probe order is placed
through the API under ``schema.test_account``; the event the platform wrote
for it is read back from the outbox table (read-only session) once the relay
has published it, and handed to the verifier with the metadata the relay
publishes it with: content type, event type and key (the aggregate id). The
verifier therefore judges what consumers really receive, never a copy made
for the test.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from ..probes import ProbeError
from ..probes.db import connect, rows
from ..rules.dbsql import quote_qualified

ORDER_ACCEPTED_STATE = "an order was accepted"
POLL_S = 0.1


def relay_message(row: dict[str, Any]) -> dict[str, Any]:
    """The message the relay publishes for one outbox row: JSON payload plus metadata."""
    payload = row["payload"]
    if isinstance(payload, (bytes, str)):
        payload = json.loads(payload)
    return {
        "contents": json.dumps(payload, sort_keys=True).encode(),
        "metadata": {
            "contentType": "application/json",
            "eventType": str(row["event_type"]),
            "key": str(row["aggregate_id"]),
        },
        "content_type": "application/json",
    }


def probe_order_body(quote: dict[str, Any], account: str) -> dict[str, str]:
    """A passive probe: buy one lot at the bid of a quote (values as the API wrote them)."""
    return {
        "account": account,
        "symbol": str(quote["symbol"]),
        "side": "buy",
        "price": str(quote["bid"]),
        "quantity": str(quote["lot_size"]),
    }


@dataclass
class OutboxMessages:
    """``handler(name, metadata)`` for ``Verifier.message_handler``; one probe order per state."""

    api_url: str
    db_dsn: str
    outbox_table: str
    account: str
    timeout_s: float
    message_timeout_s: float
    headers: dict[str, str] = field(default_factory=dict)
    verify_tls: bool = True
    produced: list[dict[str, Any]] = field(default_factory=list)
    _cache: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __call__(self, name: str, metadata: dict[str, Any] | None) -> dict[str, Any]:
        states = [s.get("name") for s in (metadata or {}).get("providerStates") or []]
        state = states[0] if states else ORDER_ACCEPTED_STATE
        record: dict[str, Any] = {"message": name, "state": state}
        self.produced.append(record)
        try:
            if state != ORDER_ACCEPTED_STATE:
                raise ProbeError(
                    f"message state {state!r} cannot be produced from the outbox "
                    f"(known: {ORDER_ACCEPTED_STATE!r})"
                )
            if state not in self._cache:
                self._cache[state] = self._order_event(record)
            row = self._cache[state]
        except ProbeError as exc:
            record["error"] = str(exc)
            raise
        record["outbox_row"] = row
        return relay_message(row)

    def _order_event(self, record: dict[str, Any]) -> dict[str, Any]:
        if not self.account:
            raise ProbeError("set schema.test_account: probe orders go under that account only")
        key = f"pytest-spark-ct02-{uuid.uuid4()}"
        try:
            with httpx.Client(timeout=self.timeout_s, verify=self.verify_tls) as client:
                quotes = _json(client.get(f"{self.api_url}/quotes", headers=self.headers))
                listed = quotes.get("quotes") if isinstance(quotes, dict) else None
                if not listed:
                    raise ProbeError(f"{self.api_url}/quotes lists no quotes for a probe order")
                body = probe_order_body(listed[0], self.account)
                headers = {**self.headers, "Idempotency-Key": key}
                resp = client.post(f"{self.api_url}/orders", json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise ProbeError(f"cannot place a probe order at {self.api_url}: {exc}") from None
        record["probe_order"] = {"request": body, "idempotency_key": key}
        record["probe_order"]["status"] = resp.status_code
        record["probe_order"]["body"] = resp.text[:2000]
        order = _json(resp)
        if resp.status_code >= 300 or not isinstance(order, dict) or "id" not in order:
            raise ProbeError(
                f"the probe order was refused: HTTP {resp.status_code} {resp.text[:200]}"
            )
        return self._published_row(str(order["id"]))

    def _published_row(self, order_id: str) -> dict[str, Any]:
        """The outbox row of the order once the relay published it (deadline: message_timeout_s)."""
        sql = (
            "SELECT id, aggregate, aggregate_id, event_type, payload, created_at, published_at "
            f"FROM {quote_qualified(self.outbox_table)} "
            "WHERE aggregate = 'order' AND aggregate_id = %(id)s ORDER BY id"
        )
        deadline = time.monotonic() + self.message_timeout_s
        found: list[dict[str, Any]] = []
        with connect(self.db_dsn, timeout=self.timeout_s, read_only=True) as conn:
            while time.monotonic() < deadline:
                found = rows(conn, sql, {"id": order_id})
                published = [r for r in found if r["published_at"] is not None]
                if published:
                    row = dict(published[0])
                    for k in ("created_at", "published_at"):
                        row[k] = row[k].isoformat()
                    return row
                time.sleep(POLL_S)
        if not found:
            raise ProbeError(f"order {order_id}: no outbox row was written for it")
        raise ProbeError(
            f"order {order_id}: its outbox event was not published within "
            f"{self.message_timeout_s} s (relay stopped?)"
        )


def _json(resp: httpx.Response) -> Any:
    try:
        return resp.json()
    except ValueError:
        return None
