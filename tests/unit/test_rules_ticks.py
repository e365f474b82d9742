"""RT-06 tick/lot grid and float-artifact rules."""

from __future__ import annotations

import json
from decimal import Context, Decimal, Inexact, InvalidOperation, localcontext

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_spark.rules import ticks
from pytest_spark.rules.findings import codes

QUOTE = {"symbol": "SPRK", "bid": "101.25", "ask": "101.30", "bid_size": "10", "ask_size": "25"}


@pytest.mark.parametrize(
    ("value", "step", "expected"),
    [
        ("101.25", "0.05", True),
        ("101.26", "0.05", False),
        ("101.250", "0.05", True),
        ("-0.10", "0.05", True),
        ("0", "0.01", True),
        ("0.00", "0.01", True),
        ("1E+3", "0.5", True),
        ("12.5", "2.5", True),
        ("12.4", "2.5", False),
        ("0.3", "0.1", True),  # exact, unlike 0.3 % 0.1 in float
        ("0.30000000000000004", "0.01", False),
        ("1E+999999", "0.01", True),  # no context precision overflow
        ("1E-999999", "0.01", False),
        ("7", 3, False),
        (9, 3, True),
        (Decimal("NaN"), "0.01", False),
        (Decimal("Infinity"), "0.01", False),
    ],
)
def test_on_grid(value, step, expected):
    assert ticks.on_grid(value, step) is expected


def test_on_grid_refuses_bad_steps_and_floats():
    for step in ("0", "-0.01", "NaN", "Infinity"):
        with pytest.raises(ValueError, match="step"):
            ticks.on_grid("1", step)
    with pytest.raises(TypeError, match="float"):
        ticks.on_grid(0.3, "0.1")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        ticks.on_grid("1", 0.1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not a decimal"):
        ticks.on_grid("abc", "0.1")


@pytest.mark.parametrize(
    ("text", "artifact"),
    [
        ("0.30000000000000004", True),
        ("0.7999999999999999", True),
        ("3.3000000000000003", True),
        ("1e-05", True),
        ("1E+21", True),
        ("NaN", True),
        ("-Infinity", True),
        ("101.25", False),
        ("0.00000001", False),
        ("100000000", False),
        ("123456789012345", False),
        ("1234567890123456", True),
        ("abc", False),  # not a number at all: parse_decimal's problem
        ("", False),
    ],
)
def test_float_artifact(text, artifact):
    assert bool(ticks.float_artifact(text)) is artifact


def test_float_artifact_reasons_are_specific():
    assert "exponent" in str(ticks.float_artifact("1e-05"))
    assert "17 significant digits" in str(ticks.float_artifact("0.30000000000000004"))
    assert "'9'" in str(ticks.float_artifact("0.7999999999999999", max_significant=17))


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("101.25", True),
        ("-1", True),
        ("0.5", True),
        ("+1", False),
        (" 1", False),
        ("01", False),
        ("1.", False),
        (".5", False),
        ("1_000", False),
        ("1e3", False),
        ("NaN", False),
    ],
)
def test_parse_decimal_is_strict(text, ok):
    assert (ticks.parse_decimal(text) is not None) is ok


def test_healthy_quote_passes():
    assert ticks.validate_quote(QUOTE, tick_size="0.05", lot_size="1") == []
    assert ticks.validate_quote({**QUOTE, "tick_size": "0.05", "lot_size": "5"}) == []


def test_fault_api_passes_prices_through_float():
    body = '{"bid": 101.25, "ask": "101.30000000000001", "bid_size": "10", "ask_size": "25"}'
    quote = json.loads(body, parse_float=Decimal)
    findings = ticks.validate_quote(quote, tick_size="0.05", lot_size="1")
    assert codes(findings) == ["bid-json-number", "ask-float-artifact"]
    assert findings[0].message.startswith("bid is a JSON number (101.25)")
    assert "'101.30000000000001'" in findings[1].message


