"""Traffic weights through HAProxy's runtime API (a unix stats socket, ``level admin``).

The canary share lives in a map file the public frontend reads on every
request (``rand(100) - weight < 0`` -> canary), so setting it is one runtime
command, ``set map <file> canary <N>``, effective for the next request and
without a reload (HAProxy 2.6 management guide, "set map", "show map",
"show stat"). What traffic really did is read back from the backends'
cumulative session counters (``stot`` in ``show stat``), which a stage gate
compares against the weight it expects.

Every command has a total deadline and a reply size cap; errors are
``TrafficError`` with a one-line message.
"""

from __future__ import annotations

import csv
import io
import math
import socket
import time
from dataclasses import dataclass
from pathlib import Path

MAX_REPLY_BYTES = 4 * 1024 * 1024
WEIGHT_KEY = "canary"


class TrafficError(Exception):
    """The traffic driver could not do or read what was asked."""


@dataclass(frozen=True)
class BackendCounters:
    """Cumulative sessions per backend at one moment (``show stat`` stot)."""

    at: float
    sessions: dict[str, int]


def canary_share(before: BackendCounters, after: BackendCounters) -> tuple[float, int]:
    """(share of new sessions that went to ``canary``, total new sessions) between two
    snapshots; the share is NaN when no request arrived (no traffic proves no weight)."""
    new = {b: after.sessions.get(b, 0) - before.sessions.get(b, 0) for b in after.sessions}
    total = sum(v for b, v in new.items() if b in ("stable", "canary"))
    if total <= 0:
        return math.nan, 0
    return new.get("canary", 0) / total, total


def parse_show_stat(text: str) -> dict[str, int]:
    """Backend -> cumulative sessions, from ``show stat`` CSV (header starts with ``# ``)."""
    body = text.lstrip("# ")
    rows = csv.DictReader(io.StringIO(body))
    out: dict[str, int] = {}
    for row in rows:
        if row.get("svname") == "BACKEND" and row.get("pxname"):
            out[row["pxname"]] = int(row.get("stot") or 0)
    return out


class HaproxyRuntime:
    """A client of one HAProxy's runtime API."""

    def __init__(self, socket_path: Path | str, weights_map: Path | str, *, timeout: float = 5.0):
        self.socket_path = str(socket_path)
        self.weights_map = str(weights_map)
        self.timeout = timeout

    def command(self, line: str) -> str:
        """Send one command, return the whole reply (the socket closes after it)."""
        deadline = time.monotonic() + self.timeout
        chunks: list[bytes] = []
        size = 0
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(self.timeout)
                sock.connect(self.socket_path)
                sock.sendall(line.encode() + b"\n")
                while True:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise TrafficError(
                            f"timed out after {self.timeout} s talking to HAProxy at "
                            f"{self.socket_path}"
                        )
                    sock.settimeout(left)
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    size += len(chunk)
                    if size > MAX_REPLY_BYTES:
                        raise TrafficError(
                            f"reply from HAProxy at {self.socket_path} exceeded "
                            f"{MAX_REPLY_BYTES // (1024 * 1024)} MiB"
                        )
                    chunks.append(chunk)
        except TimeoutError:
            raise TrafficError(
                f"timed out after {self.timeout} s talking to HAProxy at {self.socket_path}"
            ) from None
        except OSError as exc:
            raise TrafficError(
                f"cannot reach HAProxy's runtime API at {self.socket_path}: {exc}"
            ) from None
        return b"".join(chunks).decode("utf-8", "replace")

    def set_weight(self, percent: int) -> None:
        """Send ``percent`` % of new requests to the canary (0..100)."""
        if isinstance(percent, bool) or not isinstance(percent, int) or not 0 <= percent <= 100:
            raise TrafficError(f"canary weight must be an integer 0..100, got {percent!r}")
        reply = self.command(f"set map {self.weights_map} {WEIGHT_KEY} {percent}").strip()
        if reply:
            raise TrafficError(f"HAProxy refused the weight: {reply}")
        if self.weight() != percent:
            raise TrafficError(f"HAProxy still reports weight {self.weight()} after set {percent}")

    def weight(self) -> int:
        """The canary share now in effect (``show map``)."""
        reply = self.command(f"show map {self.weights_map}")
        for line in reply.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1] == WEIGHT_KEY:
                return int(parts[2])
        raise TrafficError(f"HAProxy's map {self.weights_map} has no {WEIGHT_KEY!r} entry")

    def counters(self) -> BackendCounters:
        """Cumulative sessions per backend now."""
        return BackendCounters(time.time(), parse_show_stat(self.command("show stat")))

    def servers_up(self) -> dict[str, str]:
        """server -> status (UP / DOWN / MAINT ...) of the stable and canary backends."""
        text = self.command("show stat").lstrip("# ")
        return {
            f"{row['pxname']}/{row['svname']}": row.get("status", "")
            for row in csv.DictReader(io.StringIO(text))
            if row.get("pxname") in ("stable", "canary")
            and row.get("svname") not in ("BACKEND", "FRONTEND")
        }
