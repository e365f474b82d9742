"""CN-00 micro blast radius: constant-rate, open-model load on the canary alone.

An open model sends request i at ``t0 + i / rate`` whatever the earlier ones
are doing, and measures each latency from that *intended* send time, so a
stalled server cannot slow the generator down and hide its own stall
("coordinated omission", Gil Tene, "How NOT to measure latency"; wrk2 and
HdrHistogram do the same). Latencies go into an HDR histogram (microseconds,
3 significant digits) -- the ``hdrhistogram`` package, imported here only.

Bounded: a fixed number of requests, at most ``max_inflight`` in flight (a send
that would exceed it is *omitted*: the server is not keeping up, so it counts
as an error, never silently dropped), a deadline per request and for the whole
run. A send more than ``late_s`` after its intended time is counted as *late*
(the generator's own lag). When the generator could not issue its sends at the
requested rate, the measurement is invalid and the check says ERROR, not pass.
One warm-up request per instance opens the connections first (not measured).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

LATE_S = 0.010
#: Sends are issued on schedule or, after a stall of this process, at once (catch-up);
#: their latency still counts from the intended time, so lag can only make the result
#: worse, never hide a slow server. A busy 2-core host stalls the loop for hundreds of
#: ms, so the issue rate may drift this far before the measurement is called invalid.
RATE_TOLERANCE = 0.25


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class BlastResult:
    urls: list[str]
    path: str
    requested_rate: float
    duration_s: float
    planned: int
    sent: int = 0
    completed: int = 0
    omitted: int = 0
    late: int = 0
    max_lateness_ms: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)
    achieved_rate: float = 0.0  # sends issued (sent + omitted) per second
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    max_ms: float | None = None
    histogram: str = ""  # HdrHistogram's compressed base64 encoding (re-decodable)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["error_count"] = self.error_count
        return out


def findings(
    r: BlastResult, *, slo_p95_s: float, max_error_ratio: float
) -> tuple[list[str], list[str]]:
    """(errors: the measurement is invalid, failures: the canary broke its budget)."""
    invalid: list[str] = []
    failed: list[str] = []
    if r.completed == 0:
        invalid.append(f"inconclusive: no request completed out of {r.planned} planned")
    if r.achieved_rate < r.requested_rate * (1 - RATE_TOLERANCE):
        invalid.append(
            f"generator could not hold its rate: {r.achieved_rate:.1f} req/s achieved of "
            f"{r.requested_rate:g} requested (tolerance {RATE_TOLERANCE:.0%})"
        )
    if invalid:
        return invalid, failed
    if r.p95_ms is not None and r.p95_ms > slo_p95_s * 1000:
        failed.append(
            f"canary p95 {r.p95_ms:.0f} ms (from intended send time) > SLO "
            f"{slo_p95_s * 1000:.0f} ms at {r.requested_rate:g} req/s"
        )
    issued = r.sent + r.omitted
    ratio = r.error_count / issued if issued else 1.0
    if ratio > max_error_ratio:
        failed.append(
            f"canary errors {r.error_count}/{issued} ({ratio:.1%}) > budget "
            f"{max_error_ratio:.1%}: {dict(r.errors)}"
        )
    return invalid, failed


async def _blast(
    urls: Sequence[str],
    path: str,
    rate: float,
    duration_s: float,
    max_inflight: int,
    timeout: float,
    headers: dict[str, str] | None,
    verify: bool | str,
) -> BlastResult:
    import httpx
    from hdrh.histogram import HdrHistogram

    planned = max(int(rate * duration_s), 1)
    res = BlastResult(list(urls), path, rate, duration_s, planned)
    hist = HdrHistogram(1, 3_600_000_000, 3)  # 1 us .. 1 h
    errors: Counter[str] = Counter()
    inflight: set[asyncio.Task[None]] = set()
    limits = httpx.Limits(max_connections=max_inflight, max_keepalive_connections=max_inflight)

    async def one(client: httpx.AsyncClient, url: str, intended: float) -> None:
        try:
            resp = await client.get(url)
            if resp.status_code >= 400:
                errors[f"http {resp.status_code}"] += 1
        except httpx.TimeoutException:
            errors["timeout"] += 1
        except httpx.HTTPError as exc:
            errors[type(exc).__name__] += 1
        # latency from the intended send time, also for errors (they took that long too)
        hist.record_value(max(int((time.perf_counter() - intended) * 1e6), 1))
        res.completed += 1

    async with httpx.AsyncClient(
        timeout=httpx.Timeout(timeout), limits=limits, headers=headers, verify=verify
    ) as client:
        for url in urls:  # warm-up: connections open before the clock starts
            with contextlib.suppress(httpx.HTTPError):
                await client.get(url.rstrip("/") + path)
        t0 = time.perf_counter() + 0.05
        last_send = t0
        for i in range(planned):
            intended = t0 + i / rate
            delay = intended - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            lateness = time.perf_counter() - intended
            if lateness > LATE_S:
                res.late += 1
            res.max_lateness_ms = max(res.max_lateness_ms, lateness * 1000)
            last_send = time.perf_counter()
            if len(inflight) >= max_inflight:
                res.omitted += 1
                errors["omitted (max in flight: server not keeping up)"] += 1
                continue
            url = urls[i % len(urls)].rstrip("/") + path
            task = asyncio.create_task(one(client, url, intended))
            inflight.add(task)
            task.add_done_callback(inflight.discard)
            res.sent += 1
        span = last_send - t0 + 1 / rate
        res.achieved_rate = (res.sent + res.omitted) / span if span > 0 else 0.0
        if inflight:
            _done, pending = await asyncio.wait(set(inflight), timeout=timeout + 1)
            for task in pending:
                task.cancel()
                errors["unfinished"] += 1
    res.errors = dict(errors)
    if hist.get_total_count():
        res.p50_ms = hist.get_value_at_percentile(50.0) / 1000
        res.p95_ms = hist.get_value_at_percentile(95.0) / 1000
        res.p99_ms = hist.get_value_at_percentile(99.0) / 1000
        res.max_ms = hist.get_max_value() / 1000
        res.histogram = hist.encode().decode("ascii")
    return res


def blast(
    urls: Sequence[str],
    *,
    path: str,
    rate: float,
    duration_s: float,
    max_inflight: int,
    timeout: float,
    headers: dict[str, str] | None = None,
    verify: bool | str = True,
) -> BlastResult:
    """Run the load (blocking); ValueError on a nonsense plan."""
    if not urls:
        raise ValueError("no canary instance to load (targets.api_urls is empty)")
    if not (rate > 0 and duration_s > 0 and max_inflight > 0):
        raise ValueError(f"blast radius needs rate, duration and max_inflight > 0: {rate}, "
                         f"{duration_s}, {max_inflight}")  # fmt: skip
    if not path.startswith("/"):
        raise ValueError(f"canary.blast_path {path!r} must start with /")
    return asyncio.run(_blast(urls, path, rate, duration_s, max_inflight, timeout, headers, verify))
