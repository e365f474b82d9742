"""create_app: wire routes, middleware and the run-time lifecycle into a Starlette app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Route, WebSocketRoute

from . import api, control, csp_report, provider_states, ws
from .headers import SecurityHeadersMiddleware
from .middleware import (
    ErrorBurstMiddleware,
    ErrorMiddleware,
    MetricsMiddleware,
    RequestLogMiddleware,
    RouteResolver,
)
from .runtime import Runtime
from .settings import AppSettings
from .web import WebAssets


def _routes(assets: WebAssets, sandbox: bool = False) -> list[BaseRoute]:
    extra: list[BaseRoute] = []
    if sandbox:  # Pact provider states exist only in sandbox mode (a control token is set)
        states = provider_states.provider_state
        extra.append(Route("/__sandbox/provider-states", states, methods=["POST"]))
    return [
        *extra,
        Route("/", assets.index_page, methods=["GET"]),
        Route("/static/{name}", assets.asset, methods=["GET"]),
        Route("/orders", api.post_order, methods=["POST"]),
        Route("/orders/{id}", api.get_order, methods=["GET"]),
        Route("/positions/{account}", api.get_positions, methods=["GET"]),
        Route("/quotes", api.get_quotes, methods=["GET"]),
        Route("/version", api.get_version, methods=["GET"]),
        Route("/flags", api.get_flags, methods=["GET"]),
        Route("/csp-report", csp_report.csp_report, methods=["POST"]),
        Route("/healthz", api.get_healthz, methods=["GET"]),
        Route("/metrics", api.get_metrics, methods=["GET"]),
        Route("/__sandbox/faults", control.list_faults, methods=["GET"]),
        Route("/__sandbox/faults/{name}", control.fault_endpoint, methods=["PUT", "DELETE"]),
        WebSocketRoute("/ws/prices", ws.prices),
    ]


def create_app(settings: AppSettings) -> Starlette:
    """A ready-to-serve trading API instance; background jobs run during its lifespan."""
    runtime = Runtime(settings)
    routes = _routes(WebAssets(), sandbox=bool(settings.control_token))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    request_log = (
        [Middleware(RequestLogMiddleware, path=str(settings.request_log))]
        if settings.request_log
        else []
    )
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[
            *request_log,
            Middleware(MetricsMiddleware, metrics=runtime.metrics, resolver=RouteResolver(routes)),
            Middleware(SecurityHeadersMiddleware, faults=runtime.faults),
            Middleware(ErrorBurstMiddleware, faults=runtime.faults),
            Middleware(ErrorMiddleware),
        ],
    )
    app.state.runtime = runtime
    return app
