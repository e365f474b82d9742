"""What a run did to the target: PostgreSQL's statement log and the API's request log, judged.

PRODUCT.md "Safety rules": without --spark-allow-writes the checks never change
the target. The proof reads what the servers themselves saw (log_statement =
'all', the sandbox API's JSON-lines request log) instead of trusting our own
code. Statements are parsed with pglast (libpg_query, PostgreSQL's own parser)
and judged against what a read-only transaction refuses (PostgreSQL docs,
"SET TRANSACTION": INSERT, UPDATE, DELETE, MERGE, COPY FROM on any table,
every DDL, SELECT ... FOR UPDATE/SHARE, LOCK TABLE above ROW EXCLUSIVE...)
plus the functions that change server state without writing a table.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pglast
from pglast import ast

#: log_line_prefix for the audit: session identity on every line (%a application_name).
LOG_LINE_PREFIX = "%m [%p] app=%a user=%u db=%d "
_LINE = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? \S+ \[(?P<pid>\d+)\] "
    r"app=(?P<app>.*?) user=(?P<user>\S*) db=(?P<db>\S*) (?P<level>[A-Z]+\d?):  (?P<msg>.*)$"
)
_STATEMENT = re.compile(r"^(?:statement|execute [^:]*): (?P<sql>.*)$", re.S)

#: Functions that change the server or its data though called from a SELECT
#: (PostgreSQL docs 9.17 sequence functions, 9.27 system administration functions).
SIDE_EFFECT_FUNCTIONS = frozenset(
    {
        "nextval",
        "setval",
        "pg_switch_wal",
        "pg_create_restore_point",
        "pg_backup_start",
        "pg_backup_stop",
        "pg_start_backup",
        "pg_stop_backup",
        "pg_terminate_backend",
        "pg_cancel_backend",
        "pg_reload_conf",
        "pg_rotate_logfile",
        "pg_promote",
        "pg_wal_replay_pause",
        "pg_wal_replay_resume",
        "pg_create_physical_replication_slot",
        "pg_create_logical_replication_slot",
        "pg_drop_replication_slot",
        "pg_replication_slot_advance",
        "pg_copy_physical_replication_slot",
        "pg_copy_logical_replication_slot",
        "pg_stat_reset",
        "pg_stat_reset_shared",
        "pg_stat_reset_single_table_counters",
        "pg_stat_reset_single_function_counters",
        "pg_stat_reset_slru",
        "pg_stat_reset_replication_slot",
        "pg_advisory_lock",
        "pg_advisory_lock_shared",
        "pg_advisory_xact_lock",
        "pg_advisory_xact_lock_shared",
        "pg_try_advisory_lock",
        "pg_try_advisory_lock_shared",
        "pg_try_advisory_xact_lock",
        "pg_try_advisory_xact_lock_shared",
        "lo_create",
        "lo_creat",
        "lo_import",
        "lo_unlink",
        "lo_from_bytea",
        "lo_put",
        "lo_truncate",
        "dblink_exec",
    }
)

#: Statement kinds a read-only session may run (reads, session state, transaction control).
READ_ONLY_STATEMENTS = (
    ast.SelectStmt,
    ast.VariableShowStmt,
    ast.VariableSetStmt,
    ast.TransactionStmt,
    ast.ExplainStmt,
    ast.DeclareCursorStmt,
    ast.FetchStmt,
    ast.ClosePortalStmt,
    ast.DeallocateStmt,
    ast.DiscardStmt,
    ast.PrepareStmt,
)
_DML = (ast.InsertStmt, ast.UpdateStmt, ast.DeleteStmt, ast.MergeStmt)
ROW_EXCLUSIVE = 3  # LOCK TABLE modes 1-3 are allowed in a read-only transaction


@dataclass(frozen=True)
class Statement:
    pid: int
    app: str
    user: str
    db: str
    sql: str

    def __str__(self) -> str:
        sql = " ".join(self.sql.split())
        return f"[app={self.app} user={self.user} db={self.db} pid={self.pid}] {sql[:300]}"


def statements(log_text: str) -> list[Statement]:
    """Every statement PostgreSQL logged (log_statement = 'all', LOG_LINE_PREFIX).

    A statement spanning lines continues on lines without the prefix.
    """
    out: list[Statement] = []
    current: dict[str, Any] | None = None
    for line in log_text.splitlines():
        m = _LINE.match(line)
        if m is None:
            if current is not None:
                current["msg"] += "\n" + line
            continue
        if current is not None:
            out.extend(_statement(current))
        current = m.groupdict()
    if current is not None:
        out.extend(_statement(current))
    return out


def _statement(entry: dict[str, Any]) -> Iterator[Statement]:
    if entry["level"] != "LOG":
        return
    m = _STATEMENT.match(entry["msg"])
    if m:
        yield Statement(int(entry["pid"]), entry["app"], entry["user"], entry["db"], m["sql"])


def write_reason(sql: str) -> str | None:
    """Why ``sql`` changes the server (None when it only reads); unparseable counts as a write."""
    try:
        parsed = pglast.parse_sql(sql)
    except pglast.parser.ParseError as exc:
        return f"cannot be parsed, so cannot be shown read-only ({exc})"
    for raw in parsed:
        stmt = raw.stmt
        if isinstance(stmt, ast.CopyStmt):
            if stmt.is_from:
                return "COPY FROM writes a table"
            continue
        if isinstance(stmt, ast.LockStmt):
            if stmt.mode > ROW_EXCLUSIVE:
                return "LOCK TABLE stronger than ROW EXCLUSIVE"
            continue
        if not isinstance(stmt, READ_ONLY_STATEMENTS):
            return f"{type(stmt).__name__} is not a read-only statement"
        reason = _nested_write(stmt)
        if reason:
            return reason
    return None


def _nested_write(node: Any) -> str | None:
    for child in _walk(node):
        if isinstance(child, _DML):
            return f"data-modifying {type(child).__name__}"
        if isinstance(child, ast.SelectStmt):
            if child.intoClause is not None:
                return "SELECT INTO creates a table"
            if child.lockingClause:
                return "SELECT ... FOR UPDATE/SHARE locks rows"
        if isinstance(child, ast.FuncCall):
            name = child.funcname[-1].sval.lower()
            if name in SIDE_EFFECT_FUNCTIONS:
                return f"calls {name}()"
    return None


def _walk(node: Any) -> Iterator[Any]:
    if isinstance(node, ast.Node):
        yield node
        for name in node:
            yield from _walk(getattr(node, name))
    elif isinstance(node, (list, tuple)):
        for item in node:
            yield from _walk(item)


def writes(found: Iterable[Statement]) -> list[tuple[Statement, str]]:
    """The writing statements among ``found``, each with why it writes."""
    out = []
    for stmt in found:
        reason = write_reason(stmt.sql)
        if reason:
            out.append((stmt, reason))
    return out


@dataclass(frozen=True)
class Request:
    instance: str
    method: str
    path: str
    status: int
    user_agent: str

    def __str__(self) -> str:
        return f"{self.method} {self.path} -> {self.status} on {self.instance} ({self.user_agent})"


def requests(instance: str, log_text: str) -> list[Request]:
    """The API's request log lines (RequestLogMiddleware) as records."""
    out = []
    for line in log_text.splitlines():
        if line.strip():
            d = json.loads(line)
            out.append(Request(instance, d["method"], d["path"], d["status"], d["user_agent"]))
    return out
