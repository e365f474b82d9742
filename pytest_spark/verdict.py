"""Outcomes + policy + waivers -> one GO/NO-GO verdict. Pure: no I/O, no clock.

The same function runs at the end of a pytest session and inside
``pytest-spark verify``, so a reviewer re-derives exactly what the run decided.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .waivers import Waiver

PASSED, FAILED, ERROR, SKIPPED, WAIVED = "passed", "failed", "error", "skipped", "waived"
OUTCOMES = (PASSED, FAILED, ERROR, SKIPPED, WAIVED)
GO, NO_GO = "GO", "NO-GO"
RAN = frozenset({PASSED, FAILED, ERROR})
_WORST = {ERROR: 4, FAILED: 3, SKIPPED: 2, PASSED: 1}


def worst(outcomes: Iterable[str]) -> str:
    """Combine the outcomes of several tests bound to one check id."""
    return max(outcomes, key=lambda o: _WORST.get(o, 0), default=SKIPPED)


def apply_waivers(
    records: Sequence[Mapping[str, Any]], waivers: Sequence[Waiver], day: dt.date
) -> tuple[dict[str, str], dict[str, list[dict[str, Any]]]]:
    """Effective outcome per check id, plus which waivers applied / expired / went unused."""
    by_id = {w.check: w for w in waivers}
    effective: dict[str, str] = {}
    applied, expired, unused = [], [], []
    seen = set()
    for rec in records:
        cid, raw = rec["id"], rec["outcome"]
        seen.add(cid)
        effective[cid] = raw
        w = by_id.get(cid)
        if w is None:
            continue
        if not w.active_on(day):
            expired.append(w.to_dict())
        elif raw in (FAILED, ERROR):
            effective[cid] = WAIVED
            applied.append(w.to_dict())
        else:
            unused.append(w.to_dict())
    unused += [w.to_dict() for w in waivers if w.check not in seen]
    return effective, {"applied": applied, "expired": expired, "unused": unused}


def compute(
    records: Sequence[Mapping[str, Any]],
    *,
    waivers: Sequence[Waiver] = (),
    exempt: Iterable[str] = (),
    day: dt.date,
    interrupted: bool = False,
    not_run: Sequence[str] = (),
) -> dict[str, Any]:
    """Decide the verdict.

    ``records`` are check records (id, severity, outcome, message, skip_kind).
    GO only if something ran, the run completed, and every blocker is passed or
    waived; a skipped blocker is "not verified" unless its id is exempt.
    """
    exempt = set(exempt)
    effective, waiver_report = apply_waivers(records, waivers, day)
    reasons: list[dict[str, str]] = []
    warnings: list[dict[str, str]] = []
    for rec in sorted(records, key=lambda r: r["id"]):
        cid, outcome = rec["id"], effective[rec["id"]]
        message = rec.get("message") or ""
        if outcome in (PASSED, WAIVED):
            continue
        if rec["severity"] != "blocker":
            if outcome in (FAILED, ERROR):
                warnings.append({"check": cid, "outcome": outcome, "message": message})
            continue
        if outcome == FAILED:
            reasons.append({"check": cid, "outcome": FAILED, "message": message})
        elif outcome == ERROR:
            reasons.append(
                {"check": cid, "outcome": ERROR, "message": f"could not verify: {message}"}
            )
        elif outcome == SKIPPED and cid not in exempt:
            why = "skipped by policy" if rec.get("skip_kind") == "policy" else "skipped"
            reasons.append(
                {"check": cid, "outcome": SKIPPED, "message": f"not verified ({why}): {message}"}
            )
    if interrupted or not_run:
        detail = f"{len(not_run)} selected test(s) did not run" if not_run else "run stopped early"
        reasons.append({"check": "*", "outcome": "incomplete", "message": f"incomplete: {detail}"})
    ran = sum(1 for rec in records if rec["outcome"] in RAN)
    if ran == 0:
        reasons.append({"check": "*", "outcome": "nothing-ran", "message": "no check ran"})
    counts = Counter(effective.values())
    return {
        "verdict": GO if not reasons else NO_GO,
        "reasons": reasons,
        "warnings": warnings,
        "counts": {o: counts.get(o, 0) for o in OUTCOMES},
        "outcomes": dict(sorted(effective.items())),
        "waivers": waiver_report,
        "exempt": sorted(exempt),
        "interrupted": interrupted,
        "not_run": list(not_run),
    }


def one_line(verdict: Mapping[str, Any], where: str = "") -> str:
    """The unmistakable last line of a run."""
    reasons = verdict["reasons"]
    head = f"SPARK VERDICT: {verdict['verdict']}"
    if reasons:
        shown = "; ".join(f"{r['check']} {r['outcome']}" for r in reasons[:6])
        more = f" (+{len(reasons) - 6} more)" if len(reasons) > 6 else ""
        head += f" -- {shown}{more}"
    return head + (f" -- bundle: {where}" if where else "")
