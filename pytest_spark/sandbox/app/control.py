"""Loopback control API for the launcher: switch app faults on and off.

PUT/DELETE /__sandbox/faults/{name} and GET /__sandbox/faults, all requiring
``X-Sandbox-Token``. Switching a fault off restores the healthy behaviour:
stopped jobs restart and run one step at once, leaked connections are closed.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import logging
import time
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from .faults import FAULTS, UnknownFault
from .memleak import DEFAULT_RATE_BYTES_S
from .responses import json_response, problem

if TYPE_CHECKING:
    from .runtime import Runtime

log = logging.getLogger(__name__)
TOKEN_HEADER = "x-sandbox-token"
#: faults whose numeric value is a deadline (s) after which they switch themselves off
EXPIRING = ("relay-stopped", "ws-storm")


class FaultController:
    """Applies the side effects of switching a fault."""

    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self.relay_stopped_at = 0.0
        self._expiry: dict[str, asyncio.Task[None]] = {}

    async def _expire(self, name: str, after_s: float) -> None:
        """A fault with a deadline switches itself off (CHAOS.md: every fault expires)."""
        await asyncio.sleep(min(after_s, 600.0))
        if self.rt.faults.on(name):
            await self.deactivate(name)

    async def activate(self, name: str, value: Any = None) -> None:
        """Switch a fault on, with its side effects."""
        rt = self.rt
        rt.faults.activate(name, value)
        deadline = _deadline(value) if name in EXPIRING else None
        if deadline is not None:  # the fault's deadline: it switches itself off
            self._expiry[name] = asyncio.create_task(self._expire(name, deadline))
        if name == "relay-stopped":
            await rt.jobs["outbox-relay"].stop()
            self.relay_stopped_at = time.time()
        elif name == "purge-stopped":
            await rt.jobs["idempotency-purge"].stop()
            await rt.housekeeping.plant_expired_keys()
            await rt.jobs["monitor"].run_once()
        elif name == "leak-connections":
            limit = value if isinstance(value, int) and value > 0 else None
            rt.leaker.start(limit or rt.settings.leak_max_connections)
        elif name == "new-flag-on":
            rt.flags.new_flag_forced_on = True
        elif name == "flags-stale":
            rt.flags.freeze_stale()
        elif name == "version-old":
            rt.refresh_build_info()
        elif name == "memory-leak":
            rate = value if isinstance(value, int | float) and value > 0 else None
            rt.memory_leak.start(rate or DEFAULT_RATE_BYTES_S)
        log.info("fault %s activated", name)

    async def deactivate(self, name: str) -> None:
        """Switch a fault off and restore the healthy behaviour."""
        rt = self.rt
        was_on = rt.faults.on(name)
        rt.faults.deactivate(name)
        if name == "relay-stopped":
            if was_on and rt.faults.on("relay-dedupe-off") and self.relay_stopped_at:
                await rt.housekeeping.replay_published_since(self.relay_stopped_at)
            rt.jobs["outbox-relay"].start()
            await rt.jobs["outbox-relay"].run_once()
            await rt.jobs["monitor"].run_once()
        elif name == "purge-stopped":
            rt.jobs["idempotency-purge"].start()
            await rt.jobs["idempotency-purge"].run_once()
            await rt.jobs["monitor"].run_once()
        elif name == "leak-connections":
            await rt.leaker.stop()
        elif name == "new-flag-on":
            rt.flags.new_flag_forced_on = False
        elif name == "flags-stale":
            rt.flags.unfreeze()
        elif name == "version-old":
            rt.refresh_build_info()
        elif name == "memory-leak":
            await rt.memory_leak.stop()
        log.info("fault %s deactivated", name)

    def describe(self) -> dict[str, Any]:
        """Active faults with values, and every fault the app knows."""
        return {"active": dict(self.rt.faults.active), "available": dict(FAULTS)}


def _deadline(value: Any) -> float | None:
    """A positive number of seconds, else None (no deadline)."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    return None


def _authorised(request: Request, token: str) -> bool:
    client = request.client
    if client is None:
        return False
    try:
        loopback = ipaddress.ip_address(client.host).is_loopback
    except ValueError:
        loopback = False
    given = request.headers.get(TOKEN_HEADER, "")
    return bool(token) and loopback and hmac.compare_digest(given.encode(), token.encode())


def _forbidden() -> Response:
    return problem(403, "forbidden", "Forbidden", "a valid X-Sandbox-Token is required")


async def list_faults(request: Request) -> Response:
    """GET /__sandbox/faults."""
    rt: Runtime = request.app.state.runtime
    if not _authorised(request, rt.settings.control_token):
        return _forbidden()
    return json_response(rt.controller.describe())


async def fault_endpoint(request: Request) -> Response:
    """PUT or DELETE /__sandbox/faults/{name}."""
    rt: Runtime = request.app.state.runtime
    if not _authorised(request, rt.settings.control_token):
        return _forbidden()
    name = request.path_params["name"]
    if name not in FAULTS:
        return problem(404, "unknown-fault", "Unknown fault", f"no fault named {name!r}")
    try:
        if request.method == "PUT":
            value = await _value(request)
            await rt.controller.activate(name, value)
        else:
            await rt.controller.deactivate(name)
    except UnknownFault:  # pragma: no cover - checked above
        return problem(404, "unknown-fault", "Unknown fault", f"no fault named {name!r}")
    except ValueError as exc:
        return problem(400, "bad-fault-value", "Bad fault value", str(exc))
    return json_response(
        {"fault": name, "active": rt.faults.on(name), "value": rt.faults.active.get(name)}
    )


async def _value(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return None
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ValueError(f'body must be JSON like {{"value": ...}}: {exc}') from exc
    if not isinstance(data, dict):
        raise ValueError('body must be a JSON object like {"value": ...}')
    return data.get("value")
