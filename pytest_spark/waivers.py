"""Waivers: an approved, justified, expiring exception for one check id.

The file is keyed by check id (``[RT-08]`` tables). A malformed file is a
start-up error, because a waiver that silently fails to load turns a planned
GO into a surprise NO-GO (or worse, the other way round).
"""

from __future__ import annotations

import contextlib
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
    expires: str  # ISO date (valid through that UTC day) or a UTC instant (see last_day)

    def active_on(self, day: dt.date) -> bool:
        return day <= last_day(self.expires)

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
                expires=_expiry(entry["expires"], where),
            )
        )
    return waivers


def last_day(expires: str) -> dt.date:
    """The last UTC day a waiver applies on.

    A date is valid through that UTC day. An instant (an offset date-time, stored in
    UTC) is honoured in UTC: verdicts are decided per UTC day of the run's start, so
    the waiver covers the whole UTC days that end by that instant, and no part of
    the day it expires in (``2026-11-30T00:00:01+14:00`` is 2026-11-29T10:00:01Z:
    valid through 2026-11-28). Never a day longer than the approver wrote.
    """
    if "T" not in expires:
        return dt.date.fromisoformat(expires)
    instant = dt.datetime.fromisoformat(expires)
    if instant.utcoffset() is None:
        raise ValueError(f"waiver expiry {expires!r} has no UTC offset")
    try:
        return instant.astimezone(dt.UTC).date() - dt.timedelta(days=1)
    except OverflowError:  # an instant on 0001-01-01 UTC: expired on every day there is
        return dt.date.min


def _expiry(value: Any, where: str) -> str:
    """A date (``2026-12-31``) or an offset date-time (``2026-12-31T18:00:00+01:00``).

    A date-time without an offset is refused: its day depends on whose clock reads it.
    """
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = (
                dt.datetime.fromisoformat(value) if "T" in value else dt.date.fromisoformat(value)
            )
    if isinstance(value, dt.datetime):
        if value.utcoffset() is None:
            raise ConfigError(
                f"{where} expires {value.isoformat()} has no UTC offset; write a date "
                "(valid through that UTC day) or a date-time with Z or +hh:mm"
            )
        try:
            return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
        except OverflowError:
            raise ConfigError(
                f"{where} expires {value.isoformat()} is past the last UTC date there is"
            ) from None
    if isinstance(value, dt.date):
        return value.isoformat()
    raise ConfigError(
        f"{where} expires must be a date like 2026-12-31 (or 2026-12-31T18:00:00+01:00), "
        f"got {value!r}"
    )


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
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text (TOML files are UTF-8)") from None
    except OSError as exc:  # a directory, no permission, ...
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    return parse(body, str(path)), str(path)
