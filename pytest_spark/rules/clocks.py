"""BS-01 clock agreement and PF-02 NTP sample rules.

BS-01 compares clocks that are read over a network, so every reading has
an uncertainty: half the round trip (we do not know when, inside the RTT,
the remote clock was read) plus the clock's resolution (an HTTP ``Date``
has whole seconds, truncated). A skew is reported only when it exceeds the
limit even after granting both clocks their full uncertainty -- otherwise a
slow network or the Date header's truncation would fail a healthy stack.

PF-02 uses the SNTP four-timestamp exchange (RFC 4330):
t1 client transmit, t2 server receive, t3 server transmit, t4 client
receive; offset = ((t2 - t1) + (t3 - t4)) / 2, delay = (t4 - t1) - (t3 - t2).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from itertools import combinations
from typing import Any

from pytest_spark.rules.findings import WARN, Finding
from pytest_spark.rules.limits import exceeds

__all__ = [
    "ClockReading",
    "NtpSample",
    "evaluate_ntp",
    "evaluate_ntp_servers",
    "max_pairwise_skew",
    "ntp_delay",
    "ntp_offset",
    "parse_http_date",
    "reading",
    "skew_findings",
]


@dataclass(frozen=True, slots=True)
class ClockReading:
    """A clock's value mapped to the local instant it was taken at.

    ``offset`` = remote value - local time at the same instant (seconds);
    ``uncertainty`` is the half-width of the interval the truth lies in.
    """

    offset: float
    uncertainty: float = 0.0


def reading(
    value: float,
    t_send: float,
    t_recv: float,
    *,
    resolution: float = 0.0,
    truncated: bool = False,
) -> ClockReading:
    """Turn one request/response clock read into an offset vs the local clock.

    ``value`` is the remote clock (epoch seconds); ``t_send``/``t_recv`` the
    local clock around the request. The remote read happened somewhere in
    [t_send, t_recv], so we use the midpoint +- half the RTT. A truncated
    clock (HTTP ``Date``) means the true value is in [value, value +
    resolution): centre it and add half the resolution; otherwise add the
    full resolution as rounding slack.
    """
    rtt = max(0.0, t_recv - t_send)
    midpoint = (t_send + t_recv) / 2
    if truncated:
        centre = value + resolution / 2
        slack = resolution / 2
    else:
        centre = value
        slack = resolution
    return ClockReading(centre - midpoint, rtt / 2 + slack)


def parse_http_date(value: str) -> float | None:
    """Epoch seconds from an HTTP ``Date`` header, or None when unusable."""
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed is None or parsed.tzinfo is None:
        return None  # HTTP dates are GMT; a naive result means it said -0000 or garbage
    return parsed.timestamp()


def max_pairwise_skew(readings: Mapping[str, float]) -> tuple[float, tuple[str, str]]:
    """The largest difference between any two readings and which pair.

    Readings are clock values (or offsets) taken at the same instant. With
    fewer than two readings the skew is 0.0 and the pair ``("", "")``.
    Non-finite readings are skipped (report them with :func:`skew_findings`).
    """
    finite = {k: v for k, v in readings.items() if math.isfinite(v)}
    if len(finite) < 2:
        return 0.0, ("", "")
    lo = min(finite, key=lambda k: finite[k])
    hi = max(finite, key=lambda k: finite[k])
    return finite[hi] - finite[lo], (lo, hi)


def skew_findings(
    readings: Mapping[str, ClockReading | float],
    max_skew: float = 1.0,
) -> list[Finding]:
    """BS-01: every pair of clocks agrees within ``max_skew`` seconds.

    A pair fails only when ``|a - b| - (ua + ub) > max_skew``, i.e. the skew
    is certain despite the measurement uncertainty.
    """
    out: list[Finding] = []
    clean: dict[str, ClockReading] = {}
    for name, value in readings.items():
        r = value if isinstance(value, ClockReading) else ClockReading(float(value))
        if not (math.isfinite(r.offset) and math.isfinite(r.uncertainty)) or r.uncertainty < 0:
            out.append(Finding(f"clock-invalid-{name}", f"clock {name} reading is unusable: {r}"))
        else:
            clean[name] = r
    if len(clean) < 2:
        out.append(
            Finding("clock-too-few", f"need at least two clock readings, got {sorted(clean)}")
        )
        return out
    for (na, a), (nb, b) in combinations(clean.items(), 2):
        diff = abs(a.offset - b.offset)
        slack = a.uncertainty + b.uncertainty
        if exceeds(diff - slack, max_skew):
            out.append(
                Finding(
                    "clock-skew",
                    f"clock skew between {na} and {nb} is {diff:.3f} s "
                    f"(+-{slack:.3f} s measurement uncertainty) > {max_skew} s",
                )
            )
    return out


def ntp_offset(t1: float, t2: float, t3: float, t4: float) -> float:
    """Local clock correction: positive means the local clock is behind."""
    return ((t2 - t1) + (t3 - t4)) / 2


def ntp_delay(t1: float, t2: float, t3: float, t4: float) -> float:
    """Round-trip network delay, excluding the server's processing time."""
    return (t4 - t1) - (t3 - t2)


