"""The five canary stages and their check ids (CANARY.md): what collection needs.

Kept apart from :mod:`.rollout` so that collecting checks/test_canary.py (in every
run, canary selected or not) does not import the gate, the evaluator and the
statistics.
"""

from __future__ import annotations

#: canary weight (percent of user traffic) of each stage, in rollout order
STAGES: tuple[int, ...] = (1, 5, 25, 50, 100)


def check_id(weight: int) -> str:
    """The catalog id of the stage at ``weight`` percent: 1 -> "CN-01", 100 -> "CN-100"."""
    return f"CN-{weight:02d}"
