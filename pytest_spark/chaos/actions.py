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


#: what a chaos run may kill: the release's own (canary) instances, never stable
KILLABLE = ("api-1", "api-2")


def _reviver_name(name: str) -> str:
    return f"revive-{name}"


def kill_api_instance(
    name: str = "api-1",
    expires_s: float = 30.0,
    lb_budget_s: float = 10.0,
    configuration: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """SIGKILL one canary API instance (no graceful shutdown: a crash, an OOM kill).

    A reviver process restarts it after ``expires_s`` unless the rollback did
    first. Waits (at most ``lb_budget_s``) until HAProxy has taken it out of
    the canary backend, and marks when (``lb_out``): the hypothesis judges it
    against the health-check budget.
    """
    import os
    import signal
    import sys
    import time

    from ..sandbox import components as c

    if name not in KILLABLE or not 1 <= expires_s <= 120:
        raise ValueError(f"name must be one of {KILLABLE} and expires_s 1..120 s")
    box = context.sandbox(configuration)
    rec = box.record(name)
    if rec is None or not c.is_alive(rec):
        raise RuntimeError(f"{name} is not running: nothing to kill")
    argv = [
        sys.executable, "-m", "pytest_spark.chaos.revive",
        "--state-dir", str(box.state_dir), "--name", name, "--after", str(expires_s),
    ]  # fmt: skip
    reviver = _reviver_name(name)
    _proc, rrec = c.spawn(
        reviver, argv, box.layout.log(reviver), env=c.python_env(), stack=box.state_dir
    )
    box.adopt(rrec)
    os.kill(rec.pid, signal.SIGKILL)
    killed = context.mark(configuration, "fault_start")
    runtime = box.traffic()
    server = f"canary/{name}"
    while runtime.servers_up().get(server, "").startswith("UP"):
        if time.time() - killed > lb_budget_s:
            break
        network.wait_quiet(0.1)
    else:
        context.mark(configuration, "lb_out")
    out = context.marks(configuration).get("lb_out")
    return {
        "killed": name,
        "pid": rec.pid,
        "lb_out_after_s": round(out - killed, 3) if out else None,
    }


def restart_api_instance(
    name: str = "api-1", configuration: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Revert (and rollback): stop the reviver, restart the instance if it is down, wait
    until HAProxy has it back. Idempotent: a running instance is left alone."""
    import time

    from ..sandbox import components as c

    if name not in KILLABLE:
        raise ValueError(f"name must be one of {KILLABLE}")
    box = context.sandbox(configuration)
    reviver = box.record(_reviver_name(name))
    if reviver is not None:
        c.stop(reviver, timeout=5)
        box.forget(_reviver_name(name))
    rec = box.record(name)
    restarted = rec is None or not c.is_alive(rec)
    if restarted:
        box.start_component(name)
    if "fault_start" in context.marks(configuration):
        context.mark(configuration, "fault_end")
    runtime = box.traffic()
    deadline = time.monotonic() + 15
    while not runtime.servers_up().get(f"canary/{name}", "").startswith("UP"):
        if time.monotonic() > deadline:
            raise RuntimeError(f"HAProxy did not take {name} back within 15 s")
        network.wait_quiet(0.2)
    return {"name": name, "restarted": restarted}


def consume_events(max_s: float = 60.0, configuration: dict[str, Any] | None = None) -> dict:
    """Background: the outbox consumer (consumer.py) until the run marks consumer_stop."""
    from . import consumer

    if not 1 <= max_s <= 120:
        raise ValueError("max_s must be 1..120 s (a bounded listener)")
    dsn = context.sandbox(configuration).endpoints.db_dsn

    def stop() -> bool:
        return consumer.STOP_MARK in context.marks(configuration)

    return consumer.listen(dsn, context.run_dir(configuration), max_s, stop)


def stop_consumer(configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """End the consumer's listening (it drains what is queued, then records)."""
    from . import consumer

    context.mark(configuration, consumer.STOP_MARK)
    return {"stopped": True}


def stall_relay(expires_s: float = 30.0, configuration: dict[str, Any] | None = None) -> dict:
    """Stop the outbox relay on every instance; each resumes by itself after expires_s."""
    if not 1 <= expires_s <= 120:
        raise ValueError("expires_s must be 1..120 s")
    box = context.sandbox(configuration)
    box.apply_fault("relay-stopped", value=expires_s)
    context.mark(configuration, "fault_start")
    return {"stalled": True, "expires_s": expires_s}


def resume_relay(configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """Revert (and rollback): resume the relay everywhere; idempotent."""
    box = context.sandbox(configuration)
    was = "relay-stopped" in box.active_faults()
    box.revert_fault("relay-stopped")
    if "fault_start" in context.marks(configuration):
        context.mark(configuration, "fault_end")
    return {"resumed": was}


def exhaust_pgbouncer_pool(
    expires_s: float = 40.0, configuration: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Hold every server connection of the app database's PgBouncer pool idle in a
    transaction (pool.py); they are released after expires_s at the latest."""
    from . import pool

    ep = context.sandbox(configuration).endpoints
    size = pool.pool_size(ep.pgbouncer_admin_dsn)
    context.mark(configuration, "fault_start")
    held = pool.hold(ep.pgbouncer_dsn, size, expires_s)
    return {"pool_size": size, "held": held, "expires_s": expires_s}


def release_pgbouncer_pool(configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """Revert (and rollback): give the held server connections back; idempotent."""
    from . import pool

    released = pool.release()
    if "fault_start" in context.marks(configuration):
        context.mark(configuration, "fault_end")
    return {"released": released}


def read_probe(
    duration_s: float, interval_s: float = 0.5, configuration: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Background: database reads on canary instance api-1 directly (pool.probe_requests)."""
    from . import pool

    if not 0 < duration_s <= 120 or not 0.1 <= interval_s <= 10:
        raise ValueError("duration_s must be in (0, 120] s and interval_s in [0.1, 10] s")
    base = context.sandbox(configuration).endpoints.api_urls[0]
    run_dir = context.run_dir(configuration)
    return pool.probe_requests(base, "ACC-1", duration_s, interval_s, run_dir)


def feed_clients(
    clients: int, max_s: float = 90.0, configuration: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Background: price-feed WebSocket clients with backoff through HAProxy (feed.py),
    until the run marks feed_stop (stop_feed_clients) or max_s."""
    from . import feed

    if not 1 <= clients <= 50 or not 0 < max_s <= 120:
        raise ValueError("clients must be 1..50 and max_s in (0, 120] s")
    base = context.sandbox(configuration).endpoints.public_url

    def stop() -> bool:
        return feed.STOP_MARK in context.marks(configuration)

    return feed.run(base, clients, max_s, stop, context.run_dir(configuration))


def stop_feed_clients(configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """End the feed clients (they record what they saw)."""
    from . import feed

    context.mark(configuration, feed.STOP_MARK)
    return {"stopped": True}


def ws_storm(expires_s: float = 30.0, configuration: dict[str, Any] | None = None) -> dict:
    """The canary drops every price-feed socket after its first message; the app switches
    the storm off by itself after expires_s."""
    if not 1 <= expires_s <= 120:
        raise ValueError("expires_s must be 1..120 s")
    context.sandbox(configuration).apply_fault("canary-ws-storm", value=expires_s)
    context.mark(configuration, "fault_start")
    return {"storm": True, "expires_s": expires_s}


def end_ws_storm(configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """Revert (and rollback): end the storm; idempotent."""
    box = context.sandbox(configuration)
    was = "canary-ws-storm" in box.active_faults()
    box.revert_fault("canary-ws-storm")
    if "fault_start" in context.marks(configuration):
        context.mark(configuration, "fault_end")
    return {"ended": was}
