"""Chaos Toolkit actions: plain functions that inject and revert faults on the sandbox.

Each fault carries its own deadline (it reverts by itself); each revert is
idempotent, so a rollback may run after a half-applied or already-expired
fault. They record the fault's start and end in the run's marks, which the
hypothesis judges the trigger timeline against.
"""

from __future__ import annotations

from typing import Any

from . import context, network


def route_proxy(path: str, configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """Put the fault proxy in line on path (api-pgbouncer or pgbouncer-postgres)."""
    info = network.route(context.sandbox(configuration), path)
    return {"path": path, "listen": info["listen"], "upstream": info["upstream"]}


def unroute_proxy(path: str, configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """Rollback: clear any fault, take the proxy out of path, stop it."""
    network.unroute(context.sandbox(configuration), path)
    if "fault_start" in context.marks(configuration):
        context.mark(configuration, "fault_end")
    return {"path": path, "routed": False}


def proxy_fault(
    path: str, duration_s: float, configuration: dict[str, Any] | None = None, **fault: Any
) -> dict[str, Any]:
    """Apply a network fault on path for at most duration_s (the proxy's hard limit)."""
    status = network.set_fault(context.sandbox(configuration), path, duration_s=duration_s, **fault)
    context.mark(configuration, "fault_start")
    return status


def clear_proxy_fault(path: str, configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """Revert the network fault on path now (idempotent; no proxy = nothing to do)."""
    status = network.clear_fault(context.sandbox(configuration), path)
    if "fault_start" in context.marks(configuration):
        context.mark(configuration, "fault_end")
    return {"path": path, "status": status}
