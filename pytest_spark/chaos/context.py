"""What every provider needs from the experiment's configuration: the stack and the run.

Chaos Toolkit passes ``configuration`` to any provider function that declares
it (chaoslib.provider.python). Ours carries ``spark_state_dir`` (the sandbox)
and ``spark_run_dir`` (where this run keeps its marks: when the run started,
when the fault started and ended), so providers stay plain functions and the
same experiment file runs under `chaos run` (both from environment variables).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..sandbox.launcher import Sandbox

MARKS = "marks.json"


def sandbox(configuration: dict[str, Any] | None) -> Sandbox:
    from ..sandbox.launcher import Sandbox

    state_dir = (configuration or {}).get("spark_state_dir") or ".sandbox"
    return Sandbox.attach(state_dir)


def run_dir(configuration: dict[str, Any] | None) -> Path:
    path = Path((configuration or {}).get("spark_run_dir") or ".sandbox/chaos-run")
    path.mkdir(parents=True, exist_ok=True)
    return path


def marks(configuration: dict[str, Any] | None) -> dict[str, float]:
    try:
        return dict(json.loads((run_dir(configuration) / MARKS).read_text()))
    except FileNotFoundError:
        return {}


def mark(configuration: dict[str, Any] | None, name: str, *, first: bool = True) -> float:
    """Record now (unix s) under name; with first=True an earlier mark is kept."""
    data = marks(configuration)
    if not (first and name in data):
        data[name] = time.time()
    path = run_dir(configuration) / MARKS
    tmp = path.with_name(f".{MARKS}.{os.getpid()}")
    tmp.write_text(json.dumps(data))
    tmp.replace(path)
    return data[name]


def start_run(configuration: dict[str, Any] | None) -> None:
    """A fresh run: forget the marks, the load record and the journal of the last one."""
    for name in (MARKS, "orders.json", "journal.json"):
        (run_dir(configuration) / name).unlink(missing_ok=True)
    mark(configuration, "run_start")
