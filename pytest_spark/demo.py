"""`make demo`: bring up the reference stack, run every check, print the verdict and bundle.

Reuses a stack already running in .sandbox (from `pytest-spark sandbox up`)
and leaves it running; otherwise starts one and always stops it. With
``--fault NAME`` the fault is injected for the run and reverted afterwards.
Exit status: pytest's, i.e. 0 on GO and non-zero on NO-GO.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

SUITES = "blindspots or preflight or redteam"


def parse(prog: str, doc: str | None, argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=prog, description=doc)
    parser.add_argument("--release", default="v1.4.0")
    parser.add_argument("--fault", default="", help="inject this sandbox fault for the run")
    parser.add_argument("--state-dir", type=Path, default=Path(".sandbox"))
    return parser.parse_args(argv)


def newest_bundle(evidence_dir: Path, since: float) -> Path | None:
    """The newest bundle tarball written under ``evidence_dir`` since ``since`` (unix s)."""
    found = [p for p in evidence_dir.glob("*/*.tar.gz") if p.stat().st_mtime >= since]
    return max(found, key=lambda p: p.stat().st_mtime, default=None)


def _command() -> str:
    """How to call pytest-spark from here: the venv's script (the venv is not activated)."""
    script = Path(sys.executable).parent / "pytest-spark"
    if not script.is_file():
        return "pytest-spark"
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        return str(script)


def run_on_stack(
    args: argparse.Namespace,
    pytest_args: Sequence[str],
    *,
    after_reused: Callable[[Any], None] = lambda box: None,
) -> int:
    """Start (or reuse) the stack, inject ``args.fault``, run pytest on checks/ with
    ``pytest_args``, always revert the fault, and stop a stack started here (a reused
    one gets ``after_reused(box)``). Returns pytest's exit status (2: no stack)."""
    from .sandbox.faults import FAULTS
    from .sandbox.launcher import SandboxError
    from .sandbox.targets import start_or_attach

    if args.fault and args.fault not in FAULTS:
        print(f"unknown fault {args.fault!r}; known: {', '.join(sorted(FAULTS))}", file=sys.stderr)
        return 2
    t0 = time.monotonic()
    try:
        box, started = start_or_attach(args.state_dir)
    except SandboxError as exc:
        print(f"sandbox: {exc}", file=sys.stderr)
        return 2
    print(
        f"== stack {'up (with data)' if started else 'reused'} in {time.monotonic() - t0:.1f} s",
        flush=True,
    )
    try:
        if args.fault:
            print(f"== injecting fault {args.fault}: {FAULTS[args.fault].description}", flush=True)
            box.apply_fault(args.fault)
        cmd = [
            sys.executable, "-m", "pytest", "checks", "-p", "no:cacheprovider",
            "--release", args.release, "--spark-sandbox",
            "--spark-sandbox-dir", str(args.state_dir), *pytest_args, "-q", "-rfE",
        ]  # fmt: skip
        print("== " + " ".join(cmd[2:]), flush=True)
        t1, t0_wall = time.monotonic(), time.time()
        code = subprocess.run(cmd, check=False).returncode
        print(f"== the run took {time.monotonic() - t1:.0f} s", flush=True)
        bundle = newest_bundle(Path("reports"), since=t0_wall)
        if bundle is not None:
            print(f"== check the bundle yourself: {_command()} verify {bundle}", flush=True)
    finally:
        if args.fault:
            box.revert_fault(args.fault)
        if started:
            print("== stopping the reference stack", flush=True)
            box.down()
        else:
            after_reused(box)
    return code


def main(argv: list[str] | None = None) -> int:
    args = parse("make demo", __doc__, argv)
    return run_on_stack(args, ["-m", SUITES, "--spark-allow-writes", "--spark-allow-disruptive"])


if __name__ == "__main__":
    sys.exit(main())
