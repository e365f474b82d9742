"""Write and verify an evidence bundle holding 10,000 check records (goal <= 2 s).

Records are synthetic but shaped like real ones (observations, a message,
artifacts on every tenth); the verdict is computed, the bundle and its tar.gz
written, then ``verify`` re-hashes and recomputes everything.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path
from unittest import mock

from pytest_spark import bundle, catalog, verdict
from pytest_spark.catalog import Check, Severity, Suite


def synthetic_catalog(n: int) -> dict[str, Check]:
    return {
        f"BN-{i:05d}": Check(f"BN-{i:05d}", f"bench {i}", Suite.PREFLIGHT, Severity.BLOCKER, "x")
        for i in range(n)
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--dir", type=Path, default=None, help="where to write (default: reports/); try /dev/shm"
    )
    args = parser.parse_args()
    run_benchmark(args.records, args.runs, args.dir)


def run_benchmark(n_records: int = 10_000, runs: int = 5, where: Path | None = None) -> None:
    """Write + verify a synthetic bundle ``runs`` times and print median/best figures."""
    fake = synthetic_catalog(n_records)
    records, artifacts = [], {}
    for i, cid in enumerate(fake):
        records.append(
            {
                "id": cid,
                "title": fake[cid].title,
                "suite": "preflight",
                "severity": "blocker",
                "outcome": "passed",
                "skip_kind": "",
                "message": "",
                "start": "2026-11-26T00:00:00+00:00",
                "end": "2026-11-26T00:00:01+00:00",
                "duration_s": 0.01,
                "tests": [{"nodeid": f"t::{cid}", "outcome": "passed"}],
                "observations": [{"name": "reading", "data": {"value": i, "limit": 100}}],
                "artifacts": [f"artifacts/{cid}/raw.txt"] if i % 10 == 0 else [],
            }
        )
        if i % 10 == 0:
            artifacts[cid] = {"raw.txt": f"raw capture {i}\n".encode() * 20}
    parser_runs = runs
    where = where or Path(__file__).resolve().parents[1] / "reports"  # where bundles go
    where.mkdir(exist_ok=True)
    totals, writes, verifies = [], [], []
    with mock.patch.dict(catalog.BY_ID, fake):
        for _ in range(parser_runs):
            with tempfile.TemporaryDirectory(dir=where) as tmp:
                start = time.perf_counter()
                v = verdict.compute(records, day=dt.date(2026, 11, 26))
                data = bundle.RunData(
                    run_id="bench", release="bench", records=records, artifacts=artifacts,
                    verdict=v, waivers=[], policy={"exempt": []},
                    run={"start": "2026-11-26T00:00:00+00:00", "end": "2026-11-26T00:00:05+00:00",
                         "run_id": "bench", "release": "bench"},
                )  # fmt: skip
                folder, tarball = bundle.write_bundle(Path(tmp), data)
                written = time.perf_counter()
                result = bundle.verify(folder)
                verified = time.perf_counter()
                assert result.ok, result.problems[:5]
                assert bundle.verify(tarball).ok
            writes.append(written - start)
            verifies.append(verified - written)
            totals.append(verified - start)
    print(f"{n_records} records ({len(artifacts)} artifacts), {parser_runs} runs")
    print(f"  write (verdict, folder, tar.gz): median {statistics.median(writes):.3f} s")
    print(f"  verify folder:                   median {statistics.median(verifies):.3f} s")
    print(
        f"  write + verify: median {statistics.median(totals):.3f} s, best {min(totals):.3f} s "
        "(goal <= 2 s)"
    )


if __name__ == "__main__":
    main()
