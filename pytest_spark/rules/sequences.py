"""PF-06: how close each sequence is to running out of values.

A sequence fails inserts when it passes its own ``max_value`` -- or, sooner,
when the *column* it feeds cannot hold the next value: a bigint sequence
behind an int4 ``id`` breaks at 2 147 483 647 although the sequence itself
has room for 4 billion times more. So the limit is the tighter of the two,
and the sequence is measured against every column it feeds (owned-by,
identity and DEFAULT nextval links, see ``dbsql.SEQUENCES_SQL``).

A default ``nextval('s'::text)`` (or any nextval whose argument is not a
regclass constant) names its sequence by a value looked up on every insert,
so pg_depend records no link. Those defaults are read as PostgreSQL prints
them (``dbsql.SEQUENCE_DEFAULTS_SQL``), parsed with PostgreSQL's own parser
(pglast, :func:`nextval_arguments`), the names resolved by the server
(``dbsql.SEQUENCE_NAMES_SQL``) and joined in by :func:`default_links`.

Pure: rows in, findings and measurements out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .findings import FAIL, WARN, Finding

__all__ = [
    "INT_RANGES",
    "SequenceUsage",
    "column_range",
    "default_links",
    "evaluate_sequences",
    "measure_sequences",
    "nextval_arguments",
    "used_ratio",
]

#: Value range of the integer column types, by every name PostgreSQL uses.
INT_RANGES: dict[str, tuple[int, int]] = {}
for _names, _bits in (
    (("int2", "smallint", "smallserial", "serial2"), 16),
    (("int4", "integer", "int", "serial", "serial4"), 32),
    (("int8", "bigint", "bigserial", "serial8"), 64),
):
    for _n in _names:
        INT_RANGES[_n] = (-(2 ** (_bits - 1)), 2 ** (_bits - 1) - 1)

#: The label used in messages ("int4 column orders.id").
_LABEL = {16: "int2", 32: "int4", 64: "int8"}

_NUMERIC = re.compile(r"(?:numeric|decimal)\s*\(\s*(\d+)\s*(?:,\s*(-?\d+)\s*)?\)\Z")


def column_range(column_type: str | None) -> tuple[int, int, str] | None:
    """The (min, max, label) a column of this type can hold, or None if unbounded.

    Integer types by any spelling; ``numeric(p, s)`` holds integers up to
    ``10**(p-s) - 1``. Unconstrained numeric, text and unknown types return
    None: they do not bound the sequence.
    """
    if not column_type:
        return None
    name = column_type.strip().lower()
    if name in INT_RANGES:
        lo, hi = INT_RANGES[name]
        return lo, hi, _LABEL[hi.bit_length() + 1]
    m = _NUMERIC.match(name)
    if m:
        precision = int(m.group(1))
        scale = int(m.group(2) or 0)
        digits = precision - scale
        if digits <= 0:
            return 0, 0, name
        hi = 10**digits - 1
        return -hi, hi, name.replace(" ", "")
    return None


def used_ratio(
    last_value: int | None,
    min_value: int,
    max_value: int,
    increment: int = 1,
    column_type: str | None = None,
) -> float:
    """Share of the usable range a sequence has consumed, in [0, 1].

    Ascending: ``(last - min) / (limit - min)`` with ``limit = min(max_value,
    column max)``. Descending sequences run from ``max_value`` down, so the
    same share is measured from the top. A never-called sequence
    (``last_value`` NULL) has used nothing. A value past the column's limit
    (possible when a bigint sequence feeds an int4 column) is clamped to 1:
    the column is already exhausted.
    """
    if last_value is None:
        return 0.0
    bounds = column_range(column_type)
    col_lo, col_hi = (bounds[0], bounds[1]) if bounds else (min_value, max_value)
    if increment >= 0:
        start = max(min_value, col_lo)
        limit = min(max_value, col_hi)
        span, used = limit - start, last_value - start
    else:
        start = min(max_value, col_hi)
        limit = max(min_value, col_lo)
        span, used = start - limit, start - last_value
    if span <= 0:
        return 1.0
    return min(1.0, max(0.0, used / span))


@dataclass(frozen=True, slots=True)
class SequenceUsage:
    """One sequence measured against its tightest limit (evidence-ready)."""

    sequence: str
    sequence_type: str
    last_value: int | None
    min_value: int
    max_value: int
    increment: int
    ratio: float
    limit: int
    limited_by: str  # "sequence" or "column"
    column: str | None = None
    column_type: str | None = None
    readable: bool = True

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form for evidence records."""
        return {
            "sequence": self.sequence,
            "sequence_type": self.sequence_type,
            "last_value": self.last_value,
            "min_value": self.min_value,
            "max_value": self.max_value,
            "increment": self.increment,
            "ratio": self.ratio,
            "limit": self.limit,
            "limited_by": self.limited_by,
            "column": self.column,
            "column_type": self.column_type,
            "readable": self.readable,
        }


