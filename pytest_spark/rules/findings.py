"""The one result type every pure rule module returns.

A rule never raises to signal "the target is wrong": it returns findings, so
a check can record all of them as evidence and fail with every problem named
at once (not just the first). Codes are stable identifiers (tests, waivers
and reviewers match on them); messages are for humans and name the header /
directive / field and the offending value.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

Severity = Literal["fail", "warn"]

FAIL: Severity = "fail"
WARN: Severity = "warn"


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem a rule found.

    ``severity`` "fail" means the check must fail on it; "warn" is reported
    but never fails the check on its own. ``penalty`` is the score modifier a
    scoring rule (the header scorer) applied for it: 0 for rules that do not
    score, negative for a penalty, positive for a bonus.
    """

    code: str
    message: str
    severity: Severity = FAIL
    penalty: int = 0

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form for evidence records."""
        return {
            "code": self.code,
            "message": self.message,
            "severity": self.severity,
            "penalty": self.penalty,
        }


def failures(findings: Iterable[Finding]) -> list[Finding]:
    """Only the findings that make a check fail (severity "fail")."""
    return [f for f in findings if f.severity == FAIL]


def codes(findings: Iterable[Finding]) -> list[str]:
    """The codes, in order: handy in assertions and evidence summaries."""
    return [f.code for f in findings]
