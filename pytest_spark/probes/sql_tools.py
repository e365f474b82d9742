"""PostgreSQL client tools and the PF-04 rehearsal server, all with deadlines.

Why a probe module: pg_dump and pg_restore are subprocesses, not sockets, so the
"every call has a deadline" rule is enforced here by hand (a tool that overruns
is killed and the check ERRORs with "timed out after N s running pg_dump").
Passwords reach the tools through ``PGPASSWORD``, never argv (argv is visible to
every local user in ``ps``).

Safety: the target is only read. ``pg_dump --schema-only`` runs in a session
forced read-only (``default_transaction_read_only``) and takes ACCESS SHARE
locks bounded by ``--lock-wait-timeout``. Migrations run on a throwaway
PostgreSQL of the target's major version that the check starts itself
(``probes.pitr.throwaway_server``), or in a scratch database created on a
configured rehearsal server (``targets.rehearsal_dsn``) -- never on the
target's server. Each statement's rehearsal records whether it rewrote a table
(``pg_class.relfilenode`` before/after) and which table locks its transaction
took (``pg_locks`` of the rehearsal's own backend).
"""

from __future__ import annotations

import os
import secrets
import shutil
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from pglast import ast
from psycopg import conninfo as pg_conninfo

from ..dsn import describe
from ..rules import rehearsal
from ..rules.dbsql import quote_ident, quote_qualified
from ..rules.migration_lint import split_statements
from ..rules.rehearsal import PendingMigration
from . import ProbeError
from .command import CommandError, run_argv
from .db import connect, rows

__all__ = [
    "PROC_VOLATILITY_SQL",
    "RESOLVE_TABLE_SQL",
    "SERVER_VERSION_SQL",
    "USER_SCHEMAS_SQL",
    "Scratch",
    "StatementRun",
    "ToolRun",
    "apply_pending",
    "create_roles",
    "dsn_with_dbname",
    "dump_roles",
    "dump_schema",
    "find_pg_tool",
    "is_down_migration",
    "latest_ids_sql",
    "libpq_args",
    "load_pending",
    "resolve_table",
    "restore_schema",
    "sample_values_sql",
    "scratch_database",
    "server_major",
]

#: Debian/Ubuntu keep one bin directory per PostgreSQL major version here.
PG_BIN_ROOTS: tuple[Path, ...] = (Path("/usr/lib/postgresql"),)
SCRATCH_PREFIX = "spark_rehearsal_"

#: The server's major version (pg_dump must be at least as new). No bind parameters.
SERVER_VERSION_SQL = (
    "SELECT current_setting('server_version_num')::int AS server_version_num, "
    "current_setting('server_version') AS server_version"
)

#: Every schema a user can create objects in (system schemas excluded).
USER_SCHEMAS_SQL = """
SELECT n.nspname AS schema_name
  FROM pg_catalog.pg_namespace AS n
 WHERE n.nspname NOT LIKE 'pg\\_%'
   AND n.nspname <> 'information_schema'
 ORDER BY 1
"""

#: A configured table name resolved through the search_path, as PostgreSQL sees
#: it (no row: it does not exist or is not visible). Bind: ``name`` (quoted).
RESOLVE_TABLE_SQL = """
SELECT n.nspname AS table_schema, c.relname AS table_name, c.relkind
  FROM pg_catalog.pg_class AS c
  JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
 WHERE c.oid = to_regclass(%(name)s)
"""


#: Volatility of every function with one of the given names, with what the
#: pure resolver needs to pick the one a call resolves to (arity, defaults,
#: VARIADIC, visible on the search_path). Bind: ``names`` (list).
PROC_VOLATILITY_SQL = """
SELECT n.nspname AS schema,
       p.proname AS name,
       p.pronargs AS nargs,
       p.pronargdefaults AS ndefaults,
       (p.provariadic <> 0) AS variadic,
       p.provolatile AS volatility,
       pg_catalog.pg_function_is_visible(p.oid) AS visible,
       p.oid::regprocedure::text AS signature
  FROM pg_catalog.pg_proc AS p
  JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace
 WHERE p.proname = ANY(%(names)s::text[])
   AND p.prokind IN ('f', 'w')
 ORDER BY 1, 2, 3
"""

