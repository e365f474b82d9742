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


def _pgbouncer_admin(configuration: dict[str, Any] | None, *commands: str) -> None:
    import psycopg

    dsn = context.sandbox(configuration).endpoints.pgbouncer_admin_dsn
    with psycopg.connect(
        dsn, autocommit=True, connect_timeout=5, cursor_factory=psycopg.ClientCursor
    ) as conn:
        for command in commands:
            conn.execute(command)


def kill_app_db_connections(
    times: int = 2, interval_s: float = 5.0, configuration: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Drop every client and server connection of the app database at PgBouncer, ``times``
    times ``interval_s`` apart (KILL, then RESUME at once: new connections are served)."""
    import time

    if not 1 <= times <= 5 or not 0 <= interval_s <= 30:
        raise ValueError("times must be 1..5 and interval_s 0..30 (a bounded fault)")
    context.mark(configuration, "fault_start")
    killed_at = []
    for i in range(times):
        if i:
            network.wait_quiet(interval_s)
        try:
            _pgbouncer_admin(configuration, "KILL spark")
            killed_at.append(time.time())
        finally:
            _pgbouncer_admin(configuration, "RESUME spark")
    context.mark(configuration, "fault_end")
    return {"killed_at": killed_at}


def resume_pgbouncer(configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """Rollback: make sure the app database is not left killed/paused at PgBouncer."""
    import psycopg

    try:
        _pgbouncer_admin(configuration, "RESUME spark")
    except psycopg.Error as exc:  # "database is not paused": nothing to undo
        return {"resumed": False, "note": str(exc).strip()[:200]}
    return {"resumed": True}


def order_load(
    rate: float, duration_s: float, configuration: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The run's own order load through HAProxy (see orders.py); bounded in time."""
    from . import orders

    if not 0 < rate <= 50 or not 0 < duration_s <= 120:
        raise ValueError("rate must be in (0, 50] /s and duration_s in (0, 120] s")
    base = context.sandbox(configuration).endpoints.public_url
    return orders.run(base, rate, duration_s, context.run_dir(configuration))


def forget_drill_metrics(configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """Rollback (sandbox only): restart the sandbox's Prometheus on an empty TSDB.

    The drill's latency and 5xx are not the release's behaviour; left in the
    5-minute windows they would fail the pre-deploy baseline (PF-09) of the
    next run on the same stack, as the error-burst fault's revert avoids too.
    The run's own timeline was read (and is in the journal) before this runs.
    """
    context.sandbox(configuration).reset_prometheus(timeout=30)
    return {"prometheus": "reset"}