def test_off_grid_and_format_findings():
    quote = {"bid": "101.26", "ask": "1e2", "bid_size": "10.5", "ask_size": " 25"}
    findings = ticks.validate_quote(quote, tick_size="0.05", lot_size="1")
    assert codes(findings) == [
        "bid-off-grid",
        "ask-float-artifact",
        "bid_size-off-grid",
        "ask_size-not-decimal",
    ]
    assert findings[0].message == "bid 101.26 is not on the 0.05 tick grid"
    assert findings[2].message == "bid_size 10.5 is not on the 1 lot grid"


def test_missing_null_and_type_findings():
    findings = ticks.validate_quote(
        {"ask": None, "bid_size": True, "ask_size": 3}, tick_size="0.01", lot_size="1"
    )
    assert codes(findings) == [
        "bid-missing",
        "ask-null",
        "bid_size-not-string",
        "ask_size-json-number",
    ]


def test_grid_sizes_unknown_or_invalid():
    assert codes(ticks.validate_quote({"bid": "1", "ask": "1"})) == ["tick_size-unknown"]
    assert codes(ticks.validate_quote({"bid": "1", "ask": "1"}, tick_size="0")) == [
        "tick_size-invalid"
    ]
    assert codes(ticks.validate_quote({"bid": "1", "ask": "1", "tick_size": 0.01})) == [
        "tick_size-invalid"
    ]
    # No size fields present: the lot size is not needed.
    assert ticks.validate_quote({"bid": "1", "ask": "1"}, tick_size="0.5") == []


def test_custom_fields():
    order = {"price": "10.10", "quantity": "3"}
    findings = ticks.validate_quote(
        order, tick_size="0.25", lot_size="1", price_fields=("price",), size_fields=("quantity",)
    )
    assert codes(findings) == ["price-off-grid"]


# --- properties -----------------------------------------------------------------------------

_EXACT = Context(prec=400, traps=[Inexact, InvalidOperation])  # a rounding test input errors
_STEPS = st.decimals(min_value=Decimal("1e-30"), max_value=Decimal("1e30"), allow_nan=False).filter(
    lambda d: d > 0 and len(d.as_tuple().digits) <= 40
)


@given(st.integers(-(10**12), 10**12), _STEPS)
def test_integer_multiples_are_on_grid(k, step):
    with localcontext(_EXACT):
        value = Decimal(k) * step
        half = step / 2
    assert ticks.on_grid(value, step)
    assert ticks.on_grid(str(value), step)
    assert ticks.on_grid(value.copy_negate(), step)  # unary minus would round to 28 digits
    # Half a step off the grid is never on it.
    with localcontext(_EXACT):
        nudged = value + half
    assert not ticks.on_grid(nudged, step)


@given(st.integers(0, 10**6), st.integers(1, 10**4))
def test_on_grid_agrees_with_integer_arithmetic(cents, tick_cents):
    value = Decimal(cents).scaleb(-2)
    step = Decimal(tick_cents).scaleb(-2)
    assert ticks.on_grid(value, step) is (cents % tick_cents == 0)


@given(st.integers(0, 10**8), st.integers(0, 10**8))
def test_float_passthrough_is_always_detected(a_cents, b_cents):
    """RT-06's point: a sum done in float is exact, or visibly wrong (artifact / off-grid)."""
    exact = Decimal(a_cents + b_cents).scaleb(-2)
    text = repr(a_cents / 100 + b_cents / 100)
    if Decimal(text) != exact:
        assert ticks.float_artifact(text) or not ticks.on_grid(text, "0.01")


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_float_repr_is_plain_or_flagged(x):
    text = repr(x)
    assert ticks.parse_decimal(text) is not None or ticks.float_artifact(text)


@given(st.text(max_size=40))
def test_text_functions_never_raise(text):
    ticks.float_artifact(text)
    ticks.parse_decimal(text)
    ticks.validate_quote(
        {"bid": text, "ask": text, "bid_size": text}, tick_size="0.01", lot_size="1"
    )
