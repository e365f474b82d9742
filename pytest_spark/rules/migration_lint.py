"""PF-04: lint SQL migrations for operations that hold long exclusive locks.

A migration that rewrites or scans a hot table under ACCESS EXCLUSIVE stalls
every request touching that table for the whole rewrite: the deploy "works"
and the platform is down. These are recognisable from the SQL text alone, so
the lint runs before any rehearsal and names each dangerous statement.

Reading migrations with regular expressions goes wrong on exactly the files
that matter (a keyword inside a comment, a string, or a function body), so
this module has a small lossless tokenizer that knows PostgreSQL's lexical
rules -- ``--`` and nested ``/* */`` comments, ``'...'`` / ``E'...'`` /
``U&'...'`` strings, ``"quoted"`` identifiers, ``$tag$ ... $tag$`` bodies --
and a statement splitter that also respects ``BEGIN ATOMIC ... END`` function
bodies. The tokenizer is shared with ``rules.collation`` (predicate text).

Pure: text in, findings out; it never raises on any input text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .findings import FAIL, WARN, Finding, Severity

__all__ = [
    "Statement",
    "Token",
    "lint_migration",
    "split_statements",
    "tokenize",
]


@dataclass(frozen=True, slots=True)
class Token:
    """One lexical token. ``kind`` is one of: ws, comment, string, dollar,
    qident, word, number, param, op, lparen, rparen, lbracket, rbracket,
    comma, semicolon. ``line`` is 1-based."""

    kind: str
    text: str
    start: int
    line: int

    @property
    def upper(self) -> str:
        """The keyword form of a word token ("" for anything else)."""
        return self.text.upper() if self.kind == "word" else ""


_TRIVIA = frozenset({"ws", "comment"})
_OP_CHARS = frozenset("+-*/<>=~!@#%^&|`?")
_SINGLE = {
    "(": "lparen",
    ")": "rparen",
    "[": "lbracket",
    "]": "rbracket",
    ",": "comma",
    ";": "semicolon",
}
_DOLLAR_TAG = re.compile(r"\$(?:[^\W\d]\w*)?\$")


def _ident_start(c: str) -> bool:
    return c.isalpha() or c == "_" or (ord(c) >= 0x80 and not c.isspace())


def _ident_char(c: str) -> bool:
    return c.isalnum() or c in "_$" or (ord(c) >= 0x80 and not c.isspace())


def _quoted_end(text: str, i: int, quote: str, backslash: bool = False) -> int:
    """Index just past the closing quote (doubled quotes are escapes)."""
    n = len(text)
    while i < n:
        c = text[i]
        if backslash and c == "\\":
            i += 2
            continue
        if c == quote:
            if i + 1 < n and text[i + 1] == quote:
                i += 2
                continue
            return i + 1
        i += 1
    return n


def _block_comment_end(text: str, i: int) -> int:
    """Index just past a (possibly nested) /* ... */ comment starting at i."""
    depth, i, n = 0, i, len(text)
    while i < n:
        if text.startswith("/*", i):
            depth += 1
            i += 2
        elif text.startswith("*/", i):
            depth -= 1
            i += 2
            if depth == 0:
                return i
        else:
            i += 1
    return n


def _number_end(text: str, i: int) -> int:
    n = len(text)
    while i < n and text[i].isdigit():
        i += 1
    if i < n and text[i] == "." and not text.startswith("..", i):
        i += 1
        while i < n and text[i].isdigit():
            i += 1
    if i < n and text[i] in "eE":
        j = i + 1
        if j < n and text[j] in "+-":
            j += 1
        if j < n and text[j].isdigit():
            i = j
            while i < n and text[i].isdigit():
                i += 1
    return i


def tokenize(text: str) -> list[Token]:
    """Split SQL text into tokens; ``"".join(t.text for t in tokens) == text``.

    Unterminated strings, comments and dollar quotes run to the end of the
    text (as PostgreSQL would report an error there, the lint just stops
    seeing keywords), so no input makes this raise.
    """
    tokens: list[Token] = []
    i, n, line = 0, len(text), 1
    while i < n:
        c = text[i]
        if c.isspace():
            j = i + 1
            while j < n and text[j].isspace():
                j += 1
            kind = "ws"
        elif text.startswith("--", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            kind = "comment"
        elif text.startswith("/*", i):
            j, kind = _block_comment_end(text, i), "comment"
        elif c == "'":
            j, kind = _quoted_end(text, i + 1, "'"), "string"
        elif c == '"':
            j, kind = _quoted_end(text, i + 1, '"'), "qident"
        elif c == "$":
            m = _DOLLAR_TAG.match(text, i)
            if m:
                close = text.find(m.group(), m.end())
                j = n if close < 0 else close + len(m.group())
                kind = "dollar"
            elif i + 1 < n and text[i + 1].isdigit():
                j = i + 1
                while j < n and text[j].isdigit():
                    j += 1
                kind = "param"
            else:
                j, kind = i + 1, "op"
        elif _ident_start(c):
            j = i + 1
            while j < n and _ident_char(text[j]):
                j += 1
            word = text[i:j].lower()
            if j < n and text[j] == "'" and word in ("e", "b", "x", "n"):
                j, kind = _quoted_end(text, j + 1, "'", backslash=word == "e"), "string"
            elif word == "u" and text.startswith("&'", j):
                j, kind = _quoted_end(text, j + 2, "'"), "string"
            elif word == "u" and text.startswith('&"', j):
                j, kind = _quoted_end(text, j + 2, '"'), "qident"
            else:
                kind = "word"
        elif c.isdigit() or (c == "." and i + 1 < n and text[i + 1].isdigit()):
            j, kind = _number_end(text, i), "number"
        elif c in _SINGLE:
            j, kind = i + 1, _SINGLE[c]
        elif c == ":":
            j = i + 2 if text.startswith("::", i) else i + 1
            kind = "op"
        elif c in _OP_CHARS:
            j = i + 1
            while (
                j < n
                and text[j] in _OP_CHARS
                and not text.startswith("--", j)
                and not text.startswith("/*", j)
            ):
                j += 1
            kind = "op"
        else:
            j, kind = i + 1, "op"
        tokens.append(Token(kind, text[i:j], i, line))
        line += text.count("\n", i, j)
        i = j
    return tokens


@dataclass(frozen=True, slots=True)
class Statement:
    """One SQL statement: its 1-based index, first line, text (without the
    terminating semicolon) and its significant tokens (no whitespace or
    comments)."""

    index: int
    line: int
    text: str
    tokens: tuple[Token, ...]

    def words(self, count: int) -> list[str]:
        """The first ``count`` significant tokens as keywords ("" for a token
        that is not a word, and as padding past the end)."""
        found = [t.upper for t in self.tokens[:count]]
        return found + [""] * (count - len(found))

    def source(self, tokens: Sequence[Token]) -> str:
        """The original text spanning ``tokens`` (a slice of this statement)."""
        if not tokens:
            return ""
        base = self.tokens[0].start
        last = tokens[-1]
        return self.text[tokens[0].start - base : last.start + len(last.text) - base]


def _is_routine_definition(sig: Sequence[Token]) -> bool:
    words = [t.upper for t in sig[:5]]
    if words[:1] != ["CREATE"]:
        return False
    rest = words[1:]
    if rest[:2] == ["OR", "REPLACE"]:
        rest = rest[2:]
    return bool(rest) and rest[0] in ("FUNCTION", "PROCEDURE")


def split_statements(text: str) -> list[Statement]:
    """Statements of a migration, split on top-level semicolons.

    Semicolons inside strings, comments and dollar quotes are not
    separators (they are inside a token), nor are those inside a SQL-standard
    ``BEGIN ATOMIC ... END`` routine body. Empty statements are dropped.
    """
    tokens = tokenize(text)
    statements: list[Statement] = []
    current: list[Token] = []
    depth = 0

    def flush() -> None:
        sig = tuple(t for t in current if t.kind not in _TRIVIA)
        if sig:
            last = sig[-1]
            body = text[sig[0].start : last.start + len(last.text)]
            statements.append(Statement(len(statements) + 1, sig[0].line, body, sig))
        current.clear()

    for tok in tokens:
        if tok.kind == "semicolon" and depth == 0:
            flush()
            continue
        current.append(tok)
        if tok.kind == "word" and tok.upper in ("BEGIN", "CASE", "END"):
            sig = [t for t in current if t.kind not in _TRIVIA]
            if _is_routine_definition(sig):
                depth = depth + 1 if tok.upper != "END" else max(0, depth - 1)
    flush()
    return statements


# ---------------------------------------------------------------------------
# Small parsing helpers over significant tokens
# ---------------------------------------------------------------------------


def _ident(tok: Token) -> str | None:
    """The identifier a token names, folded as PostgreSQL folds it."""
    if tok.kind == "word":
        return tok.text.lower()
    if tok.kind == "qident":
        body = tok.text[3:-1] if tok.text[:2].lower() == "u&" else tok.text[1:-1]
        return body.replace('""', '"')
    return None


def _qualified_name(sig: Sequence[Token], pos: int) -> tuple[str | None, int]:
    """Parse ``a``, ``a.b`` or ``a.b.c`` at ``pos``; return (name, next pos)."""
    if pos >= len(sig):
        return None, pos
    first = _ident(sig[pos])
    if first is None:
        return None, pos
    parts, pos = [first], pos + 1
    while pos + 1 < len(sig) and sig[pos].text == "." and _ident(sig[pos + 1]) is not None:
        parts.append(_ident(sig[pos + 1]) or "")
        pos += 2
    return ".".join(parts), pos


def _skip(sig: Sequence[Token], pos: int, *words: str) -> int:
    """Advance past the keyword sequence ``words`` if it is at ``pos``."""
    if [t.upper for t in sig[pos : pos + len(words)]] == list(words):
        return pos + len(words)
    return pos


def _split_top_level(sig: Sequence[Token]) -> list[list[Token]]:
    """Split tokens on commas outside parentheses and brackets."""
    parts: list[list[Token]] = [[]]
    depth = 0
    for tok in sig:
        if tok.kind in ("lparen", "lbracket"):
            depth += 1
        elif tok.kind in ("rparen", "rbracket"):
            depth = max(0, depth - 1)
        elif tok.kind == "comma" and depth == 0:
            parts.append([])
            continue
        parts[-1].append(tok)
    return [p for p in parts if p]


def _top_level_words(sig: Sequence[Token]) -> list[str]:
    """Keywords outside any parentheses ("" placeholders for other tokens)."""
    out: list[str] = []
    depth = 0
    for tok in sig:
        if tok.kind in ("lparen", "lbracket"):
            depth += 1
        elif tok.kind in ("rparen", "rbracket"):
            depth = max(0, depth - 1)
        elif depth == 0:
            out.append(tok.upper)
            continue
        out.append("")
    return out


def _has_seq(words: Sequence[str], *seq: str) -> bool:
    k = len(seq)
    return any(list(words[i : i + k]) == list(seq) for i in range(len(words) - k + 1))


def _same_table(a: str, b: str) -> bool:
    """Equal names, or equal table parts when either side is unqualified."""
    if a == b:
        return True
    a_parts, b_parts = a.split("."), b.split(".")
    if len(a_parts) == 1 or len(b_parts) == 1:
        return a_parts[-1] == b_parts[-1]
    return False


def _in(name: str | None, names: Iterable[str]) -> bool:
    return name is not None and any(_same_table(name, other) for other in names)


def _normalise_names(names: Iterable[str]) -> list[str]:
    out = []
    for name in names:
        parts = []
        for tok in tokenize(name):
            ident = _ident(tok)
            if ident is not None:
                parts.append(ident)
        if parts:
            out.append(".".join(parts))
    return out


#: Functions that make a column DEFAULT volatile, which forces a table rewrite
#: when the column is added (a stable default like now() does not, PG 11+).
_VOLATILE_FUNCS = frozenset(
    {
        "random",
        "clock_timestamp",
        "timeofday",
        "gen_random_uuid",
        "uuid_generate_v1",
        "uuid_generate_v1mc",
        "uuid_generate_v4",
        "gen_random_bytes",
        "nextval",
        "txid_current",
        "random_normal",
    }
)
_SERIAL_TYPES = frozenset({"SERIAL", "BIGSERIAL", "SMALLSERIAL", "SERIAL2", "SERIAL4", "SERIAL8"})
_WEAK_LOCK_MODES = frozenset({"ACCESS SHARE", "ROW SHARE", "ROW EXCLUSIVE"})
_COLUMN_CONSTRAINT_WORDS = frozenset(
    {
        "NOT",
        "NULL",
        "CONSTRAINT",
        "CHECK",
        "UNIQUE",
        "PRIMARY",
        "REFERENCES",
        "COLLATE",
        "GENERATED",
    }
)


# ---------------------------------------------------------------------------
# The linter
# ---------------------------------------------------------------------------


class _Linter:
    """Walks statements in order, tracking transaction blocks and new tables."""

    def __init__(
        self,
        statements: list[Statement],
        new_tables: Iterable[str],
        hot_tables: Iterable[str] | None,
        in_transaction: bool,
        source: str | None,
    ) -> None:
        self.statements = statements
        self.new_tables: list[str] = _normalise_names(new_tables)
        self.hot_tables: list[str] | None = (
            None if hot_tables is None else _normalise_names(hot_tables)
        )
        self.wrapped = in_transaction
        self.in_block = False
        self.prefix = f"{source}: " if source else ""
        self.findings: list[Finding] = []

    def add(self, st: Statement, code: str, what: str, severity: Severity = FAIL) -> None:
        snippet = " ".join(st.text.split())
        if len(snippet) > 120:
            snippet = snippet[:117] + "..."
        self.findings.append(
            Finding(
                code,
                f"{self.prefix}statement {st.index} (line {st.line}): {what} -- {snippet}",
                severity,
            )
        )

    def is_new(self, table: str | None) -> bool:
        return _in(table, self.new_tables)

    def run(self) -> list[Finding]:
        concurrent = [st for st in self.statements if self._uses_concurrently(st)]
        for st in self.statements:
            self.statement(st)
        flagged = any(f.code == "concurrently-in-transaction" for f in self.findings)
        if concurrent and len(self.statements) > 1 and not self.wrapped and not flagged:
            self.add(
                concurrent[0],
                "concurrently-with-other-statements",
                "CONCURRENTLY in a file with other statements fails if the runner sends the "
                "file as one multi-statement query (an implicit transaction); keep it in a "
                "migration of its own",
                WARN,
            )
        return self.findings

    @staticmethod
    def _uses_concurrently(st: Statement) -> bool:
        words = st.words(6)
        return words[:1] in (["CREATE"], ["DROP"], ["REINDEX"], ["REFRESH"]) and any(
            t.upper == "CONCURRENTLY" for t in st.tokens
        )

    # -- dispatch ----------------------------------------------------------

    def statement(self, st: Statement) -> None:
        w = st.words(4)
        head = w[0]
        if head in ("BEGIN", "START") and w[1] != "ATOMIC":
            if head == "BEGIN" or w[1] == "TRANSACTION":
                self.in_block = True
            return
        if head in ("COMMIT", "END", "ABORT") or (head == "ROLLBACK" and w[1] not in ("TO",)):
            if w[1] != "PREPARED":
                self.in_block = False
            return
        if head == "CREATE":
            self.create(st)
        elif head == "ALTER" and w[1] == "TABLE":
            self.alter_table(st)
        elif head == "DROP" and w[1] == "INDEX":
            self.check_concurrently_in_tx(st, "DROP INDEX CONCURRENTLY")
        elif head == "REINDEX":
            self.reindex(st)
        elif head == "VACUUM":
            self.vacuum(st)
        elif head == "CLUSTER":
            self.cluster(st)
        elif head == "LOCK":
            self.lock(st)
        elif head == "REFRESH" and w[1] == "MATERIALIZED":
            self.refresh(st)

    def check_concurrently_in_tx(self, st: Statement, what: str) -> bool:
        if not any(t.upper == "CONCURRENTLY" for t in st.tokens):
            return False
        if self.in_block or self.wrapped:
            where = "inside BEGIN ... COMMIT" if self.in_block else "in a transaction"
            self.add(
                st,
                "concurrently-in-transaction",
                f"{what} cannot run {where} (PostgreSQL refuses it: "
                "'cannot run inside a transaction block')",
            )
        return True

    # -- CREATE ------------------------------------------------------------

    def create(self, st: Statement) -> None:
        sig = st.tokens
        pos = 1
        pos = _skip(sig, pos, "OR", "REPLACE")
        if pos < len(sig) and sig[pos].upper in ("GLOBAL", "LOCAL"):
            pos += 1
        if pos < len(sig) and sig[pos].upper in ("TEMP", "TEMPORARY", "UNLOGGED"):
            pos += 1
        kw = sig[pos].upper if pos < len(sig) else ""
        matview = _skip(sig, pos, "MATERIALIZED", "VIEW") != pos
        if kw == "TABLE" or matview:
            pos = pos + 1 if kw == "TABLE" else pos + 2
            pos = _skip(sig, pos, "IF", "NOT", "EXISTS")
            name, _ = _qualified_name(sig, pos)
            if name:
                self.new_tables.append(name)
            return
        unique = kw == "UNIQUE"
        if unique:
            pos += 1
        if pos >= len(sig) or sig[pos].upper != "INDEX":
            return
        pos += 1
        concurrently = pos < len(sig) and sig[pos].upper == "CONCURRENTLY"
        if concurrently:
            self.check_concurrently_in_tx(st, "CREATE INDEX CONCURRENTLY")
            return
        while pos < len(sig) and sig[pos].upper != "ON":
            pos += 1
        pos = _skip(sig, pos + 1, "ONLY")
        table, _ = _qualified_name(sig, pos)
        if table is None or self.is_new(table):
            return
        kind = "CREATE UNIQUE INDEX" if unique else "CREATE INDEX"
        self.add(
            st,
            "lock-create-index",
            f"{kind} on existing table {table} without CONCURRENTLY blocks all writes to it "
            "for the whole build; use CREATE INDEX CONCURRENTLY in its own migration",
        )

    # -- ALTER TABLE -------------------------------------------------------

    def alter_table(self, st: Statement) -> None:
        sig = st.tokens
        pos = _skip(sig, 2, "IF", "EXISTS")
        pos = _skip(sig, pos, "ONLY")
        table, pos = _qualified_name(sig, pos)
        if table is None:
            return
        if pos < len(sig) and sig[pos].text == "*":
            pos += 1
        if self.hot_tables is not None and _in(table, self.hot_tables):
            words = _top_level_words(sig[pos:])
            if words[:1] == ["RENAME"]:
                self.add(
                    st,
                    "rename-hot-table",
                    f"RENAME on hot table {table} breaks the running release's queries "
                    "the moment it commits; add the new name, migrate readers, drop later",
                )
        if self.is_new(table):
            return
        for action in _split_top_level(sig[pos:]):
            self.alter_action(st, table, action)

    def alter_action(self, st: Statement, table: str, action: list[Token]) -> None:
        words = _top_level_words(action)
        head = words[0] if words else ""
        if head == "ADD":
            nxt = words[1] if len(words) > 1 else ""
            if nxt in ("CONSTRAINT", "CHECK", "FOREIGN", "PRIMARY", "UNIQUE", "EXCLUDE"):
                self.add_constraint(st, table, words[3:] if nxt == "CONSTRAINT" else words[1:])
            else:
                self.add_column(st, table, action)
        elif head == "ALTER" and (words[1:2] != ["CONSTRAINT"]):
            pos = _skip(action, 1, "COLUMN")
            column = _ident(action[pos]) if pos < len(action) else None
            rest = words[pos + 1 :]
            self.alter_column(st, table, column or "?", rest, action[pos + 1 :])
        elif head == "SET" and len(words) > 1 and words[1] in ("TABLESPACE", "LOGGED", "UNLOGGED"):
            self.add(
                st,
                "rewrite-table",
                f"ALTER TABLE {table} SET {words[1]} rewrites the whole table under an "
                "ACCESS EXCLUSIVE lock",
            )

    def add_column(self, st: Statement, table: str, action: list[Token]) -> None:
        pos = _skip(action, 1, "COLUMN")
        pos = _skip(action, pos, "IF", "NOT", "EXISTS")
        column = _ident(action[pos]) if pos < len(action) else None
        if column is None:
            return
        rest = action[pos + 1 :]
        words = _top_level_words(rest)
        has_default = "DEFAULT" in words
        generated = "GENERATED" in words
        type_word = words[0] if words else ""
        if type_word in _SERIAL_TYPES:
            self.add(
                st,
                "rewrite-add-column",
                f"ADD COLUMN {table}.{column} {type_word.lower()} fills every existing row from "
                "a sequence: a full table rewrite under ACCESS EXCLUSIVE",
            )
            return
        if generated:
            what = "an identity" if "IDENTITY" in words else "a stored generated"
            self.add(
                st,
                "rewrite-add-column",
                f"ADD COLUMN {table}.{column} as {what} column computes a value for every "
                "existing row: a full table rewrite under ACCESS EXCLUSIVE",
            )
            return
        if has_default:
            volatile = self._volatile_in_default(rest)
            if volatile:
                self.add(
                    st,
                    "rewrite-add-column",
                    f"ADD COLUMN {table}.{column} with volatile DEFAULT {volatile}() rewrites "
                    "every row under ACCESS EXCLUSIVE; add it without default, backfill in "
                    "batches, then set the default",
                )
                return
        if _has_seq(words, "NOT", "NULL") and not has_default:
            self.add(
                st,
                "lock-add-column-not-null",
                f"ADD COLUMN {table}.{column} NOT NULL without DEFAULT fails on a non-empty "
                "table and needs a full scan under ACCESS EXCLUSIVE; add a constant DEFAULT "
                "or add it nullable and backfill",
            )

    @staticmethod
    def _volatile_in_default(rest: Sequence[Token]) -> str | None:
        words = _top_level_words(rest)
        try:
            start = words.index("DEFAULT") + 1
        except ValueError:
            return None
        depth = 0
        for i in range(start, len(rest)):
            tok = rest[i]
            if tok.kind in ("lparen", "lbracket"):
                depth += 1
            elif tok.kind in ("rparen", "rbracket"):
                depth = max(0, depth - 1)
            elif depth == 0 and tok.upper in _COLUMN_CONSTRAINT_WORDS:
                return None
            if (
                tok.kind == "word"
                and tok.text.lower() in _VOLATILE_FUNCS
                and i + 1 < len(rest)
                and rest[i + 1].kind == "lparen"
            ):
                return tok.text.lower()
        return None

    def add_constraint(self, st: Statement, table: str, words: list[str]) -> None:
        """``words``: top-level keywords from the constraint kind on."""
        kind = words[0] if words else ""
        if kind not in ("CHECK", "FOREIGN", "PRIMARY", "UNIQUE", "EXCLUDE"):
            return
        if kind in ("CHECK", "FOREIGN"):
            if _has_seq(words, "NOT", "VALID"):
                return
            label = "CHECK" if kind == "CHECK" else "FOREIGN KEY"
            self.add(
                st,
                "lock-add-constraint-validate",
                f"ADD {label} on {table} without NOT VALID checks every existing row while "
                "holding its lock; add it NOT VALID, then VALIDATE CONSTRAINT separately",
            )
            return
        if _has_seq(words, "USING", "INDEX"):
            return
        label = {"PRIMARY": "PRIMARY KEY", "UNIQUE": "UNIQUE", "EXCLUDE": "EXCLUDE"}[kind]
        self.add(
            st,
            "lock-add-constraint-index",
            f"ADD {label} on {table} builds its index under ACCESS EXCLUSIVE; build it with "
            "CREATE UNIQUE INDEX CONCURRENTLY, then ADD CONSTRAINT ... USING INDEX",
        )

    def alter_column(
        self, st: Statement, table: str, column: str, words: list[str], rest: list[Token]
    ) -> None:
        if words[:1] == ["TYPE"] or words[:3] == ["SET", "DATA", "TYPE"]:
            at = 1 if words[:1] == ["TYPE"] else 3
            end = words.index("USING", at) if "USING" in words[at:] else len(rest)
            target = st.source(rest[at:end])
            target_words = [w for w in words[at:end] if w]
            cheap = target_words[:1] in (["TEXT"], ["VARCHAR"]) or target_words[:2] == [
                "CHARACTER",
                "VARYING",
            ]
            note = (
                " (no rewrite only if the old type converts binary-coercibly, e.g. "
                "varchar(n) to text)"
                if cheap
                else ""
            )
            self.add(
                st,
                "rewrite-alter-column-type",
                f"ALTER COLUMN {table}.{column} TYPE {target.strip()} rewrites the table and "
                f"its indexes under ACCESS EXCLUSIVE{note}",
                WARN if cheap else FAIL,
            )
        elif words[:3] == ["SET", "NOT", "NULL"]:
            self.add(
                st,
                "lock-set-not-null",
                f"ALTER COLUMN {table}.{column} SET NOT NULL scans the whole table under "
                f"ACCESS EXCLUSIVE unless a validated CHECK ({column} IS NOT NULL) exists",
                WARN,
            )

    # -- maintenance commands ----------------------------------------------

    def reindex(self, st: Statement) -> None:
        if self.check_concurrently_in_tx(st, "REINDEX CONCURRENTLY"):
            return
        self.add(
            st,
            "lock-reindex",
            "REINDEX without CONCURRENTLY blocks writes (and reads through the index) "
            "for the whole rebuild",
        )

    def vacuum(self, st: Statement) -> None:
        sig = st.tokens
        full = False
        if len(sig) > 1 and sig[1].kind == "lparen":
            depth, opts = 0, []
            for tok in sig[1:]:
                if tok.kind == "lparen":
                    depth += 1
                    if depth == 1:
                        continue
                elif tok.kind == "rparen":
                    depth -= 1
                    if depth == 0:
                        break
                opts.append(tok)
            for opt in _split_top_level(opts):
                if opt and opt[0].upper == "FULL":
                    value = opt[1].text.upper() if len(opt) > 1 else "TRUE"
                    full = value not in ("FALSE", "OFF", "0", "NO")
        else:
            full = any(t.upper == "FULL" for t in sig[1:3])
        if full:
            self.add(
                st,
                "lock-vacuum-full",
                "VACUUM FULL rewrites the table under ACCESS EXCLUSIVE (nothing can read or "
                "write it until it finishes)",
            )

    def cluster(self, st: Statement) -> None:
        sig = st.tokens
        pos = 1
        if pos < len(sig) and sig[pos].kind == "lparen":
            while pos < len(sig) and sig[pos].kind != "rparen":
                pos += 1
            pos += 1
        pos = _skip(sig, pos, "VERBOSE")
        table, _ = _qualified_name(sig, pos)
        if table is not None and self.is_new(table):
            return
        target = f" {table}" if table else ""
        self.add(
            st,
            "lock-cluster",
            f"CLUSTER{target} rewrites the table under ACCESS EXCLUSIVE",
        )

    def lock(self, st: Statement) -> None:
        sig = st.tokens
        words = _top_level_words(sig)
        mode = "ACCESS EXCLUSIVE"
        if "IN" in words and "MODE" in words:
            start, end = words.index("IN") + 1, len(words) - 1 - words[::-1].index("MODE")
            if start < end:
                mode = " ".join(words[start:end])
        if mode in _WEAK_LOCK_MODES:
            return
        pos = _skip(sig, 1, "TABLE")
        pos = _skip(sig, pos, "ONLY")
        table, _ = _qualified_name(sig, pos)
        if table is not None and self.is_new(table):
            return
        self.add(
            st,
            "lock-table",
            f"LOCK TABLE {table or '?'} IN {mode} MODE holds a blocking lock until the "
            "migration's transaction ends",
        )

    def refresh(self, st: Statement) -> None:
        if self.check_concurrently_in_tx(st, "REFRESH MATERIALIZED VIEW CONCURRENTLY"):
            return
        name, _ = _qualified_name(st.tokens, 3)
        self.add(
            st,
            "lock-refresh-matview",
            f"REFRESH MATERIALIZED VIEW {name or '?'} without CONCURRENTLY blocks every "
            "reader of the view until it finishes",
            WARN,
        )


def lint_migration(
    text: str,
    *,
    new_tables: Iterable[str] = (),
    hot_tables: Iterable[str] | None = None,
    in_transaction: bool = False,
    source: str | None = None,
) -> list[Finding]:
    """Lint one migration file's SQL for long-lock and error-prone operations.

    ``new_tables``: tables created by this release (in this or an earlier
    pending migration); operations on them are exempt because nobody is
    using them yet. Tables created earlier in the same text are exempt too.
    ``hot_tables``: when given, RENAMEs on these tables are findings.
    ``in_transaction``: the migration runner wraps each file in a
    transaction, so any CONCURRENTLY in it will fail.
    ``source``: file name to prefix messages with.

    Finding codes (severity): lock-create-index, concurrently-in-transaction,
    lock-add-column-not-null, rewrite-add-column, lock-add-constraint-validate,
    lock-add-constraint-index, rewrite-alter-column-type (warn for a change to
    text/varchar), rewrite-table, lock-vacuum-full, lock-cluster, lock-table,
    lock-reindex, rename-hot-table (all fail); lock-set-not-null,
    lock-refresh-matview, concurrently-with-other-statements (warn).
    """
    statements = split_statements(text)
    return _Linter(statements, new_tables, hot_tables, in_transaction, source).run()
