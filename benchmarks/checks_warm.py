"""Wall time of `pytest -m preflight` (goal <= 2 s), of all 28 checks (goal <= 20 s) and
of the contract suite (CT-01..03) on a warm sandbox, whole process, as a user runs them.

Starts one stack (or reuses the one in --state-dir), runs each command a few
times in fresh processes, and reports the median; the stack it started is
stopped at the end.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUITES = {
    "preflight": ["-m", "preflight"],
    "all 28 checks": [
        "-m", "blindspots or preflight or redteam",
        "--spark-allow-writes", "--spark-allow-disruptive",
    ],
    "contract suite": ["-m", "contract", "--spark-allow-writes"],
}  # fmt: skip


def run(args: list[str], state_dir: Path, evidence: Path) -> tuple[float, int, str]:
    cmd = [
        sys.executable, "-m", "pytest", "checks", "-q", "-p", "no:cacheprovider",
        "--spark-sandbox", "--spark-sandbox-dir", str(state_dir),
        "--spark-evidence-dir", str(evidence),
        "--spark-set", f"contracts.pact_dir={evidence / 'pacts'}", *args,
    ]  # fmt: skip
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    last = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    return time.perf_counter() - start, proc.returncode, last


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--state-dir", type=Path, default=None)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from pytest_spark.sandbox.targets import start_or_attach

    with tempfile.TemporaryDirectory(prefix="spark-bench-") as tmp:
        state_dir = args.state_dir or Path(tmp) / "sandbox"
        box, started = start_or_attach(state_dir)
        try:
            box.wait_for_data(timeout=60)
            for name, extra in SUITES.items():
                times = []
                for i in range(args.runs):
                    elapsed, code, last = run(extra, state_dir, Path(tmp) / f"r{i}")
                    times.append(elapsed)
                    print(f"  {name} run {i + 1}: {elapsed:.2f} s (exit {code}) {last}")
                print(f"{name}: median {statistics.median(times):.2f} s over {args.runs} runs")
        finally:
            if started:
                box.down()


if __name__ == "__main__":
    main()
