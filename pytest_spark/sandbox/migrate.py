"""Migration runner for the sandbox schema.

Files are ``NNNN_name.sql`` in one directory, applied in version order and
tracked in ``schema_migrations``. Design, so that BS-02 can trust the table:

* A migration runs in its own transaction together with the row that records
  it, so a recorded ``success = true`` can never disagree with the schema.
* A failing transactional migration is rolled back completely (PostgreSQL DDL
  is transactional); it is then recorded with ``success = false`` and
  ``dirty = false``: the schema is unchanged, the failure is visible, and the
  next run retries it.
* A migration whose first line is ``-- spark:no-transaction`` (needed for
  e.g. ``CREATE INDEX CONCURRENTLY``) cannot be rolled back. Its row is
  written ``dirty = true`` *before* it runs and cleared when it finishes, so a
  crash or error leaves ``dirty = true``: the schema is in an unknown state
  and the runner refuses to continue until a human resolves it.
* An applied migration whose file changed (checksum differs) is an error.

Concurrent runners serialise on a transaction-scoped advisory lock, which also
works through PgBouncer in transaction pooling mode. No-transaction
migrations are split on semicolons that end a line, so they must not contain
dollar-quoted bodies.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
PENDING_DIR = Path(__file__).with_name("migrations_pending")
# The schema version this release of the sandbox expects (highest file number).
CURRENT_MIGRATION_VERSION = 4

NO_TRANSACTION_MARKER = "-- spark:no-transaction"
_FILE_RE = re.compile(r"^(\d{4,})_([A-Za-z0-9_]+)\.sql$")
_LOCK_KEY = 0x5350524B  # "SPRK": serialises concurrent runners

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer     PRIMARY KEY,
    name        text        NOT NULL,
    checksum    text        NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now(),
    success     boolean     NOT NULL,
    dirty       boolean     NOT NULL DEFAULT false
)
"""
_UPSERT = """
INSERT INTO schema_migrations (version, name, checksum, applied_at, success, dirty)
VALUES (%s, %s, %s, now(), %s, %s)
ON CONFLICT (version) DO UPDATE SET
    name = EXCLUDED.name, checksum = EXCLUDED.checksum, applied_at = EXCLUDED.applied_at,
    success = EXCLUDED.success, dirty = EXCLUDED.dirty
"""


class MigrationError(RuntimeError):
    """Base class: the schema could not be brought to the requested version."""


class MigrationFailed(MigrationError):
    """A migration's SQL raised; carries the version so callers can report it."""

    def __init__(self, version: int, name: str, cause: Exception) -> None:
        super().__init__(f"migration {version:04d}_{name} failed: {cause}")
        self.version = version
        self.name = name
        self.cause = cause


class DirtyDatabase(MigrationError):
    """A non-transactional migration was interrupted; needs manual repair."""


class ChecksumMismatch(MigrationError):
    """An applied migration's file was edited after it was applied."""


@dataclass(frozen=True)
class Migration:
    """One migration file as found on disk."""

    version: int
    name: str
    path: Path
    sql: str
    checksum: str

    @property
    def transactional(self) -> bool:
        """False when the file opts out of running inside a transaction."""
        first = self.sql.lstrip().splitlines()[:1]
        return not (first and first[0].strip().lower() == NO_TRANSACTION_MARKER)


@dataclass(frozen=True)
class AppliedMigration:
    """One row of schema_migrations."""

    version: int
    name: str
    checksum: str
    applied_at: datetime
    success: bool
    dirty: bool


def discover(directory: Path | str = MIGRATIONS_DIR) -> list[Migration]:
    """Migration files of a directory in version order; rejects duplicate versions."""
    found: dict[int, Migration] = {}
    for path in sorted(Path(directory).glob("*.sql")):
        match = _FILE_RE.match(path.name)
        if match is None:
            raise MigrationError(f"not a migration file name (NNNN_name.sql): {path.name}")
        version = int(match.group(1))
        if version in found:
            raise MigrationError(f"duplicate migration version {version} in {directory}")
        data = path.read_bytes()
        found[version] = Migration(
            version=version,
            name=match.group(2),
            path=path,
            sql=data.decode("utf-8"),
            checksum=hashlib.sha256(data).hexdigest(),
        )
    return [found[v] for v in sorted(found)]


def latest_version(directory: Path | str = MIGRATIONS_DIR) -> int:
    """Highest migration version in a directory (0 when it holds none)."""
    migrations = discover(directory)
    return migrations[-1].version if migrations else 0


def _connect(conninfo: str, connect_timeout: int) -> psycopg.Connection:
    return psycopg.connect(
        conninfo, autocommit=True, prepare_threshold=None, connect_timeout=connect_timeout
    )


