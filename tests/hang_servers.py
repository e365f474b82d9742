"""Misbehaving servers on 127.0.0.1 for the deadline and size-cap tests (issue 8, section 1).

Each is a real TCP server speaking just enough HTTP or PostgreSQL to get a
client into the state under test, then hanging, trickling or flooding:

* ``http_server(kind)``: ``ok``, ``gzip`` / ``deflate`` (the same JSON,
  compressed; deflate raw), ``trickle-body`` (headers, then 1 byte/s), ``trickle-
  headers`` (the status line, then a header byte every 0.2 s), ``endless-body``
  (chunked, never ends), ``oversized`` (Content-Length beyond any cap),
  ``oversized-chunked`` (no length, 2 MiB), ``gzip-bomb`` (1 MiB on the wire,
  64 MiB decoded), ``silent`` (reads the request, never answers).
* ``FreezingProxy``: forwards to a real PostgreSQL, and after the server's
  ``freeze_after``-th ReadyForQuery stops forwarding the server's bytes (the
  socket stays open): a database that goes silent after session set-up.

Used by tests/unit/test_probes_*.py, tests/checks and benchmarks/hang_cases.py.
"""

from __future__ import annotations

import contextlib
import gzip
import socket
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator

HTTP_KINDS = (
    "trickle-body",
    "trickle-headers",
    "endless-body",
    "oversized",
    "oversized-chunked",
    "gzip-bomb",
    "silent",
)
GZIP_BOMB = gzip.compress(b"\0" * (64 * 1024 * 1024), compresslevel=9)


OK_BODY = b'{"ok": true}'


def _head(coding: str, length: int) -> bytes:
    return (
        "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: application/json\r\n"
        f"Content-Encoding: {coding}\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


def _raw_deflate(data: bytes) -> bytes:
    """ "deflate" as many servers send it: raw DEFLATE, no zlib wrapper (RFC 9110 8.4.1.2)."""
    z = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return z.compress(data) + z.flush()


def _read_request(conn: socket.socket) -> None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return
        data += chunk


def _serve_one(kind: str, conn: socket.socket, stop: threading.Event) -> None:
    with contextlib.suppress(OSError), conn:
        _read_request(conn)
        if kind == "ok":
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: application/json\r\n"
            )
            conn.sendall(b'Content-Length: 12\r\n\r\n{"ok": true}')
        elif kind == "trickle-body":
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: application/json\r\n"
            )
            conn.sendall(b"Content-Length: 1000000\r\n\r\n")
            while not stop.wait(1.0):
                conn.sendall(b" ")
        elif kind == "trickle-headers":
            conn.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n")
            while not stop.wait(0.2):
                conn.sendall(b"X")
        elif kind == "endless-body":
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
            )
            chunk = b"10000\r\n" + b"x" * 0x10000 + b"\r\n"
            while not stop.is_set():
                conn.sendall(chunk)
        elif kind == "oversized":
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1099511627776\r\n\r\n"
            )
            while not stop.is_set():
                conn.sendall(b"y" * 0x10000)
        elif kind == "oversized-chunked":
            conn.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
            conn.sendall(b"z" * (2 * 1024 * 1024))
        elif kind == "gzip-bomb":
            conn.sendall(_head("gzip", len(GZIP_BOMB)) + GZIP_BOMB)
            stop.wait(5)
        elif kind in ("gzip", "deflate"):
            body = gzip.compress(OK_BODY) if kind == "gzip" else _raw_deflate(OK_BODY)
            conn.sendall(_head(kind, len(body)) + body)
        elif kind == "silent":
            stop.wait(60)
        else:  # pragma: no cover - a typo in a test
            raise ValueError(kind)


@contextlib.contextmanager
def http_server(kind: str) -> Iterator[str]:
    """``http://127.0.0.1:PORT`` of a server that answers every request the ``kind`` way."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=_serve_one, args=(kind, conn, stop), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        listener.close()


class FreezingProxy:
    """A TCP proxy to a real PostgreSQL that goes silent after the server's N-th ReadyForQuery.

    The server's messages are followed by type byte and length (the protocol's
    framing, PostgreSQL docs "Message Formats"); the DSN must disable SSL/GSS
    negotiation so the stream is plain messages. Client bytes keep flowing, the
    server's answers after the freeze are dropped: the client sees an open,
    silent socket. ``frozen`` is set when the first answer was held back.
    """

    def __init__(self, upstream: tuple[str, int], freeze_after: int = 1) -> None:
        self.upstream = upstream
        self.freeze_after = freeze_after
        self.frozen = threading.Event()
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._socks: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            self._socks += [client, server]
            threading.Thread(target=self._pipe, args=(client, server, None), daemon=True).start()
            threading.Thread(
                target=self._pipe, args=(server, client, self._counter()), daemon=True
            ).start()

    def _counter(self) -> Callable[[bytes], bytes]:
        """Forwards whole server messages until the freeze, nothing after it."""
        buf = b""
        ready = 0

        def feed(data: bytes) -> bytes:
            nonlocal buf, ready
            buf += data
            out = b""
            while len(buf) >= 5 and ready < self.freeze_after:
                (length,) = struct.unpack("!I", buf[1:5])
                if len(buf) < 1 + length:
                    break
                msg, buf = buf[: 1 + length], buf[1 + length :]
                out += msg
                ready += msg[:1] == b"Z"
            if ready >= self.freeze_after and buf:
                self.frozen.set()
                buf = b""
            return out

        return feed

    def _pipe(
        self, src: socket.socket, dst: socket.socket, feed: Callable[[bytes], bytes] | None
    ) -> None:
        with contextlib.suppress(OSError):
            while True:
                data = src.recv(65536)
                if not data:
                    break
                out = feed(data) if feed else data
                if out:
                    dst.sendall(out)
        # the client side is never closed by the proxy: silence, not a reset
        if feed is None:
            with contextlib.suppress(OSError):
                dst.close()

    def dsn(self, dsn: str) -> str:
        """``dsn`` (a postgresql:// URL) pointed at the proxy, SSL and GSS negotiation off."""
        from urllib.parse import urlsplit, urlunsplit

        parts = urlsplit(dsn)
        userinfo, _, _ = parts.netloc.rpartition("@")
        netloc = f"{userinfo}@127.0.0.1:{self.port}" if userinfo else f"127.0.0.1:{self.port}"
        query = "&".join(q for q in (parts.query, "sslmode=disable&gssencmode=disable") if q)
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        for s in self._socks:
            with contextlib.suppress(OSError):
                s.close()

    def __enter__(self) -> FreezingProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def wait_for(event: threading.Event, timeout: float = 60.0) -> None:
    """Wait for ``event`` or fail (never hang a test)."""
    started = time.monotonic()
    if not event.wait(timeout):
        raise AssertionError(f"not set after {time.monotonic() - started:.1f} s")
