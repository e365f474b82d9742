"""BS-04: money is decimal end to end -- in the schema and on the wire.

Binary floating point cannot represent 0.1; a price stored as double
precision or sent as a JSON number (which most clients parse into a double)
drifts off the tick grid and sums wrong. ``money`` is locale-dependent and
fixed at two decimals; ``numeric`` without a scale accepts any precision
silently. So in the DB a money-like column must be ``numeric(p, s)``, and
in JSON a money-like field must be a string.

"Money-like" is decided by name, with configurable fragments matched
against the words of a name (``unit_price``, ``filledQty``, ``fees``...).
Finding no money-like column or no money-like JSON field is not a pass: the
patterns matched nothing, so nothing was verified (:func:`unverified`).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from .findings import Finding

__all__ = [
    "DEFAULT_MONEY_PATTERNS",
    "evaluate_columns",
    "evaluate_json",
    "is_money_like",
    "money_fields",
    "money_numbers",
    "name_words",
    "unverified",
]

#: Spark's defaults (config ``schema.money_patterns``).
DEFAULT_MONEY_PATTERNS: tuple[str, ...] = (
    "price",
    "bid",
    "ask",
    "amount",
    "qty",
    "quantity",
    "notional",
    "fee",
    "balance",
    "pnl",
    "size",
)

_CAMEL = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")


def name_words(name: str) -> list[str]:
    """The lower-case words of an identifier: snake_case, camelCase, kebab, dots."""
    words: list[str] = []
    for part in re.split(r"[^A-Za-z0-9]+", name):
        words.extend(w.lower() for w in _CAMEL.findall(part))
    return words


def _plural(word: str, pattern: str) -> bool:
    return word in (pattern + "s", pattern + "es")


def is_money_like(name: str, patterns: Iterable[str] = DEFAULT_MONEY_PATTERNS) -> bool:
    """Whether a column or field name denotes money or a quantity.

    A plain pattern matches a whole word of the name, or its plural
    (``price`` matches ``unit_price``, ``limitPrice`` and ``prices``, not
    ``pricing``). A pattern containing ``*``, ``?`` or
    ``[`` is a glob over the whole lower-cased name.
    """
    lowered = name.lower()
    words = name_words(name)
    for pattern in patterns:
        pat = pattern.lower().strip()
        if not pat:
            continue
        if any(ch in pat for ch in "*?["):
            if fnmatch.fnmatchcase(lowered, pat):
                return True
        elif any(w == pat or _plural(w, pat) for w in words):
            return True
    return False


_FLOAT_TYPES = {"real": "real", "double precision": "double precision", "money": "money"}
_FLOAT_UDT = {"float4": "real", "float8": "double precision", "money": "money"}


def _column_problem(row: Mapping[str, Any]) -> str | None:
    data_type = str(row.get("data_type") or "").lower()
    udt = str(row.get("udt_name") or "").lower()
    if data_type in _FLOAT_TYPES:
        return f"is {_FLOAT_TYPES[data_type]}"
    if data_type == "array" and udt.lstrip("_") in _FLOAT_UDT:
        return f"is an array of {_FLOAT_UDT[udt.lstrip('_')]}"
    if data_type == "array" and udt == "_numeric":
        return "is an array of numeric (element scale cannot be verified)"
    if data_type == "numeric" and row.get("numeric_scale") is None:
        return "is numeric without precision and scale (unconstrained)"
    return None


def evaluate_columns(
    rows: Iterable[Mapping[str, Any]],
    *,
    patterns: Iterable[str] = DEFAULT_MONEY_PATTERNS,
    exclude: Iterable[str] = (),
) -> list[Finding]:
    """BS-04 DB findings (``MONEY_COLUMNS_SQL`` rows): ``decimal-column`` for
    every money-like column that is real, double precision, money,
    unconstrained numeric, or an array of those.

    ``exclude``: ``column`` or ``table.column`` names to skip (a reviewed
    exception, e.g. a float ``size`` that is a byte count).
    """
    pats = list(patterns)
    skip = {e.lower() for e in exclude}
    findings: list[Finding] = []
    for row in rows:
        table, column = str(row.get("table_name") or "?"), str(row.get("column_name") or "")
        if not column or not is_money_like(column, pats):
            continue
        if column.lower() in skip or f"{table}.{column}".lower() in skip:
            continue
        problem = _column_problem(row)
        if problem is None:
            continue
        schema = row.get("table_schema")
        where = (
            f"{table}.{column}" if schema in (None, "", "public") else f"{schema}.{table}.{column}"
        )
        domain = f" (via domain {row['domain_name']})" if row.get("domain_name") else ""
        findings.append(
            Finding(
                "decimal-column",
                f"money-like column {where} {problem}{domain}; must be numeric(p,s)",
            )
        )
    return findings


def _key_path(path: str, key: str) -> str:
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
        return f"{path}.{key}"
    escaped = key.replace("\\", "\\\\").replace("'", "\\'")
    return f"{path}['{escaped}']"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _money_leaves(doc: Any, patterns: Iterable[str], root: str) -> Iterator[tuple[str, Any]]:
    """(JSONPath, value) of every scalar under a money-like key, in document order.

    Walks dicts and lists iteratively (no recursion limit on deep documents). A
    money-like key's array passes its money-ness to its elements (``"prices":
    [1.5, 2]``); nested objects are judged by their own keys.
    """
    pats = list(patterns)
    stack: list[tuple[Any, str, bool]] = [(doc, root, False)]
    while stack:
        value, path, money = stack.pop()
        if isinstance(value, Mapping):
            items = list(value.items())
            for key, child in reversed(items):
                key_s = str(key)
                stack.append((child, _key_path(path, key_s), is_money_like(key_s, pats)))
        elif isinstance(value, (list, tuple)):
            for i in range(len(value) - 1, -1, -1):
                stack.append((value[i], f"{path}[{i}]", money))
        elif money:
            yield path, value


def money_numbers(
    doc: Any,
    patterns: Iterable[str] = DEFAULT_MONEY_PATTERNS,
    root: str = "$",
) -> list[tuple[str, int | float]]:
    """(JSONPath, value) of every JSON number under a money-like key (a finding each)."""
    return [(p, v) for p, v in _money_leaves(doc, patterns, root) if _is_number(v)]


def money_fields(
    doc: Any,
    patterns: Iterable[str] = DEFAULT_MONEY_PATTERNS,
    root: str = "$",
) -> list[str]:
    """JSONPaths of the money-like fields BS-04 could judge: a string or a number
    (``null`` and booleans say nothing about how money is encoded)."""
    return [p for p, v in _money_leaves(doc, patterns, root) if isinstance(v, str) or _is_number(v)]


def unverified(
    money_columns: Sequence[Any],
    api_fields: Mapping[str, int],
    *,
    patterns: Iterable[str],
    tables: Iterable[str],
) -> list[str]:
    """Why BS-04 verified nothing, one reason per blind spot (empty: it saw money).

    ``money_columns``: the money-like columns found in the configured tables;
    ``api_fields``: per API base URL, how many money fields its JSON held. A
    check that judged zero columns, or zero fields of one API, would otherwise
    pass on nothing (a pattern typo, an API answering ``{}``).
    """
    pats = list(patterns)
    out: list[str] = []
    if not money_columns:
        out.append(
            f"no money column matched schema.money_patterns {pats} in schema.money_tables "
            f"{list(tables)}"
        )
    for base, count in api_fields.items():
        if count == 0:
            out.append(f"no money field matched schema.money_patterns {pats} in the JSON of {base}")
    return out


def evaluate_json(
    doc: Any,
    *,
    patterns: Iterable[str] = DEFAULT_MONEY_PATTERNS,
    source: str | None = None,
    limit: int = 20,
) -> list[Finding]:
    """BS-04 API findings: ``decimal-json-number`` for each money-like field
    sent as a JSON number, with its JSONPath (at most ``limit`` findings,
    plus one summary finding naming how many more there were)."""
    hits = money_numbers(doc, patterns)
    prefix = f"{source}: " if source else ""
    findings = [
        Finding(
            "decimal-json-number",
            f"{prefix}money field {path} is the JSON number {value!r}; must be a decimal string",
        )
        for path, value in hits[:limit]
    ]
    if len(hits) > limit:
        findings.append(
            Finding(
                "decimal-json-number",
                f"{prefix}... and {len(hits) - limit} more money fields sent as JSON numbers",
            )
        )
    return findings
