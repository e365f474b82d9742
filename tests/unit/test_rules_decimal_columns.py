"""BS-04 decimals: money-like names, DB column types, JSON numbers with their paths."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_spark.rules.decimal_columns import (
    DEFAULT_MONEY_PATTERNS,
    evaluate_columns,
    evaluate_json,
    is_money_like,
    money_fields,
    money_numbers,
    name_words,
    unverified,
)
from pytest_spark.rules.findings import codes


def col(
    name: str,
    data_type: str,
    precision: int | None = None,
    scale: int | None = None,
    table: str = "orders",
    **over: Any,
) -> dict[str, Any]:
    """A MONEY_COLUMNS_SQL row."""
    udt = {
        "numeric": "numeric",
        "double precision": "float8",
        "real": "float4",
        "money": "money",
        "bigint": "int8",
        "text": "text",
    }.get(data_type, data_type)
    row = {
        "table_schema": "public",
        "table_name": table,
        "column_name": name,
        "data_type": data_type,
        "udt_name": udt,
        "domain_name": None,
        "numeric_precision": precision,
        "numeric_scale": scale,
        "table_type": "BASE TABLE",
    }
    row.update(over)
    return row


HEALTHY_SCHEMA = [
    col("id", "bigint", 64, 0),
    col("price", "numeric", 20, 8),
    col("qty", "numeric", 20, 8),
    col("fee", "numeric", 20, 8),
    col("status", "text"),
    col("created_at", "timestamp with time zone"),
    col("tick_size", "numeric", 20, 10, table="instruments"),
]


# --- names -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("unit_price", ["unit", "price"]),
        ("limitPrice", ["limit", "price"]),
        ("HTTPPrice", ["http", "price"]),
        ("fee-bps.2", ["fee", "bps", "2"]),
    ],
)
def test_name_words(name: str, words: list[str]) -> None:
    assert name_words(name) == words


@pytest.mark.parametrize(
    "name",
    [
        "price",
        "unit_price",
        "limitPrice",
        "prices",
        "fees",
        "filled_qty",
        "tickSize",
        "PNL",
        "notional_usd",
        "balance",
        "amount",
        "quantity",
    ],
)
def test_money_like_names(name: str) -> None:
    assert is_money_like(name)


@pytest.mark.parametrize("name", ["id", "status", "pricing", "created_at", "symbol", "feed"])
def test_not_money_like(name: str) -> None:
    assert not is_money_like(name)


def test_custom_and_glob_patterns() -> None:
    assert is_money_like("px_last", ["px"])
    assert not is_money_like("px_last", ["price"])
    assert is_money_like("bidpx", ["*px"])
    assert not is_money_like("price", [" ", ""])


# --- DB columns ------------------------------------------------------------------


def test_healthy_schema_passes() -> None:
    assert evaluate_columns(HEALTHY_SCHEMA) == []


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        (col("price", "double precision", 53), "is double precision"),
        (col("qty", "real", 24), "is real"),
        (col("notional", "money"), "is money"),
        (col("fee", "numeric"), "is numeric without precision and scale"),
        (col("prices", "ARRAY", udt_name="_float8"), "is an array of double precision"),
        (col("sizes", "ARRAY", udt_name="_numeric"), "is an array of numeric"),
    ],
)
def test_bad_money_columns(row: dict[str, Any], problem: str) -> None:
    [f] = evaluate_columns([*HEALTHY_SCHEMA, row])
    assert f.code == "decimal-column"
    assert f.message.startswith(f"money-like column orders.{row['column_name']} {problem}")


def test_domain_and_schema_are_named() -> None:
    row = col(
        "price", "double precision", table="fills", table_schema="trading", domain_name="price_t"
    )
    [f] = evaluate_columns([row])
    assert "trading.fills.price is double precision (via domain price_t)" in f.message


def test_non_money_float_is_fine_and_exclusions_apply() -> None:
    assert evaluate_columns([col("latency_ms", "double precision")]) == []
    bad = col("size", "double precision", table="uploads")
    assert codes(evaluate_columns([bad])) == ["decimal-column"]
    assert evaluate_columns([bad], exclude=["uploads.size"]) == []
    assert evaluate_columns([bad], exclude=["SIZE"]) == []


def test_patterns_are_configurable() -> None:
    row = col("px", "double precision")
    assert evaluate_columns([row]) == []
    assert codes(evaluate_columns([row], patterns=[*DEFAULT_MONEY_PATTERNS, "px"])) == [
        "decimal-column"
    ]


# --- API JSON --------------------------------------------------------------------

QUOTES = {
    "quotes": [
        {
            "symbol": "BTC-EUR",
            "bid": "61234.50",
            "ask": "61240.00",
            "size": "0.015",
            "tick_size": "0.5",
            "ts": 1714824000,
        },
    ],
    "count": 1,
}


def test_string_money_passes() -> None:
    assert evaluate_json(QUOTES) == []


def test_float_money_is_reported_with_path() -> None:
    doc = json.loads('{"orders": [{"id": 7, "price": 101.25, "qty": "2"}, {"price": "1"}]}')
    [f] = evaluate_json(doc, source="GET /orders")
    assert f.code == "decimal-json-number"
    assert f.message == (
        "GET /orders: money field $.orders[0].price is the JSON number 101.25; "
        "must be a decimal string"
    )


def test_integers_count_too_but_booleans_do_not() -> None:
    assert money_numbers({"amount": 5, "fee": True, "balance": None}) == [("$.amount", 5)]


def test_money_arrays_flag_their_elements() -> None:
    doc = {"prices": [1.5, "2.0", [3]], "levels": [{"size": 0.1}]}
    assert money_numbers(doc) == [
        ("$.prices[0]", 1.5),
        ("$.prices[2][0]", 3),
        ("$.levels[0].size", 0.1),
    ]


def test_odd_keys_are_quoted_in_paths() -> None:
    assert money_numbers({"unit price": 1.0, "it's fee": 2}) == [
        ("$['unit price']", 1.0),
        ("$['it\\'s fee']", 2),
    ]


def test_findings_are_capped() -> None:
    doc = [{"price": i} for i in range(30)]
    found = evaluate_json(doc, limit=5)
    assert len(found) == 6 and "25 more" in found[-1].message


def test_deep_documents_do_not_recurse() -> None:
    doc: Any = {"price": 1.0}
    for _ in range(5000):
        doc = {"a": doc}
    [(path, value)] = money_numbers(doc)
    assert path.endswith(".a.price") and value == 1.0


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["price", "qty", "id", "name", "levels", "fee rate", "x"]),
            children,
            max_size=4,
        )
    ),
    max_leaves=25,
)


_STEP = re.compile(r"\.(\w+)|\['((?:[^'\\]|\\.)*)'\]|\[(\d+)\]")


def _resolve(doc: Any, path: str) -> Any:
    """Follow a JSONPath as money_numbers writes it: $.key, $['odd key'], $[0]."""
    assert path.startswith("$")
    value, pos = doc, 1
    while pos < len(path):
        m = _STEP.match(path, pos)
        assert m, path[pos:]
        name, quoted, index = m.groups()
        if index is not None:
            value = value[int(index)]
        else:
            value = value[name if name is not None else re.sub(r"\\(.)", r"\1", quoted)]
        pos = m.end()
    return value


@given(JSON)
def test_walker_paths_resolve_to_numbers(doc: Any) -> None:
    for path, value in money_numbers(doc):
        got = _resolve(doc, path)
        assert got is value or got == value
        assert isinstance(got, (int, float)) and not isinstance(got, bool)


@given(JSON)
def test_stringified_numbers_are_never_reported(doc: Any) -> None:
    def stringify(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: stringify(x) for k, x in v.items()}
        if isinstance(v, list):
            return [stringify(x) for x in v]
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return str(Decimal(repr(v))) if isinstance(v, float) else str(v)
        return v

    assert money_numbers(stringify(doc)) == []


# --- nothing inspected is not a pass (review finding 3) -------------------------------


def test_money_fields_count_strings_and_numbers_only() -> None:
    doc = {"price": "1.50", "qty": 2, "fee": None, "bid": True, "prices": ["1", 2.5], "id": 7}
    assert money_fields(doc) == ["$.price", "$.qty", "$.prices[0]", "$.prices[1]"]
    assert money_fields({}) == [] and money_fields([]) == [] and money_fields(None) == []


@given(JSON)
def test_every_reported_number_is_a_counted_field(doc: Any) -> None:
    assert {p for p, _ in money_numbers(doc)} <= set(money_fields(doc))


def test_healthy_db_and_api_leave_nothing_unverified() -> None:
    money = [c for c in HEALTHY_SCHEMA if is_money_like(c["column_name"])]
    fields = {"http://api-1": len(money_fields({"quotes": [{"bid": "1.5", "ask": "1.6"}]}))}
    assert unverified(money, fields, patterns=DEFAULT_MONEY_PATTERNS, tables=["orders"]) == []


def test_patterns_matching_no_column_and_an_empty_api_are_both_named() -> None:
    patterns = ["zzzz"]
    money = [c for c in HEALTHY_SCHEMA if is_money_like(c["column_name"], patterns)]
    fields = {
        "http://api-1": len(money_fields({"quotes": [{"bid": "1.5"}]}, patterns)),
        "http://api-2": len(money_fields({}, patterns)),
    }
    assert money == [] and evaluate_columns(HEALTHY_SCHEMA, patterns=patterns) == []
    assert unverified(money, fields, patterns=patterns, tables=["orders"]) == [
        "no money column matched schema.money_patterns ['zzzz'] in schema.money_tables ['orders']",
        "no money field matched schema.money_patterns ['zzzz'] in the JSON of http://api-1",
        "no money field matched schema.money_patterns ['zzzz'] in the JSON of http://api-2",
    ]


def test_one_blind_api_among_healthy_ones_is_named_alone() -> None:
    money = [c for c in HEALTHY_SCHEMA if is_money_like(c["column_name"])]
    fields = {"http://api-1": 3, "http://api-2": 0}
    assert unverified(money, fields, patterns=["price"], tables=["orders"]) == [
        "no money field matched schema.money_patterns ['price'] in the JSON of http://api-2"
    ]
