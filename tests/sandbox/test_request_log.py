"""The API's request log: the witness tests/checks/test_read_only.py relies on.

One JSON line per HTTP request with method, path, status and User-Agent; the
query string is left out (it may carry a token); an exception still logs.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from pytest_spark.sandbox.app.middleware import RequestLogMiddleware


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["path"] == "/boom":
        raise RuntimeError("boom")
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def _call(app: RequestLogMiddleware, method: str, path: str, query: bytes, agent: bytes) -> None:
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": query,
        "headers": [(b"user-agent", agent)],
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(_message: dict[str, Any]) -> None:
        return None

    asyncio.run(app(scope, receive, send))


def test_each_request_is_one_line_without_its_query_string(tmp_path: Path) -> None:
    log = tmp_path / "api-1.requests.log"
    app = RequestLogMiddleware(_app, path=str(log))
    _call(app, "POST", "/csp-report", b"token=s3cr3t", b"pytest-spark/0.1")
    _call(app, "HEAD", "/", b"", b"curl/8")
    with pytest.raises(RuntimeError):
        _call(app, "GET", "/boom", b"", b"x")
    text = log.read_text()
    assert "s3cr3t" not in text
    lines = [json.loads(line) for line in text.splitlines()]
    assert [(x["method"], x["path"], x["status"], x["user_agent"]) for x in lines] == [
        ("POST", "/csp-report", 204, "pytest-spark/0.1"),
        ("HEAD", "/", 204, "curl/8"),
        ("GET", "/boom", 0, "x"),  # no response started: status 0, still logged
    ]


def test_websocket_and_lifespan_scopes_pass_through_unlogged(tmp_path: Path) -> None:
    log = tmp_path / "r.log"
    seen = []

    async def inner(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    app = RequestLogMiddleware(inner, path=str(log))
    asyncio.run(app({"type": "websocket", "path": "/ws/prices"}, None, None))
    assert seen == ["websocket"] and log.read_text() == ""


def test_a_full_log_starts_over_instead_of_growing_without_bound(tmp_path: Path) -> None:
    log = tmp_path / "r.log"
    app = RequestLogMiddleware(_app, path=str(log), max_bytes=300)
    for _ in range(10):
        _call(app, "GET", "/quotes", b"", b"loadgen")
    size = log.stat().st_size
    assert 0 < size <= 300 + 200  # at most one line past the cap
    assert all(json.loads(line)["path"] == "/quotes" for line in log.read_text().splitlines())