#: Existing tables, materialized views and indexes with their storage file (a
#: rewrite gives a table a new relfilenode; a rebuilt index gets one too).
#: ``table_name``: the index's table. Run on the rehearsal database.
RELFILENODES_SQL = """
SELECT c.oid::int8 AS oid, c.oid::regclass::text AS relation, c.relfilenode::int8 AS relfilenode,
       c.relkind::text AS relkind, i.indrelid::regclass::text AS table_name
  FROM pg_catalog.pg_class AS c
  JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
  LEFT JOIN pg_catalog.pg_index AS i ON i.indexrelid = c.oid
 WHERE c.relkind IN ('r', 'm', 'i')
   AND n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND n.nspname !~ '^pg_toast'
"""

#: Table locks this backend holds in its transaction (user relations only).
OWN_LOCKS_SQL = """
SELECT l.relation::int8 AS oid, l.relation::regclass::text AS relation, l.mode
  FROM pg_catalog.pg_locks AS l
 WHERE l.pid = pg_backend_pid()
   AND l.locktype = 'relation'
   AND l.granted
   AND l.relation >= 16384
   AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())
"""


def sample_values_sql(table: str, column: str, limit: int = 3) -> str:
    """Up to ``limit`` distinct values of one column (e.g. accounts with positions)."""
    col = quote_ident(column)
    return (
        f"SELECT DISTINCT {col}::text AS value FROM {quote_qualified(table)} "
        f"WHERE {col} IS NOT NULL ORDER BY 1 LIMIT {int(limit)}"
    )


def latest_ids_sql(table: str, id_column: str = "id", limit: int = 1) -> str:
    """The newest ``limit`` ids of a table (the API's /orders/{id} needs a real one)."""
    col = quote_ident(id_column)
    # ORDER BY the table's column (t.), not the text output column of the same name
    return (
        f"SELECT t.{col}::text AS id FROM {quote_qualified(table)} AS t "
        f"ORDER BY t.{col} DESC LIMIT {int(limit)}"
    )


def resolve_table(conn: psycopg.Connection[Any], name: str) -> dict[str, Any] | None:
    """Schema and name of a configured table, or None when PostgreSQL cannot see it."""
    found = rows(conn, RESOLVE_TABLE_SQL, {"name": quote_qualified(name)})
    return found[0] if found else None


def server_major(conn: psycopg.Connection[Any]) -> int:
    """Major version of the server behind ``conn`` (15 for 15.4)."""
    return int(rows(conn, SERVER_VERSION_SQL)[0]["server_version_num"]) // 10000


# ---------------------------------------------------------------------------
# connection strings
# ---------------------------------------------------------------------------


def dsn_with_dbname(dsn: str, dbname: str) -> str:
    """The same connection settings pointed at another database of the server."""
    params = pg_conninfo.conninfo_to_dict(dsn)
    params["dbname"] = dbname
    return pg_conninfo.make_conninfo(**params)


def libpq_args(
    dsn: str, *, connect_timeout: float, read_only: bool = True
) -> tuple[str, dict[str, str]]:
    """(conninfo without the password, environment for a libpq tool).

    The password moves to ``PGPASSWORD``; ``PGCONNECT_TIMEOUT`` bounds the
    connect like the probes' own sessions. ``read_only``: every session the
    tool opens has ``default_transaction_read_only`` on (``PGOPTIONS``).
    """
    params = {k: str(v) for k, v in pg_conninfo.conninfo_to_dict(dsn).items()}
    password = params.pop("password", None)
    params.setdefault("connect_timeout", str(max(1, round(connect_timeout))))
    env = {k: v for k, v in os.environ.items() if k != "PGPASSWORD"}
    if password:
        env["PGPASSWORD"] = password
    env["PGAPPNAME"] = "pytest-spark"
    env.pop("PGOPTIONS", None)
    if read_only:  # every session the tool opens is read-only, whatever the tool does
        env["PGOPTIONS"] = "-c default_transaction_read_only=on"
    return pg_conninfo.make_conninfo(**params), env


# ---------------------------------------------------------------------------
# tools
# ---------------------------------------------------------------------------


