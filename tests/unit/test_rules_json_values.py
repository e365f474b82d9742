"""JSON as the API sent it: exact decimals, and JSON numbers told apart from strings."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pytest_spark.rules.json_values import field, loads, shown


def test_numbers_decode_exactly_and_strings_stay_strings() -> None:
    doc = loads(b'{"price": 0.30000000000000004, "qty": 3, "tick": "0.01"}')
    assert doc == {"price": Decimal("0.30000000000000004"), "qty": 3, "tick": "0.01"}
    assert isinstance(doc["price"], Decimal)


@pytest.mark.parametrize("body", [b"", b"not json", b"{", b"\xff\xfe\x00"])
def test_a_body_that_is_not_json_is_none(body: bytes) -> None:
    assert loads(body) is None


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("101.25", "'101.25'"),
        (Decimal("101.25"), "101.25 (a JSON number)"),
        (7, "7 (a JSON number)"),
        (True, "True"),
        (None, "None"),
        ([1], "[1]"),
    ],
)
def test_shown_marks_json_numbers(value: object, text: str) -> None:
    assert shown(value) == text


def test_field_only_reads_objects() -> None:
    assert field({"id": 5}, "id") == 5
    assert field({"id": 5}, "price") is None
    assert field(["id"], "id") is None
    assert field(None, "id") is None
