"""The fault proxy against real traffic: an echo server, and PostgreSQL's protocol.

Only lower bounds on time are asserted (a loaded machine makes things slower,
never faster), so the tests do not flake under load.
"""

from __future__ import annotations

import os
import socket
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pytest_spark.chaos.proxy import TOKEN_ENV
from pytest_spark.sandbox import components as c

TOKEN = "test-token-123"


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(65536):
            self.request.sendall(data)


@pytest.fixture(scope="module")
def echo() -> Iterator[int]:
    server = socketserver.ThreadingTCPServer((c.LOCALHOST, 0), _Echo)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()


@pytest.fixture(scope="module")
def proxy(echo: int) -> Iterator[dict[str, int]]:
    listen, control = c.free_ports(2)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest_spark.chaos.proxy",
            "--listen",
            f"{c.LOCALHOST}:{listen}",
            "--upstream",
            f"{c.LOCALHOST}:{echo}",
            "--control",
            f"{c.LOCALHOST}:{control}",
        ],
        env={**c.python_env(), TOKEN_ENV: TOKEN},
    )
    info = {"listen": listen, "control": control}
    try:
        c.wait_until("proxy", lambda: _ctl(info, "GET").status_code == 200, 20, interval=0.1)
        yield info
    finally:
        proc.terminate()
        proc.wait(10)


def _ctl(info: dict[str, int], method: str, body: Any = None, token: str = TOKEN) -> httpx.Response:
    return httpx.request(
        method,
        f"http://{c.LOCALHOST}:{info['control']}/fault",
        json=body,
        headers={"X-Proxy-Token": token},
        timeout=5,
    )


@pytest.fixture
def clean(proxy: dict[str, int]) -> Iterator[dict[str, int]]:
    yield proxy
    _ctl(proxy, "DELETE")


def _roundtrip(port: int, payload: bytes, timeout: float = 10.0) -> tuple[bytes, float]:
    t0 = time.monotonic()
    with socket.create_connection((c.LOCALHOST, port), timeout=timeout) as s:
        s.sendall(payload)
        got = b""
        while len(got) < len(payload):
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
    return got, time.monotonic() - t0


def test_forwards_bytes_unchanged_without_a_fault(clean: dict[str, int]) -> None:
    payload = os.urandom(200_000)
    got, _ = _roundtrip(clean["listen"], payload)
    assert got == payload


def test_control_api_requires_the_token(clean: dict[str, int]) -> None:
    resp = _ctl(clean, "PUT", {"latency_ms": 100, "duration_s": 5}, token="wrong")
    assert resp.status_code == 403
    assert _ctl(clean, "GET").json()["fault"] is None


def test_bad_fault_is_refused_with_the_reason(clean: dict[str, int]) -> None:
    resp = _ctl(clean, "PUT", {"latency_ms": 100})
    assert resp.status_code == 400
    assert "duration_s is required" in resp.json()["error"]


def test_latency_delays_the_answer(clean: dict[str, int]) -> None:
    assert _ctl(clean, "PUT", {"latency_ms": 300, "duration_s": 30}).status_code == 200
    got, took = _roundtrip(clean["listen"], b"ping")
    assert got == b"ping"
    assert took >= 0.3


def test_bandwidth_cap_paces_a_large_transfer(clean: dict[str, int]) -> None:
    _ctl(clean, "PUT", {"bandwidth_bps": 200_000, "duration_s": 30})
    payload = os.urandom(100_000)
    got, took = _roundtrip(clean["listen"], payload)
    assert got == payload  # bytes intact and in order
    assert took >= 0.5 * 0.99


def test_reset_breaks_open_and_new_connections(clean: dict[str, int]) -> None:
    with socket.create_connection((c.LOCALHOST, clean["listen"]), timeout=5) as s:
        s.sendall(b"hello")
        assert s.recv(10) == b"hello"
        _ctl(clean, "PUT", {"mode": "reset", "duration_s": 30})
        with pytest.raises((ConnectionResetError, BrokenPipeError)):
            for _ in range(50):
                s.sendall(b"x")
                if not s.recv(10):
                    raise ConnectionResetError("closed")
                time.sleep(0.05)
    with pytest.raises((ConnectionResetError, BrokenPipeError, ConnectionAbortedError)):
        got, _ = _roundtrip(clean["listen"], b"again")
        if not got:
            raise ConnectionResetError("closed without data")
    assert _ctl(clean, "GET").json()["reset"] >= 2


def test_blackhole_swallows_data_and_the_fault_expires_by_itself(clean: dict[str, int]) -> None:
    _ctl(clean, "PUT", {"mode": "blackhole", "direction": "both", "duration_s": 1.5})
    with socket.create_connection((c.LOCALHOST, clean["listen"]), timeout=5) as s:
        s.settimeout(0.7)
        s.sendall(b"lost")
        with pytest.raises(TimeoutError):
            s.recv(10)
    # no DELETE: the hard time limit ends the fault
    deadline = time.monotonic() + 20
    while _ctl(clean, "GET").json()["fault"] is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _ctl(clean, "GET").json()["fault"] is None
    got, _ = _roundtrip(clean["listen"], b"back")
    assert got == b"back"


def test_postgres_protocol_through_the_proxy_with_latency(sandbox: Any) -> None:
    """Real PgBouncer/PostgreSQL traffic through the proxy; +200 ms per round trip."""
    import psycopg

    from pytest_spark.chaos import network

    info = network.start_proxy(sandbox, "api-pgbouncer")
    try:
        dsn = network.proxied_dsn(sandbox.endpoints.pgbouncer_dsn, info["listen"])
        with psycopg.connect(dsn, connect_timeout=10, prepare_threshold=None) as conn:
            assert conn.execute("SELECT 41 + 1").fetchone() == (42,)
            network.set_fault(sandbox, "api-pgbouncer", latency_ms=200, duration_s=30)
            t0 = time.monotonic()
            assert conn.execute("SELECT 1").fetchone() == (1,)
            assert time.monotonic() - t0 >= 0.2
        assert network.status(sandbox, "api-pgbouncer")["bytes_down"] > 0
    finally:
        network.stop_proxy(sandbox, "api-pgbouncer")
    assert sandbox.record("proxy-api-pgbouncer") is None


def test_pgbouncer_to_postgres_path_through_the_proxy(sandbox: Any) -> None:
    """PgBouncer's server connections re-routed through the proxy (RELOAD), then back."""
    import psycopg

    from pytest_spark.chaos import network

    ini = Path(sandbox.layout.pgbouncer_ini)
    original = ini.read_text()
    try:
        info = network.route(sandbox, "pgbouncer-postgres")
        assert f"port={info['listen']}" in ini.read_text()
        network.set_fault(sandbox, "pgbouncer-postgres", latency_ms=200, duration_s=30)
        dsn = sandbox.endpoints.pgbouncer_dsn
        with psycopg.connect(dsn, connect_timeout=10, prepare_threshold=None) as conn:
            t0 = time.monotonic()
            assert conn.execute("SELECT 1").fetchone() == (1,)
            assert time.monotonic() - t0 >= 0.2
        assert network.status(sandbox, "pgbouncer-postgres")["accepted"] >= 1
    finally:
        network.unroute(sandbox, "pgbouncer-postgres")
    assert ini.read_text() == original
    assert sandbox.record("proxy-pgbouncer-postgres") is None
