"""JSON as the API sent it: decimals kept exact, and values shown the way they arrived.

Money must travel as JSON strings. To tell ``"101.25"`` from ``101.25`` (and
to show which one came back) a body is decoded with JSON numbers as
``Decimal``/``int``, never ``float``. Pure.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

__all__ = ["field", "loads", "shown"]


def loads(body: bytes) -> Any:
    """JSON with decimals kept exact (a JSON number arrives as Decimal/int); None if not JSON."""
    try:
        return json.loads(body, parse_float=Decimal)
    except ValueError:
        return None


def shown(value: Any) -> str:
    """A decoded JSON value as the API sent it: strings quoted, numbers marked as such."""
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        return f"{value} (a JSON number)"
    return f"{value!r}"


def field(doc: Any, name: str) -> Any:
    """``doc[name]`` when ``doc`` is a JSON object, else None."""
    return doc.get(name) if isinstance(doc, Mapping) else None
