"""Plugin overhead on 2,000 trivial check-bound tests vs. plain pytest (goal <= 10 %),
then bundle write + verify for 10,000 records (goal <= 2 s, see bundle_write_verify.py).

Both runs execute the same file in fresh processes; the plain run disables the
plugin with ``-p no:spark`` and declares the markers in an ini so nothing else
differs. Reports the median of several runs.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pytest_spark.catalog import CHECKS

N_TESTS = 2000


def make_suite(root: Path, n: int) -> None:
    lines = ["import pytest", ""]
    for i in range(n):
        cid = CHECKS[i % len(CHECKS)].id
        if CHECKS[i % len(CHECKS)].policy_gate:
            cid = "BS-01"
        lines += [f'@pytest.mark.spark_check("{cid}")', f"def test_{i}():", "    assert True", ""]
    (root / "test_trivial.py").write_text("\n".join(lines))
    markers = "\n    ".join(["spark_check(id): x", "blindspots", "preflight", "redteam"])
    (root / "pytest.ini").write_text(f"[pytest]\nmarkers =\n    {markers}\n")


def timed(cmd: list[str], cwd: Path) -> tuple[float, float]:
    """(wall, cpu) seconds of one run; CPU time is steadier on a VM with noisy disk I/O."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-2000:]}")
    return elapsed, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tests", type=int, default=N_TESTS)
    parser.add_argument("--no-bundle", action="store_true", help="skip the bundle benchmark")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="spark-bench-") as tmp:
        root = Path(tmp)
        make_suite(root, args.tests)
        base = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
        plain_cmd = [*base, "-p", "no:spark"]
        spark_cmd = [*base, "--release", "bench", "--spark-evidence-dir", str(root / "reports")]
        timed(plain_cmd, root)  # warm the file cache and .pyc
        plain, spark = [], []
        for _ in range(args.runs):
            plain.append(timed(plain_cmd, root))
            spark.append(timed(spark_cmd, root))
    print(f"{args.tests} trivial tests, median of {args.runs} runs")
    # noise on a shared VM only ever adds time, so best-of-N is the steadier estimate
    for i, what in enumerate(("wall", "cpu")):
        for label, pick in (("median", statistics.median), ("best", min)):
            p = pick(r[i] for r in plain)
            s = pick(r[i] for r in spark)
            print(
                f"  {what:4} {label:6}: plain pytest (-p no:spark) {p:.3f} s, with pytest-spark "
                f"+ bundle {s:.3f} s, overhead {(s - p) / p * 100:+.1f} % (goal <= 10 %)"
            )
    if not args.no_bundle:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from bundle_write_verify import run_benchmark

        run_benchmark()


if __name__ == "__main__":
    main()
