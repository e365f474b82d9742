"""SNTP (RFC 4330, protocol v4) with ONE deadline per server, and a message that says what happened.

ntplib builds and reads the packets (``NTPPacket``, ``NTPStats``); the
exchange itself is ours, so that:

* the deadline is total: name resolution, send and every receive share it
  (ntplib's timeout bounds each socket read, and a resolver is not bounded);
* the socket is connected to the server, so the kernel drops datagrams from
  anyone else and reports an ICMP "port unreachable" as a refusal;
* the answer is judged as RFC 4330 section 5 asks of a client, and each way it
  can be wrong has its own message: no answer within the deadline, a refusal,
  a short or malformed packet, a mode other than server (4), a reply whose
  originate timestamp is not our transmit timestamp (not an answer to this
  query), a kiss-o'-death (stratum 0, RFC 4330 section 8), a zero transmit
  timestamp. A garbage answer in 0.1 s is "malformed after 0.1 s", never
  "timed out after 5.0 s".

Each server is asked in its own thread and the caller waits at most the
deadline (plus a small grace for thread hand-over), so N servers cost one
deadline, and a resolver stuck past it is reported as such.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import ntplib

from ..rules.clocks import NtpSample
from . import ProbeError, TimedOut

__all__ = ["DEFAULT_PORT", "parse_server", "query", "query_all"]

DEFAULT_PORT = 123
NTP_VERSION = 4
_GRACE_S = 0.25
_SERVER_MODE = 4  # RFC 4330 "server" mode; anything else is not an answer to our query
_PACKET_BYTES = 48  # RFC 4330 section 4: the header without extensions or authenticator
_ORIGINATE = slice(24, 32)  # the reply's Originate Timestamp ...
_TRANSMIT = slice(40, 48)  # ... must be the request's Transmit Timestamp (RFC 4330 section 5)


def parse_server(spec: str) -> tuple[str, int]:
    """``host``, ``host:port``, ``[v6]`` or ``[v6]:port`` -> (host, port)."""
    text = spec.strip()
    if not text:
        raise ValueError("empty NTP server")
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or not host:
            raise ValueError(f"NTP server {spec!r}: unclosed [ in IPv6 address")
        port_text = rest.removeprefix(":") if rest.startswith(":") else ""
        if rest and not rest.startswith(":"):
            raise ValueError(f"NTP server {spec!r}: junk after ]")
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:  # a name, an IPv4 address or a bare IPv6 address
        host, port_text = text, ""
    if not host:
        raise ValueError(f"NTP server {spec!r} has no host")
    if not port_text:
        return host, DEFAULT_PORT
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"NTP server {spec!r}: port {port_text!r} is not 1..65535")
    return host, int(port_text)


@dataclass
class _Exchange:
    """One server's query, run in a worker thread; ``phase`` says where it stands."""

    server: str
    host: str
    port: int
    timeout: float
    phase: str = "resolving its name"
    result: NtpSample | ProbeError | None = None
    started: float = field(default_factory=time.monotonic)

    def run(self) -> None:
        try:
            self.result = self._ask()
        except ProbeError as exc:
            self.result = exc
        except Exception as exc:  # anything else still ends as "could not ask"
            self.result = ProbeError(
                f"NTP server {self.server} gave an unusable answer: {type(exc).__name__}: {exc}"
            )

    def _left(self) -> float:
        return self.started + self.timeout - time.monotonic()

    def timed_out(self) -> TimedOut:
        return TimedOut(
            f"timed out after {self.timeout} s waiting for NTP server {self.server} ({self.phase})"
        )

    def _ask(self) -> NtpSample:
        try:
            infos = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_DGRAM)
        except socket.gaierror as exc:
            msg = f"cannot resolve NTP server {self.server}: {exc.strerror or exc}"
            raise ProbeError(msg) from None
        family, _, _, _, address = infos[0]
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            try:
                sock.connect(address)
                query = ntplib.NTPPacket(
                    mode=3, version=NTP_VERSION, tx_timestamp=ntplib.system_to_ntp_time(time.time())
                ).to_data()
                sock.send(query)
                self.phase = "no answer"
                while True:
                    left = self._left()
                    if left <= 0:
                        raise self.timed_out()
                    sock.settimeout(left)
                    try:
                        data = sock.recv(1024)
                    except TimeoutError:
                        continue
                    t4 = ntplib.system_to_ntp_time(time.time())
                    return self._judge(query, data, t4)
            except ConnectionRefusedError:
                raise ProbeError(
                    f"NTP server {self.server} refused the query (ICMP port unreachable)"
                ) from None
            except OSError as exc:
                raise ProbeError(
                    f"cannot reach NTP server {self.server}: {exc.strerror or exc}"
                ) from None

    def _judge(self, query: bytes, data: bytes, t4: float) -> NtpSample:
        """The reply as a sample, or a ProbeError naming what is wrong with it (RFC 4330 s. 5)."""
        after = f"after {time.monotonic() - self.started:.1f} s"
        who = f"NTP server {self.server}"
        if len(data) < _PACKET_BYTES:
            raise ProbeError(
                f"{who} sent a malformed answer {after}: {len(data)} bytes, "
                f"an NTP packet has at least {_PACKET_BYTES}"
            )
        stats = ntplib.NTPStats()
        try:
            stats.from_data(data)
        except (ntplib.NTPException, struct.error, ValueError) as exc:
            raise ProbeError(f"{who} sent a malformed answer {after}: {exc}") from None
        stats.dest_timestamp = t4
        if int(stats.mode) != _SERVER_MODE:
            raise ProbeError(
                f"{who} answered in mode {stats.mode}, not server mode {_SERVER_MODE} ({after})"
            )
        if data[_ORIGINATE] != query[_TRANSMIT]:
            raise ProbeError(
                f"{who} sent an answer that is not a reply to this query {after}: its originate "
                "timestamp is not the query's transmit timestamp"
            )
        if int(stats.stratum) == 0:
            code = data[12:16].decode("ascii", "replace").strip("\0") or "?"
            raise ProbeError(f"{who} sent a kiss-o'-death ({code}) {after}: it refuses to serve")
        if not any(data[40:48]):
            raise ProbeError(f"{who} sent an answer without a transmit timestamp {after}")
        return NtpSample.from_ntplib(self.server, stats)


def query(server: str, *, timeout: float) -> NtpSample:
    """One SNTP v4 exchange; ProbeError when there is no usable answer within ``timeout``."""
    result = query_all([server], timeout=timeout)[server]
    if isinstance(result, ProbeError):
        raise result
    return result


def query_all(servers: Sequence[str], *, timeout: float) -> dict[str, NtpSample | ProbeError]:
    """Ask every server at once; each maps to its sample or to the ProbeError saying why not."""
    out: dict[str, NtpSample | ProbeError] = {}
    running: dict[str, tuple[_Exchange, threading.Thread]] = {}
    for server in dict.fromkeys(servers):
        try:
            host, port = parse_server(server)
        except ValueError as exc:
            out[server] = ProbeError(str(exc))
            continue
        exchange = _Exchange(server, host, port, timeout)
        # daemon: a resolver stuck past the deadline must not hold up interpreter exit
        thread = threading.Thread(target=exchange.run, name=f"spark-ntp-{server}", daemon=True)
        thread.start()
        running[server] = (exchange, thread)
    deadline = time.monotonic() + timeout + _GRACE_S
    for server, (exchange, thread) in running.items():
        thread.join(max(0.0, deadline - time.monotonic()))
        result = exchange.result
        out[server] = exchange.timed_out() if thread.is_alive() or result is None else result
    return {s: out[s] for s in dict.fromkeys(servers)}
