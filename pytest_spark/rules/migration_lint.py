"""PF-04: lint SQL migrations for operations that hold long exclusive locks.

A migration that rewrites or scans a hot table under ACCESS EXCLUSIVE stalls
every request touching that table for the whole rewrite: the deploy "works"
and the platform is down. Which ALTER TABLE forms rewrite, scan or only touch
the catalog, and which lock each takes, is documented in the PostgreSQL
manual, "ALTER TABLE" (Notes) and "Explicit Locking" (13.3).

The SQL is read by PostgreSQL's own parser (pglast, which embeds libpg_query,
the server's grammar as a library), so a keyword inside a comment, a string,
a dollar-quoted body or a ``BEGIN ATOMIC`` routine is never mistaken for a
statement, and column constraints written inside ``ADD COLUMN`` (``UNIQUE``,
``PRIMARY KEY``, ``REFERENCES``, ``CHECK``, ``GENERATED ... STORED``) are
seen for what they are: the server turns each of them into an index build or
a validating scan of the whole table.

Whether a column DEFAULT is volatile (a volatile default fills every existing
row, i.e. rewrites the table, PG 11+) is not guessed from a list of names:
the caller passes the volatility of every function the defaults call, as the
database answers it (``pg_proc.provolatile``, see ``probes.sql_tools``), and
functions a pending migration itself creates are read from their CREATE
FUNCTION (volatility option, VOLATILE when absent). The coverage of the rules
mirrors squawk's lock rules (require-concurrent-index-creation,
adding-field-with-default, adding-required-field, disallowed-unique-constraint,
adding-serial-primary-key-field, adding-foreign-key-constraint,
constraint-missing-not-valid, changing-column-type, ban-... ) plus what squawk
cannot know without a database.

Pure: text (and volatility answers) in, findings out; it never raises.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pglast import ast, enums
from pglast.parser import ParseError, parse_sql
from pglast.stream import RawStream
from pglast.visitors import Visitor

from .findings import FAIL, WARN, Finding, Severity

__all__ = [
    "LOCK_MODES",
    "FunctionRef",
    "ParsedMigration",
    "Statement",
    "StatementLint",
    "default_function_calls",
    "function_definitions",
    "lint_migration",
    "lint_statements",
    "parse_migration",
    "qualified_name",
    "resolve_volatility",
    "split_statements",
]

#: Table lock modes by strength (PostgreSQL "Explicit Locking", table 13.2);
#: index = lockmode number in lockdefs.h (1 AccessShareLock ... 8 AccessExclusiveLock).
LOCK_MODES = (
    "",
    "ACCESS SHARE",
    "ROW SHARE",
    "ROW EXCLUSIVE",
    "SHARE UPDATE EXCLUSIVE",
    "SHARE",
    "SHARE ROW EXCLUSIVE",
    "EXCLUSIVE",
    "ACCESS EXCLUSIVE",
)
AX = "ACCESS EXCLUSIVE"
_SERIAL_TYPES = frozenset({"serial", "bigserial", "smallserial", "serial2", "serial4", "serial8"})
_VOLATILITY_WORDS = {"immutable": "i", "stable": "s", "volatile": "v"}
_VOLATILITY_NAMES = {"i": "IMMUTABLE", "s": "STABLE", "v": "VOLATILE"}
_RANK = {"i": 0, "s": 1, "v": 2}


# ---------------------------------------------------------------------------
# statements
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Statement:
    """One SQL statement: 1-based index, first line, text (no final ``;``) and
    its parse tree (``None`` when the file could not be parsed)."""

    index: int
    line: int
    text: str
    node: Any = None

    @property
    def kind(self) -> str:
        """The parse node's name (``AlterTableStmt``), ``"unparsed"`` without one."""
        return type(self.node).__name__ if self.node is not None else "unparsed"


@dataclass(frozen=True, slots=True)
class ParsedMigration:
    """A migration's statements, and PostgreSQL's syntax error if it has one."""

    statements: list[Statement]
    error: str = ""
    error_line: int = 0


