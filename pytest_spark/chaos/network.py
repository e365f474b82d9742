"""The fault proxy on a sandbox path: start it, route traffic through it, drive it.

Paths (CHAOS.md "Network faults"):

- ``api-pgbouncer``: the canary API instances connect to PgBouncer through the
  proxy (they are restarted one at a time with the proxied DSN);
- ``pgbouncer-postgres``: PgBouncer's server connections go through the proxy
  (pgbouncer.ini's database port rewritten and RELOADed).

The default stack never has a proxy in line; a chaos run routes a path only
for its own duration (``route`` / ``unroute``, the latter a rollback). The
proxy process is recorded in the sandbox's state, so ``sandbox down`` and the
lifeline stop it with the stack.
"""

from __future__ import annotations

import contextlib
import secrets
import sys
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from ..sandbox import components as c
from .proxy import TOKEN_ENV

if TYPE_CHECKING:
    from ..sandbox.launcher import Sandbox

PATHS = ("api-pgbouncer", "pgbouncer-postgres")
CANARY_APIS = ("api-1", "api-2")
CONTROL_TIMEOUT_S = 5.0


class ProxyError(RuntimeError):
    """The proxy could not be started, reached or driven; the message says which path."""


def _check_path(path: str) -> None:
    if path not in PATHS:
        raise ProxyError(f"unknown proxy path {path!r}; known: {', '.join(PATHS)}")


def proxy_info(sandbox: Sandbox, path: str) -> dict[str, Any] | None:
    """Ports and token of the proxy on path, if one runs for this stack."""
    return sandbox.chaos_state().get("proxies", {}).get(path)


def start_proxy(sandbox: Sandbox, path: str, timeout: float = 15.0) -> dict[str, Any]:
    """Start (or reuse) the proxy process for path; forwarding only, no fault yet."""
    _check_path(path)
    info = proxy_info(sandbox, path)
    rec = sandbox.record(f"proxy-{path}")
    if info and rec is not None and c.is_alive(rec):
        return info
    upstream = sandbox.port("pgbouncer" if path == "api-pgbouncer" else "postgres")
    listen, control = c.free_ports(2)
    token = secrets.token_urlsafe(24)
    name = f"proxy-{path}"
    argv = [
        sys.executable, "-m", "pytest_spark.chaos.proxy",
        "--listen", f"{c.LOCALHOST}:{listen}",
        "--upstream", f"{c.LOCALHOST}:{upstream}",
        "--control", f"{c.LOCALHOST}:{control}",
    ]  # fmt: skip
    _proc, rec = c.spawn(
        name,
        argv,
        sandbox.layout.log(name),
        env=c.python_env({TOKEN_ENV: token}),
        stack=sandbox.state_dir,
    )
    info = {"listen": listen, "control": control, "token": token, "upstream": upstream}
    sandbox.adopt(rec)
    sandbox.update_chaos_state(lambda s: s.setdefault("proxies", {}).__setitem__(path, info))
    c.wait_until(name, lambda: _status(info) is not None, timeout, rec=rec, interval=0.1)
    return info


def stop_proxy(sandbox: Sandbox, path: str) -> None:
    """Stop the proxy process for path (after unrouting it)."""
    rec = sandbox.record(f"proxy-{path}")
    if rec is not None:
        c.stop(rec, timeout=5)
    sandbox.forget(f"proxy-{path}")
    sandbox.update_chaos_state(lambda s: s.get("proxies", {}).pop(path, None))


def _control(info: dict[str, Any], method: str, body: Any = None) -> dict[str, Any]:
    url = f"http://{c.LOCALHOST}:{info['control']}/fault"
    try:
        resp = httpx.request(
            method,
            url,
            json=body,
            headers={"X-Proxy-Token": info["token"]},
            timeout=CONTROL_TIMEOUT_S,
        )
    except httpx.HTTPError as exc:
        raise ProxyError(f"{method} {url}: {exc}") from exc
    if resp.status_code != 200:
        raise ProxyError(f"{method} {url} answered {resp.status_code}: {resp.text[:200]}")
    return dict(resp.json())


