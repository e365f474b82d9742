"""The self-expiry of a killed API instance: restart it after a deadline if still down.

``kill_api_instance`` (actions.py) SIGKILLs an instance and spawns this as a
separate process, recorded with the stack (``sandbox down`` and the lifeline
stop it), so the fault reverts itself even when the chaos run that injected
it dies (CHAOS.md: every fault has a deadline and reverts by itself). The
rollback stops it first and restarts the instance itself.

    python -m pytest_spark.chaos.revive --state-dir DIR --name api-1 --after 30
"""

from __future__ import annotations

import argparse
import time

from ..sandbox import components as c
from ..sandbox.launcher import Sandbox

MAX_AFTER_S = 300.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--after", type=float, required=True)
    args = parser.parse_args(argv)
    time.sleep(min(max(args.after, 0.0), MAX_AFTER_S))
    box = Sandbox.attach(args.state_dir)
    rec = box.record(args.name)
    if rec is None or not c.is_alive(rec):
        box.start_component(args.name)
        print(f"revived {args.name} after {args.after:g} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
