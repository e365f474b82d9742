"""What a check observed: the per-test recorder and the per-check record.

The recorder lives in the test process (an xdist worker or the main process);
its content travels on the teardown report as plain data, so the controller
can assemble one bundle whatever process ran the test.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .catalog import Check
from .redact import Redactor
from .verdict import worst

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(name: str) -> str:
    """A file name that cannot escape its folder."""
    cleaned = _SAFE_NAME.sub("_", name).strip("._") or "artifact"
    return cleaned[:120]


def utc_iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="milliseconds")


@dataclass
class Recorder:
    """The ``evidence`` fixture: structured observations and raw captures, redacted on entry."""

    check: Check
    redactor: Redactor
    observations: list[dict[str, Any]] = field(default_factory=list)
    artifacts: dict[str, bytes] = field(default_factory=dict)

    @property
    def check_id(self) -> str:
        return self.check.id

    def observe(self, name: str, data: Any) -> None:
        """Record structured data (rows, headers, readings) a reviewer can re-check."""
        self.observations.append({"name": name, "data": self.redactor.value(_jsonable(data))})

    def attach(self, name: str, content: bytes | str) -> str:
        """Keep a raw capture as a file under artifacts/<ID>/; returns its bundle path."""
        raw = content.encode("utf-8") if isinstance(content, str) else bytes(content)
        fname = safe_name(name)
        base, n = fname, 1
        while fname in self.artifacts:
            n += 1
            fname = f"{base}.{n}"
        self.artifacts[fname] = self.redactor.bytes(raw)
        return f"artifacts/{self.check.id}/{fname}"

    def export(self) -> dict[str, Any]:
        return {"observations": self.observations, "artifacts": dict(self.artifacts)}


def _jsonable(value: Any) -> Any:
    """Make common Python values JSON-safe without losing precision (Decimals as strings)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return str(value)


def build_record(check: Check, tests: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Merge the results of every test bound to one check id into its record."""
    outcome = worst(t["outcome"] for t in tests)
    decisive = next((t for t in tests if t["outcome"] == outcome), tests[0])
    observations: list[dict[str, Any]] = []
    artifacts: list[str] = []
    for t in tests:
        observations.extend(t.get("observations", []))
        artifacts.extend(f"artifacts/{check.id}/{name}" for name in t.get("artifacts", {}))
    start = min(t["start"] for t in tests)
    stop = max(t["stop"] for t in tests)
    return {
        "id": check.id,
        "title": check.title,
        "suite": str(check.suite),
        "severity": str(check.severity),
        "outcome": outcome,
        "skip_kind": decisive.get("skip_kind", ""),
        "message": decisive.get("message", ""),
        "start": utc_iso(start),
        "end": utc_iso(stop),
        "duration_s": round(stop - start, 6),
        "tests": [
            {"nodeid": t["nodeid"], "outcome": t["outcome"], "message": t.get("message", "")}
            for t in tests
        ],
        "observations": observations,
        "artifacts": artifacts,
    }
