"""Run the real trading API under uvicorn in a background thread, for tests.

Also holds the small helpers the app test modules share (a migrated
database, the control API). Import fixtures into a module with
``from _app_server import app_server, migrated_dsn``.
"""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import pytest
import uvicorn
from _pg import PgServer, free_port
from prometheus_client.parser import text_string_to_metric_families

from pytest_spark.sandbox.app import AppSettings, create_app
from pytest_spark.sandbox.migrate import apply_migrations

CONTROL_TOKEN = "test-control-token"


@dataclass
class RunningApp:
    """A live app instance: its base URL, settings and uvicorn server."""

    url: str
    settings: AppSettings
    server: uvicorn.Server
    thread: threading.Thread

    @property
    def ws_url(self) -> str:
        """Base URL for WebSocket connections."""
        return self.url.replace("http://", "ws://", 1)

    def client(self, **kwargs: Any) -> httpx.Client:
        """An HTTP client bound to this instance, with a deadline."""
        return httpx.Client(base_url=self.url, timeout=10.0, **kwargs)

    def fault(self, name: str, on: bool = True, value: Any = None) -> httpx.Response:
        """Switch one app fault through the control API; asserts it was accepted."""
        with self.client() as c:
            if on:
                body = None if value is None else {"value": value}
                r = c.put(
                    f"/__sandbox/faults/{name}",
                    json=body,
                    headers={"X-Sandbox-Token": CONTROL_TOKEN},
                )
            else:
                r = c.delete(
                    f"/__sandbox/faults/{name}", headers={"X-Sandbox-Token": CONTROL_TOKEN}
                )
        assert r.status_code == 200, r.text
        return r

    @property
    def runtime(self) -> Any:
        """The in-process Runtime (tests may read state; never mutate it)."""
        return self.server.config.app.state.runtime  # type: ignore[union-attr]


def start_app(settings: AppSettings, timeout: float = 20.0) -> RunningApp:
    """Serve the app on a free loopback port; returns once startup completed."""
    port = free_port()
    config = uvicorn.Config(
        create_app(settings),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=3,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("app did not start")
        time.sleep(0.02)
    return RunningApp(f"http://127.0.0.1:{port}", settings, server, thread)


def stop_app(app: RunningApp) -> None:
    """Graceful shutdown (runs the lifespan shutdown), bounded."""
    app.server.should_exit = True
    app.thread.join(timeout=15)
    assert not app.thread.is_alive(), "app thread did not stop"


def make_settings(dsn: str, **overrides: Any) -> AppSettings:
    """Settings for tests: fast jobs, a known control token."""
    base = AppSettings(
        dsn=dsn,
        instance="test-1",
        git_sha="abc123",
        build_time="2024-05-01T12:00:00Z",
        control_token=CONTROL_TOKEN,
        purge_interval_s=0.5,
        flags_refresh_s=0.5,
        leak_interval_s=0.1,
    )
    return dataclasses.replace(base, **overrides)


@pytest.fixture(scope="module")
def migrated_dsn(pg: PgServer) -> str:
    """A database of the module's cluster with every migration applied."""
    dsn = pg.create_database("spark")
    apply_migrations(dsn)
    return dsn


@pytest.fixture(scope="module")
def app_server(migrated_dsn: str) -> Iterator[RunningApp]:
    """One running app instance per test module."""
    app = start_app(make_settings(migrated_dsn))
    try:
        yield app
    finally:
        stop_app(app)


def new_key() -> str:
    """A fresh Idempotency-Key."""
    return f"test-{uuid.uuid4()}"


def sql(dsn: str, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Run one statement directly against PostgreSQL and return its rows."""
    with psycopg.connect(dsn, autocommit=True, prepare_threshold=None) as conn:
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else []


def eventually(check: Callable[[], bool], timeout: float = 5.0, interval: float = 0.05) -> bool:
    """Poll ``check`` until it is true or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return check()


def scrape(app: RunningApp) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Every sample of /metrics, by sample name: [(labels, value), ...]."""
    with app.client() as c:
        text = c.get("/metrics").text
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples.setdefault(s.name, []).append((dict(s.labels), s.value))
    return samples


def metric(app: RunningApp, name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels``."""
    rows = scrape(app).get(name, [])
    return sum(v for lab, v in rows if all(lab.get(k) == want for k, want in labels.items()))
