"""SNTP (ntplib, protocol v4) with a hard deadline per server.

ntplib's own timeout only bounds each socket read; name resolution and a
stream of foreign packets are not bounded. Each query therefore runs in a
worker thread and the caller waits at most the deadline (plus a small grace
for thread hand-over), so a dead or hung server costs ``timeout`` seconds and
never blocks the run. Servers are asked in parallel: N servers cost one
deadline, not N.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Sequence

import ntplib

from ..rules.clocks import NtpSample
from . import ProbeError

__all__ = ["DEFAULT_PORT", "parse_server", "query", "query_all"]

DEFAULT_PORT = 123
NTP_VERSION = 4
_GRACE_S = 0.25
_SERVER_MODE = 4  # RFC 4330 "server" mode; anything else is not an answer to our query


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


def _ask(host: str, port: int, timeout: float) -> ntplib.NTPStats:
    return ntplib.NTPClient().request(host, version=NTP_VERSION, port=port, timeout=timeout)


def _sample(server: str, stats: ntplib.NTPStats) -> NtpSample:
    if int(stats.mode) != _SERVER_MODE:
        raise ProbeError(f"NTP server {server} answered in mode {stats.mode}, not server mode 4")
    return NtpSample.from_ntplib(server, stats)


def _error(server: str, timeout: float, exc: BaseException) -> ProbeError:
    if isinstance(exc, (ntplib.NTPException, TimeoutError)):
        return ProbeError(f"timed out after {timeout} s waiting for NTP server {server}")
    if isinstance(exc, socket.gaierror):
        return ProbeError(f"cannot resolve NTP server {server}: {exc.strerror or exc}")
    if isinstance(exc, OSError):
        return ProbeError(f"cannot reach NTP server {server}: {exc.strerror or exc}")
    return ProbeError(f"NTP server {server} gave an unusable answer: {type(exc).__name__}: {exc}")


def query(server: str, *, timeout: float) -> NtpSample:
    """One SNTP v4 exchange; ProbeError when there is no usable answer within ``timeout``."""
    result = query_all([server], timeout=timeout)[server]
    if isinstance(result, ProbeError):
        raise result
    return result


def query_all(servers: Sequence[str], *, timeout: float) -> dict[str, NtpSample | ProbeError]:
    """Ask every server at once; each maps to its sample or to the ProbeError saying why not."""
    out: dict[str, NtpSample | ProbeError] = {}
    answers: dict[str, ntplib.NTPStats | BaseException] = {}
    threads: dict[str, threading.Thread] = {}
    for server in dict.fromkeys(servers):
        try:
            host, port = parse_server(server)
        except ValueError as exc:
            out[server] = ProbeError(str(exc))
            continue

        def ask(server: str = server, host: str = host, port: int = port) -> None:
            try:
                answers[server] = _ask(host, port, timeout)
            except BaseException as exc:  # handed to the caller as a ProbeError
                answers[server] = exc

        # daemon: a resolver stuck past the deadline must not hold up interpreter exit
        threads[server] = threading.Thread(target=ask, name=f"spark-ntp-{server}", daemon=True)
        threads[server].start()
    deadline = time.monotonic() + timeout + _GRACE_S
    for server, thread in threads.items():
        thread.join(max(0.0, deadline - time.monotonic()))
        answer = answers.get(server)
        if thread.is_alive() or answer is None:
            out[server] = _error(server, timeout, TimeoutError())
        elif isinstance(answer, BaseException):
            out[server] = _error(server, timeout, answer)
        else:
            try:
                out[server] = _sample(server, answer)
            except ProbeError as err:
                out[server] = err
    return {s: out[s] for s in dict.fromkeys(servers)}
