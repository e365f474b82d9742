"""Pure helpers of the operations checks (BS-03, PF-03, RT-03, RT-07, RT-08).

The judging rules live in ``pgbouncer``, ``saturation``, ``outbox`` and
``archiver``; what is here turns raw probe answers into their inputs
(Prometheus vectors into per-instance figures, SHOW DATABASES rows into pool
counts) and judges the two things those modules do not cover: per-database
pool_mode overrides and the PITR drill's sentinel comparison. No I/O.
"""

from __future__ import annotations

import ipaddress
import shlex
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .findings import Finding

__all__ = [
    "app_databases",
    "archive_dir_from_command",
    "evaluate_database_pool_modes",
    "evaluate_sentinel",
    "host_of",
    "is_loopback",
    "ratios",
    "segment_archived",
    "vector_by",
]

ADMIN_DB = "pgbouncer"


# ---------------------------------------------------------------------------
# BS-03: SHOW DATABASES
# ---------------------------------------------------------------------------


def app_databases(rows: Iterable[Mapping[str, Any]], admin_db: str = ADMIN_DB) -> list[str]:
    """Names of the databases PgBouncer pools for apps (its own admin console excluded)."""
    return [str(r["name"]) for r in rows if r.get("name") and str(r["name"]) != admin_db]


def evaluate_database_pool_modes(
    rows: Iterable[Mapping[str, Any]], expected_pool_mode: str, admin_db: str = ADMIN_DB
) -> list[Finding]:
    """A ``[databases]`` entry may override pool_mode; a session-mode override on the
    app database defeats a transaction-mode default just as well.

    Code: pgbouncer-database-pool-mode.
    """
    findings: list[Finding] = []
    for row in rows:
        name = str(row.get("name") or "")
        mode = row.get("pool_mode")
        if not name or name == admin_db or mode in (None, ""):
            continue
        if str(mode).strip().lower() != expected_pool_mode.lower():
            findings.append(
                Finding(
                    "pgbouncer-database-pool-mode",
                    f"database {name}: pool_mode override is {mode}, expected {expected_pool_mode}",
                )
            )
    return findings


# ---------------------------------------------------------------------------
# PF-03 / RT-03: Prometheus vectors
# ---------------------------------------------------------------------------


def vector_by(result: Iterable[Mapping[str, Any]], label: str = "instance") -> dict[str, float]:
    """``{label value: sample value}`` of an instant-query vector (as the API returns it).

    Series without the label are keyed ``""``; NaN samples are dropped (a
    rate over too few points), so they count as "not measured", never as 0.
    """
    out: dict[str, float] = {}
    for series in result:
        metric = series.get("metric") or {}
        try:
            value = float(series["value"][1])
        except (KeyError, IndexError, TypeError, ValueError):
            continue
        if value != value:  # NaN
            continue
        out[str(metric.get(label, ""))] = value
    return out


def ratios(
    used: Mapping[str, float], limits: Mapping[str, float | None] | float | None
) -> dict[str, float | None]:
    """Utilisation per instance: used / limit; None where no usable limit is known."""
    out: dict[str, float | None] = {}
    for name, value in used.items():
        limit = limits.get(name) if isinstance(limits, Mapping) else limits
        out[name] = value / limit if limit and limit > 0 else None
    return out


def host_of(instance: str) -> str:
    """The host part of a Prometheus ``instance`` label (``host:port``, ``[v6]:port``)."""
    text = instance.strip()
    if text.startswith("["):
        return text[1:].split("]", 1)[0]
    if text.count(":") == 1:
        return text.split(":", 1)[0]
    return text


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address: the instance runs on this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# ---------------------------------------------------------------------------
# RT-08: WAL archive and the restore drill
# ---------------------------------------------------------------------------


def _dest_dir(word: str) -> str | None:
    """``/DIR/%f`` (any number of slashes before %f) -> ``/DIR``; else None. String
    operations: the lazy regex this replaced was quadratic on a word of slashes."""
    head = word.removesuffix("%f")
    if head == word or len(head) < 2 or head[0] != "/" or head[-1] != "/" or "\n" in head:
        return None
    return head.rstrip("/") or "/"


def archive_dir_from_command(command: str) -> str | None:
    """The local directory an ``archive_command`` copies segments into, if it says so.

    Understands the documented shape ``test ! -f DIR/%f && cp %p DIR/%f`` and
    plain ``cp``/``install``/``rsync`` to an absolute ``DIR/%f``. Tools such as
    pgBackRest or WAL-G (and ``host:dir`` targets) give None: then the archive
    location must be configured.
    """
    try:
        words = shlex.split(command)
    except ValueError:
        return None
    found: str | None = None
    for i, word in enumerate(words):
        dest = _dest_dir(word)
        if dest is not None and i > 0 and words[i - 1] not in ("-f", "-e"):
            found = dest  # the last destination wins (cp SRC DEST)
    return found


def segment_archived(last_archived_wal: str | None, segment: str) -> bool:
    """pg_stat_archiver has archived ``segment`` (or a later one of the same timeline).

    WAL file names sort in LSN order within a timeline. A backup history
    file (``<segment>.<offset>.backup``) for the same segment does not count:
    it is archived before the segment itself is complete.
    """
    if not last_archived_wal:
        return False
    head = last_archived_wal[:24]
    if len(head) < 24 or head[:8] != segment[:8]:
        return False
    return head > segment or last_archived_wal == segment


def evaluate_sentinel(
    restored: Sequence[Mapping[str, Any]],
    *,
    sentinel_token: str,
    after_token: str,
    target_time: str,
) -> list[Finding]:
    """Judge what the restored instance holds: the row written before the
    recovery target must be there; the row written after it must not (else
    recovery ignored the target and replayed to the end of the archive).

    Codes: pitr-sentinel-missing, pitr-target-overshot.
    """
    tokens = {str(r.get("token")) for r in restored}
    findings: list[Finding] = []
    if sentinel_token not in tokens:
        findings.append(
            Finding(
                "pitr-sentinel-missing",
                f"sentinel row {sentinel_token} written after the base backup is missing from "
                f"the instance restored to {target_time}",
            )
        )
    if after_token in tokens:
        findings.append(
            Finding(
                "pitr-target-overshot",
                f"row {after_token} written after recovery_target_time {target_time} is present "
                "in the restored instance: recovery did not stop at the target",
            )
        )
    return findings
