"""Start-up cost of `pytest -m preflight` on a warm sandbox vs bare pytest (goal <= 3x CPU).

PRODUCT.md's goal: the whole preflight process costs at most three times the
CPU of bare pytest running one trivial test with plugin autoload off. Both
commands run in fresh processes, interleaved (bare, preflight, bare, ...) so a
VM's speed changes hit both alike; reports medians of CPU (user + sys of the
child) and wall, their ratio, and the top-level imports of one preflight run
(``python -X importtime``) grouped by distribution, largest first.

    python benchmarks/startup.py [--runs 10] [--state-dir .sandbox]
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMPORT_LINE = re.compile(r"import time:\s+\d+ \|\s+(\d+) \|( +)(\S+)")


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """(wall, cpu) seconds of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout[-2000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def top_level_imports(cmd: list[str], env: dict[str, str]) -> list[tuple[str, float]]:
    """Cumulative import time (ms) per top-level package of one run, largest first."""
    proc = subprocess.run(
        # -s: pytest's fd capture would swallow what collection and the checks import
        [sys.executable, "-X", "importtime", *cmd[1:], "-s"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    totals: collections.Counter[str] = collections.Counter()
    for line in proc.stderr.splitlines():
        m = IMPORT_LINE.match(line)
        if m and len(m.group(2)) == 1:  # imported at top level, not by another module
            totals[m.group(3).split(".")[0]] += int(m.group(1))
    return [(name, us / 1000) for name, us in totals.most_common()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--state-dir", type=Path, default=None)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from pytest_spark.sandbox.targets import start_or_attach

    # .pyc files as a user has them: without them every process recompiles (and pytest
    # re-rewrites) the plugin, which would measure the compiler, not the start-up.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PYTEST_") and k != "PYTHONDONTWRITEBYTECODE"
    }
    bare_env = {**env, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    with tempfile.TemporaryDirectory(prefix="spark-startup-") as tmp:
        trivial = Path(tmp) / "trivial"
        trivial.mkdir()
        (trivial / "test_trivial.py").write_text("def test_trivial():\n    assert True\n")
        (trivial / "pytest.ini").write_text("[pytest]\n")
        bare = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_trivial.py"]
        state_dir = args.state_dir or Path(tmp) / "sandbox"
        box, started = start_or_attach(state_dir)
        try:
            box.wait_for_data(timeout=60)
            preflight = [
                sys.executable, "-m", "pytest", "checks", "-m", "preflight", "-q",
                "-p", "no:cacheprovider", "--release", "v1.4.0", "--spark-sandbox",
                "--spark-sandbox-dir", str(state_dir), "--spark-evidence-dir", f"{tmp}/reports",
            ]  # fmt: skip
            timed(bare, trivial, bare_env)  # warm the page cache and .pyc files once
            timed(preflight, ROOT, env)
            samples: dict[str, list[tuple[float, float]]] = {"bare": [], "preflight": []}
            for _ in range(args.runs):
                samples["bare"].append(timed(bare, trivial, bare_env))
                samples["preflight"].append(timed(preflight, ROOT, env))
            imports = top_level_imports(preflight, env)
        finally:
            if started:
                box.down()
    med = {
        name: (statistics.median(w for w, _ in s), statistics.median(c for _, c in s))
        for name, s in samples.items()
    }
    for name, (wall, cpu) in med.items():
        print(f"{name:10} median over {args.runs}: cpu {cpu:.3f} s  wall {wall:.3f} s")
    print(
        f"ratio preflight/bare: cpu {med['preflight'][1] / med['bare'][1]:.2f}x "
        f"wall {med['preflight'][0] / med['bare'][0]:.2f}x (goal: cpu <= 3x)"
    )
    print("top-level imports of one preflight run (cumulative ms):")
    for name, ms in imports[:15]:
        print(f"  {ms:8.1f}  {name}")


if __name__ == "__main__":
    main()