def parse_migration(text: str) -> ParsedMigration:
    """Split and parse with PostgreSQL's grammar.

    A file PostgreSQL cannot parse is one unparsed statement (the server will
    report the same error when it is sent) plus the error and its line.
    """
    try:
        raw = parse_sql(text)
    except ParseError as exc:
        loc = exc.args[1] if len(exc.args) > 1 else None  # (message, character index)
        line = text.count("\n", 0, loc) + 1 if isinstance(loc, int) and loc >= 0 else 1
        msg = str(exc.args[0]) if exc.args else str(exc)
        body = text.strip()
        first = text.count("\n", 0, text.find(body[:1])) + 1 if body else 1
        stmts = [Statement(1, first, body)] if body else []
        return ParsedMigration(stmts, msg.split(", at index")[0], line)
    except Exception as exc:  # pglast raises plain errors on a few inputs (e.g. NUL bytes)
        body = text.strip()
        return ParsedMigration([Statement(1, 1, body)] if body else [], str(exc) or "unparsable", 1)
    out: list[Statement] = []
    for rs in raw:
        start = rs.stmt_location or 0
        end = start + rs.stmt_len if rs.stmt_len else len(text)
        chunk = text[start:end]
        lead = len(chunk) - len(chunk.lstrip())
        body = chunk.strip().rstrip(";").rstrip()
        line = text.count("\n", 0, start + lead) + 1
        out.append(Statement(len(out) + 1, line, body, rs.stmt))
    return ParsedMigration(out)


def split_statements(text: str) -> list[Statement]:
    """The statements of a migration, as PostgreSQL splits them."""
    return parse_migration(text).statements


def qualified_name(name: str) -> str:
    """``public."Fills"`` -> ``public.Fills``: a table name folded as PostgreSQL folds it."""
    try:
        [rs] = parse_sql(f"SELECT FROM {name}")
        rv = rs.stmt.fromClause[0]
        if isinstance(rv, ast.RangeVar):
            return _rv(rv)
    except Exception:  # not a plain relation name: compare it as written
        pass
    return name.strip().lower()


def _rv(rv: ast.RangeVar | None) -> str:
    if rv is None:
        return ""
    return f"{rv.schemaname}.{rv.relname}" if rv.schemaname else str(rv.relname)


def _same_table(a: str, b: str) -> bool:
    """Equal names, or equal table parts when either side is unqualified."""
    if a == b:
        return True
    a_parts, b_parts = a.split("."), b.split(".")
    if len(a_parts) == 1 or len(b_parts) == 1:
        return a_parts[-1] == b_parts[-1]
    return False


def _in(name: str, names: Iterable[str]) -> bool:
    return bool(name) and any(_same_table(name, other) for other in names)


def _expr_text(node: Any) -> str:
    try:
        return RawStream()(node)
    except Exception:  # deparse is only for messages
        return "?"


# ---------------------------------------------------------------------------
# functions and their volatility
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FunctionRef:
    """A function call as written: optional schema, name, number of arguments."""

    schema: str | None
    name: str
    nargs: int

    def __str__(self) -> str:
        prefix = f"{self.schema}." if self.schema else ""
        return (
            f"{prefix}{self.name}()" if self.nargs == 0 else f"{prefix}{self.name}(/{self.nargs})"
        )


class _Calls(Visitor):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.found: list[FunctionRef] = []

    def visit_FuncCall(self, ancestors: Any, node: ast.FuncCall) -> None:
        parts = [s.sval for s in node.funcname]
        schema = parts[-2] if len(parts) > 1 else None
        self.found.append(FunctionRef(schema, parts[-1], len(node.args or ())))


def _calls(node: Any) -> list[FunctionRef]:
    visitor = _Calls()
    visitor(node)
    return visitor.found


def _added_columns(node: Any) -> Iterable[tuple[str, ast.ColumnDef]]:
    if isinstance(node, ast.AlterTableStmt):
        for cmd in node.cmds or ():
            if cmd.subtype == enums.AlterTableType.AT_AddColumn and cmd.def_ is not None:
                yield _rv(node.relation), cmd.def_