def _qualified(schema: str | None, name: str | None) -> str:
    if not name:
        return ""
    return name if schema in (None, "", "public") else f"{schema}.{name}"


def _measure_row(row: Mapping[str, Any]) -> SequenceUsage:
    min_value = int(row["min_value"])
    max_value = int(row["max_value"])
    increment = int(row.get("increment_by") or 1)
    last = row.get("last_value")
    last_value = None if last is None else int(last)
    col_type = row.get("column_base_type") or row.get("column_type")
    column = None
    if row.get("column_name"):
        column = (
            f"{_qualified(row.get('table_schema'), row.get('table_name'))}.{row['column_name']}"
        )
    bounds = column_range(col_type) if column else None
    ratio = used_ratio(last_value, min_value, max_value, increment, col_type if column else None)
    if increment >= 0:
        seq_limit = max_value
        col_limit = bounds[1] if bounds else None
        column_tighter = col_limit is not None and col_limit <= seq_limit
    else:
        seq_limit = min_value
        col_limit = bounds[0] if bounds else None
        column_tighter = col_limit is not None and col_limit >= seq_limit
    return SequenceUsage(
        sequence=_qualified(row.get("sequence_schema"), row["sequence_name"]),
        sequence_type=str(row.get("sequence_type") or "bigint"),
        last_value=last_value,
        min_value=min_value,
        max_value=max_value,
        increment=increment,
        ratio=ratio,
        limit=col_limit if column_tighter and col_limit is not None else seq_limit,
        limited_by="column" if column_tighter else "sequence",
        column=column,
        column_type=(bounds[2] if bounds else col_type) if column else None,
        readable=bool(row.get("readable", True)),
    )


def measure_sequences(rows: Iterable[Mapping[str, Any]]) -> list[SequenceUsage]:
    """The worst (highest-ratio) measurement of each sequence.

    ``rows`` are ``SEQUENCES_SQL`` rows: one per (sequence, fed column). A
    sequence feeding several columns is as close to exhaustion as its
    narrowest column, so only the worst link is kept.
    """
    worst: dict[str, SequenceUsage] = {}
    for row in rows:
        usage = _measure_row(row)
        best = worst.get(usage.sequence)
        if best is None or (usage.ratio, usage.limited_by == "column") > (
            best.ratio,
            best.limited_by == "column",
        ):
            worst[usage.sequence] = usage
    return [worst[k] for k in sorted(worst)]


def _const_text(node: Any) -> str | None:
    """The string constant under any casts (``'s'::text::regclass``), else None."""
    while isinstance(node, dict) and "TypeCast" in node:
        node = node["TypeCast"].get("arg")
    const = node.get("A_Const") if isinstance(node, dict) else None
    sval = const.get("sval") if isinstance(const, dict) else None
    return str(sval["sval"]) if isinstance(sval, dict) and "sval" in sval else None


