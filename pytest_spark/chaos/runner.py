"""Run one Chaos Toolkit experiment through chaostoolkit-lib, rollbacks ALWAYS.

Differences from Chaos Toolkit's defaults, on purpose (CHAOS.md "Form"):

- the rollbacks strategy is ``always`` (chaoslib's ``runtime.rollbacks.strategy``
  setting): they also run after a failed hypothesis;
- SIGTERM ends the method with chaoslib's graceful exit (as its SIGUSR1:
  rollbacks run; chaoslib's own SIGTERM handler only fails the current
  activity and carries on with the method), Ctrl-C is caught by chaoslib's
  Runner (rollbacks run), and a second signal while rollbacks run is held
  until they finish, then re-raised;
- an exception that escapes chaoslib's Runner (it plays rollbacks only for
  signals and interrupts) still gets the rollbacks, played here;
- the verdict is stricter: a run whose method or steady state could not be
  executed is ERROR (could not deviate-check), a deviation is FAIL with the
  failing probes' messages, a failed rollback is ERROR.

chaoslib is imported only here, and only when a chaos check runs.
"""

from __future__ import annotations

import copy
import json
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import context

SETTINGS: dict[str, Any] = {"runtime": {"rollbacks": {"strategy": "always"}}}
EXTENSION = "pytest-spark"
PASS, FAIL, ERROR = "pass", "fail", "error"


@dataclass
class Result:
    """The verdict on one run, its reasons, and the journal (the evidence)."""

    verdict: str
    reasons: list[str]
    journal: dict[str, Any]
    interrupted_by: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def activity_output(self, name: str) -> Any:
        """Output of the method activity called name (None when it did not run)."""
        for run in self.journal.get("run", []):
            if run.get("activity", {}).get("name") == name:
                return run.get("output")
        return None

    def hypothesis_output(self, name: str, when: str = "after") -> Any:
        state = (self.journal.get("steady_states") or {}).get(when) or {}
        for probe in state.get("probes", []):
            if probe.get("activity", {}).get("name") == name:
                return probe.get("output")
        return None


def load(path: Path | str) -> dict[str, Any]:
    """Read and validate an experiment file (chaoslib's own validator)."""
    from chaoslib.experiment import ensure_experiment_is_valid

    experiment = json.loads(Path(path).read_text())
    ensure_experiment_is_valid(experiment)
    return experiment


def spark_extension(experiment: dict[str, Any]) -> dict[str, Any]:
    for ext in experiment.get("extensions", []):
        if ext.get("name") == EXTENSION:
            return dict(ext)
    return {}


def steady_state_only(experiment: dict[str, Any]) -> dict[str, Any]:
    """The same experiment without its fault activities: the hypothesis must still hold."""
    faults = set(spark_extension(experiment).get("fault_activities", []))
    if not faults:
        raise ValueError("the experiment names no fault_activities in its pytest-spark extension")
    out = copy.deepcopy(experiment)
    out["method"] = [a for a in out["method"] if a.get("name") not in faults]
    return out