def default_function_calls(text: str) -> list[FunctionRef]:
    """Every function an ADD COLUMN default or generated expression calls (to ask the DB about)."""
    out: list[FunctionRef] = []
    for st in split_statements(text):
        for _table, col in _added_columns(st.node):
            for con in col.constraints or ():
                if con.raw_expr is not None:
                    out += [f for f in _calls(con.raw_expr) if f not in out]
    return out


def function_definitions(text: str) -> dict[FunctionRef, str]:
    """Volatility of the functions a migration creates (``CREATE FUNCTION``), VOLATILE by default.

    Each is keyed by every argument count it accepts (parameters with a
    DEFAULT may be left out).
    """
    out: dict[FunctionRef, str] = {}
    for st in split_statements(text):
        node = st.node
        if not isinstance(node, ast.CreateFunctionStmt) or node.is_procedure:
            continue
        parts = [s.sval for s in node.funcname]
        volatility = "v"
        for opt in node.options or ():
            if opt.defname == "volatility" and isinstance(opt.arg, ast.String):
                volatility = _VOLATILITY_WORDS.get(opt.arg.sval, "v")
        params = [
            p
            for p in node.parameters or ()
            if p.mode
            not in (
                enums.FunctionParameterMode.FUNC_PARAM_OUT,
                enums.FunctionParameterMode.FUNC_PARAM_TABLE,
            )
        ]
        optional = sum(1 for p in params if p.defexpr is not None)
        for n in range(len(params) - optional, len(params) + 1):
            for schema in {None, parts[-2]} if len(parts) > 1 else {None}:
                out[FunctionRef(schema, parts[-1], n)] = volatility
    return out


def resolve_volatility(
    calls: Iterable[FunctionRef], candidates: Iterable[Mapping[str, Any]]
) -> dict[FunctionRef, str]:
    """Each call's volatility from ``pg_proc`` rows (``sql_tools.PROC_VOLATILITY_SQL``).

    A call matches a function of its name (in its schema when qualified, else
    one visible on the search_path) that accepts its number of arguments
    (parameters with defaults may be left out; VARIADIC takes any number).
    Without argument types overloads cannot be told apart, so the most
    volatile match answers: the lint may then over-warn, never under-warn.
    """
    rows = list(candidates)
    out: dict[FunctionRef, str] = {}
    for ref in calls:
        worst = None
        for row in rows:
            if row.get("name") != ref.name:
                continue
            if ref.schema is not None and row.get("schema") != ref.schema:
                continue
            if ref.schema is None and not row.get("visible"):
                continue
            nargs, ndefaults = int(row.get("nargs") or 0), int(row.get("ndefaults") or 0)
            fits = nargs - ndefaults <= ref.nargs <= nargs
            if row.get("variadic"):
                fits = ref.nargs >= nargs - 1 - ndefaults
            v = str(row.get("volatility") or "")
            if fits and v in _RANK and (worst is None or _RANK[v] > _RANK[worst]):
                worst = v
        if worst is not None:
            out[ref] = worst
    return out


def _volatility(ref: FunctionRef, known: Mapping[FunctionRef, str]) -> str | None:
    found = known.get(ref)
    if found is None and ref.schema is None:
        found = next(
            (v for k, v in known.items() if k.name == ref.name and k.nargs == ref.nargs), None
        )
    return found


# ---------------------------------------------------------------------------
# per-statement lint
# ---------------------------------------------------------------------------


@dataclass
class StatementLint:
    """What the lint says about one statement, with what the rehearsal should then see.

    ``table``: the existing table it acts on ("" when none); ``rewrite``: the
    lint expects a new relfilenode for it; ``lock``: the strongest table lock
    the lint expects on it ("" when it has no opinion).
    """

    index: int
    line: int
    text: str
    table: str = ""
    rewrite: bool = False
    lock: str = ""
    findings: list[Finding] = field(default_factory=list)
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "migration": self.source,
            "index": self.index,
            "line": self.line,
            "table": self.table,
            "expected_rewrite": self.rewrite,
            "expected_lock": self.lock,
            "codes": [f.code for f in self.findings],
        }


def _stronger(a: str, b: str) -> str:
    return a if LOCK_MODES.index(a or "") >= LOCK_MODES.index(b or "") else b


