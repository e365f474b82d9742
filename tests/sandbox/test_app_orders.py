"""Orders through the real app and a real PostgreSQL: idempotency, decimals, positions."""

from __future__ import annotations

import json
import threading
from decimal import Decimal
from typing import Any

import httpx
import psycopg
import pytest
from _app_server import (  # noqa: F401  (fixtures)
    RunningApp,
    app_server,
    eventually,
    metric,
    migrated_dsn,
    new_key,
    sql,
)
from _pg import pg  # noqa: F401  (fixture)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_spark.sandbox.app.orders import request_hash

GRIDS = {  # symbol -> (tick, lot, reference price): as seeded by 0004_seed.sql
    "BTC-USD": (Decimal("0.01"), Decimal("0.0001"), Decimal("65000.00")),
    "ETH-USD": (Decimal("0.01"), Decimal("0.001"), Decimal("3200.00")),
    "EUR-USD": (Decimal("0.00001"), Decimal("1000"), Decimal("1.08500")),
    "AAPL": (Decimal("0.01"), Decimal("1"), Decimal("190.00")),
}
HYPO = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def order(**overrides: Any) -> dict[str, Any]:
    """A valid small BTC order."""
    body = {
        "account": "ACC-1",
        "symbol": "BTC-USD",
        "side": "buy",
        "price": "65000.01",
        "quantity": "0.0100",
    }
    body.update(overrides)
    return body


def post(app: RunningApp, body: Any, key: str | None) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key is not None else {}
    with app.client() as c:
        return c.post("/orders", content=json.dumps(body), headers=headers)


def orders_with_key(dsn: str, key: str) -> int:
    return sql(dsn, "SELECT count(*) FROM orders WHERE idempotency_key = %s", (key,))[0][0]


def test_missing_key_is_400_problem(app_server: RunningApp, migrated_dsn: str) -> None:  # noqa: F811
    before = sql(migrated_dsn, "SELECT count(*) FROM orders")[0][0]
    r = post(app_server, order(), None)
    assert r.status_code == 400
    assert r.headers["content-type"] == "application/problem+json"
    assert "Idempotency-Key" in r.json()["detail"]
    assert sql(migrated_dsn, "SELECT count(*) FROM orders")[0][0] == before


def test_repeated_key_replays_byte_identical(app_server: RunningApp, migrated_dsn: str) -> None:  # noqa: F811
    key = new_key()
    first = post(app_server, order(), key)
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    second = post(app_server, order(), key)
    assert second.status_code == 201
    assert second.headers["idempotent-replayed"] == "true"
    assert second.content == first.content
    assert second.headers["location"] == first.headers["location"]
    assert orders_with_key(migrated_dsn, key) == 1


def test_same_key_other_body_is_422_and_counted(app_server: RunningApp) -> None:  # noqa: F811
    key = new_key()
    assert post(app_server, order(), key).status_code == 201
    conflicts = metric(app_server, "spark_idempotency_conflicts_total")
    r = post(app_server, order(quantity="0.0200"), key)
    assert r.status_code == 422
    assert r.json()["type"].endswith("idempotency-key-reused")
    assert metric(app_server, "spark_idempotency_conflicts_total") == conflicts + 1


def _plant_in_flight(dsn: str, key: str, body: dict[str, Any]) -> int:
    rows = sql(
        dsn,
        "INSERT INTO idempotency_keys (key, request_hash, state, expires_at)"
        " VALUES (%s, %s, 'in_flight', now() + interval '1 hour') RETURNING id",
        (key, request_hash(body)),
    )
    return int(rows[0][0])


def test_key_being_executed_is_409_until_that_attempt_ends(
    app_server: RunningApp,  # noqa: F811
    migrated_dsn: str,  # noqa: F811
) -> None:
    """409 only while the original is still processed (IETF httpapi Idempotency-Key
    draft, 2.6): a live transaction holds the key row. When that attempt ends
    without storing a response (rolled back: its connection died), the retry
    executes the order, once."""
    key, body = new_key(), order()
    row_id = _plant_in_flight(migrated_dsn, key, body)
    with psycopg.connect(migrated_dsn, prepare_threshold=None) as attempt:
        attempt.execute("SELECT 1 FROM idempotency_keys WHERE id = %s FOR UPDATE", (row_id,))
        r = post(app_server, body, key)
        assert r.status_code == 409
        assert r.headers["retry-after"] == "1"
        assert orders_with_key(migrated_dsn, key) == 0
        attempt.rollback()  # the original attempt dies
    retry = post(app_server, body, key)
    assert retry.status_code == 201, retry.text
    assert orders_with_key(migrated_dsn, key) == 1
    again = post(app_server, body, key)
    assert again.headers["idempotent-replayed"] == "true"
    assert again.content == retry.content
    assert orders_with_key(migrated_dsn, key) == 1


