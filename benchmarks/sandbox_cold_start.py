"""Sandbox cold start: time from Sandbox.up() to every component answering (goal <= 5 s).

    .venv/bin/python benchmarks/sandbox_cold_start.py [--runs 3] [--empty-cache]

"Cold" means no process of the stack runs and the state directory is new.
By default the per-user cache (initialised PostgreSQL template, environment
SBOM) is used as it is, which is the normal case after the first start;
--empty-cache also measures the very first start on a machine. Components
start in parallel, so the per-component figures are wall-clock times of each
unit, and the critical path is postgres -> pgbouncer -> api (three instances: two of the
release, one stable), with HAProxy and the PgBouncer exporter alongside.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pytest_spark.sandbox.launcher import Sandbox

ORDER = (
    "pg.initdb",
    "pg.migrate",
    "pg.prepare",
    "postgres",
    "pgbouncer",
    "api",
    "prometheus",
    "alertmanager",
    "chrony",
    "haproxy",
    "pgbouncer-exporter",
    "sbom",
    "loadgen",
    "total",
)


def one_run(base: Path, index: int) -> tuple[dict[str, float], float]:
    """Start and stop one stack; return up() timings and the down() time."""
    box = Sandbox(base / f"run-{index}")
    try:
        box.up(timeout=60)
        timings = dict(box.timings)
    finally:
        t0 = time.monotonic()
        box.down()
        down = time.monotonic() - t0
    return timings, down


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--empty-cache", action="store_true", help="first start on a machine")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="spark-bench-") as tmp:
        base = Path(tmp)
        if args.empty_cache:
            os.environ["XDG_CACHE_HOME"] = str(base / "cache")
        runs = [one_run(base, i) for i in range(args.runs)]
    print(
        f"sandbox cold start, {args.runs} run(s), cache {'empty' if args.empty_cache else 'warm'}"
    )
    print(f"{'unit':<14}" + "".join(f"{f'run {i + 1}':>9}" for i in range(args.runs)))
    for key in ORDER:
        values = [r[0].get(key) for r in runs]
        if all(v is None for v in values):
            continue
        cells = "".join(f"{v:>8.2f}s" if v is not None else f"{'-':>9}" for v in values)
        print(f"{key:<14}{cells}")
    downs = [d for _, d in runs]
    print(f"{'down()':<14}" + "".join(f"{d:>8.2f}s" for d in downs))
    totals = [r[0]["total"] for r in runs]
    print(f"median up() {statistics.median(totals):.2f} s (goal <= 5 s)")
    return 0 if statistics.median(totals) <= 5.0 else 1


if __name__ == "__main__":
    sys.exit(main())
