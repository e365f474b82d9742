"""Start-up cost of `pytest -m preflight` on a warm sandbox vs bare pytest (goal <= 3x CPU).

PRODUCT.md's goal: the whole preflight process costs at most three times the
CPU of bare pytest running one trivial test with plugin autoload off. Both
commands run in fresh processes, interleaved (bare, preflight, bare, ...) so a
VM's speed changes hit both alike; reports medians of CPU (user + sys of the
child) and wall, their ratio, and the import time of one preflight run
(``python -X importtime``, each module's own time summed per top-level package).

A third command, the *floor*, says how much of the ratio is ours to cut: the
same trivial test with the installed plugins loaded (pytest-spark's off) that
imports every module of the third-party packages the preflight run imported. What the
preflight run costs above the floor is pytest-spark itself: its plugin, the
collection of checks/, the nine checks, the evidence and the signed bundle.

    python benchmarks/startup.py [--runs 10] [--state-dir .sandbox]
"""

from __future__ import annotations

import argparse
import collections
import importlib.util
import os
import re
import resource
import site
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+\d+ \|( +)(\S+)")
#: pytest-spark's own packages, and pytest's (bare pytest imports those too)
OURS = frozenset(
    {"pytest_spark", "checks", "conftest", "pytest", "pluggy", "iniconfig", "packaging"}
)


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


def import_times(cmd: list[str], env: dict[str, str]) -> tuple[dict[str, float], list[str]]:
    """Import time (ms, each module's own) per top-level package of one run, and every
    module the run imported (dotted names, in import order)."""
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
    modules = []
    for line in proc.stderr.splitlines():
        if m := IMPORT_LINE.match(line):
            totals[m.group(3).split(".")[0]] += int(m.group(1))
            modules.append(m.group(3))
    return {name: us / 1000 for name, us in totals.most_common()}, modules


def third_party(names: Iterable[str]) -> list[str]:
    """The names that are packages installed in site-packages, other than pytest-spark."""
    roots = {Path(p).resolve() for p in site.getsitepackages()}
    found = []
    for name in names:
        if not name.isidentifier() or name.startswith("_") or name in OURS:
            continue
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            continue
        origin = Path(spec.origin).resolve() if spec and spec.origin else None
        if origin and any(root in origin.parents for root in roots):
            found.append(name)
    return sorted(found)


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
            imports, modules = import_times(preflight, env)
            libraries = third_party(imports)
            # every submodule too (pglast's printers, ...): a package's top level alone
            # would credit the library's lazily imported parts to pytest-spark
            submodules = [m for m in modules if m.split(".")[0] in libraries]
            floor_dir = Path(tmp) / "floor"
            floor = _floor(floor_dir, submodules)
            timed(floor, floor_dir, env)
            samples: dict[str, list[tuple[float, float]]] = {
                "bare": [],
                "floor": [],
                "preflight": [],
            }
            for _ in range(args.runs):
                samples["bare"].append(timed(bare, trivial, bare_env))
                samples["floor"].append(timed(floor, floor_dir, env))
                samples["preflight"].append(timed(preflight, ROOT, env))
        finally:
            if started:
                box.down()
    _report(samples, args.runs, imports, libraries)


def _floor(where: Path, modules: list[str]) -> list[str]:
    """The trivial test, importing ``modules``, with the installed plugins but ours."""
    where.mkdir()
    lines = ["import importlib", "", f"for name in {modules!r}:"]
    lines += ["    try:", "        importlib.import_module(name)", "    except Exception:"]
    lines += ["        pass  # a platform-specific or private module the run found otherwise"]
    (where / "test_floor.py").write_text(
        "\n".join([*lines, "", "def test_floor():", "    pass", ""])
    )
    # the project's addopts, less the spark plugin: the plugins a preflight run loads
    addopts = "-p no:spark -p no:hypothesispytest -p no:anyio -p no:pact"
    (where / "pytest.ini").write_text(f"[pytest]\naddopts = {addopts}\n")
    return [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_floor.py"]


def _report(
    samples: dict[str, list[tuple[float, float]]],
    runs: int,
    imports: dict[str, float],
    libraries: list[str],
) -> None:
    med = {
        name: (statistics.median(w for w, _ in s), statistics.median(c for _, c in s))
        for name, s in samples.items()
    }
    for name, (wall, cpu) in med.items():
        print(f"{name:10} median over {runs}: cpu {cpu:.3f} s  wall {wall:.3f} s")
    bare, floor, pre = med["bare"][1], med["floor"][1], med["preflight"][1]
    print(
        f"ratio preflight/bare: cpu {pre / bare:.2f}x "
        f"wall {med['preflight'][0] / med['bare'][0]:.2f}x (goal: cpu <= 3x)"
    )
    print(
        f"floor/bare: cpu {floor / bare:.2f}x -- the {len(libraries)} third-party packages the "
        f"run imports, and the installed plugins, leave {3 * bare - floor:+.3f} s of the 3x budget;"
        f" pytest-spark's own share is {pre - floor:.3f} s"
    )
    print("import time of one preflight run, per top-level package (ms, own time of its modules):")
    for name, ms in list(imports.items())[:20]:
        ours = name in ("pytest_spark", "checks")
        kind = "" if name in libraries else "  (pytest-spark)" if ours else "  (stdlib/pytest)"
        print(f"  {ms:8.1f}  {name}{kind}")
    print("floor imports:", " ".join(libraries))


if __name__ == "__main__":
    main()