def _read_applied(conn: psycopg.Connection) -> list[AppliedMigration]:
    row = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
    if not row or not row[0]:
        return []
    rows = conn.execute(
        "SELECT version, name, checksum, applied_at, success, dirty"
        " FROM schema_migrations ORDER BY version"
    ).fetchall()
    return [AppliedMigration(*r) for r in rows]


def applied_versions(conninfo: str, *, connect_timeout: int = 10) -> list[AppliedMigration]:
    """Every recorded migration (successful or not); empty when never migrated."""
    with _connect(conninfo, connect_timeout) as conn:
        return _read_applied(conn)


def _statements(sql: str) -> Iterator[str]:
    """Split a no-transaction migration on semicolons ending a line."""
    current: list[str] = []
    for line in sql.splitlines():
        current.append(line)
        if line.rstrip().endswith(";"):
            text = "\n".join(current).strip()
            current = []
            if _has_code(text):
                yield text
    text = "\n".join(current).strip()
    if _has_code(text):
        yield text


def _has_code(text: str) -> bool:
    return any(ln.strip() and not ln.strip().startswith("--") for ln in text.splitlines())


def _set_timeouts(
    conn: psycopg.Connection, lock_timeout_ms: int, statement_timeout_ms: int
) -> None:
    conn.execute(f"SET LOCAL lock_timeout = {int(lock_timeout_ms)}")
    conn.execute(f"SET LOCAL statement_timeout = {int(statement_timeout_ms)}")


def _check_history(migrations: list[Migration], applied: list[AppliedMigration]) -> None:
    by_version = {m.version: m for m in migrations}
    for row in applied:
        if row.dirty:
            raise DirtyDatabase(
                f"migration {row.version:04d}_{row.name} is marked dirty: it was interrupted"
                " outside a transaction; repair the schema and clear the row first"
            )
        known = by_version.get(row.version)
        if row.success and known is not None and known.checksum != row.checksum:
            raise ChecksumMismatch(
                f"migration {row.version:04d}_{row.name} changed after it was applied"
            )


def _apply_transactional(
    conn: psycopg.Connection, m: Migration, lock_timeout_ms: int, statement_timeout_ms: int
) -> bool:
    """Run one migration with its record in one transaction; False if already done."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        row = conn.execute(
            "SELECT success, dirty FROM schema_migrations WHERE version = %s", (m.version,)
        ).fetchone()
        if row is not None and row[0]:
            return False  # a concurrent runner applied it meanwhile
        if row is not None and row[1]:
            raise DirtyDatabase(f"migration {m.version:04d}_{m.name} is marked dirty")
        _set_timeouts(conn, lock_timeout_ms, statement_timeout_ms)
        conn.execute(m.sql)
        conn.execute(_UPSERT, (m.version, m.name, m.checksum, True, False))
    return True


def _apply_outside_transaction(
    conn: psycopg.Connection, m: Migration, statement_timeout_ms: int
) -> None:
    """Run a no-transaction migration, keeping it marked dirty until it completes."""
    conn.execute(_UPSERT, (m.version, m.name, m.checksum, False, True))
    conn.execute(f"SET statement_timeout = {int(statement_timeout_ms)}")
    try:
        for statement in _statements(m.sql):
            conn.execute(statement)
    finally:
        conn.execute("RESET statement_timeout")
    conn.execute(_UPSERT, (m.version, m.name, m.checksum, True, False))


def apply_migrations(
    conninfo: str,
    directory: Path | str = MIGRATIONS_DIR,
    *,
    target: int | None = None,
    lock_timeout_ms: int = 5_000,
    statement_timeout_ms: int = 60_000,
    connect_timeout: int = 10,
) -> list[int]:
    """Apply every not-yet-successful migration up to ``target``; returns versions applied.

    Raises MigrationFailed (after recording the failure), DirtyDatabase or
    ChecksumMismatch. Run it against PostgreSQL directly or through PgBouncer;
    no-transaction migrations need a direct connection.
    """
    migrations = [m for m in discover(directory) if target is None or m.version <= target]
    applied: list[int] = []
    with _connect(conninfo, connect_timeout) as conn:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            conn.execute(_CREATE_TABLE)
        history = _read_applied(conn)
        _check_history(migrations, history)
        done = {row.version for row in history if row.success}
        for m in migrations:
            if m.version in done:
                continue
            try:
                if m.transactional:
                    if _apply_transactional(conn, m, lock_timeout_ms, statement_timeout_ms):
                        applied.append(m.version)
                else:
                    _apply_outside_transaction(conn, m, statement_timeout_ms)
                    applied.append(m.version)
            except MigrationError:
                raise
            except psycopg.Error as exc:
                if m.transactional:
                    conn.execute(_UPSERT, (m.version, m.name, m.checksum, False, False))
                raise MigrationFailed(m.version, m.name, exc) from exc
    return applied
