"""PF-04: which pending migrations to rehearse, how, and what the rehearsal proved.

The rehearsal itself (read-only schema dump of the target, a throwaway
PostgreSQL or a configured rehearsal server, apply) is I/O and lives in
``probes.sql_tools`` / ``probes.pitr``; this module holds the decisions around
it so they can be tested with plain inputs:

* the order migrations run in (by version, like every migration tool);
* whether a file runs inside one transaction (the usual case) or statement by
  statement (a ``-- spark:no-transaction`` first line: the convention of the
  reference stack's runner, needed for CONCURRENTLY operations), and which
  statements PostgreSQL refuses inside a transaction block;
* the tables a release creates, so that the lint does not flag work on a
  table nobody uses yet;
* the findings: a statement that failed, hit lock_timeout or statement_timeout,
  the lint findings of every file, and what the rehearsal observed against
  what the lint guessed (``confirm_lint``: relfilenode changes = rewrites,
  the statement's own table locks);
* the statements the rehearsal does not run: anything cluster-wide (roles,
  ALTER SYSTEM, databases, tablespaces, role membership, ACLs and comments on
  shared objects) is not part of a one-database schema copy, and on a
  configured rehearsal server it would change that server. Such a file is
  refused before anything runs (``cluster_wide_statements``).

All SQL is read with PostgreSQL's own parser (pglast), never by keywords.
Pure: text and dicts in, findings out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pglast import ast, enums
from pglast.parser import ParseError, scan

from .findings import WARN, Finding
from .migration_lint import (
    LOCK_MODES,
    FunctionRef,
    Statement,
    StatementLint,
    default_function_calls,
    function_definitions,
    lint_statements,
    qualified_name,
    split_statements,
)
from .migrations import version_key

__all__ = [
    "NO_TRANSACTION_MARKER",
    "PendingMigration",
    "cluster_wide",
    "cluster_wide_statements",
    "confirm_lint",
    "created_tables",
    "evaluate_rehearsal",
    "file_version",
    "is_transactional",
    "lint_findings",
    "lint_pending",
    "order_pending",
    "pending_function_calls",
    "runs_outside_transaction",
    "split_applied",
]

#: First-line marker for a migration that must run outside a transaction
#: (same convention as the reference stack's migration runner).
NO_TRANSACTION_MARKER = "-- spark:no-transaction"

#: Statement outcomes of a rehearsal (see ``probes.sql_tools.StatementRun``).
OK, FAILED, LOCK_TIMEOUT, STATEMENT_TIMEOUT, NOT_RUN = (
    "ok",
    "failed",
    "lock_timeout",
    "statement_timeout",
    "not_run",
)


@dataclass(frozen=True, slots=True)
class PendingMigration:
    """One pending migration file: its name, SQL text and content digest."""

    name: str
    text: str

    @property
    def sha256(self) -> str:
        """Digest of the text, so evidence names exactly what was rehearsed."""
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    @property
    def statements(self) -> list[Statement]:
        return split_statements(self.text)

    @property
    def transactional(self) -> bool:
        return is_transactional(self.text)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "sha256": self.sha256,
            "statements": len(self.statements),
            "transactional": self.transactional,
        }


def order_pending(migrations: Iterable[PendingMigration]) -> list[PendingMigration]:
    """Version order (``0005_x`` before ``0010_y``, timestamps too), then name."""
    return sorted(migrations, key=lambda m: (version_key(file_version(m.name)), m.name))


def file_version(name: str) -> str:
    """The version part of a migration file name.

    ``0005_orders_fees.sql`` -> ``0005``; golang-migrate ``000005_x.up.sql``
    -> ``000005``; Flyway ``V1_2__add_fee.sql`` -> ``1.2``.
    """
    stem = name.split(".", 1)[0]
    if "__" in stem:
        head = stem.split("__", 1)[0]
        if head[:1] in ("V", "v") and head[1:2].isdigit():
            head = head[1:]
        return head.replace("_", ".")
    return stem.split("_", 1)[0]


def split_applied(
    migrations: Iterable[PendingMigration], applied_versions: Iterable[Any]
) -> tuple[list[PendingMigration], list[PendingMigration]]:
    """(still pending, already applied) by version, so the directory may also hold old files.

    A file whose version the target records as applied is not rehearsed again
    (it would fail on objects that already exist): teams that point the setting
    at their whole migrations directory get only the new files rehearsed.
    """
    done = {version_key(v) for v in applied_versions}
    pending: list[PendingMigration] = []
    applied: list[PendingMigration] = []
    for m in migrations:
        (applied if version_key(file_version(m.name)) in done else pending).append(m)
    return pending, applied


def is_transactional(text: str) -> bool:
    """Whether the runner applies this file inside one transaction.

    Yes unless its first line is the no-transaction marker; then each statement
    runs, and commits, on its own. A CONCURRENTLY operation in a transactional
    file fails in the rehearsal exactly as it would in the deploy (and the lint
    says why), instead of being quietly run another way.
    """
    first = text.lstrip().splitlines()[:1]
    return not (first and first[0].strip().lower() == NO_TRANSACTION_MARKER)


def created_tables(text: str) -> list[str]:
    """Tables (and materialized views) a migration creates, as ``name`` or ``schema.name``."""
    out: list[str] = []
    for st in split_statements(text):
        node = st.node
        if isinstance(node, ast.CreateStmt) and node.relation is not None:
            rv = node.relation
        elif isinstance(node, ast.CreateTableAsStmt) and node.into is not None:
            rv = node.into.rel
        else:
            continue
        out.append(f"{rv.schemaname}.{rv.relname}" if rv.schemaname else str(rv.relname))
    return out


def lint_pending(
    migrations: Sequence[PendingMigration],
    *,
    hot_tables: Iterable[str] | None = None,
    volatility: Mapping[FunctionRef, str] | None = None,
    server_major: int | None = None,
) -> list[StatementLint]:
    """Lint every pending file in order; tables created by an earlier one are new in later ones.

    A file that runs inside a transaction is linted as such, so a CONCURRENTLY
    that would fail there is reported; the rehearsal decides the same way.
    ``hot_tables``: tables a RENAME on would break the running release.
    ``volatility``: the database's ``provolatile`` of the functions the
    defaults call; functions created by any pending file count too.
    Returns one ``StatementLint`` per statement, its ``source`` the file name.
    """
    hot = None if hot_tables is None else list(hot_tables)
    known: dict[FunctionRef, str] = dict(volatility or {})
    for m in migrations:
        known.update(function_definitions(m.text))
    new: list[str] = []
    out: list[StatementLint] = []
    for m in migrations:
        for result in lint_statements(
            m.text,
            new_tables=new,
            hot_tables=hot,
            in_transaction=m.transactional,
            source=m.name,
            volatility=known,
            server_major=server_major,
        ):
            result.source = m.name
            out.append(result)
        new += created_tables(m.text)
    return out


def pending_function_calls(migrations: Iterable[PendingMigration]) -> list[FunctionRef]:
    """Functions the ADD COLUMN defaults of all pending files call (to ask the database)."""
    out: list[FunctionRef] = []
    for m in migrations:
        out += [f for f in default_function_calls(m.text) if f not in out]
    return out


_SHARED = {
    enums.ObjectType.OBJECT_DATABASE: "DATABASE",
    enums.ObjectType.OBJECT_TABLESPACE: "TABLESPACE",
}
_ROLE_STMTS = (ast.CreateRoleStmt, ast.AlterRoleStmt, ast.AlterRoleSetStmt, ast.DropRoleStmt)
_DATABASE_STMTS = (
    ast.CreatedbStmt,
    ast.AlterDatabaseStmt,
    ast.AlterDatabaseSetStmt,
    ast.AlterDatabaseRefreshCollStmt,
    ast.DropdbStmt,
)
_TABLESPACE_STMTS = (
    ast.CreateTableSpaceStmt,
    ast.DropTableSpaceStmt,
    ast.AlterTableSpaceOptionsStmt,
)


def _head(st: Statement, count: int) -> str:
    """The statement's first ``count`` keywords as written (upper case), from PG's scanner."""
    try:
        toks = scan(st.text)
    except ParseError:
        return ""
    return " ".join(st.text[t.start : t.end + 1].upper() for t in toks[:count])


def cluster_wide(st: Statement) -> str | None:
    """What makes a statement act on the whole cluster (``"ALTER ROLE"``), or None.

    Decided on PostgreSQL's parse tree, so words inside a comment, a string or
    a function body never match: CREATE/ALTER/DROP ROLE, USER and GROUP (not
    USER MAPPING, a per-database object); ALTER SYSTEM; CREATE/ALTER/DROP
    DATABASE and TABLESPACE (and their RENAME / OWNER TO); GRANT/REVOKE of role
    membership; GRANT/REVOKE ON DATABASE, TABLESPACE or PARAMETER; COMMENT /
    SECURITY LABEL ON DATABASE, TABLESPACE or ROLE (shared catalogs); DROP
    OWNED and REASSIGN OWNED. Dynamic SQL (``EXECUTE`` in a DO block or
    function) cannot be seen.
    """
    node = st.node
    ot = enums.ObjectType
    if isinstance(node, (*_ROLE_STMTS, *_DATABASE_STMTS, *_TABLESPACE_STMTS)):
        return _head(st, 2)
    if isinstance(node, ast.AlterSystemStmt):
        return "ALTER SYSTEM"
    if isinstance(node, ast.RenameStmt | ast.AlterOwnerStmt):
        kind = node.renameType if isinstance(node, ast.RenameStmt) else node.objectType
        if kind in _SHARED or kind == ot.OBJECT_ROLE:
            return _head(st, 2)
        return None
    if isinstance(node, ast.DropOwnedStmt):
        return "DROP OWNED"
    if isinstance(node, ast.ReassignOwnedStmt):
        return "REASSIGN OWNED"
    if isinstance(node, ast.GrantRoleStmt):
        return f"{'GRANT' if node.is_grant else 'REVOKE'} of role membership"
    if isinstance(node, ast.GrantStmt):
        verb = "GRANT" if node.is_grant else "REVOKE"
        if node.objtype == ot.OBJECT_PARAMETER_ACL:
            return f"{verb} ON PARAMETER"
        if node.objtype in _SHARED:
            return f"{verb} ON {_SHARED[node.objtype]}"
        return None
    if isinstance(node, ast.CommentStmt | ast.SecLabelStmt):
        label = "COMMENT" if isinstance(node, ast.CommentStmt) else "SECURITY LABEL"
        if node.objtype in _SHARED:
            return f"{label} ON {_SHARED[node.objtype]}"
        if node.objtype == ot.OBJECT_ROLE:
            return f"{label} ON ROLE"
    return None


def cluster_wide_statements(migrations: Iterable[PendingMigration]) -> list[str]:
    """One line per statement the rehearsal refuses to run, naming file, statement and line.

    The rehearsal copies one database's schema, not the cluster's roles,
    settings or databases, so such a statement cannot be rehearsed faithfully
    (and on a configured rehearsal server it would change that server): such a
    file has to be rehearsed by hand.
    """
    out: list[str] = []
    for m in migrations:
        for st in m.statements:
            what = cluster_wide(st)
            if what is not None:
                out.append(
                    f"{m.name} statement {st.index} (line {st.line}): {what} is cluster-wide; "
                    "PF-04 does not rehearse it (roles, settings and databases are not part of "
                    "the schema copy) -- rehearse it by hand"
                )
    return out


def _snippet(text: str, limit: int = 120) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def evaluate_rehearsal(
    runs: Iterable[Mapping[str, Any]],
    *,
    lock_timeout_s: float,
    statement_timeout_s: float,
) -> list[Finding]:
    """Findings from the statement runs of a rehearsal (``StatementRun.to_dict()`` rows).

    Codes: ``rehearsal-failed`` (the statement raised: the deploy would stop
    there), ``rehearsal-lock-timeout`` and ``rehearsal-statement-timeout``
    (it could not finish within the deadline even on an empty copy).
    """
    findings: list[Finding] = []
    for run in runs:
        status = run.get("status")
        if status in (OK, NOT_RUN, None):
            continue
        where = (
            f"pending migration {run.get('migration', '?')} statement "
            f"{run.get('index', '?')} (line {run.get('line', '?')})"
        )
        sqlstate = f" [SQLSTATE {run['sqlstate']}]" if run.get("sqlstate") else ""
        error = run.get("error") or "error"
        stmt = _snippet(run.get("statement", ""))
        if status == LOCK_TIMEOUT:
            findings.append(
                Finding(
                    "rehearsal-lock-timeout",
                    f"{where} waited over lock_timeout {lock_timeout_s:g} s on the scratch "
                    f"copy: {error}{sqlstate} -- {stmt}",
                )
            )
        elif status == STATEMENT_TIMEOUT:
            findings.append(
                Finding(
                    "rehearsal-statement-timeout",
                    f"{where} ran over statement_timeout {statement_timeout_s:g} s on the "
                    f"scratch copy: {error}{sqlstate} -- {stmt}",
                )
            )
        else:
            findings.append(
                Finding(
                    "rehearsal-failed",
                    f"{where} failed in rehearsal: {error}{sqlstate} -- {stmt}",
                )
            )
    return findings


def runs_outside_transaction(st: Statement) -> bool:
    """Statements PostgreSQL refuses inside a transaction block ("cannot run inside a
    transaction block"): the rehearsal runs them bare, without reading their locks."""
    node = st.node
    if node is None or isinstance(node, ast.TransactionStmt):
        return True
    if isinstance(node, ast.IndexStmt | ast.DropStmt):
        return bool(node.concurrent)
    if isinstance(node, ast.ReindexStmt):
        return any(p.defname == "concurrently" for p in node.params or ()) or node.kind in (
            enums.ReindexObjectType.REINDEX_OBJECT_SYSTEM,
            enums.ReindexObjectType.REINDEX_OBJECT_DATABASE,
        )
    if isinstance(node, ast.VacuumStmt):
        return bool(node.is_vacuumcmd)
    if isinstance(node, ast.ClusterStmt):
        return node.relation is None
    return isinstance(
        node,
        ast.CreatedbStmt
        | ast.DropdbStmt
        | ast.AlterSystemStmt
        | ast.CreateTableSpaceStmt
        | ast.DropTableSpaceStmt
        | ast.CreateSubscriptionStmt
        | ast.DropSubscriptionStmt,
    )


def lint_findings(lints: Iterable[StatementLint]) -> list[Finding]:
    """The findings of per-statement lint results, in order."""
    return [f for r in lints for f in r.findings]


_REWRITE_CODES = frozenset(
    {"rewrite-add-column", "rewrite-alter-column-type", "rewrite-table", "lock-vacuum-full",
     "lock-cluster"}
)  # fmt: skip


def _lock_rank(mode: str) -> int:
    return LOCK_MODES.index(mode) if mode in LOCK_MODES else 0


def confirm_lint(
    lints: Sequence[StatementLint],
    runs: Iterable[Mapping[str, Any]],
    *,
    new_tables: Iterable[str] = (),
) -> tuple[list[dict[str, Any]], list[Finding]]:
    """Let the rehearsal confirm or refute what the lint guessed, per statement.

    ``runs``: ``StatementRun.to_dict()`` rows. A table the rehearsal saw
    rewritten (new relfilenode; the rehearsal copy has the target's schema,
    and whether PostgreSQL rewrites depends on the schema, not the rows)
    that the lint did not expect is a ``rehearsal-rewrite`` finding (fail).
    A lint rewrite finding the rehearsal refutes (statement ran, table kept
    its relfilenode) stays in the evidence as a warning that says so.
    Tables created by the release itself are exempt (nobody uses them yet).
    Returns (one comparison row per observed statement, the findings).
    """
    new = [qualified_name(n) for n in new_tables]
    by_key = {(r.source, r.index): r for r in lints}
    rows: list[dict[str, Any]] = []
    findings: list[Finding] = []
    for run in runs:
        if run.get("status") != OK or not run.get("observed"):
            continue  # failed, not run, or ran where its locks cannot be read
        key = (run.get("migration", ""), run.get("index"))
        lint = by_key.get(key)
        rewritten = [
            w for w in run.get("rewritten", []) if not any(_same(w["table"], n) for n in new)
        ]
        expected_rewrite = bool(lint and lint.rewrite)
        locks = run.get("locks", [])
        row: dict[str, Any] = {
            "migration": key[0],
            "index": key[1],
            "line": run.get("line"),
            "lint_expected_rewrite": expected_rewrite,
            "lint_expected_lock": {"table": lint.table, "mode": lint.lock}
            if lint and lint.lock
            else None,
            "rehearsal_rewritten": rewritten,
            "rehearsal_locks": locks,
        }
        if rewritten and not expected_rewrite:
            row["rewrite"] = "missed by lint"
            findings += _missed_rewrites(key, run, rewritten)
        elif expected_rewrite and lint is not None:
            confirmed = bool(rewritten)
            row["rewrite"] = "confirmed" if confirmed else "refuted"
            if not confirmed:
                lint.findings[:] = [
                    Finding(
                        f.code,
                        f"{f.message} [refuted by the rehearsal: no relfilenode changed]",
                        WARN,
                    )
                    if f.code in _REWRITE_CODES
                    else f
                    for f in lint.findings
                ]
        else:
            row["rewrite"] = "none expected, none seen"
        if lint is not None and lint.lock and lint.table:
            row["lock"] = _lock_verdict(lint.table, lint.lock, locks, run.get("held", []))
        rows.append(row)
    return rows, findings


def _strongest(table: str, locks: Iterable[Mapping[str, Any]]) -> str:
    seen = [str(lk.get("mode", "")) for lk in locks if _same(str(lk.get("relation", "")), table)]
    return max(seen, key=_lock_rank, default="")


def _lock_verdict(
    table: str, expected: str, locks: Iterable[Mapping[str, Any]], held: Iterable[Mapping[str, Any]]
) -> str:
    """confirmed (the statement took it or stronger), already held (an earlier statement
    of the transaction holds it, so this one's cannot be seen), or refuted."""
    took = _strongest(table, locks)
    if took and _lock_rank(took) >= _lock_rank(expected):
        return "confirmed"
    had = _strongest(table, held)
    if had and _lock_rank(had) >= _lock_rank(expected):
        return f"already held ({had}) by an earlier statement of the transaction"
    return f"refuted (saw {took or had or 'no lock'})"


def _missed_rewrites(
    key: tuple[Any, Any], run: Mapping[str, Any], rewritten: list[Mapping[str, Any]]
) -> list[Finding]:
    """One ``rehearsal-rewrite`` finding per table rewritten (its indexes with it), and per
    index rebuilt on its own."""
    where = f"pending migration {key[0]} statement {key[1]} (line {run.get('line')})"
    stmt = _snippet(run.get("statement", ""))
    tables = [w for w in rewritten if w.get("kind") != "index"]
    rewritten_tables = {str(w["relation"]) for w in tables}
    out = []
    for w in tables:
        indexes = [
            str(i["relation"])
            for i in rewritten
            if i.get("kind") == "index" and i.get("table") == w["relation"]
        ]
        also = f" and its indexes {', '.join(indexes)}" if indexes else ""
        out.append(
            Finding(
                "rehearsal-rewrite",
                f"{where} rewrote existing table {w['relation']}{also} in rehearsal "
                f"(relfilenode {w['relfilenode_before']} -> {w['relfilenode_after']}), which "
                "the lint did not expect: on the real table that is a full rewrite under "
                f"ACCESS EXCLUSIVE -- {stmt}",
            )
        )
    for i in rewritten:
        if i.get("kind") == "index" and i.get("table") not in rewritten_tables:
            out.append(
                Finding(
                    "rehearsal-rewrite",
                    f"{where} rebuilt index {i['relation']} of existing table {i['table']} in "
                    "rehearsal, which the lint did not expect: on the real table that is a "
                    f"full index build under the statement's lock -- {stmt}",
                )
            )
    return out


def _same(a: str, b: str) -> bool:
    a, b = qualified_name(a), qualified_name(b)
    return a == b or (a.split(".")[-1] == b.split(".")[-1] and ("." not in a or "." not in b))
