"""One chaos scenario as a check: run its experiment, record the evidence, say why.

Kept apart from the pytest test so the project's own tests can run the same
path (healthy, steady-state-only, under a resilience-removing switch).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from . import probes, runner

EXPERIMENTS = Path(__file__).resolve().parents[2] / "checks" / "chaos"


def experiment_path(check_id: str) -> Path:
    """checks/chaos/<ch0N>_*.json of a check id (exactly one)."""
    found = sorted(EXPERIMENTS.glob(f"{check_id.lower().replace('-', '')}_*.json"))
    if len(found) != 1:
        raise FileNotFoundError(f"{check_id}: expected one experiment in {EXPERIMENTS}, {found}")
    return found[0]


def execute(
    check_id: str,
    state_dir: Path | str,
    run_dir: Path | str,
    evidence: Any = None,
    *,
    steady_state_only: bool = False,
) -> runner.Result:
    """Run the scenario; with an evidence recorder, record journal, timeline and load."""
    experiment = runner.load(experiment_path(check_id))
    if steady_state_only:
        experiment = runner.steady_state_only(experiment)
    t0 = time.monotonic()
    # a scenario starts from a steady stack (bounded wait); if it never settles, the
    # experiment's before-hypothesis says so (ERROR: could not deviate-check)
    settled = probes.settle({"spark_state_dir": str(state_dir)})
    result = runner.run(experiment, state_dir=state_dir, run_dir=run_dir)
    result.extra["settle"] = settled
    result.extra["wall_s"] = round(time.monotonic() - t0, 1)
    triggers = (
        result.hypothesis_output("triggers-as-expected")
        or result.hypothesis_output("t02-consistent-with-5xx")
        or {}
    )
    result.extra["triggers"] = triggers.get("findings", [])
    result.extra["load"] = (
        result.activity_output("load-summary")
        or result.activity_output("order-load")
        or result.activity_output("read-probe")
        or result.activity_output("feed-clients")
    )
    result.extra["reconciliation"] = result.hypothesis_output(
        "orders-exactly-once"
    ) or result.hypothesis_output("events-exactly-once")
    if result.extra["reconciliation"] is None:
        result.extra["reconciliation"] = result.hypothesis_output(
            "reads-503-in-time-never-500"
        ) or result.hypothesis_output("feed-bounded-and-fresh")
    if evidence is not None:
        evidence.observe(
            "experiment",
            {"file": experiment_path(check_id).name, "steady_state_only": steady_state_only},
        )
        evidence.observe(
            "verdict",
            {
                "verdict": result.verdict,
                "reasons": result.reasons,
                "wall_s": result.extra["wall_s"],
            },
        )
        evidence.observe("trigger_timeline", triggers)
        evidence.observe("load", result.extra["load"])
        if result.extra["reconciliation"] is not None:
            evidence.observe("reconciliation", result.extra["reconciliation"])
        evidence.attach(
            "chaostoolkit-journal.json", json.dumps(result.journal, indent=1, default=str)
        )
    return result
