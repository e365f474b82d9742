"""RT-06 / BS-04 decimal rules: exact tick and lot grids, float artifacts.

Money must stay decimal end to end. Two things betray a float in the path:
a value that is off the instrument's grid (101.25 became 101.2499999...),
and the *text* of a value (``0.30000000000000004``, ``1e-05``), which is
how binary floats print. Grid membership is decided with exact integer
arithmetic on the decimal digits -- never through float, and never through a
Decimal context whose precision could round (``Decimal % Decimal`` raises or
rounds once the quotient outgrows the context precision).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation

from pytest_spark.rules.findings import Finding

__all__ = ["float_artifact", "on_grid", "parse_decimal", "validate_quote"]

_PLAIN_DECIMAL = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?")
_EXPONENT = re.compile(r"[0-9.][eE][+-]?[0-9]")


def parse_decimal(text: str) -> Decimal | None:
    """Strict parse of a plain decimal string (``-12.50``); None otherwise.

    Stricter than ``Decimal()``: no exponent, no whitespace, no ``+``, no
    underscores, no NaN/Infinity, no leading zeros -- the API contract is a
    canonical decimal string.
    """
    if not isinstance(text, str) or not _PLAIN_DECIMAL.fullmatch(text):
        return None
    return Decimal(text)


def _coefficient(d: Decimal) -> tuple[int, int, int]:
    """(integer coefficient, exponent, number of digits), sign dropped."""
    t = d.as_tuple()
    digits = "".join(map(str, t.digits)) or "0"
    assert isinstance(t.exponent, int)
    return int(digits), t.exponent, len(digits)


def _to_decimal(value: str | Decimal | int, what: str) -> Decimal:
    if isinstance(value, (bool, float)):
        raise TypeError(f"{what} must be str, int or Decimal, not {type(value).__name__}")
    if isinstance(value, Decimal):
        return value
    try:
        return Decimal(value) if isinstance(value, int) else Decimal(value.strip())
    except (InvalidOperation, AttributeError):
        raise ValueError(f"{what} {value!r} is not a decimal number") from None


def on_grid(value: str | Decimal | int, step: str | Decimal | int) -> bool:
    """True when ``value`` is an exact integer multiple of ``step``.

    Equivalent to ``Decimal(value) % step == 0`` with unlimited precision.
    A NaN or infinite value is never on a grid. ``step`` must be a finite
    positive decimal (``ValueError`` otherwise); floats are refused
    (``TypeError``) because they are the very thing this guards against.
    """
    v = _to_decimal(value, "value")
    s = _to_decimal(step, "step")
    if not s.is_finite() or s <= 0:
        raise ValueError(f"step must be a finite positive decimal, got {step!r}")
    if not v.is_finite():
        return False
    if v.is_zero():
        return True
    cv, ev, nv = _coefficient(v)
    cs, es, _ = _coefficient(s)
    if ev >= es:
        # v/s = cv * 10**k / cs. Only cs's factors of 2 and 5 can be absorbed
        # by 10**k and there are fewer than cs.bit_length() of them, so k can
        # be capped there: exact even for exponents like 1E+999999.
        k = min(ev - es, cs.bit_length())
        return (cv * 10**k) % cs == 0
    k = es - ev
    if k >= nv:  # cs * 10**k > cv > 0: cannot divide
        return False
    return cv % (cs * 10**k) == 0


def float_artifact(value: str, max_significant: int = 15, max_run: int = 9) -> str | None:
    """Why ``value`` looks like printed binary-float output, or None.

    Signs: exponent notation (``1e-05``), non-finite words, more significant
    digits than a double carries reliably (``0.30000000000000004`` has 17),
    or a long run of 0s / 9s inside the digits (``0.7999999999999999``).
    Text that is simply not a number is not judged here (see
    :func:`parse_decimal`).
    """
    if not isinstance(value, str):
        return None
    text = value.strip()
    if _EXPONENT.search(text):
        return f"exponent notation {value!r}"
    if text.lower().lstrip("+-") in ("nan", "inf", "infinity"):
        return f"non-finite value {value!r}"
    if not _PLAIN_DECIMAL.fullmatch(text):
        return None
    significant = text.lstrip("-").replace(".", "").lstrip("0").rstrip("0")
    if len(significant) > max_significant:
        return f"{len(significant)} significant digits (more than {max_significant})"
    for digit in "09":
        if digit * max_run in significant:
            return f"a run of {max_run}+ '{digit}' digits"
    return None


def _step(value: object, name: str) -> tuple[Decimal | None, Finding | None]:
    if value is None:
        return None, Finding(f"{name}-unknown", f"{name} is not known, cannot check the grid")
    if isinstance(value, (bool, float)):
        return None, Finding(f"{name}-invalid", f"{name} {value!r} must be a decimal string")
    try:
        step = _to_decimal(value, name)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None, Finding(f"{name}-invalid", f"{name} {value!r} is not a decimal")
    if not step.is_finite() or step <= 0:
        return None, Finding(f"{name}-invalid", f"{name} {value!r} must be positive")
    return step, None


def validate_quote(
    quote: Mapping[str, object],
    *,
    tick_size: str | Decimal | None = None,
    lot_size: str | Decimal | None = None,
    price_fields: Sequence[str] = ("bid", "ask"),
    size_fields: Sequence[str] = ("bid_size", "ask_size"),
    required: Sequence[str] | None = None,
) -> list[Finding]:
    """RT-06 rules for one quote object as decoded from JSON.

    Decode the body with ``json.loads(text, parse_float=Decimal)`` so that a
    JSON number arrives as Decimal/int and is reported as such (money must be
    a JSON string). ``tick_size`` / ``lot_size`` default to the quote's own
    ``tick_size`` / ``lot_size`` fields. Fields in ``required`` (default: the
    price fields) must be present; other listed fields are checked if present.
    """
    must = set(price_fields if required is None else required)
    out: list[Finding] = []
    grids: dict[str, Decimal | None] = {}
    for kind, explicit, fields in (
        ("tick_size", tick_size, price_fields),
        ("lot_size", lot_size, size_fields),
    ):
        if not any(f in quote for f in fields):
            grids[kind] = None
            continue
        step, problem = _step(explicit if explicit is not None else quote.get(kind), kind)
        grids[kind] = step
        if problem:
            out.append(problem)

    for kind, fields in (("tick_size", price_fields), ("lot_size", size_fields)):
        step = grids[kind]
        grid_name = "tick" if kind == "tick_size" else "lot"
        for name in fields:
            if name not in quote:
                if name in must:
                    out.append(Finding(f"{name}-missing", f"{name} is missing from the quote"))
                continue
            raw = quote[name]
            if raw is None:
                out.append(Finding(f"{name}-null", f"{name} is null"))
                continue
            if isinstance(raw, bool) or not isinstance(raw, (str, int, float, Decimal)):
                out.append(
                    Finding(f"{name}-not-string", f"{name} is a JSON {type(raw).__name__}: {raw!r}")
                )
                continue
            if not isinstance(raw, str):
                out.append(
                    Finding(
                        f"{name}-json-number",
                        f"{name} is a JSON number ({raw}); money and sizes must be JSON strings",
                    )
                )
                continue
            reason = float_artifact(raw)
            if reason:
                out.append(
                    Finding(
                        f"{name}-float-artifact", f"{name} {raw!r} looks like a float: {reason}"
                    )
                )
                continue
            value = parse_decimal(raw)
            if value is None:
                out.append(
                    Finding(f"{name}-not-decimal", f"{name} {raw!r} is not a plain decimal string")
                )
                continue
            if step is not None and not on_grid(value, step):
                out.append(
                    Finding(
                        f"{name}-off-grid", f"{name} {raw} is not on the {step} {grid_name} grid"
                    )
                )
    return out
