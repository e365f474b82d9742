"""WebSocket price-feed clients for a chaos run (CHAOS.md CH-06), and their verdicts.

Each client subscribes to /ws/prices through HAProxy and, when the server
drops it, reconnects with capped exponential backoff and full jitter (AWS
Architecture Blog, "Exponential Backoff And Jitter"), resetting the backoff
only after a connection lived long enough to count as healthy. It records
every connect and every price message it receives; the run directory gets
the record, from which the hypothesis judges the reconnect rate and the
staleness (age of the newest price a client has) after the storm.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

FEED_FILE = "feed.json"
STOP_MARK = "feed_stop"
BACKOFF_BASE_S = 0.25
BACKOFF_CAP_S = 4.0
HEALTHY_AFTER_S = 3.0


def backoff_s(attempt: int, rng: random.Random) -> float:
    """Full-jitter backoff for the attempt-th consecutive failed connection (0-based)."""
    return rng.uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**attempt))


async def _client(
    url: str, over: Callable[[], bool], rec: dict[str, list[float]], seed: int
) -> None:
    import websockets

    rng, attempt = random.Random(seed), 0
    while not over():
        opened = time.time()
        with contextlib.suppress(Exception):
            async with websockets.connect(url, open_timeout=3, close_timeout=1) as ws:
                rec["connects"].append(time.time())
                while not over():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(ws.recv(), timeout=0.5)
                        rec["messages"].append(time.time())
        if over():
            break
        attempt = 0 if time.time() - opened >= HEALTHY_AFTER_S else attempt + 1
        await asyncio.sleep(backoff_s(attempt, rng))


def run(
    base_url: str, clients: int, max_s: float, stop: Callable[[], bool], run_dir: Path
) -> dict[str, Any]:
    """Run the clients (blocking) until stop() or max_s; write the record; return a summary."""
    url = base_url.replace("http://", "ws://") + "/ws/prices"
    recs: list[dict[str, list[float]]] = [{"connects": [], "messages": []} for _ in range(clients)]
    deadline = time.time() + max_s
    checked = {"at": 0.0, "over": False}

    def over() -> bool:  # stop() reads a file: at most every 0.2 s
        now = time.time()
        if now - checked["at"] >= 0.2:
            checked.update(at=now, over=now >= deadline or stop())
        return bool(checked["over"])

    async def main() -> None:
        await asyncio.gather(*(_client(url, over, r, i) for i, r in enumerate(recs)))

    asyncio.run(main())
    end = time.time()
    (run_dir / FEED_FILE).write_text(json.dumps({"clients": recs, "end": end}))
    return {
        "clients": clients,
        "connects": sum(len(r["connects"]) for r in recs),
        "messages": sum(len(r["messages"]) for r in recs),
    }


def load(run_dir: Path) -> dict[str, Any] | None:
    try:
        return dict(json.loads((run_dir / FEED_FILE).read_text()))
    except FileNotFoundError:
        return None


def max_rate(times: Sequence[float], window_s: float) -> float:
    """The most events in any window of window_s, per second."""
    ts, best, j = sorted(times), 0, 0
    for i, t in enumerate(ts):
        while ts[j] < t - window_s:
            j += 1
        best = max(best, i - j + 1)
    return best / window_s


def judge(
    clients: Sequence[dict[str, list[float]]],
    fault_end: float | None,
    max_reconnects_per_s: float,
    fresh_within_s: float,
    stale_after_s: float,
    window_s: float = 5.0,
    end: float | None = None,
) -> list[str]:
    """Findings: a client reconnecting faster than the bound, or one whose newest price
    was still older than stale_after_s fresh_within_s after the storm ended (``end``: when
    the clients stopped; stopping before that moment leaves staleness unjudged, a finding)."""
    findings = []
    if fault_end is not None and end is not None and end < fault_end + fresh_within_s:
        return [
            f"the feed clients stopped {fault_end + fresh_within_s - end:.1f} s before the "
            "freshness deadline: staleness could not be judged"
        ]
    for i, c in enumerate(clients):
        rate = max_rate(c["connects"], window_s)
        if rate > max_reconnects_per_s:
            findings.append(
                f"client {i} reconnected {rate:.1f}/s over {window_s:g} s "
                f"(bound {max_reconnects_per_s:g}/s: no backoff)"
            )
        if not c["messages"]:
            findings.append(f"client {i} never received a price")
            continue
        if fault_end is None:
            continue
        at = fault_end + fresh_within_s
        before = [m for m in c["messages"] if m <= at]
        if not any(m >= at - stale_after_s for m in before):
            findings.append(
                f"client {i}: newest price older than {stale_after_s:g} s "
                f"{fresh_within_s:g} s after the storm (staleness did not recover)"
            )
    return findings
