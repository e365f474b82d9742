"""The app's read-only surface: headers, CSP intake, quotes, version, flags, WS, metrics."""

from __future__ import annotations

import json
import time
from decimal import Decimal

import pytest
from _app_server import (  # noqa: F401  (fixtures)
    CONTROL_TOKEN,
    RunningApp,
    app_server,
    eventually,
    make_settings,
    metric,
    migrated_dsn,
    scrape,
    start_app,
    stop_app,
)
from _pg import pg  # noqa: F401  (fixture)
from websockets.sync.client import connect as ws_connect

EXPECTED_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'; "
    "form-action 'self'; report-uri /csp-report; report-to csp"
)
BASELINE = {
    "content-security-policy": EXPECTED_CSP,
    "reporting-endpoints": 'csp="/csp-report"',
    "strict-transport-security": "max-age=63072000; includeSubDomains; preload",
    "cross-origin-embedder-policy": "require-corp",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "x-content-type-options": "nosniff",
    "referrer-policy": "strict-origin-when-cross-origin",
    "x-frame-options": "DENY",
}
FAMILIES = (
    "spark_http_request_duration_seconds_bucket",
    "spark_http_requests_total",
    "spark_ws_last_update_age_seconds",
    "spark_ws_disconnects_total",
    "spark_risk_blocks_total",
    "spark_idempotency_requests_total",
    "spark_idempotency_conflicts_total",
    "spark_csp_violations_total",
    "spark_outbox_oldest_unpublished_age_seconds",
    "spark_outbox_backlog",
    "spark_outbox_relay_heartbeat_timestamp_seconds",
    "spark_idempotency_keys_stored",
    "spark_decimal_precision_errors_total",
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
)
SYMBOLS = {"AAPL", "BTC-USD", "ETH-USD", "EUR-USD"}


@pytest.mark.parametrize(
    "path", ["/", "/quotes", "/version", "/flags", "/static/app.js", "/static/logo.svg", "/nope"]
)
def test_security_headers_on_every_response(app_server: RunningApp, path: str) -> None:  # noqa: F811
    with app_server.client() as c:
        r = c.get(path)
    for name, value in BASELINE.items():
        assert r.headers.get(name) == value, (path, name)
    assert "content-security-policy-report-only" not in r.headers
    assert len(r.headers.get_list("content-security-policy")) == 1


def test_html_page_references_assets_that_are_served(app_server: RunningApp) -> None:  # noqa: F811
    with app_server.client() as c:
        page = c.get("/")
        assert page.headers["content-type"].startswith("text/html")
        assert "<script>" not in page.text  # no inline script
        for asset, ctype in [
            ("/static/app.js", "text/javascript"),
            ("/static/app.css", "text/css"),
            ("/static/logo.svg", "image/svg+xml"),
        ]:
            assert asset in page.text
            r = c.get(asset)
            assert r.status_code == 200 and r.headers["content-type"].startswith(ctype)
        assert c.get("/static/__init__.py").status_code == 404


@pytest.mark.parametrize(
    ("ctype", "body", "count"),
    [
        (
            "application/csp-report",
            {"csp-report": {"document-uri": "http://x/", "violated-directive": "script-src"}},
            1,
        ),
        (
            "application/reports+json",
            [
                {"type": "csp-violation", "body": {"blockedURL": "inline"}},
                {"type": "csp-violation", "body": {"blockedURL": "eval"}},
                {"type": "deprecation", "body": {}},
            ],
            2,
        ),
    ],
)
def test_csp_reports_are_accepted_and_counted(
    app_server: RunningApp,  # noqa: F811
    ctype: str,
    body: object,
    count: int,
) -> None:
    before = metric(app_server, "spark_csp_violations_total")
    with app_server.client() as c:
        r = c.post("/csp-report", content=json.dumps(body), headers={"content-type": ctype})
    assert r.status_code == 204
    assert metric(app_server, "spark_csp_violations_total") == before + count


def test_csp_report_rejects_other_types_and_bad_bodies(app_server: RunningApp) -> None:  # noqa: F811
    with app_server.client() as c:
        assert c.post("/csp-report", json={"csp-report": {}}).status_code == 415
        bad = c.post(
            "/csp-report", content=b"[1]", headers={"content-type": "application/csp-report"}
        )
        assert bad.status_code == 400


def test_quotes_are_decimal_strings_on_each_grid(app_server: RunningApp) -> None:  # noqa: F811
    with app_server.client() as c:
        quotes = c.get("/quotes").json()["quotes"]
    assert {q["symbol"] for q in quotes} == SYMBOLS
    for q in quotes:
        tick, lot = Decimal(q["tick_size"]), Decimal(q["lot_size"])
        for field, step in [("bid", tick), ("ask", tick), ("bid_size", lot), ("ask_size", lot)]:
            assert isinstance(q[field], str), (q["symbol"], field)
            assert Decimal(q[field]) % step == 0, (q["symbol"], field, q[field])
            assert Decimal(q[field]) > 0
        assert Decimal(q["ask"]) > Decimal(q["bid"])
    eur = next(q for q in quotes if q["symbol"] == "EUR-USD")
    assert eur["tick_size"] == "0.00001" and len(eur["bid"].split(".")[1]) == 5


def test_version_reports_settings(app_server: RunningApp) -> None:  # noqa: F811
    with app_server.client() as c:
        assert c.get("/version").json() == {
            "service": "spark-api",
            "version": "1.4.0",
            "git_sha": "abc123",
            "build_time": "2024-05-01T12:00:00Z",
            "instance": "test-1",
        }


