"""`make demo-canary`: a canary rollout on the reference stack, five stages to GO, or with
``FAULT=canary-latency`` NO-GO at the first stage the fault reaches, rolled back and
confirmed. Reuses a stack running in .sandbox (and leaves it running, weight restored),
else starts one and stops it. Exit status: pytest's (0 on GO).
"""

from __future__ import annotations

import sys

from ..demo import parse, run_on_stack


def main(argv: list[str] | None = None) -> int:
    from ..sandbox.launcher import INITIAL_CANARY_WEIGHT

    args = parse("make demo-canary", __doc__, argv)
    rollout = ["-m", "canary", "--spark-rollout", "--spark-allow-disruptive", "--spark-rollback"]
    return run_on_stack(
        args, rollout, after_reused=lambda box: box.traffic().set_weight(INITIAL_CANARY_WEIGHT)
    )


if __name__ == "__main__":
    sys.exit(main())
