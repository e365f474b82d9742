"""Decimal money helpers: parse, check against a grid, format without losing digits.

Money never becomes a float here, except in :func:`through_float32`, which
exists only to inject the price-through-float fault.
"""

from __future__ import annotations

import re
import struct
from decimal import Decimal, InvalidOperation

# Plain decimal notation only: no sign, exponent, NaN or Infinity.
_DECIMAL_RE = re.compile(r"^[0-9]{1,18}(\.[0-9]{1,18})?$")
# numeric(18,8) holds at most 10 integer digits.
MAX_INTEGER_DIGITS = 10


class MoneyError(ValueError):
    """A money value in a request is malformed or not allowed."""


def parse_positive(field: str, raw: object) -> Decimal:
    """Parse a JSON value that must be a positive decimal string."""
    if not isinstance(raw, str):
        raise MoneyError(f"{field} must be a decimal string, got {type(raw).__name__}")
    if not _DECIMAL_RE.match(raw):
        raise MoneyError(f"{field} is not a plain decimal number: {raw!r}")
    try:
        value = Decimal(raw)
    except InvalidOperation as exc:  # pragma: no cover - the regex already excludes this
        raise MoneyError(f"{field} is not a decimal: {raw!r}") from exc
    if value <= 0:
        raise MoneyError(f"{field} must be positive: {raw!r}")
    if len(raw.split(".")[0].lstrip("0")) > MAX_INTEGER_DIGITS:
        raise MoneyError(f"{field} has more than {MAX_INTEGER_DIGITS} integer digits: {raw!r}")
    return value


def on_grid(value: Decimal, step: Decimal) -> bool:
    """True when value is an exact multiple of step (tick or lot size)."""
    return value % step == 0


def scale_of(value: Decimal) -> int:
    """Number of significant decimal places (0 for integers, also for 1E+3)."""
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def as_decimal(value: Decimal | float | int) -> Decimal:
    """A DB value as Decimal; a float (a column altered to double precision) via its repr."""
    if isinstance(value, Decimal):
        return value
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def format_money(value: Decimal | float, min_scale: int = 0) -> str:
    """Plain string with at least ``min_scale`` decimals and never fewer than needed.

    Formatting at the instrument's scale keeps an on-grid value byte-identical
    to how clients write it, while any extra digit (a float artifact) still shows.
    """
    value = as_decimal(value)
    scale = max(min_scale, scale_of(value))
    return f"{value:.{scale}f}"


def through_float32(value: Decimal) -> Decimal:
    """Round-trip through a single-precision float: the classic binary-float bug."""
    (as_float,) = struct.unpack("<f", struct.pack("<f", float(value)))
    return Decimal(as_float)
