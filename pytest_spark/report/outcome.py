"""One outcome vocabulary for every report: terminal, JUnit, HTML, summary.md.

EVIDENCE.md (Outcomes, Verdict) names five outcomes and one more word a reader
must see: a blocker that was skipped is "not verified" and blocks the verdict
unless the policy exempts it. Every renderer asks ``shown`` for the word, so a
check the verdict calls "error" is never FAILED in one report and ERROR in
another, and a waived failure is never shown as a plain failure.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from ..verdict import ERROR, FAILED, PASSED, SKIPPED, WAIVED

NOT_VERIFIED = "not verified"
POLICY_PREFIX = "policy: "  # a skip reason starting so is a policy skip (session.label)
SHOWN = (PASSED, FAILED, ERROR, WAIVED, NOT_VERIFIED, SKIPPED)


class Word(NamedTuple):
    """How one shown outcome appears: pytest's stats category, progress letter, word, colour."""

    category: str
    letter: str
    word: str
    colour: str
    junit: str  # "", "failure", "error", "skipped"
    html: str  # a result pytest-html's filters know


WORDS: dict[str, Word] = {
    PASSED: Word("passed", ".", "PASSED", "green", "", "Passed"),
    FAILED: Word("failed", "F", "FAILED", "red", "failure", "Failed"),
    ERROR: Word("error", "E", "ERROR", "red", "error", "Error"),
    WAIVED: Word("waived", "w", "WAIVED", "yellow", "skipped", "XFailed"),
    NOT_VERIFIED: Word("not verified", "N", "NOT VERIFIED", "red", "skipped", "Skipped"),
    SKIPPED: Word("skipped", "s", "SKIPPED", "yellow", "skipped", "Skipped"),
}


def shown(outcome: str, *, severity: str, waived: bool = False, exempt: bool = False) -> str:
    """The word for one result, from its raw outcome (verdict.compute decides the same way).

    ``waived``: an active waiver covers this check; it applies only to failed/error.
    ``exempt``: the run's policy names this check as exempt from verification.
    """
    if outcome in (FAILED, ERROR) and waived:
        return WAIVED
    if outcome == SKIPPED and severity != "warning" and not exempt:
        return NOT_VERIFIED
    if outcome in WORDS:
        return outcome
    return ERROR  # an outcome nobody decided on never reads as harmless


def record_shown(record: Mapping[str, Any], verdict: Mapping[str, Any]) -> str:
    """The word for a check record, from the verdict's effective outcome (bundle, HTML, summary)."""
    effective = verdict.get("outcomes", {}).get(record["id"], record["outcome"])
    if effective == WAIVED:
        return WAIVED
    return shown(
        effective,
        severity=record.get("severity", ""),
        exempt=record["id"] in set(verdict.get("exempt", ())),
    )


def shown_counts(words: Iterable[str]) -> dict[str, int]:
    """Counts in the fixed order every report prints them (zeros left out)."""
    counts = Counter(words)
    return {w: counts[w] for w in SHOWN if counts.get(w)}


def counts_text(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{n} {w}" for w, n in counts.items()) or "none"


def message(word: str, text: str, *, skip_kind: str = "") -> str:
    """The message as the verdict words it: errors 'could not verify', skips 'not verified'."""
    text = (text or "").strip()
    if word == ERROR and not text.startswith("could not verify"):
        return f"could not verify: {text}" if text else "could not verify"
    if word == NOT_VERIFIED:
        why = "skipped by policy" if skip_kind == "policy" else "skipped"
        return f"not verified ({why}): {text}" if text else f"not verified ({why})"
    return text


def check_line(check_id: str, title: str, word: str, text: str, *, width: int = 0) -> str:
    """`PF-02 NTP  ERROR  could not verify: NTP server ... did not answer within 5.0 s`."""
    head = f"{check_id} {title}"
    line = f"{head:<{width}}  {WORDS[word].word}"
    return f"{line}  {text}" if text else line


def reason_word(reason: Mapping[str, Any]) -> tuple[str, str]:
    """(word, text) of a verdict reason: a skipped blocker reads "not verified", not "skipped"."""
    outcome, text = reason["outcome"], reason.get("message", "")
    if outcome == SKIPPED and text.startswith(NOT_VERIFIED):
        rest = text.removeprefix(NOT_VERIFIED).strip()  # "(skipped by policy): why"
        why, sep, detail = rest.partition("): ")
        return NOT_VERIFIED, f"{why.lstrip('(')}: {detail}" if sep else rest.strip("()")
    return outcome, text