@dataclass(frozen=True, slots=True)
class NtpSample:
    """One SNTP exchange, all times in epoch seconds."""

    server: str
    t1: float
    t2: float
    t3: float
    t4: float
    stratum: int
    leap: int = 0
    root_delay: float = 0.0  # s, to the server's primary reference (RFC 5905 s. 7.3)
    root_dispersion: float = 0.0  # s, the error the server itself admits to

    @property
    def root_distance(self) -> float:
        """The most this server's time can be off (s): half the round trip to the primary
        reference plus the dispersion it reports, plus half our own exchange's delay
        (RFC 5905 s. 11.2, root synchronization distance)."""
        return (self.root_delay + max(self.delay, 0.0)) / 2 + self.root_dispersion

    @property
    def offset(self) -> float:
        return ntp_offset(self.t1, self.t2, self.t3, self.t4)

    @property
    def delay(self) -> float:
        return ntp_delay(self.t1, self.t2, self.t3, self.t4)

    @classmethod
    def from_ntplib(cls, server: str, stats: Any) -> NtpSample:
        """Build from an ``ntplib.NTPStats`` (attributes only, no I/O)."""
        return cls(
            server=server,
            t1=stats.orig_time,
            t2=stats.recv_time,
            t3=stats.tx_time,
            t4=stats.dest_time,
            stratum=int(stats.stratum),
            leap=int(stats.leap),
            root_delay=float(stats.root_delay),
            root_dispersion=float(stats.root_dispersion),
        )

    def to_dict(self) -> dict[str, Any]:
        """Evidence form: raw timestamps plus the derived numbers."""
        return {
            "server": self.server,
            "t1": self.t1,
            "t2": self.t2,
            "t3": self.t3,
            "t4": self.t4,
            "offset": self.offset,
            "delay": self.delay,
            "stratum": self.stratum,
            "leap": self.leap,
            "root_delay": self.root_delay,
            "root_dispersion": self.root_dispersion,
            "root_distance": self.root_distance,
        }


#: RFC 5905 Appendix A.1.1, MAXDIST: a server whose root distance exceeds it is not
#: fit to synchronise to (chrony's maxdistance is 3 s).
MAX_ROOT_DISTANCE_S = 1.0


def evaluate_ntp(
    sample: NtpSample, max_offset: float = 0.1, max_root_distance: float = MAX_ROOT_DISTANCE_S
) -> list[Finding]:
    """PF-02 rules for one answering server.

    Stratum 0 is a kiss-o'-death / unspecified answer and 16 means
    unsynchronised, so only 1..15 is sane; leap indicator 3 is the alarm
    condition (server clock not synchronised); a root distance above
    ``max_root_distance`` (RFC 5905 MAXDIST) means the server itself cannot vouch
    for its time, however small the offset looks.
    """
    s = sample.server
    times = (sample.t1, sample.t2, sample.t3, sample.t4)
    if not all(isinstance(t, (int, float)) and math.isfinite(t) for t in times):
        return [
            Finding("ntp-sample-invalid", f"NTP server {s} returned unusable timestamps {times}")
        ]
    out: list[Finding] = []
    offset = sample.offset
    if exceeds(abs(offset), max_offset):
        out.append(
            Finding(
                "ntp-offset",
                f"NTP offset to {s} is {offset * 1000:.3f} ms (limit {max_offset * 1000:g} ms)",
            )
        )
    if not 1 <= sample.stratum <= 15:
        out.append(
            Finding("ntp-stratum", f"NTP server {s} reports stratum {sample.stratum} (sane: 1..15)")
        )
    distance = sample.root_distance
    if not math.isfinite(distance) or exceeds(distance, max_root_distance):
        out.append(
            Finding(
                "ntp-root-distance",
                f"NTP server {s} reports a root distance of {distance:.3f} s (limit "
                f"{max_root_distance:g} s, RFC 5905 MAXDIST): its own time may be off by that much",
            )
        )
    if sample.leap == 3:
        out.append(
            Finding(
                "ntp-leap-alarm", f"NTP server {s} signals leap indicator 3 (clock unsynchronised)"
            )
        )
    if sample.delay < 0:
        out.append(
            Finding(
                "ntp-negative-delay",
                f"NTP exchange with {s} has negative delay {sample.delay:.6f} s "
                "(timestamps inconsistent)",
                WARN,
            )
        )
    return out


def evaluate_ntp_servers(
    samples: Mapping[str, NtpSample | BaseException | None],
    max_offset: float = 0.1,
    max_root_distance: float = MAX_ROOT_DISTANCE_S,
) -> list[Finding]:
    """PF-02 over all configured servers: at least one answers, all answers sane.

    A server that did not answer (None or the exception raised) is a warning
    on its own; no server answering at all is a failure.
    """
    out: list[Finding] = []
    answered = 0
    for server, sample in samples.items():
        if isinstance(sample, NtpSample):
            answered += 1
            out.extend(evaluate_ntp(sample, max_offset, max_root_distance))
        else:
            why = f": {sample}" if sample is not None else ""
            out.append(Finding("ntp-no-answer", f"NTP server {server} did not answer{why}", WARN))
    if answered == 0:
        names = ", ".join(samples) or "none configured"
        out.append(Finding("ntp-no-server", f"no NTP server answered ({names})"))
    return out
