"""RT-08 part 1: WAL archiving is healthy, so point-in-time recovery is possible.

A restore drill only proves the archive worked *up to now* if the archiver
is still working: archive_mode on, a WAL level that carries enough to
replay, no failure newer than the last success, and a recent success. A
broken archive_command does not stop the database -- it just quietly piles
up WAL in pg_wal until the disk fills, and the PITR window ends at the first
failure. That is why this is a blocker.

Also home of the small time helpers the other DB rules share (ages are
always measured between two readings of one clock, passed in: no clock is
read here).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from .findings import Finding
from .limits import exceeds

__all__ = [
    "age_s",
    "evaluate_archiver",
    "noop_archive_command",
    "settings_dict",
    "to_utc",
]

# matched on stripped text (fullmatch): \s* on both sides of an optional zone
# backtracked quadratically on a long run of spaces from a hostile SHOW CLIENTS
_TS = re.compile(
    r"(\d{4}-\d\d-\d\d)[ T](\d\d:\d\d:\d\d(?:\.\d+)?)\s*(UTC|GMT|Z|[+-]\d\d(?::?\d\d)?)?",
    re.IGNORECASE,
)


def to_utc(value: datetime | float | int | str | None) -> datetime | None:
    """A timezone-aware UTC datetime from a datetime, epoch seconds or text.

    Text: ISO 8601 or PgBouncer's ``2024-05-01 12:00:00 UTC``. Naive values
    are taken as UTC (every component of the reference stack runs in UTC).
    Unparseable text gives None rather than an exception: the rules report
    "no usable timestamp" instead of crashing.
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        try:
            return datetime.fromtimestamp(float(value), UTC)
        except (OverflowError, OSError, ValueError):
            return None
    m = _TS.fullmatch(str(value).strip())
    if not m:
        return None
    day, clock, zone = m.groups()
    try:
        parsed = datetime.fromisoformat(f"{day}T{clock}")
    except ValueError:
        return None
    if zone and zone.upper() not in ("UTC", "GMT", "Z"):
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
        if hours > 23 or minutes > 59:
            return None
        offset = timezone(sign * timedelta(hours=hours, minutes=minutes))
        return parsed.replace(tzinfo=offset).astimezone(UTC)
    return parsed.replace(tzinfo=UTC)


def age_s(then: Any, now: Any) -> float | None:
    """Seconds from ``then`` to ``now`` (negative if ``then`` is in the future)."""
    a, b = to_utc(then), to_utc(now)
    if a is None or b is None:
        return None
    return (b - a).total_seconds()


def settings_dict(rows: Iterable[Mapping[str, Any]] | Mapping[str, Any]) -> dict[str, str]:
    """``{name: setting}`` from pg_settings rows (``name``/``setting``), or a dict as is."""
    if isinstance(rows, Mapping):
        return {str(k): "" if v is None else str(v) for k, v in rows.items()}
    return {str(r["name"]): "" if r.get("setting") is None else str(r["setting"]) for r in rows}


def _fmt_time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else "never"


def _fmt_age(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 120:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.1f} s"


_PLACEHOLDER = re.compile(r"%(.)")


def noop_archive_command(command: str) -> str:
    """Why ``command`` cannot put WAL into an archive ("" when it may).

    PostgreSQL runs archive_command once per segment, replacing ``%p`` with
    the segment's path and ``%f`` with its file name (``%%`` is a literal
    %). A command that uses neither cannot know which file to archive --
    ``/bin/true``, ``true``, ``:``, ``exit 0``, ``cd .`` -- yet exits 0, so
    the segment counts as archived and is recycled. One that sends the
    segment only to ``/dev/null`` is the same.
    """
    used = {m.group(1) for m in _PLACEHOLDER.finditer(command)}
    if not used & {"p", "f"}:
        return "uses neither %p nor %f, so it never reads a WAL segment"
    if "/dev/null" in command and "f" not in used:
        return "sends each segment to /dev/null"
    return ""


def evaluate_archiver(
    settings: Iterable[Mapping[str, Any]] | Mapping[str, Any],
    stats: Mapping[str, Any],
    now: datetime | float | str | None = None,
    *,
    max_age_s: float = 300.0,
) -> list[Finding]:
    """Findings for WAL archiving health (``ARCHIVER_SETTINGS_SQL`` rows,
    ``ARCHIVER_STATS_SQL`` row). ``now`` defaults to the row's
    ``observed_at`` (the DB clock, the same clock as the archiver's times).

    Codes: archive-mode-off, archive-wal-level, archive-command-missing,
    archive-command-noop, archive-never-archived, archive-failing, archive-stale.
    """
    cfg = settings_dict(settings)
    findings: list[Finding] = []
    mode = cfg.get("archive_mode", "").lower()
    if mode not in ("on", "always"):
        findings.append(
            Finding(
                "archive-mode-off",
                f"archive_mode is {mode or 'unset'}, must be on or always (no WAL archive, "
                "no point-in-time recovery)",
            )
        )
    level = cfg.get("wal_level", "").lower()
    if level not in ("replica", "logical"):
        findings.append(
            Finding(
                "archive-wal-level",
                f"wal_level is {level or 'unset'}, must be replica or logical for archiving "
                "and PITR",
            )
        )
    command = cfg.get("archive_command", "").strip()
    library = cfg.get("archive_library", "").strip()
    if command in ("", "(disabled)") and not library:
        findings.append(
            Finding(
                "archive-command-missing",
                "neither archive_command nor archive_library is set: WAL is never archived, "
                "the archive receives nothing (PostgreSQL keeps the segments in pg_wal "
                "until a command is set)",
            )
        )
    elif not library:
        why = noop_archive_command(command)
        if why:
            findings.append(
                Finding(
                    "archive-command-noop",
                    f"archive_command {command!r} {why}: PostgreSQL counts every segment as "
                    "archived (pg_stat_archiver looks healthy) but the archive receives nothing, "
                    "so there is nothing to restore from",
                )
            )

    now_at = to_utc(now if now is not None else stats.get("observed_at"))
    if now_at is None:
        raise ValueError("evaluate_archiver needs `now` or an `observed_at` in the stats row")
    archived = int(stats.get("archived_count") or 0)
    failed = int(stats.get("failed_count") or 0)
    last_ok = to_utc(stats.get("last_archived_time"))
    last_fail = to_utc(stats.get("last_failed_time"))
    if archived == 0 or last_ok is None:
        findings.append(
            Finding(
                "archive-never-archived",
                f"pg_stat_archiver: no WAL segment archived yet (archived_count {archived}, "
                f"failed_count {failed})",
            )
        )
    if last_fail is not None and (last_ok is None or last_fail > last_ok):
        wal = stats.get("last_failed_wal") or "?"
        findings.append(
            Finding(
                "archive-failing",
                f"archiver is failing: last failure {_fmt_time(last_fail)} (WAL {wal}) is "
                f"newer than the last success {_fmt_time(last_ok)}; failed_count {failed}",
            )
        )
    if last_ok is not None:
        age = (now_at - last_ok).total_seconds()
        if exceeds(age, max_age_s):
            findings.append(
                Finding(
                    "archive-stale",
                    f"last WAL archived {_fmt_age(age)} ago ({stats.get('last_archived_wal')}, "
                    f"{_fmt_time(last_ok)}); limit {_fmt_age(max_age_s)}",
                )
            )
    return findings