def find_pg_tool(
    name: str,
    major: int,
    *,
    configured: str = "",
    environ: Mapping[str, str] | None = None,
    roots: Sequence[Path] = PG_BIN_ROOTS,
) -> Path:
    """The ``pg_dump`` / ``pg_restore`` to use against a server of version ``major``.

    Order: ``targets.pg_bin_dir`` (``configured``), the Debian bin dir of exactly
    that major, of a newer major (pg_dump refuses servers newer than itself, never
    older ones), then ``PATH``. ProbeError when none exists.
    """
    env = os.environ if environ is None else environ
    candidates: list[Path] = []
    if configured:
        candidates.append(Path(configured) / name)
    for root in roots:
        versions: list[int] = []
        if root.is_dir():
            versions = sorted(int(p.name) for p in root.iterdir() if p.name.isdigit())
        candidates += [root / str(v) / "bin" / name for v in versions if v >= major]
    on_path = shutil.which(name, path=env.get("PATH"))
    if on_path:
        candidates.append(Path(on_path))
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return path
    raise ProbeError(
        f"{name} not found for PostgreSQL {major}: install the client tools "
        f"(postgresql-client-{major}) or set targets.pg_bin_dir to their bin directory"
    )


@dataclass(frozen=True)
class ToolRun:
    """What a client tool did: argv (no secrets), exit code, duration, stderr."""

    tool: str
    argv: list[str]
    returncode: int
    duration_s: float
    stderr: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "tool": self.tool,
            "argv": self.argv,
            "returncode": self.returncode,
            "duration_s": round(self.duration_s, 4),
            "stderr": self.stderr,
        }


def run_tool(argv: Sequence[str], *, env: Mapping[str, str], timeout: float, what: str) -> ToolRun:
    """Run a client tool under a deadline; overrun or failure is a ProbeError."""
    try:
        done = run_argv(argv, env=env, timeout=timeout)
    except CommandError as exc:
        if exc.kind == "timeout":
            raise ProbeError(f"timed out after {timeout:g} s running {what}") from None
        raise ProbeError(str(exc)) from None
    run = ToolRun(
        Path(argv[0]).name, list(argv), done.returncode, done.duration_s, done.stderr[-2000:]
    )
    if done.returncode != 0:
        lines = [ln for ln in done.stderr.strip().splitlines() if ln.strip()]
        detail = "; ".join(lines[-3:]) or "no error output"
        raise ProbeError(f"{what} failed (exit {done.returncode}): {detail}")
    return run


def dump_schema(
    dsn: str, out: Path, *, pg_dump: Path, timeout: float, connect_timeout: float
) -> ToolRun:
    """``pg_dump --schema-only`` of the target into ``out`` (custom format).

    No owners, grants, subscriptions or publications: the scratch copy must not
    depend on roles or connect anywhere. pg_dump's ACCESS SHARE locks wait at
    most ``connect_timeout`` (the per-call deadline) behind a conflicting lock;
    ``timeout`` bounds the whole run.
    """
    conninfo, env = libpq_args(dsn, connect_timeout=connect_timeout)
    argv = [
        str(pg_dump),
        "--schema-only",
        "--format=custom",
        "--no-owner",
        "--no-privileges",
        "--no-subscriptions",
        "--no-publications",
        "--no-tablespaces",
        f"--lock-wait-timeout={max(1, int(connect_timeout * 1000))}",
        f"--file={out}",
        f"--dbname={conninfo}",
    ]
    return run_tool(argv, env=env, timeout=timeout, what=f"pg_dump of {describe(dsn)}")


def dump_roles(
    dsn: str, out: Path, *, pg_dumpall: Path, timeout: float, connect_timeout: float
) -> ToolRun:
    """``pg_dumpall --roles-only --no-role-passwords`` of the target's cluster into ``out``.

    Read-only (the session is forced read-only; without passwords pg_dumpall
    reads ``pg_roles``, which every role may). The throwaway rehearsal server
    gets these roles so that a migration's ``GRANT ... TO app`` or ``OWNER TO``
    rehearses as on the target; no password ever leaves the target.
    """
    conninfo, env = libpq_args(dsn, connect_timeout=connect_timeout)
    argv = [
        str(pg_dumpall),
        "--roles-only",
        "--no-role-passwords",
        f"--file={out}",
        f"--dbname={conninfo}",
    ]
    return run_tool(
        argv, env=env, timeout=timeout, what=f"pg_dumpall --roles-only of {describe(dsn)}"
    )


