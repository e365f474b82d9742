"""The commands users type, end to end, in a fresh process: a cold --spark-sandbox run
under xdist starts its own stack, hands the targets to the workers, ends GO, and
leaves no process behind."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from pytest_spark.bundle import verify

CHECKS_DIR = Path(__file__).resolve().parents[2] / "checks"


def test_cold_sandbox_preflight_under_xdist_is_go_and_cleans_up(tmp_path: Path) -> None:
    state_dir = tmp_path / "sandbox"
    evidence = tmp_path / "reports"
    proc = subprocess.run(
        [
            sys.executable, "-m", "pytest", str(CHECKS_DIR), "-m", "preflight", "-n", "2",
            "-p", "no:cacheprovider", "--release", "v1.4.0",
            "--spark-sandbox", "--spark-sandbox-dir", str(state_dir),
            "--spark-evidence-dir", str(evidence),
        ],
        capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("SPARK VERDICT: GO for preflight (9 of 9) -- bundle: "), last
    tarball = Path(last.rsplit("bundle: ", 1)[1])
    assert verify(tarball).ok
    folder = tarball.with_name(tarball.name.removesuffix(".tar.gz"))
    outcomes = json.loads((folder / "verdict.json").read_text())["outcomes"]
    assert sorted(outcomes) == [f"PF-0{i}" for i in range(1, 10)]
    assert not (state_dir / "state.json").exists()  # the stack it started is down
    leftovers = subprocess.run(
        ["pgrep", "-f", str(state_dir)], capture_output=True, text=True, check=False
    )
    assert leftovers.stdout.strip() == "", leftovers.stdout
