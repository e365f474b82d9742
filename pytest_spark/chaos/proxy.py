"""A small asyncio TCP fault proxy: latency, jitter, bandwidth cap, reset, blackhole.

No kernel network emulation (netem) is available on our machines and no
maintained Python fault proxy exists (CHAOS.md "Network faults"), so the
project owns this one. It sits on one path of the sandbox (API -> PgBouncer or
PgBouncer -> PostgreSQL) and forwards bytes unchanged until a fault is set
through its control API (HTTP on loopback, token-guarded):

    PUT    /fault   {"latency_ms": 500, "jitter_ms": 0, "bandwidth_bps": null,
                     "mode": "delay" | "reset" | "blackhole",
                     "direction": "down" | "up" | "both", "duration_s": 20}
    GET    /fault   the active fault (or null) and connection counters
    DELETE /fault   revert now

Every fault carries a deadline (``duration_s`` <= :data:`MAX_FAULT_S`) and
reverts by itself after it, even if nobody calls DELETE (the hard time limit).
The scheduling rules (when may a chunk leave?) are pure functions of the
fault, the clock and the chunk size, unit-tested without sockets.

Run: ``python -m pytest_spark.chaos.proxy --listen PORT --upstream HOST:PORT
--control PORT`` with the token in ``SPARK_PROXY_TOKEN``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hmac
import json
import os
import random
import socket
import struct
import sys
import threading
import time
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

#: The hard time limit: no fault may last longer than this, whatever the caller asks.
MAX_FAULT_S = 300.0
MAX_LATENCY_MS = 30_000.0
CHUNK = 65_536
MODES = ("delay", "reset", "blackhole")
DIRECTIONS = ("down", "up", "both")
#: down = upstream -> client (responses); up = client -> upstream (requests)
UP, DOWN = "up", "down"
TOKEN_ENV = "SPARK_PROXY_TOKEN"
MAX_BODY = 4096


class FaultError(ValueError):
    """A fault request the proxy refuses; the message says which field and why."""


@dataclass(frozen=True)
class Fault:
    """One active fault. ``expires_at`` is on the monotonic clock."""

    mode: str
    latency_ms: float
    jitter_ms: float
    bandwidth_bps: float | None
    direction: str
    duration_s: float
    expires_at: float

    def active(self, now: float) -> bool:
        """A fault stops applying at its deadline, with or without a revert."""
        return now < self.expires_at

    def applies(self, direction: str, now: float) -> bool:
        return self.active(now) and self.direction in (direction, "both")

    def public(self, now: float) -> dict[str, Any]:
        out = asdict(self)
        out.pop("expires_at")
        out["remaining_s"] = round(max(0.0, self.expires_at - now), 3)
        return out


def _number(body: dict[str, Any], key: str, default: float | None, lo: float, hi: float) -> Any:
    value = body.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FaultError(f"{key} must be a number, got {value!r}")
    if not lo <= float(value) <= hi:
        raise FaultError(f"{key} must be within [{lo:g}, {hi:g}], got {value!r}")
    return float(value)


def parse_fault(body: Any, now: float) -> Fault:
    """Validate a PUT /fault body; duration_s is required and capped by MAX_FAULT_S."""
    if not isinstance(body, dict):
        raise FaultError("the fault must be a JSON object")
    unknown = set(body) - {
        "mode", "latency_ms", "jitter_ms", "bandwidth_bps", "direction", "duration_s"
    }  # fmt: skip
    if unknown:
        raise FaultError(f"unknown fields: {', '.join(sorted(unknown))}")
    mode = body.get("mode", "delay")
    if mode not in MODES:
        raise FaultError(f"mode must be one of {MODES}, got {mode!r}")
    direction = body.get("direction", "down")
    if direction not in DIRECTIONS:
        raise FaultError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    if "duration_s" not in body:
        raise FaultError("duration_s is required: every fault reverts by itself")
    duration = _number(body, "duration_s", None, 0.001, MAX_FAULT_S)
    latency = _number(body, "latency_ms", 0.0, 0.0, MAX_LATENCY_MS)
    jitter = _number(body, "jitter_ms", 0.0, 0.0, MAX_LATENCY_MS)
    bandwidth = _number(body, "bandwidth_bps", None, 1.0, 1e12)
    return Fault(mode, latency, jitter, bandwidth, direction, duration, now + duration)


def chunk_delay_s(fault: Fault | None, direction: str, now: float, rng: random.Random) -> float:
    """Extra seconds a chunk read now waits before it is forwarded (latency +- jitter)."""
    if fault is None or fault.mode != "delay" or not fault.applies(direction, now):
        return 0.0
    jitter = rng.uniform(-fault.jitter_ms, fault.jitter_ms) if fault.jitter_ms else 0.0
    return max(0.0, fault.latency_ms + jitter) / 1000.0


@dataclass
class Lane:
    """Send times of one direction of one connection: order kept, bandwidth paced.

    A chunk read at ``now`` may leave at ``now + delay`` but never before the
    previous chunk (TCP is a byte stream: reordering would corrupt it) and,
    under a bandwidth cap, not before the link has finished the previous bytes.
    """

    last_due: float = 0.0
    link_free_at: float = 0.0

    def due(self, now: float, nbytes: int, delay_s: float, bandwidth_bps: float | None) -> float:
        """When the chunk may be written (monotonic seconds)."""
        start = max(now + delay_s, self.last_due)
        if bandwidth_bps:
            start = max(start, self.link_free_at)
            self.link_free_at = start + nbytes / bandwidth_bps
            start = self.link_free_at  # the last byte has crossed the capped link
        self.last_due = start
        return start


# --- I/O: the proxy


class Proxy:
    """Forwards every accepted connection to ``upstream``, applying the current fault."""

    def __init__(self, upstream: tuple[str, int], seed: int | None = None) -> None:
        self.upstream = upstream
        self.fault: Fault | None = None
        self.rng = random.Random(seed)
        self.conns: set[asyncio.StreamWriter] = set()
        self.counters = {"accepted": 0, "reset": 0, "bytes_up": 0, "bytes_down": 0}
        self.loop: asyncio.AbstractEventLoop | None = None
        self._expiry: asyncio.TimerHandle | None = None

    # control (called in the loop's thread)
    def set_fault(self, fault: Fault) -> None:
        self.fault = fault
        if self._expiry is not None:
            self._expiry.cancel()
        assert self.loop is not None
        self._expiry = self.loop.call_at(fault.expires_at, self._expire, fault)
        if fault.mode == "reset":
            for w in list(self.conns):
                self._reset(w)

    def clear_fault(self) -> None:
        self.fault = None
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None

    def _expire(self, fault: Fault) -> None:
        if self.fault is fault:
            self.fault = None

    def current(self) -> Fault | None:
        fault = self.fault
        if fault is not None and not fault.active(time.monotonic()):
            return None
        return fault

    def _reset(self, writer: asyncio.StreamWriter) -> None:
        """Close with RST (SO_LINGER 0), as a crashed peer or a middlebox would."""
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()
        self.counters["reset"] += 1

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.counters["accepted"] += 1
        fault = self.current()
        if fault is not None and fault.mode == "reset":
            self._reset(writer)
            return
        try:
            up_r, up_w = await asyncio.wait_for(asyncio.open_connection(*self.upstream), 5)
        except (OSError, TimeoutError):
            self._reset(writer)
            return
        self.conns.update((writer, up_w))
        try:
            await asyncio.gather(
                self._pipe(reader, up_w, UP, writer),
                self._pipe(up_r, writer, DOWN, up_w),
                return_exceptions=True,
            )
        finally:
            self.conns.difference_update((writer, up_w))
            for w in (writer, up_w):
                w.close()

    async def _pipe(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        direction: str,
        other: asyncio.StreamWriter,
    ) -> None:
        """Copy one direction; chunks wait for their due time, blackholed ones vanish."""
        lane = Lane()
        queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()

        async def sender() -> None:
            while (item := await queue.get()) is not None:
                due, data = item
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                writer.write(data)
                await writer.drain()
            with contextlib.suppress(OSError):
                writer.write_eof()

        task = asyncio.create_task(sender())
        try:
            while data := await reader.read(CHUNK):
                now = time.monotonic()
                fault = self.current()
                if (
                    fault is not None
                    and fault.mode == "blackhole"
                    and fault.applies(direction, now)
                ):
                    continue  # swallowed: the peer waits for an answer that never comes
                self.counters["bytes_up" if direction == UP else "bytes_down"] += len(data)
                delay = chunk_delay_s(fault, direction, now, self.rng)
                cap = fault.bandwidth_bps if fault and fault.applies(direction, now) else None
                await queue.put((lane.due(now, len(data), delay, cap), data))
        finally:
            await queue.put(None)
            with contextlib.suppress(Exception):
                await task
            if reader.at_eof() is False:
                other.transport.abort()

    def status(self) -> dict[str, Any]:
        fault = self.current()
        return {
            "fault": fault.public(time.monotonic()) if fault else None,
            "connections": len(self.conns) // 2,
            **self.counters,
        }


def _control_handler(proxy: Proxy, token: str) -> type[BaseHTTPRequestHandler]:
    loop = proxy.loop
    assert loop is not None

    def in_loop(fn: Any, *args: Any) -> Any:
        async def call() -> Any:
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(call(), loop).result(timeout=5)

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _authorised(self) -> bool:
            given = self.headers.get("X-Proxy-Token", "")
            if token and hmac.compare_digest(given.encode(), token.encode()):
                return True
            self._answer(403, {"error": "missing or wrong X-Proxy-Token"})
            return False

        def do_GET(self) -> None:
            if self.path != "/fault":
                self._answer(404, {"error": "not found"})
            elif self._authorised():
                self._answer(200, in_loop(proxy.status))

        def do_DELETE(self) -> None:
            if self.path != "/fault":
                self._answer(404, {"error": "not found"})
            elif self._authorised():
                in_loop(proxy.clear_fault)
                self._answer(200, in_loop(proxy.status))

        def do_PUT(self) -> None:
            if self.path != "/fault":
                self._answer(404, {"error": "not found"})
                return
            if not self._authorised():
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self._answer(413, {"error": f"body over {MAX_BODY} bytes"})
                return
            try:
                fault = parse_fault(json.loads(self.rfile.read(length) or b"null"), 0.0)
            except (FaultError, json.JSONDecodeError) as exc:
                self._answer(400, {"error": str(exc)})
                return
            # the deadline counts from when the loop installs the fault
            in_loop(lambda: proxy.set_fault(parse_fault(_body_of(fault), time.monotonic())))
            self._answer(200, in_loop(proxy.status))

        def log_message(self, format: str, *args: Any) -> None:
            sys.stderr.write(f"control: {format % args}\n")

    return Handler


def _body_of(fault: Fault) -> dict[str, Any]:
    body = asdict(fault)
    body.pop("expires_at")
    return body


async def serve(
    listen: tuple[str, int], upstream: tuple[str, int], control: tuple[str, int], token: str
) -> None:
    """Run until cancelled: the proxy on ``listen``, the control API on ``control``."""
    proxy = Proxy(upstream)
    proxy.loop = asyncio.get_running_loop()
    server = await asyncio.start_server(proxy.handle, *listen)
    httpd = ThreadingHTTPServer(control, _control_handler(proxy, token))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, name="proxy-control", daemon=True)
    thread.start()
    print(f"proxy {listen[1]} -> {upstream[0]}:{upstream[1]}; control {control[1]}", flush=True)
    try:
        async with server:
            await server.serve_forever()
    finally:
        httpd.shutdown()


def _hostport(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return (host or "127.0.0.1", int(port))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pytest_spark.chaos.proxy")
    parser.add_argument("--listen", required=True, help="[HOST:]PORT to accept on")
    parser.add_argument("--upstream", required=True, help="HOST:PORT to forward to")
    parser.add_argument("--control", required=True, help="[HOST:]PORT of the control API")
    args = parser.parse_args(argv)
    token = os.environ.get(TOKEN_ENV, "")
    if not token:
        print(f"{TOKEN_ENV} must be set", file=sys.stderr)
        return 2
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            serve(_hostport(args.listen), _hostport(args.upstream), _hostport(args.control), token)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