class _Linter:
    """Walks statements in order, tracking transaction blocks and new tables."""

    def __init__(
        self,
        statements: list[Statement],
        new_tables: Iterable[str],
        hot_tables: Iterable[str] | None,
        in_transaction: bool,
        source: str | None,
        volatility: Mapping[FunctionRef, str],
        server_major: int | None,
    ) -> None:
        self.statements = statements
        self.new_tables = [qualified_name(n) for n in new_tables]
        self.hot_tables = None if hot_tables is None else [qualified_name(n) for n in hot_tables]
        self.wrapped = in_transaction
        self.in_block = False
        self.prefix = f"{source}: " if source else ""
        self.volatility = volatility
        self.server_major = server_major
        self.results: list[StatementLint] = []
        self.cur: StatementLint | None = None

    def add(
        self,
        what: str,
        code: str,
        *,
        severity: Severity = FAIL,
        table: str = "",
        rewrite: bool = False,
        lock: str = "",
    ) -> None:
        cur = self.cur
        assert cur is not None
        snippet = " ".join(cur.text.split())
        if len(snippet) > 120:
            snippet = snippet[:117] + "..."
        cur.findings.append(
            Finding(
                code,
                f"{self.prefix}statement {cur.index} (line {cur.line}): {what} -- {snippet}",
                severity,
            )
        )
        if table:
            cur.table = cur.table or table
        cur.rewrite = cur.rewrite or rewrite
        cur.lock = _stronger(cur.lock, lock)

    def is_new(self, table: str) -> bool:
        return _in(table, self.new_tables)

    def run(self) -> list[StatementLint]:
        concurrent = [st for st in self.statements if _uses_concurrently(st.node)]
        for st in self.statements:
            self.cur = StatementLint(st.index, st.line, st.text)
            self.results.append(self.cur)
            self.statement(st.node)
        flagged = any(
            f.code == "concurrently-in-transaction" for r in self.results for f in r.findings
        )
        if concurrent and len(self.statements) > 1 and not self.wrapped and not flagged:
            self.cur = self.results[concurrent[0].index - 1]
            self.add(
                "CONCURRENTLY in a file with other statements fails if the runner sends the "
                "file as one multi-statement query (an implicit transaction); keep it in a "
                "migration of its own",
                "concurrently-with-other-statements",
                severity=WARN,
            )
        return self.results

    # -- dispatch ----------------------------------------------------------

    def statement(self, node: Any) -> None:
        kinds = enums.TransactionStmtKind
        if isinstance(node, ast.TransactionStmt):
            if node.kind in (kinds.TRANS_STMT_BEGIN, kinds.TRANS_STMT_START):
                self.in_block = True
            elif node.kind in (kinds.TRANS_STMT_COMMIT, kinds.TRANS_STMT_ROLLBACK):
                self.in_block = False
        elif isinstance(node, ast.CreateStmt):
            self.new_tables.append(_rv(node.relation))
        elif isinstance(node, ast.CreateTableAsStmt) and node.into is not None:
            self.new_tables.append(_rv(node.into.rel))
        elif isinstance(node, ast.IndexStmt):
            self.create_index(node)
        elif isinstance(node, ast.AlterTableStmt) and node.objtype == enums.ObjectType.OBJECT_TABLE:
            self.alter_table(node)
        elif isinstance(node, ast.RenameStmt):
            self.rename(node)
        elif isinstance(node, ast.DropStmt) and node.removeType == enums.ObjectType.OBJECT_INDEX:
            if node.concurrent:
                self.check_concurrently_in_tx("DROP INDEX CONCURRENTLY")
        elif isinstance(node, ast.ReindexStmt):
            self.reindex(node)
        elif isinstance(node, ast.VacuumStmt) and node.is_vacuumcmd:
            self.vacuum(node)
        elif isinstance(node, ast.ClusterStmt):
            self.cluster(node)
        elif isinstance(node, ast.LockStmt):
            self.lock(node)
        elif isinstance(node, ast.RefreshMatViewStmt):
            self.refresh(node)

    def check_concurrently_in_tx(self, what: str) -> None:
        if self.in_block or self.wrapped:
            where = "inside BEGIN ... COMMIT" if self.in_block else "in a transaction"
            self.add(
                f"{what} cannot run {where} (PostgreSQL refuses it: "
                "'cannot run inside a transaction block')",
                "concurrently-in-transaction",
            )

    # -- CREATE INDEX --------------------------------------------------------

    def create_index(self, node: ast.IndexStmt) -> None:
        if node.concurrent:
            self.check_concurrently_in_tx("CREATE INDEX CONCURRENTLY")
            return
        table = _rv(node.relation)
        if self.is_new(table):
            return
        kind = "CREATE UNIQUE INDEX" if node.unique else "CREATE INDEX"
        self.add(
            f"{kind} on existing table {table} without CONCURRENTLY blocks all writes to it "
            "for the whole build; use CREATE INDEX CONCURRENTLY in its own migration",
            "lock-create-index",
            table=table,
            lock="SHARE",
        )

    # -- ALTER TABLE -------------------------------------------------------

    def rename(self, node: ast.RenameStmt) -> None:
        table = _rv(node.relation)
        relation_kinds = (
            enums.ObjectType.OBJECT_TABLE,
            enums.ObjectType.OBJECT_COLUMN,
            enums.ObjectType.OBJECT_TABCONSTRAINT,
        )
        if (
            table
            and node.renameType in relation_kinds
            and self.hot_tables is not None
            and _in(table, self.hot_tables)
        ):
            self.add(
                f"RENAME on hot table {table} breaks the running release's queries "
                "the moment it commits; add the new name, migrate readers, drop later",
                "rename-hot-table",
                table=table,
                lock=AX,
            )

    def alter_table(self, node: ast.AlterTableStmt) -> None:
        table = _rv(node.relation)
        if not table or self.is_new(table):
            return
        types = enums.AlterTableType
        for cmd in node.cmds or ():
            sub = cmd.subtype
            if sub == types.AT_AddColumn and isinstance(cmd.def_, ast.ColumnDef):
                self.add_column(table, cmd.def_)
            elif sub == types.AT_AddConstraint and isinstance(cmd.def_, ast.Constraint):
                self.add_constraint(table, cmd.def_)
            elif sub == types.AT_AlterColumnType:
                self.alter_column_type(table, cmd)
            elif sub == types.AT_SetNotNull:
                self.add(
                    f"ALTER COLUMN {table}.{cmd.name} SET NOT NULL scans the whole table under "
                    f"ACCESS EXCLUSIVE unless a validated CHECK ({cmd.name} IS NOT NULL) exists",
                    "lock-set-not-null",
                    severity=WARN,
                    table=table,
                    lock=AX,
                )
            elif sub in (types.AT_SetTableSpace, types.AT_SetLogged, types.AT_SetUnLogged):
                what = {
                    types.AT_SetTableSpace: "TABLESPACE",
                    types.AT_SetLogged: "LOGGED",
                    types.AT_SetUnLogged: "UNLOGGED",
                }[sub]
                self.add(
                    f"ALTER TABLE {table} SET {what} rewrites the whole table under an "
                    "ACCESS EXCLUSIVE lock",
                    "rewrite-table",
                    table=table,
                    rewrite=True,
                    lock=AX,
                )

    def add_column(self, table: str, col: ast.ColumnDef) -> None:
        """ADD COLUMN and every column constraint written inside it (ALTER TABLE, Notes)."""
        column = f"{table}.{col.colname}"
        cons = list(col.constraints or ())
        ct = enums.ConstrType
        type_names = [s.sval for s in (col.typeName.names if col.typeName else ())]
        type_name = type_names[-1] if type_names else ""
        default = next((c.raw_expr for c in cons if c.contype == ct.CONSTR_DEFAULT), None)
        not_null = any(c.contype == ct.CONSTR_NOTNULL for c in cons)
        rewrite_why = ""
        if len(type_names) == 1 and type_name in _SERIAL_TYPES:
            rewrite_why = f"as {type_name} fills every existing row from a sequence"
        elif any(c.contype == ct.CONSTR_IDENTITY for c in cons):
            rewrite_why = "as an identity column fills every existing row from a sequence"
        elif any(c.contype == ct.CONSTR_GENERATED and c.generated_kind != "v" for c in cons):
            rewrite_why = "as a stored generated column computes a value for every existing row"
        elif default is not None:
            rewrite_why = self.default_rewrites(default)
        if rewrite_why:
            self.add(
                f"ADD COLUMN {column} {rewrite_why}: a full table rewrite under ACCESS "
                "EXCLUSIVE; add it without default, backfill in batches, then set the default",
                "rewrite-add-column",
                table=table,
                rewrite=True,
                lock=AX,
            )
        elif not_null and default is None:
            self.add(
                f"ADD COLUMN {column} NOT NULL without DEFAULT fails on a non-empty "
                "table and needs a full scan under ACCESS EXCLUSIVE; add a constant DEFAULT "
                "or add it nullable and backfill",
                "lock-add-column-not-null",
                table=table,
                lock=AX,
            )
        for con in cons:
            if con.contype in (ct.CONSTR_UNIQUE, ct.CONSTR_PRIMARY):
                label = "UNIQUE" if con.contype == ct.CONSTR_UNIQUE else "PRIMARY KEY"
                self.add(
                    f"ADD COLUMN {column} {label} builds a unique index over the whole table "
                    "under ACCESS EXCLUSIVE; add the column, CREATE UNIQUE INDEX CONCURRENTLY, "
                    "then ADD CONSTRAINT ... USING INDEX",
                    "lock-add-constraint-index",
                    table=table,
                    lock=AX,
                )
            elif con.contype in (ct.CONSTR_FOREIGN, ct.CONSTR_CHECK) and not con.skip_validation:
                if con.contype == ct.CONSTR_FOREIGN:
                    ref = _rv(con.pktable)
                    what = f"REFERENCES {ref} validates every existing row (a scan, SHARE ROW "
                    what += f"EXCLUSIVE on {ref} too)"
                    lock = "SHARE ROW EXCLUSIVE"
                else:
                    what = "CHECK validates every existing row"
                    lock = AX
                self.add(
                    f"ADD COLUMN {column} {what} while holding its lock; add the column, then "
                    "ADD CONSTRAINT ... NOT VALID and VALIDATE CONSTRAINT separately",
                    "lock-add-constraint-validate",
                    table=table,
                    lock=lock,
                )

    def default_rewrites(self, expr: Any) -> str:
        """Why a DEFAULT fills every row ("" when it does not): volatile, or PG < 11."""
        text = _expr_text(expr)
        if self.server_major is not None and self.server_major < 11:
            null = isinstance(expr, ast.A_Const) and expr.isnull
            if not null:
                major = self.server_major
                return f"with DEFAULT {text} on PostgreSQL {major} (before 11) writes every row"
        worst, unknown = "", []
        for ref in _calls(expr):
            v = _volatility(ref, self.volatility)
            if v is None:
                unknown.append(str(ref))
            elif _RANK[v] > _RANK.get(worst, -1):
                worst = v
                if v == "v":
                    return f"with DEFAULT {text} ({ref} is VOLATILE) fills every existing row"
        if unknown:
            self.add(
                f"volatility of {', '.join(unknown)} in DEFAULT {text} is unknown (not in the "
                "database nor created by a pending migration); a VOLATILE default rewrites "
                "the table",
                "unknown-volatility",
                severity=WARN,
            )
        return ""

    def add_constraint(self, table: str, con: ast.Constraint) -> None:
        ct = enums.ConstrType
        if con.contype in (ct.CONSTR_CHECK, ct.CONSTR_FOREIGN):
            if con.skip_validation:
                return
            label = "CHECK" if con.contype == ct.CONSTR_CHECK else "FOREIGN KEY"
            self.add(
                f"ADD {label} on {table} without NOT VALID checks every existing row while "
                "holding its lock; add it NOT VALID, then VALIDATE CONSTRAINT separately",
                "lock-add-constraint-validate",
                table=table,
                lock=AX if con.contype == ct.CONSTR_CHECK else "SHARE ROW EXCLUSIVE",
            )
        elif con.contype in (ct.CONSTR_PRIMARY, ct.CONSTR_UNIQUE, ct.CONSTR_EXCLUSION):
            if con.indexname:  # ... USING INDEX: the index exists already
                return
            label = {
                ct.CONSTR_PRIMARY: "PRIMARY KEY",
                ct.CONSTR_UNIQUE: "UNIQUE",
                ct.CONSTR_EXCLUSION: "EXCLUDE",
            }[con.contype]
            self.add(
                f"ADD {label} on {table} builds its index under ACCESS EXCLUSIVE; build it with "
                "CREATE UNIQUE INDEX CONCURRENTLY, then ADD CONSTRAINT ... USING INDEX",
                "lock-add-constraint-index",
                table=table,
                lock=AX,
            )

    def alter_column_type(self, table: str, cmd: ast.AlterTableCmd) -> None:
        col = cmd.def_
        target = _expr_text(col.typeName) if col is not None and col.typeName else "?"
        names = [s.sval for s in (col.typeName.names if col is not None and col.typeName else ())]
        cheap = bool(names) and names[-1] in ("text", "varchar")
        note = (
            " (no rewrite only if the old type converts binary-coercibly, e.g. varchar(n) to text)"
            if cheap
            else ""
        )
        self.add(
            f"ALTER COLUMN {table}.{cmd.name} TYPE {target} rewrites the table and "
            f"its indexes under ACCESS EXCLUSIVE{note}",
            "rewrite-alter-column-type",
            severity=WARN if cheap else FAIL,
            table=table,
            rewrite=True,
            lock=AX,
        )

    # -- maintenance commands ----------------------------------------------

    def reindex(self, node: ast.ReindexStmt) -> None:
        if any(p.defname == "concurrently" and _on(p) for p in node.params or ()):
            self.check_concurrently_in_tx("REINDEX CONCURRENTLY")
            return
        self.add(
            "REINDEX without CONCURRENTLY blocks writes (and reads through the index) "
            "for the whole rebuild",
            "lock-reindex",
            rewrite=True,
            table=_rv(node.relation)
            if node.kind == enums.ReindexObjectType.REINDEX_OBJECT_TABLE
            else "",
            lock="SHARE",
        )

    def vacuum(self, node: ast.VacuumStmt) -> None:
        if not any(o.defname == "full" and _on(o) for o in node.options or ()):
            return
        rels = [_rv(r.relation) for r in node.rels or () if r.relation is not None]
        self.add(
            "VACUUM FULL rewrites the table under ACCESS EXCLUSIVE (nothing can read or "
            "write it until it finishes)",
            "lock-vacuum-full",
            table=rels[0] if len(rels) == 1 else "",
            rewrite=True,
            lock=AX,
        )

    def cluster(self, node: ast.ClusterStmt) -> None:
        table = _rv(node.relation)
        if table and self.is_new(table):
            return
        target = f" {table}" if table else ""
        self.add(
            f"CLUSTER{target} rewrites the table under ACCESS EXCLUSIVE",
            "lock-cluster",
            table=table,
            rewrite=True,
            lock=AX,
        )

    def lock(self, node: ast.LockStmt) -> None:
        mode = LOCK_MODES[node.mode] if 0 < node.mode < len(LOCK_MODES) else AX
        if LOCK_MODES.index(mode) <= 3:  # ACCESS SHARE .. ROW EXCLUSIVE: what DML takes anyway
            return
        tables = [_rv(r) for r in node.relations or ()]
        if tables and all(self.is_new(t) for t in tables):
            return
        self.add(
            f"LOCK TABLE {', '.join(tables) or '?'} IN {mode} MODE holds a blocking lock until "
            "the migration's transaction ends",
            "lock-table",
            table=tables[0] if tables else "",
            lock=mode,
        )

    def refresh(self, node: ast.RefreshMatViewStmt) -> None:
        if node.concurrent:
            self.check_concurrently_in_tx("REFRESH MATERIALIZED VIEW CONCURRENTLY")
            return
        self.add(
            f"REFRESH MATERIALIZED VIEW {_rv(node.relation) or '?'} without CONCURRENTLY "
            "blocks every reader of the view until it finishes",
            "lock-refresh-matview",
            severity=WARN,
        )


