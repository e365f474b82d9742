"""Every app-level fault switches on through the control API and reverts exactly."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from _app_server import (  # noqa: F401  (fixtures)
    RunningApp,
    app_server,
    eventually,
    metric,
    migrated_dsn,
    new_key,
    scrape,
    sql,
)
from _pg import pg  # noqa: F401  (fixture)

from pytest_spark.sandbox.app.faults import FAULTS


@contextlib.contextmanager
def fault(app: RunningApp, name: str, value: Any = None) -> Iterator[None]:
    """Fault on for the block, always off afterwards."""
    app.fault(name, True, value)
    try:
        yield
    finally:
        app.fault(name, False)


def get(app: RunningApp, path: str) -> httpx.Response:
    with app.client() as c:
        return c.get(path)


def post_order(app: RunningApp, body: dict[str, Any], key: str) -> httpx.Response:
    with app.client() as c:
        return c.post("/orders", json=body, headers={"Idempotency-Key": key})


def small_order(**overrides: str) -> dict[str, str]:
    body = {
        "account": "ACC-2",
        "symbol": "ETH-USD",
        "side": "buy",
        "price": "3200.01",
        "quantity": "0.010",
    }
    body.update(overrides)
    return body


def test_fault_catalogue_is_the_agreed_set() -> None:
    assert set(FAULTS) == {
        "csp-unsafe-inline", "csp-removed", "csp-report-only", "header-removed",
        "hsts-short", "hsts-no-preload", "asset-without-corp", "api-floats",
        "price-through-float", "metric-family-missing", "new-flag-on", "version-old",
        "flags-stale", "relay-stopped", "purge-stopped", "leak-connections", "error-burst",
        "relay-dedupe-off",
        "no-idempotency-unique", "latency", "error-ratio", "memory-leak", "ws-storm",
        # contract breaks (CT-01/CT-02)
        "contract-field-renamed", "order-created-200", "idempotency-error-changed",
        "event-field-missing", "event-type-renamed",
    }  # fmt: skip


def test_control_lists_active_faults(app_server: RunningApp) -> None:  # noqa: F811
    headers = {"X-Sandbox-Token": "test-control-token"}
    with fault(app_server, "header-removed", "Referrer-Policy"), app_server.client() as c:
        active = c.get("/__sandbox/faults", headers=headers).json()["active"]
        assert active == {"header-removed": "Referrer-Policy"}
    with app_server.client() as c:
        assert c.get("/__sandbox/faults", headers=headers).json()["active"] == {}


def _csp(app: RunningApp, path: str = "/") -> tuple[str | None, str | None]:
    r = get(app, path)
    return r.headers.get("content-security-policy"), r.headers.get(
        "content-security-policy-report-only"
    )


def test_csp_unsafe_inline(app_server: RunningApp) -> None:  # noqa: F811
    healthy = _csp(app_server)
    assert healthy[0] is not None and "unsafe-inline" not in healthy[0]
    with fault(app_server, "csp-unsafe-inline"):
        for path in ("/", "/quotes"):
            enforced, _ = _csp(app_server, path)
            assert enforced is not None and "script-src 'self' 'unsafe-inline';" in enforced
    assert _csp(app_server) == healthy


def test_csp_removed(app_server: RunningApp) -> None:  # noqa: F811
    healthy = _csp(app_server)
    with fault(app_server, "csp-removed"):
        assert _csp(app_server) == (None, None)
        assert "reporting-endpoints" not in get(app_server, "/").headers
    assert _csp(app_server) == healthy


def test_csp_report_only(app_server: RunningApp) -> None:  # noqa: F811
    healthy = _csp(app_server)
    with fault(app_server, "csp-report-only"):
        assert _csp(app_server) == (None, healthy[0])
    assert _csp(app_server) == healthy


@pytest.mark.parametrize(
    ("value", "header"),
    [(None, "x-content-type-options"), ("Referrer-Policy", "referrer-policy")],
)
def test_header_removed(app_server: RunningApp, value: str | None, header: str) -> None:  # noqa: F811
    assert header in get(app_server, "/version").headers
    with fault(app_server, "header-removed", value):
        for path in ("/", "/version"):
            headers = get(app_server, path).headers
            assert header not in headers
            assert "strict-transport-security" in headers  # only that one is gone
    assert header in get(app_server, "/version").headers


def test_hsts_short_and_no_preload(app_server: RunningApp) -> None:  # noqa: F811
    def hsts() -> str:
        return get(app_server, "/").headers["strict-transport-security"]

    healthy = hsts()
    assert healthy == "max-age=63072000; includeSubDomains; preload"
    with fault(app_server, "hsts-short"):
        assert hsts() == "max-age=31535999; includeSubDomains; preload"
    with fault(app_server, "hsts-no-preload"):
        assert hsts() == "max-age=63072000; includeSubDomains"
    assert hsts() == healthy


def test_asset_without_corp(app_server: RunningApp) -> None:  # noqa: F811
    assert get(app_server, "/static/logo.svg").headers["cross-origin-resource-policy"]
    with fault(app_server, "asset-without-corp"):
        assert "cross-origin-resource-policy" not in get(app_server, "/static/logo.svg").headers
        assert get(app_server, "/static/app.js").headers["cross-origin-resource-policy"]
        assert get(app_server, "/").headers["cross-origin-embedder-policy"] == "require-corp"
    assert get(app_server, "/static/logo.svg").headers["cross-origin-resource-policy"]


def test_api_floats(app_server: RunningApp) -> None:  # noqa: F811
    def money_types() -> set[type]:
        quotes = get(app_server, "/quotes").json()["quotes"]
        return {type(q[f]) for q in quotes for f in ("bid", "ask", "bid_size", "tick_size")}

    assert money_types() == {str}
    with fault(app_server, "api-floats"):
        assert money_types() == {float}
        r = post_order(app_server, small_order(), new_key())
        assert isinstance(r.json()["price"], float)
        positions = get(app_server, "/positions/ACC-2").json()["positions"]
        assert all(isinstance(p["quantity"], float) for p in positions)
    assert money_types() == {str}
    assert isinstance(post_order(app_server, small_order(), new_key()).json()["price"], str)


def test_price_through_float(app_server: RunningApp, migrated_dsn: str) -> None:  # noqa: F811
    body = small_order(symbol="EUR-USD", price="1.08523", quantity="1000")
    errors = metric(app_server, "spark_decimal_precision_errors_total")
    with fault(app_server, "price-through-float"):
        r = post_order(app_server, body, new_key())
        assert r.status_code == 201
        assert r.json()["price"] != "1.08523"
        stored = sql(migrated_dsn, "SELECT price FROM orders WHERE id = %s", (r.json()["id"],))
        assert stored[0][0] != Decimal("1.08523")
        assert metric(app_server, "spark_decimal_precision_errors_total") == errors + 1
    healthy = post_order(app_server, body, new_key())
    assert healthy.json()["price"] == "1.08523"
    stored = sql(migrated_dsn, "SELECT price FROM orders WHERE id = %s", (healthy.json()["id"],))
    assert stored[0][0] == Decimal("1.08523")


@pytest.mark.parametrize("value", [None, "spark_outbox_backlog", "spark_http_requests_total"])
def test_metric_family_missing(app_server: RunningApp, value: str | None) -> None:  # noqa: F811
    family = value or "spark_ws_last_update_age_seconds"
    assert scrape(app_server).get(family)
    with fault(app_server, "metric-family-missing", value):
        samples = scrape(app_server)
        assert family not in samples
        assert samples.get("spark_risk_blocks_total")  # everything else still there
    assert scrape(app_server).get(family)


def test_new_flag_on(app_server: RunningApp) -> None:  # noqa: F811
    assert get(app_server, "/flags").json()["flags"]["new_checkout_flow"] is False
    with fault(app_server, "new-flag-on"):
        snap = get(app_server, "/flags").json()
        assert snap["flags"]["new_checkout_flow"] is True
        assert snap["definitions"]["new_checkout_flow"]["default"] is True
    snap = get(app_server, "/flags").json()
    assert snap["flags"]["new_checkout_flow"] is False
    assert snap["definitions"]["new_checkout_flow"]["default"] is False


def test_version_old(app_server: RunningApp) -> None:  # noqa: F811
    assert get(app_server, "/version").json()["version"] == "1.4.0"
    with fault(app_server, "version-old"):
        assert get(app_server, "/version").json()["version"] == "1.3.1"
        info = scrape(app_server)["spark_build_info"]
        assert [lab["version"] for lab, _ in info] == ["1.3.1"]
    assert get(app_server, "/version").json()["version"] == "1.4.0"
    assert [lab["version"] for lab, _ in scrape(app_server)["spark_build_info"]] == ["1.4.0"]


def test_flags_stale(app_server: RunningApp) -> None:  # noqa: F811
    def snapshot() -> tuple[int, float]:
        snap = get(app_server, "/flags").json()
        ts = snap["snapshot_time"].replace("Z", "+00:00")
        return snap["snapshot_version"], time.time() - datetime.fromisoformat(ts).timestamp()

    version, age = snapshot()
    assert age < 5
    with fault(app_server, "flags-stale"):
        stale_version, stale_age = snapshot()
        assert stale_version == version - 1
        assert 590 < stale_age < 620
        time.sleep(0.7)  # a refresh period passes; the snapshot stays frozen
        assert snapshot()[0] == version - 1 and snapshot()[1] > 590
    version_after, age_after = snapshot()
    assert version_after == version and age_after < 5


def _unpublished(dsn: str, order_id: int) -> bool:
    rows = sql(
        dsn, "SELECT published_at IS NULL FROM outbox WHERE aggregate_id = %s", (str(order_id),)
    )
    return rows == [(True,)]


def test_relay_stopped(app_server: RunningApp, migrated_dsn: str) -> None:  # noqa: F811
    with fault(app_server, "relay-stopped"):
        time.sleep(0.1)
        beat = metric(app_server, "spark_outbox_relay_heartbeat_timestamp_seconds")
        order_id = post_order(app_server, small_order(), new_key()).json()["id"]
        time.sleep(1.2)  # more than two relay periods
        assert _unpublished(migrated_dsn, order_id)
        assert metric(app_server, "spark_outbox_relay_heartbeat_timestamp_seconds") == beat
        assert metric(app_server, "spark_outbox_backlog") >= 1
        assert metric(app_server, "spark_outbox_oldest_unpublished_age_seconds") >= 0.5
    assert not _unpublished(migrated_dsn, order_id)
    assert time.time() - metric(app_server, "spark_outbox_relay_heartbeat_timestamp_seconds") < 5
    assert metric(app_server, "spark_outbox_backlog") == 0


def _too_old_keys(dsn: str) -> int:
    return sql(
        dsn,
        "SELECT count(*) FROM idempotency_keys"
        " WHERE created_at < now() - interval '24 hours' - interval '1 hour'",
    )[0][0]


def test_purge_stopped(app_server: RunningApp, migrated_dsn: str) -> None:  # noqa: F811
    assert _too_old_keys(migrated_dsn) == 0
    with fault(app_server, "purge-stopped"):
        assert _too_old_keys(migrated_dsn) == 3
        time.sleep(1.2)  # two purge periods in tests
        assert _too_old_keys(migrated_dsn) == 3
        stored = metric(app_server, "spark_idempotency_keys_stored")
        assert stored >= 3
    assert _too_old_keys(migrated_dsn) == 0


def _leaked(dsn: str) -> int:
    return sql(
        dsn,
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'spark-api:test-1'"
        " AND state = 'idle in transaction'",
    )[0][0]


def test_leak_connections(app_server: RunningApp, migrated_dsn: str) -> None:  # noqa: F811
    # a request of an earlier test may sit between two statements of its transaction for
    # a moment ("idle in transaction" too): start from none, however briefly it takes
    assert eventually(lambda: _leaked(migrated_dsn) == 0)
    with fault(app_server, "leak-connections", 3):
        assert eventually(lambda: _leaked(migrated_dsn) >= 2)
        assert eventually(lambda: _leaked(migrated_dsn) == 3)
        time.sleep(0.4)
        assert _leaked(migrated_dsn) == 3  # bounded
        assert get(app_server, "/quotes").status_code == 200  # the app still serves
    assert eventually(lambda: _leaked(migrated_dsn) == 0)


def test_error_burst(app_server: RunningApp) -> None:  # noqa: F811
    with fault(app_server, "error-burst"):
        for path in ("/version", "/quotes", "/"):
            r = get(app_server, path)
            assert r.status_code == 503
            assert r.headers["x-frame-options"] == "DENY"  # still a proper response
        assert post_order(app_server, small_order(), new_key()).status_code == 503
        assert get(app_server, "/metrics").status_code == 200
        assert metric(app_server, "spark_http_requests_total", route="/version", code="503") >= 1
    assert get(app_server, "/version").status_code == 200


def _race(app: RunningApp, key: str, n: int = 8) -> list[int]:
    barrier = threading.Barrier(n)
    codes: list[int] = []

    def worker() -> None:
        with app.client() as c:
            barrier.wait(timeout=10)
            r = c.post(
                "/orders", json=small_order(account="ACC-4"), headers={"Idempotency-Key": key}
            )
            codes.append(r.status_code)

    threads = [threading.Thread(target=worker) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return codes


def _orders(dsn: str, key: str) -> int:
    return sql(dsn, "SELECT count(*) FROM orders WHERE idempotency_key = %s", (key,))[0][0]


@contextlib.contextmanager
def constraint_dropped(dsn: str) -> Iterator[None]:
    """What the launcher does for this fault: drop the unique constraint, restore it after."""
    sql(dsn, "ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_key_uq")
    try:
        yield
    finally:
        sql(
            dsn,
            "DELETE FROM idempotency_keys a USING idempotency_keys b"
            " WHERE a.key = b.key AND a.id > b.id",
        )
        sql(
            dsn,
            "ALTER TABLE idempotency_keys ADD CONSTRAINT idempotency_keys_key_uq UNIQUE (key)",
        )


def test_no_idempotency_unique(app_server: RunningApp, migrated_dsn: str) -> None:  # noqa: F811
    with constraint_dropped(migrated_dsn), fault(app_server, "no-idempotency-unique"):
        key = new_key()
        codes = _race(app_server, key)
        assert set(codes) <= {201, 409}
        assert _orders(migrated_dsn, key) > 1  # the duplicate the check must catch
    key = new_key()
    codes = _race(app_server, key)
    assert _orders(migrated_dsn, key) == 1
    assert set(codes) <= {201, 409}


def test_missing_constraint_without_the_fault_degrades_not_crashes(
    app_server: RunningApp,  # noqa: F811
    migrated_dsn: str,  # noqa: F811
) -> None:
    with constraint_dropped(migrated_dsn):
        key = new_key()
        first = post_order(app_server, small_order(), key)
        assert first.status_code == 201
        again = post_order(app_server, small_order(), key)
        assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"


def test_fault_on_with_constraint_present_stays_correct(
    app_server: RunningApp,  # noqa: F811
    migrated_dsn: str,  # noqa: F811
) -> None:
    with fault(app_server, "no-idempotency-unique"):
        key = new_key()
        codes = _race(app_server, key)
        assert _orders(migrated_dsn, key) == 1
        assert set(codes) <= {201, 409}


def test_fault_value_must_be_json(app_server: RunningApp) -> None:  # noqa: F811
    with app_server.client() as c:
        r = c.put(
            "/__sandbox/faults/header-removed",
            content=b"not json",
            headers={"X-Sandbox-Token": "test-control-token"},
        )
    assert r.status_code == 400
    assert "x-content-type-options" in get(app_server, "/version").headers  # not switched on


# Launcher-side schema faults: the app must keep serving so the checks, not 500s,
# are what reports them.


def test_orders_survive_price_column_as_double(app_server: RunningApp, migrated_dsn: str) -> None:  # noqa: F811
    sql(migrated_dsn, "ALTER TABLE orders ALTER COLUMN price TYPE double precision")
    try:
        r = post_order(app_server, small_order(), new_key())
        assert r.status_code == 201, r.text
        assert r.json()["price"] == "3200.01"
        assert get(app_server, r.headers["location"]).json()["price"] == "3200.01"
    finally:
        sql(
            migrated_dsn,
            "ALTER TABLE orders ALTER COLUMN price TYPE numeric(18,8) USING price::numeric(18,8)",
        )


def test_positions_without_the_unique_index(app_server: RunningApp, migrated_dsn: str) -> None:  # noqa: F811
    sql(migrated_dsn, "DROP INDEX positions_one_open_uq")
    try:
        body = small_order(account="ACC-1", symbol="AAPL", price="190.00", quantity="2")
        assert post_order(app_server, body, new_key()).status_code == 201
        assert post_order(app_server, body, new_key()).status_code == 201
    finally:
        sql(
            migrated_dsn,
            "CREATE UNIQUE INDEX positions_one_open_uq ON positions (account_id, symbol)"
            " WHERE status = 'open'",
        )