def create_roles(dsn: str, script: str, *, timeout: float) -> dict[str, Any]:
    """Run a roles script on the throwaway server, statement by statement.

    A role that exists there already (its bootstrap superuser) or an option
    the server refuses is skipped and counted, never fatal: roles only make
    GRANTs rehearsable.
    """
    done, skipped = 0, []
    # psql meta-commands (\restrict, \connect) are psql's, not SQL: PostgreSQL's parser
    # would reject the whole script over them
    sql = "\n".join(ln for ln in script.splitlines() if not ln.lstrip().startswith("\\"))
    with connect(dsn, timeout=timeout, read_only=False, target="rehearsal server") as conn:
        for st in split_statements(sql):
            if st.node is None or isinstance(st.node, ast.VariableSetStmt):
                continue
            try:
                conn.execute(st.text)
                done += 1
            except psycopg.Error as exc:
                skipped.append(f"{st.text[:80]}: {(exc.diag.message_primary or str(exc)).strip()}")
    return {"statements_run": done, "skipped": skipped}


def restore_schema(
    dsn: str, dump: Path, *, pg_restore: Path, timeout: float, connect_timeout: float
) -> ToolRun:
    """Restore a schema-only dump into the rehearsal database, in one transaction."""
    conninfo, env = libpq_args(dsn, connect_timeout=connect_timeout, read_only=False)
    argv = [
        str(pg_restore),
        "--no-owner",
        "--no-privileges",
        "--no-subscriptions",
        "--no-publications",
        "--exit-on-error",
        "--single-transaction",
        f"--dbname={conninfo}",
        str(dump),
    ]
    return run_tool(argv, env=env, timeout=timeout, what=f"pg_restore into {describe(dsn)}")


# ---------------------------------------------------------------------------
# the scratch database
# ---------------------------------------------------------------------------


@dataclass
class Scratch:
    """A throw-away database on the target's server; ``dropped`` says whether cleanup worked."""

    name: str
    dsn: str
    created_s: float = 0.0
    dropped: bool = False
    drop_error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "created_s": round(self.created_s, 4),
            "dropped": self.dropped,
            "drop_error": self.drop_error,
        }


def _admin_sql(admin_dsn: str, sql: str, *, timeout: float, what: str) -> None:
    """One CREATE/DROP DATABASE on a short-lived writable session."""
    with connect(admin_dsn, timeout=timeout, read_only=False, target="PostgreSQL (admin)") as conn:
        try:
            conn.execute(f"SET statement_timeout = {int(timeout * 4000)}")
            conn.execute(sql)
        except psycopg.errors.InsufficientPrivilege:
            user = pg_conninfo.conninfo_to_dict(admin_dsn).get("user", "the DSN's role")
            raise ProbeError(
                f"role {user} may not {what}: PF-04 rehearses in a scratch database on "
                "targets.rehearsal_dsn and needs a role with CREATEDB (or superuser) there "
                "(leave it unset to rehearse on a throwaway local PostgreSQL)"
            ) from None
        except psycopg.errors.QueryCanceled:
            raise ProbeError(f"timed out after {timeout * 4:g} s trying to {what}") from None
        except psycopg.Error as exc:
            text = (exc.diag.message_primary or str(exc)).strip()
            raise ProbeError(f"could not {what}: {text}") from None


@contextmanager
def scratch_database(admin_dsn: str, *, timeout: float) -> Iterator[Scratch]:
    """A fresh, empty database on the configured rehearsal server; always dropped afterwards.

    The name is random (``spark_rehearsal_<hex>``), so it can never be the
    target nor collide with a parallel run. ``DROP ... WITH (FORCE)`` also
    ends sessions a failed step left behind. A failed drop is raised unless
    another error is already on its way out (then it is kept on ``drop_error``).
    """
    name = SCRATCH_PREFIX + secrets.token_hex(6)
    scratch = Scratch(name, dsn_with_dbname(admin_dsn, name))
    t0 = time.monotonic()
    _admin_sql(
        admin_dsn,
        f"CREATE DATABASE {quote_ident(name)} TEMPLATE template0",
        timeout=timeout,
        what=f"create scratch database {name}",
    )
    scratch.created_s = time.monotonic() - t0
    failed = False
    try:
        yield scratch
    except BaseException:
        failed = True
        raise
    finally:
        try:
            _admin_sql(
                admin_dsn,
                f"DROP DATABASE IF EXISTS {quote_ident(name)} WITH (FORCE)",
                timeout=timeout,
                what=f"drop scratch database {name} (drop it by hand)",
            )
            scratch.dropped = True
        except ProbeError as exc:
            scratch.drop_error = str(exc)
            if not failed:
                raise


