"""The reference API's side of the contract tests: provider states and contract-breaking faults.

Provider states exist only in sandbox mode (a control token set) and only for
a loopback caller with that token, like /__sandbox/faults. Each contract fault
changes exactly what a consumer's pact relies on, and reverts.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
from _app_server import (  # noqa: F401  (fixtures)
    CONTROL_TOKEN,
    RunningApp,
    app_server,
    make_settings,
    migrated_dsn,
    new_key,
    sql,
    start_app,
    stop_app,
)
from _pg import pg  # noqa: F401  (fixture)

STATES = "/__sandbox/provider-states"
TOKEN = {"X-Sandbox-Token": CONTROL_TOKEN}
ORDER = {"account": "ACC-3", "symbol": "AAPL", "side": "buy", "price": "1.00", "quantity": "1"}


@contextlib.contextmanager
def fault(app: RunningApp, name: str) -> Iterator[None]:
    app.fault(name, True)
    try:
        yield
    finally:
        app.fault(name, False)


def set_state(
    app: RunningApp, state: str, headers: dict[str, str] | None = None, **params: Any
) -> httpx.Response:
    with app.client() as c:
        body = {"state": state, "params": params, "action": "setup"}
        return c.post(STATES, json=body, headers=TOKEN if headers is None else headers)


def post(app: RunningApp, body: dict[str, str], key: str | None) -> httpx.Response:
    with app.client() as c:
        return c.post("/orders", json=body, headers={"Idempotency-Key": key} if key else {})


def test_provider_states_need_the_control_token(app_server: RunningApp) -> None:  # noqa: F811
    assert set_state(app_server, "an order exists", headers={}, account="ACC-3").status_code == 403
    wrong = {"X-Sandbox-Token": "nope"}
    assert (
        set_state(app_server, "an order exists", headers=wrong, account="ACC-3").status_code == 403
    )


def test_provider_states_exist_only_in_sandbox_mode(migrated_dsn: str) -> None:  # noqa: F811
    app = start_app(make_settings(migrated_dsn, control_token=""))
    try:
        assert set_state(app, "an order exists", account="ACC-3").status_code == 404
    finally:
        stop_app(app)


def test_states_set_what_they_say(app_server: RunningApp) -> None:  # noqa: F811
    made = set_state(app_server, "an order exists", account="ACC-3")
    assert made.status_code == 200, made.text
    order_id = made.json()["orderId"]
    with app_server.client() as c:
        order = c.get(f"/orders/{order_id}").json()
        assert order["account"] == "ACC-3"
        may = set_state(app_server, "an account may place orders", account="ACC-3").json()
        assert (
            may["account"] == "ACC-3"
            and str(uuid.UUID(may["idempotencyKey"])) == may["idempotencyKey"]
        )
        assert (
            set_state(app_server, "an account holds an open position", account="ACC-3").status_code
            == 200
        )
        assert c.get("/positions/ACC-3").json()["positions"]
    assert set_state(app_server, "the price feed is running").json() == {}
    with app_server.client() as c:  # nothing to undo; Pact's generic "" state is a no-op
        teardown = {"state": "an order exists", "params": {}, "action": "teardown"}
        assert c.post(STATES, json=teardown, headers=TOKEN).json() == {}


def test_a_state_that_cannot_be_set_says_why(app_server: RunningApp) -> None:  # noqa: F811
    unknown = set_state(app_server, "a unicorn exists")
    assert unknown.status_code == 404 and "'an order exists'" in unknown.json()["detail"]
    nobody = set_state(app_server, "an order exists", account="NOBODY")
    assert nobody.status_code == 409 and "no account 'NOBODY'" in nobody.json()["detail"]
    assert set_state(app_server, "an order exists").status_code == 409  # no account given


def test_contract_field_renamed(app_server: RunningApp) -> None:  # noqa: F811
    with fault(app_server, "contract-field-renamed"):
        placed = post(app_server, ORDER, new_key()).json()
        assert "state" in placed and "status" not in placed
        with app_server.client() as c:
            assert "status" not in c.get(f"/orders/{placed['id']}").json()
    assert "status" in post(app_server, ORDER, new_key()).json()


def test_order_created_200(app_server: RunningApp) -> None:  # noqa: F811
    with fault(app_server, "order-created-200"):
        assert post(app_server, ORDER, new_key()).status_code == 200
    assert post(app_server, ORDER, new_key()).status_code == 201


def test_idempotency_error_changed(app_server: RunningApp) -> None:  # noqa: F811
    with fault(app_server, "idempotency-error-changed"):
        changed = post(app_server, ORDER, None)
        assert changed.status_code == 422 and changed.json() == {"error": "missing idempotency key"}
        assert changed.headers["content-type"] == "application/json"
    healthy = post(app_server, ORDER, None)
    assert healthy.status_code == 400
    assert healthy.headers["content-type"] == "application/problem+json"


def _event(dsn: str, order_id: int) -> tuple[str, dict[str, Any]]:
    rows = sql(
        dsn, "SELECT event_type, payload FROM outbox WHERE aggregate_id = %s", (str(order_id),)
    )
    assert len(rows) == 1
    payload = rows[0][1]
    return rows[0][0], payload if isinstance(payload, dict) else json.loads(payload)


def test_outbox_event_faults(app_server: RunningApp, migrated_dsn: str) -> None:  # noqa: F811
    with fault(app_server, "event-field-missing"):
        kind, payload = _event(migrated_dsn, post(app_server, ORDER, new_key()).json()["id"])
        assert kind == "OrderAccepted" and "quantity" not in payload and "price" in payload
    with fault(app_server, "event-type-renamed"):
        kind, payload = _event(migrated_dsn, post(app_server, ORDER, new_key()).json()["id"])
        assert kind == "OrderCreated" and "quantity" in payload
    kind, payload = _event(migrated_dsn, post(app_server, ORDER, new_key()).json()["id"])
    assert kind == "OrderAccepted" and payload["quantity"] == "1"
