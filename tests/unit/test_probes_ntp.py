"""PF-02's NTP probe: server specs, the deadline, and a message per way an answer is wrong.

The healthy exchange is proven against chrony in tests/checks; here what a real
server cannot be made to do on demand, with real UDP peers: stay silent, answer
garbage (short, wrong mode, not our query, kiss-o'-death), or be a closed port.
Each says what happened; only silence is "timed out" (issue 8).
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Callable, Iterator

import pytest

from pytest_spark.probes import ProbeError, TimedOut, ntp


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
    result = ntp.query_all([silent_udp, silent_udp, "bad:port:"], timeout=0.3)
    assert list(result) == [silent_udp, "bad:port:"]
    expected = f"timed out after 0.3 s waiting for NTP server {silent_udp} (no answer)"
    assert str(result[silent_udp]) == expected
    assert isinstance(result[silent_udp], TimedOut)
    with pytest.raises(TimedOut, match=r"timed out after 0\.3 s"):
        ntp.query(silent_udp, timeout=0.3)


def _reply(
    query: bytes,
    *,
    mode: int = 4,
    stratum: int = 2,
    originate: bytes | None = None,
    ref_id: bytes = b"GPS\0",
    transmit: bytes = b"\x01" * 8,
) -> bytes:
    """A server reply to ``query`` (RFC 4330 section 4 layout), fields overridable."""
    head = struct.pack("!B B b b I I", (0 << 6) | (4 << 3) | mode, stratum, 6, -20, 0, 0)
    now = struct.pack("!II", 3_900_000_000, 0)
    origin = query[40:48] if originate is None else originate
    return head + ref_id + now + origin + now + transmit


@pytest.fixture
def answering() -> Iterator[Callable[[Callable[[bytes], bytes]], str]]:
    """``answering(make_reply)``: a UDP peer that answers one query with make_reply(query)."""
    socks: list[socket.socket] = []

    def start(make_reply: Callable[[bytes], bytes]) -> str:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(5)
        socks.append(sock)

        def serve() -> None:
            try:
                data, addr = sock.recvfrom(256)
                sock.sendto(make_reply(data), addr)
            except OSError:
                pass

        threading.Thread(target=serve, daemon=True).start()
        return f"127.0.0.1:{sock.getsockname()[1]}"

    yield start
    for sock in socks:
        sock.close()


def test_a_proper_reply_is_a_sample(answering):
    server = answering(_reply)
    sample = ntp.query(server, timeout=2.0)
    assert sample.server == server and sample.stratum == 2


@pytest.mark.parametrize(
    ("make_reply", "message"),
    [
        (
            lambda q: b"\x1c" * 12,
            r"sent a malformed answer after 0\.\d s: 12 bytes, an NTP packet "
            r"has at least 48",
        ),
        (lambda q: b"", "sent a malformed answer after .*: 0 bytes"),
        (lambda q: _reply(q, mode=3), r"answered in mode 3, not server mode 4"),
        (lambda q: _reply(q, mode=5), r"answered in mode 5, not server mode 4"),
        (lambda q: _reply(q, originate=b"\x02" * 8), "not a reply to this query"),
        (lambda q: _reply(q, stratum=0, ref_id=b"RATE"), r"kiss-o'-death \(RATE\)"),
        (lambda q: _reply(q, transmit=b"\0" * 8), "without a transmit timestamp"),
    ],
    ids=[
        "short",
        "empty",
        "client-mode",
        "broadcast-mode",
        "not-our-query",
        "kiss-o-death",
        "no-transmit-time",
    ],
)
def test_a_wrong_answer_says_what_is_wrong_not_timed_out(answering, make_reply, message):
    server = answering(make_reply)
    with pytest.raises(ProbeError, match=f"NTP server {server} .*{message}") as err:
        ntp.query(server, timeout=5.0)
    assert not isinstance(err.value, TimedOut)
    assert "timed out" not in str(err.value)


def test_a_closed_port_is_a_refusal_not_a_timeout():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        server = f"127.0.0.1:{sock.getsockname()[1]}"
    with pytest.raises(ProbeError, match=rf"NTP server {server} refused the query"):
        ntp.query(server, timeout=5.0)


def test_an_unresolvable_name_says_so():
    """Without DNS the lookup may hang instead of failing: then the deadline names the phase."""
    said = r"cannot resolve NTP server no-such-host\.invalid|\(resolving its name\)"
    with pytest.raises(ProbeError, match=said):
        ntp.query("no-such-host.invalid", timeout=2.0)
