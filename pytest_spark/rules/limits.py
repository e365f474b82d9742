"""Comparisons against limits that cannot pass on NaN.

Every ordered comparison with NaN is false (IEEE 754), so ``value > limit``
with a NaN on either side silently "passes" a check: a NaN threshold from a
config file, or a NaN sample from Prometheus (it renders missing ratios as
"NaN"), would turn a real failure into GO. These helpers answer "is this a
failure?" and say yes whenever either side is not a finite number.
"""

from __future__ import annotations

import math


def finite(x: object) -> bool:
    """A finite number (int, float, Decimal, Fraction; bools and strings are not)."""
    if isinstance(x, bool):
        return False
    try:
        return math.isfinite(x)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return False


def exceeds(value: float, limit: float) -> bool:
    """``value > limit``, and True when either side is NaN, infinite or not a number."""
    return not (finite(value) and finite(limit)) or value > limit


def reaches(value: float, limit: float) -> bool:
    """``value >= limit``, and True when either side is NaN, infinite or not a number."""
    return not (finite(value) and finite(limit)) or value >= limit


def below(value: float, minimum: float) -> bool:
    """``value < minimum``, and True when either side is NaN, infinite or not a number."""
    return not (finite(value) and finite(minimum)) or value < minimum
