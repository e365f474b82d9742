"""Feature flags: release flags and kill switches, served as a versioned snapshot.

The snapshot version is a property of the flag data (settings or the flags
file), not of the process, so instances serving the same data agree; the
snapshot time is the last refresh, so a live instance always looks fresh.

Flags file (optional, JSON, re-read on each refresh):
``{"snapshot_version": 7, "flags": {"new_checkout_flow": false}}``.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

STALE_AGE_S = 600.0


@dataclass(frozen=True)
class FlagDefinition:
    """What the release manifest knows about a flag."""

    default: bool
    introduced_in: str
    kind: str  # "release" or "kill-switch"


FLAG_DEFINITIONS: dict[str, FlagDefinition] = {
    "new_checkout_flow": FlagDefinition(False, "1.4.0", "release"),
    "dark_mode_ui": FlagDefinition(True, "1.2.0", "release"),
    "kill_trading": FlagDefinition(False, "1.0.0", "kill-switch"),
    "kill_ws_feed": FlagDefinition(False, "1.1.0", "kill-switch"),
}
NEW_FLAG = "new_checkout_flow"


def iso_utc(ts: float) -> str:
    """Unix time as an ISO 8601 UTC string with millisecond precision."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class FlagStore:
    """Current flag values and snapshot metadata of one instance."""

    def __init__(self, base_version: int, flags_file: Path | None) -> None:
        self.base_version = base_version
        self.flags_file = flags_file
        self.file_flags: dict[str, bool] = {}
        self.file_version: int | None = None
        self.loaded_at = time.time()
        self.new_flag_forced_on = False
        self._frozen: tuple[int, float] | None = None

    @property
    def snapshot_version(self) -> int:
        """The version instances compare (one behind while frozen stale)."""
        if self._frozen is not None:
            return self._frozen[0]
        return self.file_version if self.file_version is not None else self.base_version

    @property
    def snapshot_time(self) -> float:
        """Unix time of the snapshot's last load."""
        return self._frozen[1] if self._frozen is not None else self.loaded_at

    def values(self) -> dict[str, bool]:
        """Effective flag values: defaults, then the file, then forced faults."""
        values = {name: d.default for name, d in FLAG_DEFINITIONS.items()}
        values.update(self.file_flags)
        if self.new_flag_forced_on:
            values[NEW_FLAG] = True
        return values

    def enabled(self, name: str) -> bool:
        """One flag's value (unknown flags are off)."""
        return self.values().get(name, False)

    def freeze_stale(self) -> None:
        """flags-stale fault: stop refreshing, one version behind, ten minutes old."""
        self._frozen = (self.snapshot_version - 1, time.time() - STALE_AGE_S)

    def unfreeze(self) -> None:
        """Revert flags-stale and refresh now."""
        self._frozen = None
        self.refresh()

    def refresh(self) -> None:
        """Reload the flags file (keeping the last good one on errors) and stamp the time."""
        if self._frozen is not None:
            return
        if self.flags_file is not None:
            try:
                self._load_file(self.flags_file)
            except (OSError, ValueError) as exc:
                log.warning("flags file %s not loaded: %s", self.flags_file, exc)
        self.loaded_at = time.time()

    def _load_file(self, path: Path) -> None:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("flags file must hold a JSON object")
        flags = data.get("flags", {})
        if not isinstance(flags, dict) or not all(isinstance(v, bool) for v in flags.values()):
            raise ValueError('"flags" must map names to booleans')
        version = data.get("snapshot_version")
        if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
            raise ValueError('"snapshot_version" must be an integer')
        self.file_flags = {str(k): v for k, v in flags.items()}
        self.file_version = version

    def snapshot(self) -> dict[str, Any]:
        """The /flags document."""
        values = self.values()
        definitions = {
            name: {
                "default": True if name == NEW_FLAG and self.new_flag_forced_on else d.default,
                "introduced_in": d.introduced_in,
                "kind": d.kind,
            }
            for name, d in FLAG_DEFINITIONS.items()
        }
        return {
            "flags": values,
            "definitions": definitions,
            "snapshot_version": self.snapshot_version,
            "snapshot_time": iso_utc(self.snapshot_time),
        }
