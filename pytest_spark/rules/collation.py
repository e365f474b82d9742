"""RT-01: the "one open position per account and symbol" rule cannot be bypassed.

The rule lives in one partial unique index. It silently stops protecting
anything when the index is dropped, left invalid by a failed CREATE INDEX
CONCURRENTLY, rebuilt with a different predicate, or rebuilt with a
nondeterministic (ICU) collation whose notion of "equal" is locale rules
rather than bytes. Each of those is visible in the catalog
(``dbsql.UNIQUE_INDEXES_SQL``); this module decides from those rows.

Predicates are compared semantically-enough rather than textually:
PostgreSQL prints ``status = 'open'`` back as ``(status = 'open'::text)``
(and ``IN (...)`` as ``= ANY (ARRAY[...])``), so both sides are normalised
(casts, redundant parentheses, case, operand order of AND/OR) first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pglast.parser import ParseError, scan

from .findings import Finding

__all__ = ["evaluate_unique_index", "normalise_predicate", "predicates_equal"]

_TYPE_TAIL_WORDS = frozenset({"varying", "precision", "with", "without", "time", "zone"})
_OPEN = ("lparen", "lbracket")
_CLOSE = ("rparen", "rbracket")


@dataclass(frozen=True, slots=True)
class Token:
    """One lexical token of a predicate, as PostgreSQL's own scanner (pglast) reads it.

    ``kind``: word (keyword or identifier), qident, string, number, param, op,
    lparen, rparen, lbracket, rbracket, comma, semicolon.
    """

    kind: str
    text: str

    @property
    def upper(self) -> str:
        """The keyword form of a word token ("" for anything else)."""
        return self.text.upper() if self.kind == "word" else ""


_PUNCT = {
    "(": "lparen",
    ")": "rparen",
    "[": "lbracket",
    "]": "rbracket",
    ",": "comma",
    ";": "semicolon",
}
_LITERALS = {"SCONST": "string", "USCONST": "string", "BCONST": "string", "XCONST": "string"}
_NUMBERS = frozenset({"ICONST", "FCONST"})


def _kind(name: str, keyword: str, text: str) -> str:
    if name == "IDENT":
        return "qident" if text.startswith('"') or text[:2].upper() == "U&" else "word"
    if keyword != "NO_KEYWORD":
        return "word"
    if name in _LITERALS:
        return _LITERALS[name]
    if name in _NUMBERS:
        return "number"
    if name == "PARAM":
        return "param"
    return _PUNCT.get(text, "op")


def _significant(text: str) -> list[Token]:
    """Tokens without whitespace and comments; text PostgreSQL cannot scan has none."""
    try:
        found = scan(text)
    except ParseError:
        return []
    out = []
    for t in found:
        chunk = text[t.start : t.end + 1]
        out.append(Token(_kind(t.name, t.kind, chunk), chunk))
    return out


def _strip_casts(toks: list[Token]) -> list[Token]:
    """Drop every ``::type`` (including ``character varying(10)[]`` forms)."""
    out: list[Token] = []
    i, n = 0, len(toks)
    while i < n:
        tok = toks[i]
        if not (tok.kind == "op" and tok.text == "::"):
            out.append(tok)
            i += 1
            continue
        i += 1
        # type name: ident(.ident)* then multi-word tails, typmod, array dims
        if i < n and toks[i].kind in ("word", "qident"):
            i += 1
            while i + 1 < n and toks[i].text == "." and toks[i + 1].kind in ("word", "qident"):
                i += 2
            while i < n and toks[i].kind == "word" and toks[i].text.lower() in _TYPE_TAIL_WORDS:
                i += 1
        if i < n and toks[i].kind == "lparen":
            depth = 0
            while i < n:
                if toks[i].kind == "lparen":
                    depth += 1
                elif toks[i].kind == "rparen":
                    depth -= 1
                    if depth == 0:
                        i += 1
                        break
                i += 1
        while i + 1 < n and toks[i].kind == "lbracket" and toks[i + 1].kind == "rbracket":
            i += 2
    return out


def _word_text(tok: Token) -> str:
    if tok.kind == "word":
        return tok.text.lower()
    if tok.kind == "qident":
        body = tok.text[1:-1].replace('""', '"')
        if body and body == body.lower() and body.replace("_", "a").isalnum():
            return body
        return tok.text
    if tok.kind == "op" and tok.text == "!=":
        return "<>"
    return tok.text


def _match(toks: Sequence[Token], i: int) -> int:
    """Index of the bracket closing the one at ``i`` (or -1)."""
    depth = 0
    for j in range(i, len(toks)):
        if toks[j].kind in _OPEN:
            depth += 1
        elif toks[j].kind in _CLOSE:
            depth -= 1
            if depth == 0:
                return j
    return -1


def _leaf(toks: Sequence[Token]) -> tuple[str, ...]:
    """Canonical words of one comparison: no redundant parens, IN as = ANY."""
    words = [_word_text(t) for t in toks]
    kinds = [t.kind for t in toks]
    changed = True
    while changed:  # "( x )" -> "x"
        changed = False
        for i in range(len(words) - 2):
            if (
                kinds[i] == "lparen"
                and kinds[i + 2] == "rparen"
                and kinds[i + 1] not in (*_OPEN, *_CLOSE)
            ):
                prev_is_call = i > 0 and kinds[i - 1] in ("word", "qident")
                if not prev_is_call:
                    del words[i + 2], words[i], kinds[i + 2], kinds[i]
                    changed = True
                    break
    # x [NOT] IN (a, b)  ->  x = ANY (ARRAY[a, b])  /  x <> ALL (ARRAY[a, b])
    depth = 0
    for i, kind in enumerate(kinds):
        if kind in _OPEN:
            depth += 1
        elif kind in _CLOSE:
            depth -= 1
        elif (
            depth == 0
            and words[i] == "in"
            and i + 1 < len(words)
            and kinds[i + 1] == "lparen"
            and (i + 2 >= len(words) or words[i + 2] != "select")
        ):
            negated = i > 0 and words[i - 1] == "not"
            close = i + 1
            level = 0
            for j in range(i + 1, len(kinds)):
                if kinds[j] in _OPEN:
                    level += 1
                elif kinds[j] in _CLOSE:
                    level -= 1
                    if level == 0:
                        close = j
                        break
            head = words[: i - 1] if negated else words[:i]
            op = ["<>", "all"] if negated else ["=", "any"]
            inner = words[i + 2 : close]
            return (*head, *op, "(", "array", "[", *inner, "]", ")", *words[close + 1 :])
    return tuple(words)


Node = tuple[Any, ...]


class _Parser:
    """Recursive descent over OR / AND / NOT with comparisons as leaves."""

    def __init__(self, toks: Sequence[Token]) -> None:
        self.toks = toks

    def is_word(self, i: int, word: str) -> bool:
        return i < len(self.toks) and self.toks[i].kind == "word" and self.toks[i].upper == word

    def parse(self, lo: int, hi: int) -> Node:
        node, i = self.parse_or(lo, hi)
        if i < hi:  # unbalanced input: keep the rest so different texts stay different
            node = ("AND", [node, ("LEAF", tuple(_word_text(t) for t in self.toks[i:hi]))])
        return node

    def parse_or(self, i: int, hi: int) -> tuple[Node, int]:
        node, i = self.parse_and(i, hi)
        items = [node]
        while i < hi and self.is_word(i, "OR"):
            node, i = self.parse_and(i + 1, hi)
            items.append(node)
        return (("OR", items) if len(items) > 1 else items[0]), i

    def parse_and(self, i: int, hi: int) -> tuple[Node, int]:
        node, i = self.parse_not(i, hi)
        items = [node]
        while i < hi and self.is_word(i, "AND"):
            node, i = self.parse_not(i + 1, hi)
            items.append(node)
        return (("AND", items) if len(items) > 1 else items[0]), i

    def parse_not(self, i: int, hi: int) -> tuple[Node, int]:
        if i < hi and self.is_word(i, "NOT"):
            child, i = self.parse_not(i + 1, hi)
            return ("NOT", child), i
        return self.parse_primary(i, hi)

    def parse_primary(self, i: int, hi: int) -> tuple[Node, int]:
        toks = self.toks
        if i < hi and toks[i].kind == "lparen":
            close = _match(toks[:hi], i)
            after = close + 1
            if close > 0 and (
                after >= hi
                or toks[after].kind == "rparen"
                or self.is_word(after, "AND")
                or self.is_word(after, "OR")
            ):
                return self.parse(i + 1, close), after
        start, depth, between = i, 0, False
        while i < hi:
            tok = toks[i]
            if tok.kind in _OPEN:
                depth += 1
            elif tok.kind in _CLOSE:
                if depth == 0:
                    break
                depth -= 1
            elif depth == 0 and tok.kind == "word":
                if tok.upper == "BETWEEN":
                    between = True
                elif tok.upper == "AND":
                    if not between:
                        break
                    between = False
                elif tok.upper == "OR":
                    break
            i += 1
        if i == start and i < hi:  # a stray closing bracket: consume it as a leaf
            return ("LEAF", (toks[i].text,)), i + 1
        return _between(toks[start:i]), i


def _between(toks: Sequence[Token]) -> Node:
    """A leaf, with ``x [NOT] BETWEEN a AND b`` spelled the way PostgreSQL
    prints it back: ``x >= a AND x <= b`` (``x < a OR x > b`` when NOT)."""
    depth = 0
    for i, tok in enumerate(toks):
        if tok.kind in _OPEN:
            depth += 1
        elif tok.kind in _CLOSE:
            depth -= 1
        elif depth == 0 and tok.upper == "BETWEEN":
            rest = toks[i + 1 :]
            ands = [j for j, t in enumerate(rest) if t.upper == "AND"]
            if not ands or i == 0 or (rest and rest[0].upper == "SYMMETRIC"):
                break
            negated = toks[i - 1].upper == "NOT"
            left = list(toks[: i - 1] if negated else toks[:i])
            lo, hi = list(rest[: ands[0]]), list(rest[ands[0] + 1 :])
            ops = ("<", ">") if negated else (">=", "<=")
            parts = [
                ("LEAF", _leaf([*left, Token("op", ops[0]), *lo])),
                ("LEAF", _leaf([*left, Token("op", ops[1]), *hi])),
            ]
            return ("OR" if negated else "AND", parts)
    return ("LEAF", _leaf(toks))


def _render(node: Node) -> str:
    kind = node[0]
    if kind == "LEAF":
        return " ".join(node[1])
    if kind == "NOT":
        return f"NOT ({_render(node[1])})"
    parts: list[str] = []
    stack = list(node[1])
    while stack:  # flatten (a AND (b AND c)) into one AND
        child = stack.pop()
        if child[0] == kind:
            stack.extend(child[1])
        else:
            parts.append(_render(child))
    return "(" + f" {kind.lower()} ".join(sorted(parts)) + ")"


def normalise_predicate(text: str | None) -> str:
    """Canonical form of a boolean SQL expression, for equality comparison.

    Equal outputs for ``status = 'open'``, ``(status = 'open'::text)``,
    ``WHERE "status"='open'`` and ``((status)::text = 'open'::text)``;
    AND/OR operands are order-insensitive. Empty/None gives "".
    """
    if not text:
        return ""
    toks = _significant(text)
    if toks and toks[0].upper == "WHERE":
        toks = toks[1:]
    toks = _strip_casts(toks)
    if not toks:
        return ""
    return _render(_Parser(toks).parse(0, len(toks)))


def predicates_equal(a: str | None, b: str | None) -> bool:
    """Whether two predicate texts mean the same (after normalisation)."""
    return normalise_predicate(a) == normalise_predicate(b)


# ---------------------------------------------------------------------------
# Index evaluation
# ---------------------------------------------------------------------------


def _key_columns(index: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    cols = index.get("key_columns") or []
    return [{"column_name": c} if isinstance(c, str) else c for c in cols]


def _column_label(col: Mapping[str, Any]) -> str:
    return str(col.get("column_name") or col.get("expression") or "?")


def _describe(index: Mapping[str, Any]) -> str:
    cols = ", ".join(_column_label(c) for c in _key_columns(index))
    unique = "UNIQUE " if index.get("is_unique") else ""
    where = f" WHERE {index['predicate']}" if index.get("predicate") else ""
    invalid = " [INVALID]" if index.get("is_valid") is False else ""
    return f"{index.get('index_name', '?')} {unique}({cols}){where}{invalid}"


def _problems(
    index: Mapping[str, Any], table: str, expected_pred: str, predicate: str | None
) -> list[Finding]:
    name = index.get("index_name", "?")
    out: list[Finding] = []
    if index.get("is_valid") is False or index.get("is_ready") is False:
        out.append(
            Finding(
                "unique-index-invalid",
                f"unique index {name} on {table} is not valid (indisvalid = false, e.g. a "
                "failed CREATE INDEX CONCURRENTLY): it cannot be trusted to enforce the rule",
            )
        )
    found = index.get("predicate") or None
    if normalise_predicate(found) != expected_pred:
        out.append(
            Finding(
                "unique-index-predicate",
                f"unique index {name} on {table} has predicate {found or '(none)'}, "
                f"expected {predicate or '(none)'}",
            )
        )
    for col in _key_columns(index):
        if col.get("collation_deterministic") is False:
            provider = {"i": "icu", "c": "libc", "d": "default"}.get(
                str(col.get("collation_provider") or ""), ""
            )
            via = f", provider {provider}" if provider else ""
            out.append(
                Finding(
                    "unique-index-collation",
                    f"unique index {name} on {table}: key column {_column_label(col)} uses "
                    f'nondeterministic collation "{col.get("collation_name")}"{via}; '
                    "uniqueness must compare exact values, not locale rules",
                )
            )
    return out


def evaluate_unique_index(
    indexes: Iterable[Mapping[str, Any]],
    *,
    table: str,
    key_columns: Sequence[str],
    predicate: str | None,
) -> list[Finding]:
    """RT-01 findings for the indexes of ``table`` (``UNIQUE_INDEXES_SQL`` rows).

    Passes (no findings) when at least one index is unique, valid, has
    exactly ``key_columns`` as plain key columns (in any order), the
    expected ``predicate`` (None or "" = not partial) and only deterministic
    collations. Otherwise reports, for the closest candidate:
    ``unique-index-invalid``, ``unique-index-predicate`` (expected vs found),
    ``unique-index-collation`` (column and collation name); or
    ``unique-index-missing`` listing what indexes exist.
    """
    wanted = [c.lower() for c in key_columns]
    table_part = table.rpartition(".")[2]
    rows = [
        ix
        for ix in indexes
        if not ix.get("table_name") or str(ix["table_name"]) in (table, table_part)
    ]
    expected_pred = normalise_predicate(predicate)
    candidates = []
    for ix in rows:
        cols = _key_columns(ix)
        names = [c.get("column_name") for c in cols]
        if (
            ix.get("is_unique")
            and all(names)
            and sorted(str(n).lower() for n in names) == sorted(wanted)
        ):
            candidates.append(ix)
    where = f" WHERE {predicate}" if predicate else ""
    if not candidates:
        found = "; ".join(_describe(ix) for ix in rows) or "none"
        return [
            Finding(
                "unique-index-missing",
                f"no unique index on {table} ({', '.join(key_columns)}){where}; "
                f"indexes found: {found}",
            )
        ]
    scored = [(_problems(ix, table, expected_pred, predicate), ix) for ix in candidates]
    if any(not problems for problems, _ in scored):
        return []

    def rank(item: tuple[list[Finding], Mapping[str, Any]]) -> tuple[int, int, str]:
        problems, ix = item
        pred_ok = not any(p.code == "unique-index-predicate" for p in problems)
        return (len(problems), 0 if pred_ok else 1, str(ix.get("index_name", "")))

    return min(scored, key=rank)[0]