def _status(info: dict[str, Any]) -> dict[str, Any] | None:
    with contextlib.suppress(ProxyError):
        return _control(info, "GET")
    return None


def _require(sandbox: Sandbox, path: str) -> dict[str, Any]:
    _check_path(path)
    info = proxy_info(sandbox, path)
    if info is None:
        raise ProxyError(f"no fault proxy on path {path!r}: route it first")
    return info


def set_fault(sandbox: Sandbox, path: str, **fault: Any) -> dict[str, Any]:
    """Apply a fault on path (see proxy.parse_fault); it reverts itself after duration_s."""
    return _control(_require(sandbox, path), "PUT", fault)


def clear_fault(sandbox: Sandbox, path: str) -> dict[str, Any] | None:
    """Revert the fault on path now; no-op when no proxy runs there."""
    info = proxy_info(sandbox, path)
    return None if info is None else _control(info, "DELETE")


def status(sandbox: Sandbox, path: str) -> dict[str, Any]:
    return _control(_require(sandbox, path), "GET")


def proxied_dsn(dsn: str, port: int) -> str:
    """The same DSN pointing at the proxy's port (credentials and database kept)."""
    parts = urlsplit(dsn)
    userinfo, _, _hostport = parts.netloc.rpartition("@")
    netloc = f"{userinfo}@{c.LOCALHOST}:{port}" if userinfo else f"{c.LOCALHOST}:{port}"
    return urlunsplit(parts._replace(netloc=netloc))


def route(sandbox: Sandbox, path: str) -> dict[str, Any]:
    """Put the proxy in line on path (idempotent)."""
    info = start_proxy(sandbox, path)
    routed = sandbox.chaos_state().get("routed", [])
    if path in routed:
        return info
    if path == "api-pgbouncer":
        dsn = proxied_dsn(sandbox.endpoints.pgbouncer_dsn, info["listen"])
        for name in CANARY_APIS:  # one at a time: HAProxy keeps serving from the other
            _restart_drained(sandbox, name, {"SPARK_API_DSN": dsn})
    else:
        from ..sandbox.faults import pgbouncer_reconfigure

        pgbouncer_reconfigure(sandbox, pg_port=info["listen"])
    sandbox.update_chaos_state(lambda s: s.setdefault("routed", []).append(path))
    return info


def _restart_drained(sandbox: Sandbox, name: str, env: dict[str, str] | None) -> None:
    """Restart one canary API instance without failing user requests: HAProxy stops
    sending it traffic (maint) first and takes it back once it is ready again."""
    runtime = sandbox.traffic()
    runtime.command(f"set server canary/{name} state maint")
    try:
        wait_quiet(0.5)  # requests in flight on it finish
        sandbox.start_component(name, env=env)
    finally:
        runtime.command(f"set server canary/{name} state ready")
    deadline = time.monotonic() + 15
    while not runtime.servers_up().get(f"canary/{name}", "UP").startswith("UP"):
        if time.monotonic() > deadline:
            raise ProxyError(f"HAProxy did not take {name} back within 15 s")
        wait_quiet(0.2)


def unroute(sandbox: Sandbox, path: str) -> None:
    """Take the proxy out of path and stop it: the stack as it was (a rollback)."""
    _check_path(path)
    with contextlib.suppress(ProxyError):
        clear_fault(sandbox, path)
    if path in sandbox.chaos_state().get("routed", []):
        if path == "api-pgbouncer":
            for name in CANARY_APIS:
                _restart_drained(sandbox, name, None)
        else:
            from ..sandbox.faults import pgbouncer_reconfigure

            pgbouncer_reconfigure(sandbox)
        sandbox.update_chaos_state(
            lambda s: s.__setitem__("routed", [p for p in s.get("routed", []) if p != path])
        )
    stop_proxy(sandbox, path)


def wait_quiet(seconds: float) -> None:
    """Sleep in small steps (a signal is handled promptly)."""
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        time.sleep(min(0.2, left))