def test_key_left_in_flight_by_a_dead_attempt_does_not_lock_the_retry_out(
    app_server: RunningApp,  # noqa: F811
    migrated_dsn: str,  # noqa: F811
) -> None:
    """The committed reservation of an attempt that died with its connection, whose
    release could not run either (CH-01): no live transaction holds it, so the
    client's retry is executed, not answered 409 until the key expires."""
    key, body = new_key(), order()
    _plant_in_flight(migrated_dsn, key, body)
    r = post(app_server, body, key)
    assert r.status_code == 201, r.text
    assert orders_with_key(migrated_dsn, key) == 1
    other = post(app_server, order(quantity="0.0200"), key)
    assert other.status_code == 422  # the key stays bound to its body


def test_concurrent_duplicates_create_one_order(app_server: RunningApp, migrated_dsn: str) -> None:  # noqa: F811
    key = new_key()
    n = 16
    barrier = threading.Barrier(n)
    results: list[httpx.Response] = []
    lock = threading.Lock()

    def worker() -> None:
        with app_server.client() as c:
            barrier.wait(timeout=10)
            r = c.post("/orders", json=order(), headers={"Idempotency-Key": key})
        with lock:
            results.append(r)

    threads = [threading.Thread(target=worker) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(results) == n
    assert orders_with_key(migrated_dsn, key) == 1
    assert {r.status_code for r in results} <= {201, 409}
    originals = [
        r for r in results if r.status_code == 201 and "idempotent-replayed" not in r.headers
    ]
    assert len(originals) == 1
    assert {r.content for r in results if r.status_code == 201} == {originals[0].content}


def test_key_expires_after_ttl(app_server: RunningApp, migrated_dsn: str) -> None:  # noqa: F811
    key = new_key()
    assert post(app_server, order(), key).status_code == 201
    hours = sql(
        migrated_dsn,
        "SELECT EXTRACT(EPOCH FROM expires_at - created_at) / 3600 FROM idempotency_keys"
        " WHERE key = %s",
        (key,),
    )[0][0]
    assert Decimal(hours) == Decimal(24)


def test_purge_deletes_expired_keys(app_server: RunningApp, migrated_dsn: str) -> None:  # noqa: F811
    key = new_key()
    sql(
        migrated_dsn,
        "INSERT INTO idempotency_keys (key, request_hash, state, created_at, expires_at)"
        " VALUES (%s, 'x', 'done', now() - interval '2 days', now() - interval '1 day')",
        (key,),
    )
    assert eventually(
        lambda: not sql(migrated_dsn, "SELECT 1 FROM idempotency_keys WHERE key = %s", (key,))
    )


@st.composite
def on_grid_order(draw: st.DrawFn) -> dict[str, str]:
    symbol = draw(st.sampled_from(sorted(GRIDS)))
    tick, lot, ref = GRIDS[symbol]
    ticks = draw(st.integers(min_value=1, max_value=int(ref * 2 / tick)))
    max_lots = max(1, int(Decimal(100_000) / (ref * lot)))
    lots = draw(st.integers(min_value=1, max_value=max_lots))
    return {
        "account": "ACC-2",
        "symbol": symbol,
        "side": draw(st.sampled_from(["buy", "sell"])),
        "price": str(ticks * tick),
        "quantity": str(lots * lot),
    }


@HYPO
@given(body=on_grid_order())
def test_on_grid_decimals_round_trip_byte_identical(
    app_server: RunningApp,  # noqa: F811
    migrated_dsn: str,  # noqa: F811
    body: dict[str, str],
) -> None:
    r = post(app_server, body, new_key())
    assert r.status_code == 201, r.text
    raw = r.text
    assert f'"price":"{body["price"]}"' in raw
    assert f'"quantity":"{body["quantity"]}"' in raw
    with app_server.client() as c:
        again = c.get(r.headers["location"])
    assert again.json()["price"] == body["price"]
    assert again.json()["quantity"] == body["quantity"]
    stored = sql(
        migrated_dsn, "SELECT price, quantity FROM orders WHERE id = %s", (r.json()["id"],)
    )[0]
    assert stored == (Decimal(body["price"]), Decimal(body["quantity"]))


@HYPO
@given(
    symbol=st.sampled_from(sorted(GRIDS)),
    ticks=st.integers(min_value=1, max_value=10_000),
    fraction=st.integers(min_value=1, max_value=9),
)
def test_off_grid_price_is_rejected(
    app_server: RunningApp,  # noqa: F811
    migrated_dsn: str,  # noqa: F811
    symbol: str,
    ticks: int,
    fraction: int,
) -> None:
    tick, lot, _ = GRIDS[symbol]
    price = ticks * tick + fraction * tick / 10
    key = new_key()
    r = post(app_server, order(symbol=symbol, price=str(price), quantity=str(lot)), key)
    assert r.status_code == 422
    assert "tick" in r.json()["detail"]
    assert not sql(migrated_dsn, "SELECT 1 FROM idempotency_keys WHERE key = %s", (key,))


def test_off_lot_quantity_is_rejected(app_server: RunningApp) -> None:  # noqa: F811
    r = post(app_server, order(symbol="AAPL", price="190.00", quantity="1.5"), new_key())
    assert r.status_code == 422
    assert "lot" in r.json()["detail"]


@pytest.mark.parametrize(
    ("field", "value"),
    [("price", 65000.01), ("price", "6.5e4"), ("price", "-1.00"), ("quantity", "NaN")],
)
def test_money_must_be_plain_positive_decimal_strings(
    app_server: RunningApp,  # noqa: F811
    field: str,
    value: Any,
) -> None:
    r = post(app_server, order(**{field: value}), new_key())
    assert r.status_code == 422
    assert field in r.json()["detail"]


def test_malformed_json_is_400(app_server: RunningApp) -> None:  # noqa: F811
    with app_server.client() as c:
        r = c.post("/orders", content=b"{not json", headers={"Idempotency-Key": new_key()})
    assert r.status_code == 400


def test_unknown_symbol_and_account_are_422(app_server: RunningApp) -> None:  # noqa: F811
    assert post(app_server, order(symbol="DOGE-USD"), new_key()).status_code == 422
    key = new_key()
    r = post(app_server, order(account="NOBODY"), key)
    assert r.status_code == 422
    assert r.json()["type"].endswith("unknown-account")
    replay = post(app_server, order(account="NOBODY"), key)
    assert replay.status_code == 422 and replay.content == r.content
    assert replay.headers["idempotent-replayed"] == "true"


def test_risk_limit_blocks_with_403_and_counts(app_server: RunningApp, migrated_dsn: str) -> None:  # noqa: F811
    blocks = metric(app_server, "spark_risk_blocks_total")
    key = new_key()
    r = post(app_server, order(quantity="20.0000"), key)  # notional 1.3 million
    assert r.status_code == 403
    assert r.json()["type"].endswith("risk-limit")
    assert metric(app_server, "spark_risk_blocks_total") == blocks + 1
    assert orders_with_key(migrated_dsn, key) == 0


def test_order_updates_one_open_position(app_server: RunningApp, migrated_dsn: str) -> None:  # noqa: F811
    base = {"account": "ACC-3", "symbol": "AAPL"}
    for side, qty, price in [
        ("buy", "10", "190.00"),
        ("buy", "10", "192.00"),
        ("sell", "5", "195.00"),
    ]:
        body = {**base, "side": side, "quantity": qty, "price": price}
        assert post(app_server, body, new_key()).status_code == 201
    with app_server.client() as c:
        positions = c.get("/positions/ACC-3").json()["positions"]
    assert len(positions) == 1
    assert positions[0]["quantity"] == "15"
    assert positions[0]["avg_price"] == "191.00"
    rows = sql(
        migrated_dsn,
        "SELECT count(*) FROM positions WHERE account_id = 'ACC-3' AND status = 'open'",
    )
    assert rows == [(1,)]
    close = {**base, "side": "sell", "quantity": "15", "price": "196.00"}
    assert post(app_server, close, new_key()).status_code == 201
    with app_server.client() as c:
        assert c.get("/positions/ACC-3").json()["positions"] == []
        assert c.get("/positions/NOBODY").status_code == 404


def test_order_writes_an_outbox_event_that_gets_published(
    app_server: RunningApp,  # noqa: F811
    migrated_dsn: str,  # noqa: F811
) -> None:
    r = post(app_server, order(account="ACC-4"), new_key())
    assert r.status_code == 201
    order_id = str(r.json()["id"])
    event = sql(
        migrated_dsn,
        "SELECT event_type, payload->>'price' FROM outbox WHERE aggregate_id = %s",
        (order_id,),
    )
    assert event == [("OrderAccepted", "65000.01")]
    assert eventually(
        lambda: (
            sql(
                migrated_dsn,
                "SELECT published_at IS NOT NULL FROM outbox WHERE aggregate_id = %s",
                (order_id,),
            )
            == [(True,)]
        )
    )


def test_get_order_not_found(app_server: RunningApp) -> None:  # noqa: F811
    with app_server.client() as c:
        assert c.get("/orders/999999").status_code == 404
        assert c.get("/orders/abc").status_code == 404
        assert c.get("/orders/99999999999").status_code == 404
