"""PF-03: enough headroom to deploy.

A rollout briefly doubles work (new instances warm up, connections are
re-established, caches refill); starting it on a system already above ~80 %
of any resource turns a routine deploy into an outage. This module only
judges utilisation figures the probes measured (Prometheus process_*
metrics, pg_stat_activity against max_connections, PgBouncer SHOW POOLS).

A resource passed as None was not measured: that is reported
(``saturation-not-measured``) rather than treated as idle, because a
headroom check that silently skips a resource cannot claim headroom.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeAlias

from .findings import Finding
from .limits import reaches

__all__ = ["evaluate_saturation"]

Ratios: TypeAlias = float | Mapping[str, float | None] | None


def _pct(ratio: float) -> str:
    return f"{ratio * 100:.1f} %"


def _ratios(
    code: str,
    label: str,
    value: Ratios,
    limit: float,
    findings: list[Finding],
) -> None:
    """Judge one ratio, or one per instance when a mapping is given."""
    if value is None:
        findings.append(Finding("saturation-not-measured", f"{label} not measured"))
        return
    items = value.items() if isinstance(value, Mapping) else [("", value)]
    if not items:
        findings.append(Finding("saturation-not-measured", f"{label} not measured"))
        return
    for name, ratio in items:
        where = f" of {name}" if name else ""
        if ratio is None:
            findings.append(Finding("saturation-not-measured", f"{label}{where} not measured"))
        elif reaches(ratio, limit):
            findings.append(
                Finding(code, f"{label}{where} at {_pct(ratio)} (limit {limit * 100:g} %)")
            )


def evaluate_saturation(
    *,
    cpu: Ratios,
    memory: Ratios,
    db_connections_used: int | None,
    db_connections_max: int | None,
    db_reserved: int = 0,
    pgbouncer_cl_waiting: int | None,
    pgbouncer_maxwait_s: float | None,
    limit: float = 0.80,
    max_wait_s: float = 1.0,
) -> list[Finding]:
    """PF-03 findings.

    ``cpu`` / ``memory``: utilisation ratios (0..1), one number or
    ``{instance: ratio}``. ``db_connections_used`` against
    ``db_connections_max - db_reserved`` (the slots an app can get).
    PgBouncer must have no waiting clients and ``maxwait < max_wait_s``
    (see ``pgbouncer.pool_pressure``).

    Codes: saturation-cpu, saturation-memory, saturation-db-connections,
    saturation-pgbouncer-waiting, saturation-pgbouncer-maxwait,
    saturation-not-measured.
    """
    findings: list[Finding] = []
    _ratios("saturation-cpu", "API CPU", cpu, limit, findings)
    _ratios("saturation-memory", "API memory", memory, limit, findings)
    if db_connections_used is None or db_connections_max is None:
        findings.append(Finding("saturation-not-measured", "database connections not measured"))
    else:
        usable = db_connections_max - db_reserved
        ratio = db_connections_used / usable if usable > 0 else 1.0
        if reaches(ratio, limit):
            findings.append(
                Finding(
                    "saturation-db-connections",
                    f"database connections at {_pct(ratio)}: {db_connections_used} of "
                    f"{usable} usable (max_connections {db_connections_max} - reserved "
                    f"{db_reserved}) (limit {limit * 100:g} %)",
                )
            )
    if pgbouncer_cl_waiting is None:
        findings.append(Finding("saturation-not-measured", "PgBouncer cl_waiting not measured"))
    elif pgbouncer_cl_waiting > 0:
        findings.append(
            Finding(
                "saturation-pgbouncer-waiting",
                f"PgBouncer has {pgbouncer_cl_waiting} client(s) waiting (cl_waiting); must be 0",
            )
        )
    if pgbouncer_maxwait_s is None:
        findings.append(Finding("saturation-not-measured", "PgBouncer maxwait not measured"))
    elif reaches(pgbouncer_maxwait_s, max_wait_s):
        findings.append(
            Finding(
                "saturation-pgbouncer-maxwait",
                f"PgBouncer maxwait {pgbouncer_maxwait_s:.3f} s (limit {max_wait_s:g} s)",
            )
        )
    return findings