def _nextval_calls(node: Any) -> Iterator[dict[str, Any]]:
    """Every FuncCall to (pg_catalog.)nextval in a parse tree (pglast's JSON form)."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(reversed(item))
        elif isinstance(item, dict):
            call = item.get("FuncCall")
            if isinstance(call, dict):
                parts = [p.get("String", {}).get("sval") for p in call.get("funcname") or ()]
                if parts and parts[-1] == "nextval" and parts[:-1] in ([], ["pg_catalog"]):
                    yield call
            stack.extend(reversed(list(item.values())))


def nextval_arguments(expr: str) -> tuple[list[str], list[str]]:
    """(sequence names, undecidable calls) of every nextval() call in a column default.

    ``expr`` is ``pg_get_expr`` output, parsed as ``SELECT <expr>`` by
    pglast (libpg_query: PostgreSQL's own parser; its JSON tree, so the
    result does not depend on pglast's node classes). A name is the text a
    nextval argument evaluates to (regclass syntax, possibly schema-qualified
    or quoted). A call whose argument is not a constant
    (``nextval(prefix || 'x')``) cannot be resolved before insert time; the
    expression is returned for it.
    """
    from pglast.parser import ParseError, parse_sql_json

    try:
        tree = json.loads(parse_sql_json(f"SELECT {expr}"))
    except (ParseError, ValueError):
        return [], [expr]
    names: list[str] = []
    unknown: list[str] = []
    for call in _nextval_calls(tree):
        text = _const_text((call.get("args") or [None])[0])
        if text is not None:
            names.append(text)
        else:
            unknown.append(expr)
    return names, unknown


def default_links(
    sequence_rows: Iterable[Mapping[str, Any]],
    default_rows: Iterable[Mapping[str, Any]],
    resolved: Iterable[Mapping[str, Any]],
) -> tuple[list[dict[str, Any]], list[Finding]]:
    """SEQUENCES_SQL rows plus one row per column a nextval() default feeds.

    ``default_rows``: SEQUENCE_DEFAULTS_SQL rows; ``resolved``:
    SEQUENCE_NAMES_SQL rows for their nextval names. A column already linked
    (pg_depend) is not added twice. Findings (warnings): a default whose
    sequence cannot be known before insert time, or names no sequence.
    """
    seqs = list(sequence_rows)
    by_name = {(r.get("sequence_schema"), r["sequence_name"]): r for r in seqs}
    where = {
        (r["name"], r["table_schema"]): (r.get("sequence_schema"), r.get("sequence_name"))
        for r in resolved
    }
    linked = {
        (r.get("sequence_schema"), r["sequence_name"], r.get("table_schema"),
         r.get("table_name"), r.get("column_name"))
        for r in seqs
    }  # fmt: skip
    out = [dict(r) for r in seqs]
    findings: list[Finding] = []
    for col in default_rows:
        column = f"{_qualified(col.get('table_schema'), col['table_name'])}.{col['column_name']}"
        names, unknown = nextval_arguments(str(col.get("default_expr") or ""))
        for arg in unknown:
            findings.append(
                Finding(
                    "sequence-default-unresolved",
                    f"column {column} DEFAULT {arg}: nextval() names its sequence only at "
                    "insert time, its headroom is not measured",
                    WARN,
                )
            )
        for name in names:
            seq_key = where.get((name, col.get("table_schema")), (None, None))
            seq = by_name.get(seq_key) if seq_key[1] else None
            if seq is None:
                findings.append(
                    Finding(
                        "sequence-default-unresolved",
                        f"column {column} DEFAULT {col.get('default_expr')}: no sequence "
                        f"{name!r} found (inserts relying on the default fail)",
                        WARN,
                    )
                )
                continue
            key = (*seq_key, col.get("table_schema"), col.get("table_name"), col["column_name"])
            if key in linked:
                continue
            linked.add(key)
            out.append(
                {
                    **seq,
                    "table_schema": col.get("table_schema"),
                    "table_name": col["table_name"],
                    "column_name": col["column_name"],
                    "column_type": col.get("column_type"),
                    "column_base_type": col.get("column_base_type"),
                    "link": "default-text",
                }
            )
    return out, findings


def _pct(ratio: float) -> str:
    return f"{ratio * 100:.1f} %"


def _limit_pct(ratio: float) -> str:
    return f"{ratio * 100:g} %"


def _describe(u: SequenceUsage) -> str:
    if u.limited_by == "column" and u.column:
        return f"of {u.column_type} column {u.column}"
    bound = "max_value" if u.increment >= 0 else "min_value"
    where = f" (feeds {u.column})" if u.column else ""
    return f"of its {bound} {u.limit}{where}"


def evaluate_sequences(
    rows: Iterable[Mapping[str, Any]],
    *,
    fail_at: float = 0.85,
    warn_at: float = 0.70,
) -> list[Finding]:
    """PF-06 findings: ``sequence-exhaustion`` (fail at ``fail_at``, warn at
    ``warn_at``) and ``sequence-unreadable`` (last_value hidden by privileges:
    an unmeasurable sequence must not pass as an empty one).

    Message: "sequence orders_id_seq at 91.2 % of int4 column orders.id
    (limit 85 %)".
    """
    if not 0 <= warn_at <= fail_at:
        raise ValueError(f"need 0 <= warn_at <= fail_at, got warn {warn_at}, fail {fail_at}")
    findings: list[Finding] = []
    for u in measure_sequences(rows):
        if not u.readable:
            findings.append(
                Finding(
                    "sequence-unreadable",
                    f"sequence {u.sequence}: last_value not visible to this role "
                    "(needs SELECT or USAGE on the sequence), headroom unknown",
                )
            )
            continue
        if u.ratio >= fail_at:
            level, threshold = FAIL, fail_at
        elif u.ratio >= warn_at:
            level, threshold = WARN, warn_at
        else:
            continue
        message = (
            f"sequence {u.sequence} at {_pct(u.ratio)} {_describe(u)} "
            f"(limit {_limit_pct(threshold)}); last_value {u.last_value}"
        )
        findings.append(Finding("sequence-exhaustion", message, level))
    return findings
