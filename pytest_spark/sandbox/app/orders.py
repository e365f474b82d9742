"""Order placement with idempotency keys whose guarantee comes from the database.

Flow of POST /orders:
1. no Idempotency-Key -> 400; malformed body -> 400; invalid order (types,
   unknown symbol, off the tick/lot grid) -> 422; kill switch or risk limit ->
   403. None of these bind the key (like Stripe: rejected requests are not
   executions, a corrected retry may reuse the key).
2. Reserve the key: INSERT ... ON CONFLICT (key) DO NOTHING, committed on its
   own, so racing requests see it at once. Only the inserting request goes on.
   A key already present answers 422 (other body) or the stored response
   with ``Idempotent-Replayed: true``; a key not yet done goes on to step 3.
3. Execute in one transaction that first locks the key row (FOR UPDATE):
   order, position, outbox event, and the stored response on the key row.
   "In flight" is that row lock, held by a live transaction, not the row's
   committed state: a request that finds the row locked answers 409 (the
   original is still being processed, IETF httpapi Idempotency-Key draft
   section 2.6); when the executing attempt dies (its connection killed, a
   deadline) PostgreSQL rolls it back and the lock goes with it, so the
   client's retry executes the order instead of getting 409 until the key
   expires. The committed 'done' state and the order commit together, so a
   retry that takes over can never execute twice. The reservation is also
   released (deleted) on a failed execution, best effort.

Fault no-idempotency-unique (or the constraint actually missing) switches step
2 to a non-atomic check-then-insert with a small window, which is exactly the
bug the red-team check must catch: concurrent duplicates become possible.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from psycopg import AsyncConnection
from psycopg.errors import InvalidColumnReference, LockNotAvailable, UniqueViolation

from . import positions
from .db import Database
from .faults import FaultState
from .flags import FlagStore
from .instruments import Instrument, InstrumentCache
from .metrics import AppMetrics
from .money import MoneyError, as_decimal, format_money, on_grid, parse_positive, through_float32
from .responses import problem_body, render_json
from .settings import AppSettings

log = logging.getLogger(__name__)

MAX_KEY_LENGTH = 255
SIDES = ("buy", "sell")


@dataclass(frozen=True)
class Outcome:
    """What POST /orders answers: status, JSON body and extra headers."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class OrderRequest:
    """A validated order."""

    account: str
    symbol: str
    side: str
    price: Decimal
    quantity: Decimal


@dataclass(frozen=True)
class _KeyRow:
    id: int
    request_hash: str
    state: str
    response_status: int | None
    response_body: Any


class Rejected(Exception):
    """A request refused before the key is reserved."""

    def __init__(self, status: int, kind: str, title: str, detail: str) -> None:
        super().__init__(detail)
        self.outcome = Outcome(status, problem_body(status, kind, title, detail))


def request_hash(payload: Any) -> str:
    """Fingerprint of a request body: equal JSON documents hash equally."""
    return hashlib.sha256(render_json(payload)).hexdigest()


def order_document(row: dict[str, Any], instrument: Instrument, floats: bool) -> dict[str, Any]:
    """The JSON form of an order row; money as strings unless the api-floats fault is on."""
    price = format_money(row["price"], instrument.price_scale)
    quantity = format_money(row["quantity"], instrument.quantity_scale)
    return {
        "id": row["id"],
        "account": row["account_id"],
        "symbol": row["symbol"],
        "side": row["side"],
        "price": float(price) if floats else price,
        "quantity": float(quantity) if floats else quantity,
        "status": row["status"],
        "created_at": row["created_at"].isoformat().replace("+00:00", "Z"),
    }