class _Signals:
    """SIGTERM -> graceful exit (rollbacks run); signals during rollbacks are held."""

    def __init__(self) -> None:
        self.in_rollbacks = False
        self.received: int | None = None
        self.held: int | None = None

    def handler(self, signum: int, frame: Any) -> None:
        self.received = self.received or signum
        if self.in_rollbacks:
            self.held = signum  # finish the rollbacks first
            return
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise SystemExit(20)  # chaoslib: 20 = leave now, with rollbacks (exit.py)

    @contextmanager
    def installed(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        old = {s: signal.signal(s, self.handler) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for s, h in old.items():
                signal.signal(s, h)


def _event_handler(signals: _Signals) -> Any:
    from chaoslib.run import RunEventHandler

    class Handler(RunEventHandler):
        def started(self, experiment: Any, journal: Any) -> None:
            # chaoslib >= 1.43 turns SIGTERM into an InterruptExecution that only fails the
            # current activity; ours ends the method (chaoslib's graceful exit) instead
            if threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGTERM, signals.handler)

        def start_rollbacks(self, experiment: Any) -> None:
            signals.in_rollbacks = True

        def rollbacks_completed(self, experiment: Any, journal: Any) -> None:
            signals.in_rollbacks = False

    return Handler()


def _own_rollbacks(experiment: dict[str, Any], configuration: dict[str, Any]) -> list[Any]:
    """Play the rollbacks when chaoslib did not (an exception escaped its Runner)."""
    from chaoslib.rollback import run_rollbacks

    return list(run_rollbacks(experiment, configuration, {}, None, None))  # type: ignore[arg-type]


def run(
    experiment: dict[str, Any],
    *,
    state_dir: Path | str,
    run_dir: Path | str,
) -> Result:
    """Execute; returns the verdict. Re-raises KeyboardInterrupt/SystemExit after rollbacks."""
    from chaoslib.configuration import load_configuration
    from chaoslib.run import Runner
    from chaoslib.types import Strategy

    config_vars = {"spark_state_dir": str(state_dir), "spark_run_dir": str(run_dir)}
    # chaoslib pops what it uses from extra_vars: each caller gets its own copy
    configuration = load_configuration(experiment.get("configuration", {}), dict(config_vars))
    context.start_run(configuration)
    signals = _Signals()
    journal: dict[str, Any] | None = None
    escaped: BaseException | None = None
    with signals.installed():
        try:
            runner = Runner(Strategy.DEFAULT)
            runner.register_event_handler(_event_handler(signals))
            journal = runner.run(
                copy.deepcopy(experiment),
                settings=SETTINGS,
                experiment_vars=(dict(config_vars), {}),
            )
        except BaseException as exc:  # rollbacks first, re-raised below
            escaped = exc
            signals.in_rollbacks = True
            try:
                rollbacks = _own_rollbacks(experiment, configuration)
            finally:
                signals.in_rollbacks = False
            journal = {
                "status": "aborted",
                "deviated": False,
                "run": [],
                "steady_states": {},
                "rollbacks": rollbacks,
                "error": f"{type(exc).__name__}: {exc}",
            }
    assert journal is not None
    # the journal on disk also when a signal ends the run below (`chaos run` writes one too)
    (Path(run_dir) / "journal.json").write_text(json.dumps(journal, indent=1, default=str))
    result = judge(experiment, journal)
    result.interrupted_by = signals.received
    if escaped is not None and not isinstance(escaped, Exception):
        raise escaped
    if signals.received == signal.SIGINT:
        raise KeyboardInterrupt
    if signals.received is not None:
        raise SystemExit(128 + signals.received)
    return result


def judge(experiment: dict[str, Any], journal: dict[str, Any]) -> Result:
    """PASS / FAIL / ERROR from a journal, with the reasons a reviewer needs."""
    reasons: list[str] = []
    rollbacks = journal.get("rollbacks") or []
    wanted = len(experiment.get("rollbacks", []))
    bad_rb = [r for r in rollbacks if r.get("status") != "succeeded"]
    if len(rollbacks) < wanted or bad_rb:
        names = [r.get("activity", {}).get("name") for r in bad_rb]
        reasons.append(f"rollback failed or did not run ({len(rollbacks)}/{wanted}): {names}")
        return Result(ERROR, reasons, journal)
    if journal.get("error"):
        return Result(ERROR, [f"the run raised {journal['error']}"], journal)
    states = journal.get("steady_states") or {}
    before = states.get("before")
    if before is None or not before.get("steady_state_met"):
        reasons.append("steady state did not hold BEFORE the fault: could not deviate-check")
        reasons.extend(_probe_messages(before))
        return Result(ERROR, reasons, journal)
    failed = [r for r in journal.get("run", []) if r.get("status") != "succeeded"]
    if failed or journal.get("status") in ("aborted", "interrupted"):
        for r in failed:
            reasons.append(
                f"method activity {r.get('activity', {}).get('name')!r} {r.get('status')}: "
                f"{str(r.get('exception') or '')[-300:].strip()}"
            )
        reasons.append(f"experiment {journal.get('status')}: could not deviate-check")
        return Result(ERROR, reasons, journal)
    after = states.get("after")
    if after is None:
        return Result(ERROR, ["the hypothesis was not checked after the method"], journal)
    if journal.get("deviated") or not after.get("steady_state_met"):
        reasons.append("steady state deviated after the fault")
        reasons.extend(_probe_messages(after))
        return Result(FAIL, reasons, journal)
    return Result(PASS, ["steady state held before and after; rollbacks succeeded"], journal)


def _probe_messages(state: dict[str, Any] | None) -> list[str]:
    out = []
    for probe in (state or {}).get("probes", []):
        if probe.get("tolerance_met"):
            continue
        name = probe.get("activity", {}).get("name")
        output = probe.get("output")
        if isinstance(output, dict) and "findings" in output:
            out.extend(f"{name}: {f['message']}" for f in output["findings"] if not f.get("ok"))
        elif probe.get("status") != "succeeded":
            out.append(f"{name}: {str(probe.get('exception') or '')[-300:].strip()}")
        else:
            out.append(f"{name}: output {output!r} outside its tolerance")
    return out
