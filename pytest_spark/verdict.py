"""Outcomes + policy + waivers -> one GO/NO-GO verdict. Pure: no I/O, no clock.

The same function runs at the end of a pytest session and inside
``pytest-spark verify``, so a reviewer re-derives exactly what the run decided.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .waivers import Waiver

PASSED, FAILED, ERROR, SKIPPED, WAIVED = "passed", "failed", "error", "skipped", "waived"
OUTCOMES = (PASSED, FAILED, ERROR, SKIPPED, WAIVED)
GO, NO_GO = "GO", "NO-GO"
RAN = frozenset({PASSED, FAILED, ERROR})
RAW_OUTCOMES = frozenset({PASSED, FAILED, ERROR, SKIPPED})
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
    scope: Mapping[str, Any] | None = None,
    release: str | None = None,
) -> dict[str, Any]:
    """Decide the verdict.

    ``records`` are check records (id, severity, outcome, message, skip_kind).
    GO only if something ran, the run completed, and every blocker is passed or
    waived; a skipped blocker is "not verified" unless its id is exempt. An
    outcome this module does not know (or a severity other than "warning")
    blocks: a GO must never come from a value nobody decided on.

    ``release`` (when given): an empty label blocks, so only a named release can be GO.
    ``not_run`` holds the selected tests that never completed (node ids) and the
    catalog ids in scope that produced no record; with ``scope`` given, the
    latter are derived here from ``scope["in_scope"]`` and added to ``not_run``,
    so ``pytest-spark verify`` re-derives the same reasons from ``not_run`` alone.
    """
    exempt = set(exempt)
    effective, waiver_report = apply_waivers(records, waivers, day)
    not_run = list(not_run)
    if scope is not None:
        recorded = {rec["id"] for rec in records}
        not_run += [
            cid
            for cid in missing_in_scope(scope.get("in_scope", ()), recorded)
            if cid not in not_run
        ]
    reasons: list[dict[str, str]] = []
    warnings: list[dict[str, str]] = []
    twice = sorted(cid for cid, n in Counter(rec["id"] for rec in records).items() if n > 1)
    reasons += [
        {"check": cid, "outcome": ERROR, "message": "more than one record for this check"}
        for cid in twice
    ]
    for rec in sorted(records, key=lambda r: r["id"]):
        cid, outcome = rec["id"], effective[rec["id"]]
        message = rec.get("message") or ""
        if rec["outcome"] not in RAW_OUTCOMES:  # "waived" is never a raw outcome
            reasons.append(
                {"check": cid, "outcome": ERROR, "message": f"unknown outcome {rec['outcome']!r}"}
            )
            continue
        if outcome in (PASSED, WAIVED):
            continue
        if rec.get("severity") == "warning":
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
                {
                    "check": cid,
                    "outcome": SKIPPED,
                    "message": f"not verified ({why}): {message}",
                }
            )
    missing = [entry for entry in not_run if _CHECK_ID.fullmatch(entry)]
    reasons += [
        {"check": cid, "outcome": NOT_RUN, "message": "in scope but produced no result"}
        for cid in missing
    ]
    tests_not_run = [entry for entry in not_run if not _CHECK_ID.fullmatch(entry)]
    if interrupted or tests_not_run:
        detail = (
            f"{len(tests_not_run)} selected test(s) did not run"
            if tests_not_run
            else "run stopped early"
        )
        reasons.append({"check": "*", "outcome": "incomplete", "message": f"incomplete: {detail}"})
    if release is not None and not release:  # a GO is a GO for a release (issue 15)
        reasons.append({"check": "*", "outcome": NO_RELEASE, "message": NO_RELEASE_MESSAGE})
    ran = sum(1 for rec in records if rec["outcome"] in RAN)
    if ran == 0:
        reasons.append({"check": "*", "outcome": "nothing-ran", "message": "no check ran"})
    counts = Counter(effective.values())
    out = {
        "verdict": GO if not reasons else NO_GO,
        "reasons": reasons,
        "warnings": warnings,
        "counts": {o: counts.get(o, 0) for o in OUTCOMES},
        "outcomes": dict(sorted(effective.items())),
        "waivers": waiver_report,
        "exempt": sorted(exempt),
        "interrupted": interrupted,
        "not_run": not_run,
    }
    if scope is not None:
        out["scope"] = dict(scope, not_run=missing)
    return out


NO_RELEASE = "no release"
NO_RELEASE_MESSAGE = "no --release given: a run without a release is never GO"
_CHECK_ID = re.compile(r"[A-Z]{2}-[0-9]{2,3}")  # CN-100 too
NOT_RUN = "not run"


def missing_in_scope(in_scope: Iterable[str], recorded: Iterable[str]) -> list[str]:
    """Catalog ids the run was meant to verify but that left no record (EVIDENCE.md, Scope)."""
    have = set(recorded)
    return sorted(cid for cid in set(in_scope) if cid not in have)


def scope_label(verdict: Mapping[str, Any]) -> str:
    """' for preflight (9 of 9)': what the verdict covers, and whether it is partial."""
    scope = verdict.get("scope")
    if not scope:
        return ""
    in_scope = scope.get("in_scope", [])
    done = len(in_scope) - len(scope.get("not_run", []))
    text = f" for {scope.get('name') or 'the selection'} ({done} of {len(in_scope)})"
    if scope.get("partial"):
        text += f", PARTIAL: {scope.get('partial')}"
    return text


def one_line(verdict: Mapping[str, Any], where: str = "") -> str:
    """The unmistakable last line of a run."""
    reasons = verdict["reasons"]
    head = f"SPARK VERDICT: {verdict['verdict']}{scope_label(verdict)}"
    missing = [r["check"] for r in reasons if r["outcome"] == NOT_RUN]
    # a skipped blocker blocks: it was not verified (EVIDENCE.md), never a harmless "skipped"
    items = [
        f"{r['check']} {'not verified' if r['outcome'] == SKIPPED else r['outcome']}"
        for r in reasons
        if r["outcome"] != NOT_RUN
    ]
    if missing:
        ids = ", ".join(missing[:4]) + (", ..." if len(missing) > 4 else "")
        items.append(f"{len(missing)} in scope not run ({ids})")
    if items:
        shown = "; ".join(items[:6])
        more = f" (+{len(items) - 6} more)" if len(items) > 6 else ""
        head += f" -- {shown}{more}"
    return head + (f" -- bundle: {where}" if where else "")
