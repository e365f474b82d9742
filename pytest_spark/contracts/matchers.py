"""Matchers the suite's consumers share (pact-python 4, Pact specification V4).

Why the combined matchers: Pact's ``regex`` matcher compares the *text* of a
value, so a JSON number 65000.1 would satisfy a decimal regex. Money must be a
string (a float loses digits), so money fields are matched by type (string)
AND the decimal regex, through the FFI integration JSON's list form
(docs.pact.io, "FFI Integration JSON format", "Supporting multiple matching rules").
"""

from __future__ import annotations

from typing import Any

from pact import generate, match
from pact.match.matcher import GenericMatcher

#: A plain decimal as the API writes money: optional minus, digits, optional fraction.
DECIMAL = r"^-?[0-9]+(\.[0-9]+)?$"
#: ISO 8601 UTC timestamp as the API writes it (fraction optional, Z suffix).
ISO_UTC = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?Z$"
UUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"


def string_matching(example: str, regex: str) -> dict[str, Any]:
    """A string (type) that also matches ``regex``: a number with the same text does not."""
    return {
        "pact:matcher:type": [
            {"pact:matcher:type": "type"},
            {"pact:matcher:type": "regex", "regex": regex},
        ],
        "value": example,
    }


def decimal_string(example: str) -> dict[str, Any]:
    """Money: a decimal *string* such as "65000.10"; a JSON number breaks the contract."""
    return string_matching(example, DECIMAL)


def iso_timestamp(example: str) -> dict[str, Any]:
    """An ISO 8601 UTC timestamp string such as "2026-11-30T08:50:42.123Z"."""
    return string_matching(example, ISO_UTC)


def from_state(expression: str, example: str, regex: str = r"^.+$") -> GenericMatcher[Any]:
    """A value the provider state makes (``${orderId}``): the example for the consumer's
    mock, the provider state's value when the provider is verified."""
    return GenericMatcher(
        "regex", example, generator=generate.provider_state(expression), regex=regex
    )


__all__ = [
    "DECIMAL",
    "ISO_UTC",
    "UUID",
    "decimal_string",
    "from_state",
    "iso_timestamp",
    "match",
    "string_matching",
]
