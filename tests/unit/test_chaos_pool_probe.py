"""CH-05's read probe: every read ends within its total deadline and reads a bounded body."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from pytest_spark.chaos import pool

HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000000\r\n\r\n"


def _trickle(sock: socket.socket) -> None:
    sock.sendall(HEAD)
    for _ in range(50):  # one byte every 0.2 s: each read phase is quick, the whole is not
        sock.sendall(b" ")
        time.sleep(0.2)


def _flood(sock: socket.socket) -> None:
    sock.sendall(HEAD)
    block = b"x" * 65536
    for _ in range(1500):  # ~100 MB offered; the probe must stop after MAX_BODY
        sock.sendall(block)


@pytest.fixture
def serve() -> Iterator[Callable[[Callable[[socket.socket], None]], str]]:
    servers = []

    def start(behaviour: Callable[[socket.socket], None]) -> str:
        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                self.request.recv(65536)
                with contextlib.suppress(OSError):  # the client went away, as it should
                    behaviour(self.request)

        srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        srv.daemon_threads = True
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
        return f"http://127.0.0.1:{srv.server_address[1]}"

    yield start
    for srv in servers:
        srv.shutdown()
        srv.server_close()


@pytest.mark.timeout(30)
def test_a_trickled_answer_is_a_timeout_not_a_hang(serve, monkeypatch) -> None:
    monkeypatch.setattr(pool, "ATTEMPT_DEADLINE_S", 1.0)
    (read,) = asyncio.run(pool._probe(serve(_trickle), "ACC-1", 0.1, 1.0))
    assert read["status"] == "timeout"


@pytest.mark.timeout(30)
def test_an_endless_body_is_read_up_to_the_cap(serve, monkeypatch) -> None:
    seen = []
    real = pool._get_capped

    async def spy(client, url):
        got = await real(client, url)
        seen.append(len(got[2]))
        return got

    monkeypatch.setattr(pool, "_get_capped", spy)
    (read,) = asyncio.run(pool._probe(serve(_flood), "ACC-1", 0.1, 1.0))
    assert read["status"] == 200 and read["trace"] is False
    assert seen == [pool.MAX_BODY]
