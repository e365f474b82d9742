"""PF-02's NTP probe: server specs, and the deadline against real (silent / wrong) UDP peers.

The healthy exchange is proven against chrony in tests/checks; here only what a
real server cannot be made to do on demand: stay silent, or answer in the wrong mode.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterator

import pytest

from pytest_spark.probes import ProbeError, ntp


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("pool.ntp.org", ("pool.ntp.org", 123)),
        ("127.0.0.1:12345", ("127.0.0.1", 12345)),
        ("[::1]", ("::1", 123)),
        ("[::1]:1123", ("::1", 1123)),
        ("fe80::1", ("fe80::1", 123)),
        (" time.example:123 ", ("time.example", 123)),
    ],
)
def test_parse_server(spec, expected):
    assert ntp.parse_server(spec) == expected


@pytest.mark.parametrize("spec", ["", "host:0", "host:99999", "host:ntp", "[::1", "[::1]x", ":123"])
def test_parse_server_rejects(spec):
    with pytest.raises(ValueError):
        ntp.parse_server(spec)


@pytest.fixture
def silent_udp() -> Iterator[str]:
    """A bound UDP port that never answers (a firewalled / hung NTP server)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield f"127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


def test_silent_server_is_a_probe_error_within_the_deadline(silent_udp):
    t0 = time.monotonic()
    result = ntp.query_all([silent_udp, silent_udp, "bad:port:"], timeout=0.3)
    elapsed = time.monotonic() - t0
    assert elapsed < 1.0, "servers are asked in parallel, each under the deadline"
    assert list(result) == [silent_udp, "bad:port:"]
    assert str(result[silent_udp]) == f"timed out after 0.3 s waiting for NTP server {silent_udp}"
    with pytest.raises(ProbeError, match=r"timed out after 0\.3 s"):
        ntp.query(silent_udp, timeout=0.3)


@pytest.fixture
def client_mode_server() -> Iterator[str]:
    """A peer that answers every packet with a mode-3 (client) packet: not a server reply."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(2)

    def serve() -> None:
        try:
            _data, addr = sock.recvfrom(256)
            reply = struct.pack("!B B B b 11I", (0 << 6) | (4 << 3) | 3, 2, 0, 0, *([0] * 11))
            sock.sendto(reply, addr)
        except OSError:
            pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{sock.getsockname()[1]}"
    finally:
        thread.join(3)
        sock.close()


def test_a_non_server_answer_is_refused(client_mode_server):
    with pytest.raises(ProbeError, match="mode 3, not server mode 4"):
        ntp.query(client_mode_server, timeout=1.0)