def _on(opt: ast.DefElem) -> bool:
    """A boolean option's value (``FULL``, ``FULL true``, ``FULL off``...)."""
    arg = opt.arg
    if arg is None:
        return True
    value = getattr(arg, "sval", None)
    if value is None:
        value = getattr(arg, "ival", None)
    if value is None:
        value = getattr(arg, "boolval", True)
    return str(value).lower() not in ("false", "off", "0", "no")


def _uses_concurrently(node: Any) -> bool:
    if isinstance(node, ast.IndexStmt | ast.RefreshMatViewStmt):
        return bool(node.concurrent)
    if isinstance(node, ast.DropStmt):
        return bool(node.concurrent)
    if isinstance(node, ast.ReindexStmt):
        return any(p.defname == "concurrently" and _on(p) for p in node.params or ())
    return False


def lint_statements(
    text: str,
    *,
    new_tables: Iterable[str] = (),
    hot_tables: Iterable[str] | None = None,
    in_transaction: bool = False,
    source: str | None = None,
    volatility: Mapping[FunctionRef, str] | None = None,
    server_major: int | None = None,
) -> list[StatementLint]:
    """Per-statement lint of one migration file (see :func:`lint_migration`)."""
    parsed = parse_migration(text)
    if parsed.error:
        prefix = f"{source}: " if source else ""
        first = parsed.statements[0] if parsed.statements else Statement(1, 1, "")
        result = StatementLint(first.index, first.line, first.text)
        result.findings.append(
            Finding(
                "syntax-error",
                f"{prefix}line {parsed.error_line}: PostgreSQL's parser rejects the file: "
                f"{parsed.error}",
            )
        )
        return [result]
    known = dict(volatility or {})
    known.update(function_definitions(text))
    return _Linter(
        parsed.statements,
        new_tables,
        hot_tables,
        in_transaction,
        source,
        known,
        server_major,
    ).run()


