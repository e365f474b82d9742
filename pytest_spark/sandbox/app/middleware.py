"""ASGI middleware: request log, request metrics, the error-burst fault, error mapping.

Pure ASGI (no BaseHTTPMiddleware) so streaming and WebSockets pass untouched.
Order, outermost first: request log -> metrics -> security headers -> error
burst -> errors.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import time
from collections.abc import Sequence

from psycopg import OperationalError
from psycopg_pool import PoolTimeout
from starlette.routing import BaseRoute, Match, Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .faults import DEFAULT_ERROR_RATIO, DEFAULT_LATENCY_S, FaultState
from .metrics import AppMetrics
from .responses import problem

log = logging.getLogger(__name__)

UNMATCHED_ROUTE = "__unmatched__"
CONTROL_PREFIX = "/__sandbox/"
BURST_EXEMPT = frozenset({"/metrics", "/healthz"})
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})


class RouteResolver:
    """Maps a request to its route template, so metric labels stay low-cardinality."""

    def __init__(self, routes: Sequence[BaseRoute]) -> None:
        self.routes = routes

    def template(self, scope: Scope) -> str:
        """The matching route's template (a mount gives ``{prefix}/{path}``)."""
        for route in self.routes:
            match, _ = route.matches(scope)
            if match is Match.NONE:
                continue
            if isinstance(route, Mount):
                return f"{route.path}/{{path}}"
            if isinstance(route, Route):
                return route.path
        return UNMATCHED_ROUTE


class MetricsMiddleware:
    """Records spark_http_request_duration_seconds and spark_http_requests_total."""

    def __init__(self, app: ASGIApp, metrics: AppMetrics, resolver: RouteResolver) -> None:
        self.app = app
        self.metrics = metrics
        self.resolver = resolver

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = self.resolver.template(scope)
        method = scope["method"] if scope["method"] in _METHODS else "OTHER"
        status = 500
        started = time.perf_counter()

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            elapsed = time.perf_counter() - started
            code = str(status)
            self.metrics.http_duration.labels(route, method, code).observe(elapsed)
            self.metrics.http_requests.labels(route, method, code).inc()


class RequestLogMiddleware:
    """One JSON line per HTTP request (method, path, status, User-Agent) in an append-only file.

    Lets a test prove which methods reached the API and from whom (the
    suite's read-only promise: only GET/HEAD without --spark-allow-writes).
    The query string is not logged: it may carry a token. Each line is one
    O_APPEND write, so concurrent requests never interleave. A long-lived
    stack's log starts over at ``max_bytes`` (the load generator alone writes
    ~1.5 KB/s); a reader then finds fewer lines, never invented ones.
    """

    def __init__(self, app: ASGIApp, path: str, max_bytes: int = 16 * 1024 * 1024) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 0

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            agent = dict(scope.get("headers") or ()).get(b"user-agent", b"")
            entry = {
                "t": round(time.time(), 3),
                "method": scope["method"],
                "path": scope["path"],
                "status": status,
                "user_agent": agent.decode("latin-1")[:200],
            }
            if os.fstat(self.fd).st_size > self.max_bytes:
                os.ftruncate(self.fd, 0)
            os.write(self.fd, (json.dumps(entry) + "\n").encode())


class ErrorBurstMiddleware:
    """Request-level faults on everything but metrics, health and control: error-burst
    (503 for every request), error-ratio (503 for a share) and latency (a delay)."""

    def __init__(self, app: ASGIApp, faults: FaultState) -> None:
        self.app = app
        self.faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] in BURST_EXEMPT
            or scope["path"].startswith(CONTROL_PREFIX)
        ):
            await self.app(scope, receive, send)
            return
        delay = (
            _number(self.faults.value("latency"), DEFAULT_LATENCY_S)
            if self.faults.on("latency")
            else 0.0
        )
        if delay > 0:
            await asyncio.sleep(min(delay, 30.0))
        ratio = _number(self.faults.value("error-ratio"), DEFAULT_ERROR_RATIO)
        if self.faults.on("error-burst") or (
            self.faults.on("error-ratio") and random.random() < ratio
        ):
            response = problem(
                503, "unavailable", "Service unavailable", "injected error burst (sandbox fault)"
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _number(value: object, default: float) -> float:
    return (
        float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default
    )


class ErrorMiddleware:
    """Turns unhandled exceptions into problem+json: 503 for DB unavailability, else 500."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def track(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, track)
        except (OperationalError, PoolTimeout, TimeoutError) as exc:
            log.warning(
                "%s %s: database unavailable: %s %s",
                scope["method"],
                scope["path"],
                type(exc).__name__,
                exc,
            )
            if started:
                raise
            await problem(503, "db-unavailable", "Database unavailable", type(exc).__name__)(
                scope, receive, send
            )
        except Exception:
            log.exception("%s %s failed", scope["method"], scope["path"])
            if started:
                raise
            await problem(500, "internal", "Internal error", "unexpected error")(
                scope, receive, send
            )