# ---------------------------------------------------------------------------
# applying pending migrations
# ---------------------------------------------------------------------------


#: golang-migrate keeps each migration's rollback next to it; a rollback is not pending.
DOWN_SUFFIX = ".down.sql"


def is_down_migration(path: Path) -> bool:
    """``0005_x.down.sql``: golang-migrate's rollback file, never applied by a deploy."""
    return path.name.lower().endswith(DOWN_SUFFIX)


def load_pending(directory: Path) -> list[PendingMigration]:
    """Every ``*.sql`` file of the pending-migrations directory, in version order.

    Rollback files (``*.down.sql``) are skipped. A directory whose ``*.sql``
    files are all in subdirectories is a ProbeError: the setting points one
    level too high, and rehearsing nothing would pass for no reason.
    """
    if not directory.is_dir():
        raise ProbeError(
            f"release.pending_migrations_dir {directory} is not a directory "
            "(set it in spark.toml [release])"
        )
    found = []
    top = sorted(p for p in directory.glob("*.sql") if p.is_file())
    for path in top:
        if is_down_migration(path):
            continue
        try:
            found.append(PendingMigration(path.name, path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as exc:
            raise ProbeError(f"cannot read pending migration {path}: {exc}") from None
    if not found:
        nested = sorted(
            str(p.relative_to(directory))
            for p in directory.glob("*/**/*.sql")
            if p.is_file() and not is_down_migration(p)
        )
        if nested:
            more = f" (+{len(nested) - 3} more)" if len(nested) > 3 else ""
            shown = ", ".join(nested[:3]) + more
            raise ProbeError(
                f"pending migrations found only in subdirectories of {directory} ({shown}); "
                "point release.pending_migrations_dir at the folder that holds them"
            )
    return rehearsal.order_pending(found)


@dataclass
class StatementRun:
    """One statement of a rehearsal: where it is, how it ended, how long it took, and
    what it did to existing tables (``rewritten``: relfilenode changes of tables and
    indexes; ``locks``: table locks it newly took; ``held``: every table lock its
    transaction holds after it -- a lock an earlier statement of the same transaction
    took is not taken again; ``observed`` False when it ran outside a transaction,
    where locks are gone before they can be read)."""

    migration: str
    index: int
    line: int
    statement: str
    status: str = rehearsal.NOT_RUN
    duration_ms: float = 0.0
    error: str = ""
    sqlstate: str = ""
    note: str = ""
    observed: bool = False
    rewritten: list[dict[str, Any]] = field(default_factory=list)
    locks: list[dict[str, Any]] = field(default_factory=list)
    held: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        text = self.statement if len(self.statement) <= 2000 else self.statement[:1997] + "..."
        return {
            "migration": self.migration,
            "index": self.index,
            "line": self.line,
            "statement": text,
            "status": self.status,
            "duration_ms": round(self.duration_ms, 3),
            "error": self.error,
            "sqlstate": self.sqlstate,
            "note": self.note,
            "observed": self.observed,
            "rewritten": self.rewritten,
            "locks": self.locks,
            "held": self.held,
        }


def _lock_name(mode: str) -> str:
    """``AccessExclusiveLock`` -> ``ACCESS EXCLUSIVE`` (the LOCK TABLE spelling)."""
    words, cur = [], ""
    for ch in mode.removesuffix("Lock"):
        if ch.isupper() and cur:
            words.append(cur)
            cur = ""
        cur += ch
    words.append(cur)
    return " ".join(w.upper() for w in words if w)


@dataclass
class _Runner:
    conn: psycopg.Connection[Any]
    lock_timeout_ms: int
    statement_timeout_ms: int
    runs: list[StatementRun] = field(default_factory=list)

    def _nodes(self) -> dict[int, dict[str, Any]]:
        return {r["oid"]: r for r in rows(self.conn, RELFILENODES_SQL)}

    def _locks(self) -> dict[tuple[int, str], str]:
        return {(r["oid"], r["mode"]): r["relation"] for r in rows(self.conn, OWN_LOCKS_SQL)}

    def execute(self, run: StatementRun, *, observe: bool) -> None:
        """Run one statement, timing it; classify a failure and re-raise it.

        With ``observe`` (inside a transaction) the relfilenodes and this
        backend's locks are read before and after, so the statement's own
        rewrites and locks are known (locks are held until the transaction ends).
        """
        before = self._nodes() if observe else {}
        held = self._locks() if observe else {}
        t0 = time.perf_counter()
        try:
            self.conn.execute(run.statement)
        except psycopg.Error as exc:
            run.duration_ms = (time.perf_counter() - t0) * 1000
            run.sqlstate = exc.sqlstate or ""
            run.error = (exc.diag.message_primary or str(exc)).strip().splitlines()[0]
            if isinstance(exc, psycopg.errors.LockNotAvailable):
                run.status = rehearsal.LOCK_TIMEOUT
            elif isinstance(exc, psycopg.errors.QueryCanceled):
                run.status = rehearsal.STATEMENT_TIMEOUT
            else:
                run.status = rehearsal.FAILED
            if self.conn.broken or self.conn.closed:
                raise ProbeError(
                    f"lost the rehearsal database connection while rehearsing {run.migration}: "
                    f"{run.error}"
                ) from None
            raise
        run.duration_ms = (time.perf_counter() - t0) * 1000
        run.status = rehearsal.OK
        if observe:
            after = self._nodes()
            run.observed = True
            run.rewritten = [
                {
                    "relation": now["relation"],
                    "kind": "index" if now["relkind"] == "i" else "table",
                    "table": now["table_name"] or now["relation"],
                    "relfilenode_before": was["relfilenode"],
                    "relfilenode_after": now["relfilenode"],
                }
                for oid, was in sorted(before.items())
                if (now := after.get(oid)) is not None and now["relfilenode"] != was["relfilenode"]
            ]
            now_held = self._locks()
            run.locks = [
                {"relation": name, "mode": _lock_name(mode)}
                for (oid, mode), name in sorted(now_held.items(), key=lambda kv: kv[1])
                if (oid, mode) not in held
            ]
            run.held = [
                {"relation": name, "mode": _lock_name(mode)}
                for (_oid, mode), name in sorted(now_held.items(), key=lambda kv: kv[1])
            ]

    def timeouts(self, local: bool) -> None:
        scope = "LOCAL " if local else ""
        self.conn.execute(f"SET {scope}lock_timeout = {self.lock_timeout_ms}")
        self.conn.execute(f"SET {scope}statement_timeout = {self.statement_timeout_ms}")

    def migration(self, m: PendingMigration) -> bool:
        """Apply one file; False when a statement failed (its transaction rolled back)."""
        statements = m.statements
        runs = [StatementRun(m.name, st.index, st.line, st.text) for st in statements]
        self.runs += runs
        try:
            if m.transactional:
                with self.conn.transaction():
                    self.timeouts(local=True)
                    for st, run in zip(statements, runs, strict=True):
                        if isinstance(st.node, ast.TransactionStmt):
                            run.status = rehearsal.OK
                            run.note = "skipped: the rehearsal runs the file in one transaction"
                            continue
                        self.execute(run, observe=True)
            else:
                self.timeouts(local=False)
                explicit = any(isinstance(st.node, ast.TransactionStmt) for st in statements)
                for st, run in zip(statements, runs, strict=True):
                    if explicit or rehearsal.runs_outside_transaction(st):
                        self.execute(run, observe=False)
                        run.note = "ran outside a transaction: its locks cannot be read"
                        continue
                    with self.conn.transaction():  # one statement, as autocommit would
                        self.execute(run, observe=True)
        except ProbeError:
            raise
        except psycopg.Error:
            if m.transactional:
                for run in runs:
                    if run.status == rehearsal.OK and not run.note:
                        run.note = "rolled back with the failed statement's transaction"
            return False
        return True


def apply_pending(
    dsn: str,
    migrations: Sequence[PendingMigration],
    *,
    timeout: float,
    lock_timeout_s: float,
    statement_timeout_s: float,
) -> list[StatementRun]:
    """Apply pending migrations in order to the rehearsal database at ``dsn``.

    Each statement is timed. After the first failure the rest stay ``not_run``
    (later migrations build on earlier ones, as in the deploy).
    """
    with connect(dsn, timeout=timeout, read_only=False, target="rehearsal database") as conn:
        runner = _Runner(conn, int(lock_timeout_s * 1000), int(statement_timeout_s * 1000))
        for i, m in enumerate(migrations):
            if not runner.migration(m):
                for rest in migrations[i + 1 :]:
                    runner.runs += [
                        StatementRun(rest.name, st.index, st.line, st.text, note="earlier failed")
                        for st in rest.statements
                    ]
                break
        return runner.runs
