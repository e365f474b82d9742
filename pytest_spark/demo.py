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
from pathlib import Path

SUITES = "blindspots or preflight or redteam"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__)
    parser.add_argument("--release", default="v1.4.0")
    parser.add_argument("--fault", default="", help="inject this sandbox fault for the run")
    parser.add_argument("--state-dir", type=Path, default=Path(".sandbox"))
    args = parser.parse_args(argv)

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
            sys.executable, "-m", "pytest", "checks", "-m", SUITES, "-p", "no:cacheprovider",
            "--release", args.release, "--spark-sandbox",
            "--spark-sandbox-dir", str(args.state_dir),
            "--spark-allow-writes", "--spark-allow-disruptive", "-q", "-rfE",
        ]  # fmt: skip
        print("== " + " ".join(cmd[2:]), flush=True)
        code = subprocess.run(cmd, check=False).returncode
    finally:
        if args.fault:
            box.revert_fault(args.fault)
        if started:
            print("== stopping the reference stack", flush=True)
            box.down()
    return code


if __name__ == "__main__":
    sys.exit(main())
