"""The check catalog: the one source of truth for ids, titles, suites and severities.

Everything else (markers, reports, the README table, waivers) reads from here, so
a check id can never mean two different things in two places.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Suite(StrEnum):
    BLINDSPOTS = "blindspots"
    PREFLIGHT = "preflight"
    REDTEAM = "redteam"


class Severity(StrEnum):
    BLOCKER = "blocker"
    WARNING = "warning"


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    suite: Suite
    severity: Severity
    summary: str
    writes: bool = False
    disruptive: bool = False

    @property
    def policy_gate(self) -> str | None:
        """The permission this check needs beyond read-only access, if any."""
        if self.disruptive:
            return "disruptive"
        if self.writes:
            return "writes"
        return None


_B, _P, _R = Suite.BLINDSPOTS, Suite.PREFLIGHT, Suite.REDTEAM
_BLOCK = Severity.BLOCKER

CHECKS: tuple[Check, ...] = (
    Check("BS-01", "Time", _B, _BLOCK, "Clocks agree across API, DB, Prometheus and local UTC"),
    Check("BS-02", "Migrate", _B, _BLOCK, "Schema is at the release's migration, none failed"),
    Check("BS-03", "pgBouncer", _B, _BLOCK, "PgBouncer pool mode, queue timeout and sizes fit"),
    Check("BS-04", "Decimal", _B, _BLOCK, "Money is decimal in DB columns and API JSON"),
    Check("BS-05", "CSP", _B, _BLOCK, "Enforcing, strict Content-Security-Policy with reporting"),
    Check("BS-06", "Prometheus", _B, _BLOCK, "Every canary and SLO metric family has fresh data"),
    Check("BS-07", "Flags", _B, _BLOCK, "New flags default OFF, kill switches exist"),
    Check("BS-08", "SLO", _B, _BLOCK, "Error budget left and no fast or slow burn"),
    Check("BS-09", "SBOM", _B, _BLOCK, "CycloneDX 1.6 SBOM for this release, valid, with purls"),
    Check("PF-01", "Identity", _P, _BLOCK, "Every API instance reports the release under test"),
    Check("PF-02", "NTP", _P, _BLOCK, "NTP offset, stratum and leap status within limits"),
    Check("PF-03", "Saturation", _P, _BLOCK, "CPU, memory, DB and pool headroom below 80 %"),
    Check("PF-04", "Migration", _P, _BLOCK, "Pending migrations rehearse cleanly and lint safe"),
    Check("PF-05", "Headers", _P, _BLOCK, "Security header baseline scores at least A-"),
    Check("PF-06", "Sequences", _P, _BLOCK, "No sequence near exhaustion of its column"),
    Check("PF-07", "Flags", _P, _BLOCK, "All instances share a fresh flag snapshot"),
    Check("PF-08", "Targets", _P, _BLOCK, "Scrape targets up, rules healthy, Alertmanager ready"),
    Check("PF-09", "Baseline", _P, _BLOCK, "Pre-deploy canary baseline captured and within SLO"),
    Check(
        "RT-01",
        "UNIQUE collation",
        _R,
        _BLOCK,
        "One-open-position index is valid and deterministic",
    ),
    Check(
        "RT-02",
        "Idempotency TTL",
        _R,
        _BLOCK,
        "Concurrent same-key POSTs create one order; keys expire and are purged",
        writes=True,
    ),
    Check(
        "RT-03", "Outbox lag", _R, _BLOCK, "Outbox drains: oldest row young, relay heartbeat fresh"
    ),
    Check("RT-04", "HSTS preload", _R, _BLOCK, "HSTS is preload-eligible and redirects carry it"),
    Check(
        "RT-05", "COEP compat", _R, _BLOCK, "COEP/COOP set and every subresource loads under them"
    ),
    Check(
        "RT-06",
        "Decimal tick",
        _R,
        _BLOCK,
        "Prices on tick/lot grid, exact round-trip, off-grid rejected",
        writes=True,
    ),
    Check(
        "RT-07", "pgBouncer leak", _R, _BLOCK, "No waiting clients, idle-in-tx or connection growth"
    ),
    Check(
        "RT-08",
        "PITR test",
        _R,
        _BLOCK,
        "WAL archiving healthy and a restore drill recovers a sentinel row",
        disruptive=True,
    ),
    Check("RT-09", "SLO silence", _R, _BLOCK, "No active silence mutes SLO or rollback alerts"),
    Check("RT-10", "SBOM attach", _R, _BLOCK, "SBOM attached with digest and matches what runs"),
)

BY_ID: dict[str, Check] = {check.id: check for check in CHECKS}
SUITES: tuple[str, ...] = tuple(s.value for s in Suite)
OTHER_MARKERS: dict[str, str] = {
    "contract": "Pact consumer/provider contract tests",
    "chaos": "chaos scenarios (disruptive; need --spark-allow-disruptive)",
    "canary": "canary stage gates",
}


def get(check_id: str) -> Check:
    """Look a check up by id, with an error that lists what exists."""
    try:
        return BY_ID[check_id]
    except KeyError:
        raise KeyError(f"unknown check id {check_id!r}; known ids: {', '.join(BY_ID)}") from None


def markdown_table() -> str:
    """The README catalog table, generated so docs cannot drift from the code."""
    lines = [
        "| id | title | suite | severity | gate | what it checks |",
        "|---|---|---|---|---|---|",
    ]
    for c in CHECKS:
        gate = c.policy_gate or "read-only"
        lines.append(f"| {c.id} | {c.title} | {c.suite} | {c.severity} | {gate} | {c.summary} |")
    return "\n".join(lines)