def test_flags_snapshot_is_fresh_with_new_flag_off(app_server: RunningApp) -> None:  # noqa: F811
    with app_server.client() as c:
        first = c.get("/flags").json()
        # The refresh interval in tests is 0.5 s: the snapshot time moves on.
        assert eventually(lambda: c.get("/flags").json()["snapshot_time"] > first["snapshot_time"])
        second = c.get("/flags").json()
    assert first["flags"]["new_checkout_flow"] is False
    assert first["definitions"]["new_checkout_flow"]["introduced_in"] == "1.4.0"
    assert {"kill_trading", "kill_ws_feed"} <= {
        n for n, d in first["definitions"].items() if d["kind"] == "kill-switch"
    }
    assert isinstance(first["snapshot_version"], int)
    assert second["snapshot_version"] == first["snapshot_version"]


def test_flags_file_overrides_values_and_version(migrated_dsn: str, tmp_path) -> None:  # noqa: F811
    flags_file = tmp_path / "flags.json"
    flags_file.write_text(json.dumps({"snapshot_version": 7, "flags": {"dark_mode_ui": False}}))
    app = start_app(make_settings(migrated_dsn, flags_file=flags_file))
    try:
        with app.client() as c:
            snap = c.get("/flags").json()
    finally:
        stop_app(app)
    assert snap["snapshot_version"] == 7
    assert snap["flags"]["dark_mode_ui"] is False


def test_websocket_streams_price_updates(app_server: RunningApp) -> None:  # noqa: F811
    disconnects = metric(app_server, "spark_ws_disconnects_total")
    seen: dict[str, list[int]] = {}
    started = time.monotonic()
    with ws_connect(f"{app_server.ws_url}/ws/prices", open_timeout=5) as ws:
        # Until every symbol got a snapshot and 4 more updates (ticks every 200 ms).
        while len(seen) < len(SYMBOLS) or min(len(v) for v in seen.values()) < 5:
            assert time.monotonic() - started < 10, seen
            msg = json.loads(ws.recv(timeout=5))
            assert msg["type"] == "price"
            assert isinstance(msg["bid"], str) and isinstance(msg["ask"], str)
            seen.setdefault(msg["symbol"], []).append(msg["seq"])
    assert set(seen) == SYMBOLS
    for seqs in seen.values():
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert eventually(lambda: metric(app_server, "spark_ws_disconnects_total") == disconnects + 1)
    ages = {lab["symbol"]: v for lab, v in scrape(app_server)["spark_ws_last_update_age_seconds"]}
    assert set(ages) == SYMBOLS and max(ages.values()) < 3.0


def test_every_metric_family_has_a_sample_at_start(migrated_dsn: str) -> None:  # noqa: F811
    app = start_app(make_settings(migrated_dsn, instance="fresh"))
    try:
        samples = scrape(app)  # the very first request this instance serves
    finally:
        stop_app(app)
    missing = [f for f in FAMILIES if not samples.get(f)]
    assert missing == []
    symbols = {lab["symbol"] for lab, _ in samples["spark_ws_last_update_age_seconds"]}
    assert symbols == SYMBOLS
    routes = {lab["route"] for lab, _ in samples["spark_http_requests_total"]}
    assert {"/orders", "/orders/{id}", "/quotes", "/csp-report"} <= routes
    assert [lab for lab, _ in samples["spark_build_info"]] == [
        {"version": "1.4.0", "git_sha": "abc123", "instance": "fresh"}
    ]


def test_request_metrics_use_route_templates(app_server: RunningApp) -> None:  # noqa: F811
    with app_server.client() as c:
        c.get("/orders/12345")
        c.get("/positions/ACC-1")
        c.get("/definitely/not/here")
    routes = {lab["route"] for lab, _ in scrape(app_server)["spark_http_requests_total"]}
    assert "/orders/{id}" in routes and "/positions/{account}" in routes
    assert "__unmatched__" in routes
    assert not any("12345" in r or "ACC-1" in r or "definitely" in r for r in routes)
    count = metric(app_server, "spark_http_requests_total", route="/orders/{id}", code="404")
    assert count >= 1


def test_healthz_reports_database(app_server: RunningApp) -> None:  # noqa: F811
    with app_server.client() as c:
        r = c.get("/healthz")
    assert r.status_code == 200 and r.json()["db"] is True


def test_control_api_requires_the_token(app_server: RunningApp) -> None:  # noqa: F811
    with app_server.client() as c:
        assert c.get("/__sandbox/faults").status_code == 403
        wrong = {"X-Sandbox-Token": "nope"}
        assert c.put("/__sandbox/faults/error-burst", headers=wrong).status_code == 403
        assert c.get("/version").status_code == 200  # nothing was switched on
        good = {"X-Sandbox-Token": CONTROL_TOKEN}
        assert c.put("/__sandbox/faults/no-such-fault", headers=good).status_code == 404
        listing = c.get("/__sandbox/faults", headers=good).json()
    assert listing["active"] == {}
    assert "csp-unsafe-inline" in listing["available"]


def test_control_api_disabled_without_token(migrated_dsn: str) -> None:  # noqa: F811
    app = start_app(make_settings(migrated_dsn, control_token=""))
    try:
        with app.client() as c:
            r = c.put("/__sandbox/faults/error-burst", headers={"X-Sandbox-Token": ""})
    finally:
        stop_app(app)
    assert r.status_code == 403
