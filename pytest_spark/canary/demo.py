"""`make demo-canary`: a canary rollout on the reference stack, five stages to GO, or with
``FAULT=canary-latency`` NO-GO at the first stage the fault reaches, rolled back and
confirmed. Reuses a stack running in .sandbox (and leaves it running, weight restored),
else starts one and stops it. Exit status: pytest's (0 on GO).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make demo-canary", description=__doc__)
    parser.add_argument("--release", default="v1.4.0")
    parser.add_argument("--fault", default="", help="inject this canary fault for the rollout")
    parser.add_argument("--state-dir", type=Path, default=Path(".sandbox"))
    args = parser.parse_args(argv)

    from ..sandbox.faults import FAULTS
    from ..sandbox.launcher import INITIAL_CANARY_WEIGHT, SandboxError
    from ..sandbox.targets import start_or_attach

    if args.fault and args.fault not in FAULTS:
        print(f"unknown fault {args.fault!r}; known: {', '.join(sorted(FAULTS))}", file=sys.stderr)
        return 2
    t0 = time.monotonic()
    try:
        box, started = start_or_attach(args.state_dir)
    except SandboxError as exc:
        print(f"sandbox: {exc}", file=sys.stderr)
        return 2
    print(f"== stack {'up' if started else 'reused'} in {time.monotonic() - t0:.1f} s", flush=True)
    try:
        if args.fault:
            print(f"== injecting fault {args.fault}: {FAULTS[args.fault].description}", flush=True)
            box.apply_fault(args.fault)
        cmd = [
            sys.executable, "-m", "pytest", "checks", "-m", "canary", "-p", "no:cacheprovider",
            "--release", args.release, "--spark-sandbox", "--spark-sandbox-dir",
            str(args.state_dir), "--spark-rollout", "--spark-allow-disruptive",
            "--spark-rollback", "-q", "-rfE",
        ]  # fmt: skip
        print("== " + " ".join(cmd[2:]), flush=True)
        t1 = time.monotonic()
        code = subprocess.run(cmd, check=False).returncode
        print(f"== rollout took {time.monotonic() - t1:.0f} s", flush=True)
    finally:
        if args.fault:
            box.revert_fault(args.fault)
        if started:
            print("== stopping the reference stack", flush=True)
            box.down()
        else:
            box.traffic().set_weight(INITIAL_CANARY_WEIGHT)
    return code


if __name__ == "__main__":
    sys.exit(main())