_RESERVE = """
INSERT INTO idempotency_keys (key, request_hash, state, expires_at)
VALUES (%s, %s, 'in_flight', now() + make_interval(secs => %s))
ON CONFLICT (key) DO NOTHING RETURNING id
"""
_RESERVE_PLAIN = """
INSERT INTO idempotency_keys (key, request_hash, state, expires_at)
VALUES (%s, %s, 'in_flight', now() + make_interval(secs => %s)) RETURNING id
"""
_FIND_KEY = """
SELECT id, request_hash, state, response_status, response_body
FROM idempotency_keys WHERE key = %s ORDER BY id LIMIT 1
"""
_CLAIM_KEY = """
SELECT id, request_hash, state, response_status, response_body
FROM idempotency_keys WHERE id = %s FOR UPDATE
"""
_INSERT_ORDER = """
INSERT INTO orders (account_id, symbol, side, price, quantity, idempotency_key)
VALUES (%s, %s, %s, %s, %s, %s)
RETURNING id, account_id, symbol, side, price, quantity, status, created_at
"""
_STORE_RESPONSE = """
UPDATE idempotency_keys SET state = 'done', response_status = %s,
    response_body = %s::jsonb, order_id = %s
WHERE id = %s
"""
_INSERT_EVENT = """
INSERT INTO outbox (aggregate, aggregate_id, event_type, payload)
VALUES ('order', %s, %s, %s::jsonb)
"""
ORDER_EVENT = "OrderAccepted"


