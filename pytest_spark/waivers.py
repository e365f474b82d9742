"""Waivers: an approved, justified, expiring exception for one check id.

The file is keyed by check id (``[RT-08]`` tables). A malformed file is a
start-up error, because a waiver that silently fails to load turns a planned
GO into a surprise NO-GO (or worse, the other way round).
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .catalog import BY_ID
from .config import ConfigError

DEFAULT_FILE = "waivers.toml"
REQUIRED = ("justification", "approver", "expires")


@dataclass(frozen=True)
class Waiver:
    check: str
    justification: str
    approver: str
    expires: str  # ISO date, inclusive: the waiver is valid through that UTC day

    def active_on(self, day: dt.date) -> bool:
        return day <= dt.date.fromisoformat(self.expires)

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def parse(body: Mapping[str, Any], origin: str) -> list[Waiver]:
    """Validate a parsed waivers document; every problem is one clear line."""
    waivers: list[Waiver] = []
    for check_id, entry in body.items():
        where = f"{origin}: [{check_id}]"
        if check_id not in BY_ID:
            raise ConfigError(f"{where} is not a known check id")
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{where} must be a table with {', '.join(REQUIRED)}")
        unknown = set(entry) - set(REQUIRED)
        if unknown:
            raise ConfigError(f"{where} has unknown field(s): {', '.join(sorted(unknown))}")
        for key in REQUIRED:
            if key not in entry:
                raise ConfigError(f"{where} is missing {key}")
        for key in ("justification", "approver"):
            if not isinstance(entry[key], str) or not entry[key].strip():
                raise ConfigError(f"{where} {key} must be a non-empty string")
        waivers.append(
            Waiver(
                check=check_id,
                justification=entry["justification"].strip(),
                approver=entry["approver"].strip(),
                expires=_date(entry["expires"], where).isoformat(),
            )
        )
    return waivers


def _date(value: Any, where: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise ConfigError(f"{where} expires must be a date like 2026-12-31, got {value!r}")


def load(path: Path | None, cwd: Path | None = None) -> tuple[list[Waiver], str]:
    """Load waivers from ``path`` (must exist) or ./waivers.toml (optional)."""
    if path is None:
        candidate = (cwd or Path.cwd()) / DEFAULT_FILE
        if not candidate.is_file():
            return [], ""
        path = candidate
    try:
        with path.open("rb") as fh:
            body = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"waivers file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    return parse(body, str(path)), str(path)