def lint_migration(
    text: str,
    *,
    new_tables: Iterable[str] = (),
    hot_tables: Iterable[str] | None = None,
    in_transaction: bool = False,
    source: str | None = None,
    volatility: Mapping[FunctionRef, str] | None = None,
    server_major: int | None = None,
) -> list[Finding]:
    """Lint one migration file's SQL for long-lock and error-prone operations.

    ``new_tables``: tables created by this release (in this or an earlier
    pending migration); operations on them are exempt because nobody is
    using them yet. Tables created earlier in the same text are exempt too.
    ``hot_tables``: when given, RENAMEs on these tables are findings.
    ``in_transaction``: the migration runner wraps each file in a
    transaction, so any CONCURRENTLY in it will fail.
    ``source``: file name to prefix messages with.
    ``volatility``: ``provolatile`` ('i', 's', 'v') of the functions the
    ADD COLUMN defaults call, as the database resolves them
    (``default_function_calls`` lists them); CREATE FUNCTIONs in ``text``
    add to it. ``server_major``: before 11 every non-NULL default rewrites.

    Finding codes (severity): syntax-error, lock-create-index,
    concurrently-in-transaction, lock-add-column-not-null, rewrite-add-column,
    lock-add-constraint-validate, lock-add-constraint-index (also for UNIQUE /
    PRIMARY KEY / REFERENCES / CHECK written inside ADD COLUMN),
    rewrite-alter-column-type (warn for a change to text/varchar),
    rewrite-table, lock-vacuum-full, lock-cluster, lock-table, lock-reindex,
    rename-hot-table (all fail); lock-set-not-null, lock-refresh-matview,
    concurrently-with-other-statements, unknown-volatility (warn).
    """
    results = lint_statements(
        text,
        new_tables=new_tables,
        hot_tables=hot_tables,
        in_transaction=in_transaction,
        source=source,
        volatility=volatility,
        server_major=server_major,
    )
    return [f for r in results for f in r.findings]