class OrderService:
    """Validates, deduplicates and executes orders."""

    def __init__(
        self,
        db: Database,
        instruments: InstrumentCache,
        metrics: AppMetrics,
        faults: FaultState,
        flags: FlagStore,
        settings: AppSettings,
    ) -> None:
        self.db = db
        self.instruments = instruments
        self.metrics = metrics
        self.faults = faults
        self.flags = flags
        self.settings = settings
        self._warned_missing_constraint = False

    async def place(self, key: str | None, raw_body: bytes) -> Outcome:
        """Handle one POST /orders."""
        try:
            if not key:
                raise Rejected(
                    400,
                    "idempotency-key-missing",
                    "Idempotency-Key header required",
                    "POST /orders needs an Idempotency-Key header",
                )
            if len(key) > MAX_KEY_LENGTH or not key.isprintable():
                raise Rejected(
                    400,
                    "idempotency-key-invalid",
                    "Invalid Idempotency-Key",
                    f"the key must be 1..{MAX_KEY_LENGTH} printable characters",
                )
            self.metrics.idem_requests.inc()
            payload = self._parse(raw_body)
            order, instrument = await self._validate(payload)
        except Rejected as rejected:
            return rejected.outcome
        fingerprint = request_hash(payload)
        reservation, existing = await self._reserve(key, fingerprint)
        owner = existing is None
        if existing is not None:
            if existing.request_hash != fingerprint or existing.state == "done" or not existing.id:
                return self._answer_existing(existing, fingerprint)
            reservation = existing.id  # not done: in flight, or its attempt died
        assert reservation is not None
        try:
            return await self._execute(reservation, key, order, instrument, fingerprint, owner)
        except LockNotAvailable:  # a live transaction executes this key right now
            return self._answer_existing(
                _KeyRow(0, fingerprint, "in_flight", None, None), fingerprint
            )
        except BaseException:
            await self._release(reservation)
            raise

    @staticmethod
    def _parse(raw_body: bytes) -> dict[str, Any]:
        try:
            payload = json.loads(raw_body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise Rejected(400, "malformed-body", "Malformed JSON", str(exc)) from exc
        if not isinstance(payload, dict):
            raise Rejected(400, "malformed-body", "Malformed order", "body must be a JSON object")
        return payload

    async def _validate(self, payload: dict[str, Any]) -> tuple[OrderRequest, Instrument]:
        fields = ("account", "symbol", "side", "price", "quantity")
        missing = [f for f in fields if f not in payload]
        if missing:
            raise Rejected(422, "invalid-order", "Invalid order", f"missing fields: {missing}")
        account, symbol, side = payload["account"], payload["symbol"], payload["side"]
        if not all(isinstance(v, str) and v for v in (account, symbol)):
            raise Rejected(422, "invalid-order", "Invalid order", "account and symbol are strings")
        if side not in SIDES:
            raise Rejected(422, "invalid-order", "Invalid order", f"side must be one of {SIDES}")
        try:
            price = parse_positive("price", payload["price"])
            quantity = parse_positive("quantity", payload["quantity"])
        except MoneyError as exc:
            raise Rejected(422, "invalid-decimal", "Invalid decimal", str(exc)) from exc
        instrument = await self.instruments.get(symbol)
        if instrument is None:
            raise Rejected(422, "unknown-symbol", "Unknown symbol", f"no instrument {symbol!r}")
        if not on_grid(price, instrument.tick_size):
            raise Rejected(
                422,
                "off-tick",
                "Price off the tick grid",
                f"price {payload['price']} is not a multiple of tick size "
                f"{format_money(instrument.tick_size)} for {symbol}",
            )
        if not on_grid(quantity, instrument.lot_size):
            raise Rejected(
                422,
                "off-lot",
                "Quantity off the lot grid",
                f"quantity {payload['quantity']} is not a multiple of lot size "
                f"{format_money(instrument.lot_size)} for {symbol}",
            )
        if self.flags.enabled("kill_trading"):
            raise Rejected(
                403, "trading-halted", "Trading halted", "kill switch kill_trading is on"
            )
        notional = price * quantity
        if notional > self.settings.max_order_notional:
            self.metrics.risk_blocks.inc()
            raise Rejected(
                403,
                "risk-limit",
                "Blocked by risk check",
                f"order notional {format_money(notional)} exceeds the per-order limit "
                f"{format_money(self.settings.max_order_notional)}",
            )
        return OrderRequest(account, symbol, side, price, quantity), instrument

    # -- idempotency -----------------------------------------------------------------

    async def _reserve(self, key: str, fingerprint: str) -> tuple[int | None, _KeyRow | None]:
        """(reservation id, None) when this request owns the key, else (None, existing row)."""
        if self.faults.on("no-idempotency-unique"):
            return await self._reserve_racy(key, fingerprint)
        ttl = self.settings.idempotency_ttl_s
        try:
            async with self.db.transaction() as conn:
                cur = await conn.execute(_RESERVE, (key, fingerprint, ttl))
                row = await cur.fetchone()
                if row is not None:
                    return row[0], None
                existing = await _find_key(conn, key)
        except InvalidColumnReference:
            if not self._warned_missing_constraint:
                log.warning("idempotency_keys_key_uq is missing: falling back to check-then-insert")
                self._warned_missing_constraint = True
            return await self._reserve_racy(key, fingerprint)
        if existing is None:  # purged between the two statements: treat as in flight
            return None, _KeyRow(0, fingerprint, "in_flight", None, None)
        return None, existing

    async def _reserve_racy(self, key: str, fingerprint: str) -> tuple[int | None, _KeyRow | None]:
        """The unsafe variant: look, wait a little, then insert without ON CONFLICT."""
        async with self.db.transaction() as conn:
            existing = await _find_key(conn, key)
        if existing is not None:
            return None, existing
        await asyncio.sleep(self.settings.racy_check_delay_s)
        try:
            async with self.db.transaction() as conn:
                cur = await conn.execute(
                    _RESERVE_PLAIN, (key, fingerprint, self.settings.idempotency_ttl_s)
                )
                row = await cur.fetchone()
                assert row is not None
                return row[0], None
        except UniqueViolation:  # the constraint is still there after all
            async with self.db.transaction() as conn:
                existing = await _find_key(conn, key)
            return None, existing or _KeyRow(0, fingerprint, "in_flight", None, None)

    def _answer_existing(self, existing: _KeyRow, fingerprint: str) -> Outcome:
        if existing.request_hash != fingerprint:
            self.metrics.idem_conflicts.inc()
            return Outcome(
                422,
                problem_body(
                    422,
                    "idempotency-key-reused",
                    "Idempotency-Key reused",
                    "this key was already used with a different request body",
                ),
            )
        if existing.state != "done" or existing.response_status is None:
            self.metrics.idem_conflicts.inc()
            return Outcome(
                409,
                problem_body(
                    409,
                    "idempotency-in-flight",
                    "Request in progress",
                    "a request with this key is still being processed; retry later",
                ),
                {"Retry-After": "1"},
            )
        body = existing.response_body if isinstance(existing.response_body, dict) else {}
        headers = {"Idempotent-Replayed": "true"}
        if existing.response_status == 201 and "id" in body:
            headers["Location"] = f"/orders/{body['id']}"
        return Outcome(existing.response_status, body, headers)

    async def _release(self, reservation: int) -> None:
        """Best effort: free a reservation whose execution failed, so a retry can run."""
        try:
            async with self.db.transaction() as conn:
                await conn.execute(
                    "DELETE FROM idempotency_keys WHERE id = %s AND state = 'in_flight'",
                    (reservation,),
                )
        except Exception as exc:
            log.warning("could not release idempotency reservation %s: %s", reservation, exc)

    # -- execution -------------------------------------------------------------------

    async def _execute(
        self,
        reservation: int,
        key: str,
        order: OrderRequest,
        instrument: Instrument,
        fingerprint: str,
        owner: bool,
    ) -> Outcome:
        price = order.price
        if self.faults.on("price-through-float"):
            price = through_float32(price)
        floats = self.faults.on("api-floats")
        async with self.db.transaction() as conn:
            # the reserving request waits for the lock (bounded by statement_timeout);
            # a request that found the key answers 409 at once if an attempt holds it
            claim = _CLAIM_KEY if owner else _CLAIM_KEY.rstrip() + " NOWAIT"
            cur = await conn.execute(claim, (reservation,))
            row = await cur.fetchone()
            claimed = _KeyRow(*row) if row is not None else None
            if claimed is None or claimed.state == "done":  # purged, or a retry executed it
                return self._answer_existing(
                    claimed or _KeyRow(0, fingerprint, "in_flight", None, None), fingerprint
                )
            if not await _account_exists(conn, order.account):
                outcome = Outcome(
                    422,
                    problem_body(
                        422, "unknown-account", "Unknown account", f"no account {order.account!r}"
                    ),
                )
                await conn.execute(
                    _STORE_RESPONSE, (422, render_json(outcome.body).decode(), None, reservation)
                )
                return outcome
            cur = await conn.execute(
                _INSERT_ORDER,
                (order.account, order.symbol, order.side, price, order.quantity, key),
            )
            row = await cur.fetchone()
            assert row is not None and cur.description is not None
            stored = dict(zip((c.name for c in cur.description), row, strict=True))
            stored["price"] = as_decimal(stored["price"])
            stored["quantity"] = as_decimal(stored["quantity"])
            delta = order.quantity if order.side == "buy" else -order.quantity
            await positions.apply_fill(conn, order.account, order.symbol, delta, stored["price"])
            event_type, event = self._event(order_document(stored, instrument, floats=False))
            await conn.execute(_INSERT_EVENT, (str(stored["id"]), event_type, event))
            body = order_document(stored, instrument, floats=floats)
            await conn.execute(
                _STORE_RESPONSE, (201, render_json(body).decode(), stored["id"], reservation)
            )
        if stored["price"] != order.price or stored["quantity"] != order.quantity:
            self.metrics.decimal_errors.inc()
        return Outcome(201, body, {"Location": f"/orders/{stored['id']}"})

    def _event(self, document: dict[str, Any]) -> tuple[str, str]:
        """(event type, JSON payload) of the outbox event for an accepted order."""
        if self.faults.on("event-field-missing"):
            document.pop("quantity", None)
        event_type = "OrderCreated" if self.faults.on("event-type-renamed") else ORDER_EVENT
        return event_type, render_json(document).decode()


async def _find_key(conn: AsyncConnection, key: str) -> _KeyRow | None:
    cur = await conn.execute(_FIND_KEY, (key,))
    row = await cur.fetchone()
    return _KeyRow(*row) if row is not None else None


async def _account_exists(conn: AsyncConnection, account: str) -> bool:
    cur = await conn.execute("SELECT 1 FROM accounts WHERE id = %s", (account,))
    return await cur.fetchone() is not None
