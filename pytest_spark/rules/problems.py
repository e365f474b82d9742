"""What a check fails on, and the one line that names it all.

The HTTP and release checks collect ``(message, where)`` pairs from many
responses: the same CSP problem on four pages is one problem seen in four
places. :func:`summary` says each problem once with every place it was seen,
on one line (the verdict keeps a failure's first line), and cuts the list at
:data:`SHOW_MAX` problems; all of them stay in the evidence.
"""

from __future__ import annotations

from collections.abc import Sequence

from pytest_spark.rules.findings import FAIL, Finding

__all__ = ["SHOW_MAX", "Problem", "fail_messages", "summary"]

#: Problems spelled out in a failure message (the evidence holds every one).
SHOW_MAX = 6

Problem = tuple[str, str]  # (what is wrong, where it was seen; "" when nowhere in particular)


def summary(problems: Sequence[Problem], show_max: int = SHOW_MAX) -> str:
    """One line (the verdict keeps the first line): each problem once, with every place seen."""
    places: dict[str, list[str]] = {}
    for message, where in problems:
        seen = places.setdefault(message, [])
        if where and where not in seen:
            seen.append(where)
    parts = [f"{m} on {', '.join(w)}" if w else m for m, w in places.items()]
    shown = "; ".join(parts[:show_max])
    more = len(parts) - show_max
    return shown + (f"; ... and {more} more" if more > 0 else "")


def fail_messages(findings: Sequence[Finding], where: str = "") -> list[Problem]:
    """The findings of severity "fail" as problems seen at ``where``."""
    return [(f.message, where) for f in findings if f.severity == FAIL]
