"""PF-04: which pending migrations to rehearse, how, and what the rehearsal proved.

The rehearsal itself (dump, scratch database, apply) is I/O and lives in
``probes.sql_tools``; this module holds the decisions around it so they can be
tested with plain inputs:

* the order migrations run in (by version, like every migration tool);
* whether a file runs inside one transaction (the usual case) or statement by
  statement (a ``-- spark:no-transaction`` first line: the convention of the
  reference stack's runner, needed for CONCURRENTLY operations);
* the tables a release creates, so that the lint does not flag work on a
  table nobody uses yet;
* the findings: a statement that failed, hit lock_timeout or statement_timeout,
  and the lint findings of every file;
* the statements the rehearsal must never run: the scratch database lives on
  the target's own server, so anything cluster-wide (roles, ALTER SYSTEM,
  databases, tablespaces, role membership, ACLs and comments on shared
  objects) would change the target itself. Such a file is refused before
  anything runs (``cluster_wide_statements``).

Pure: text and dicts in, findings out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .findings import Finding
from .migration_lint import Statement, lint_migration, split_statements
from .migrations import version_key

__all__ = [
    "NO_TRANSACTION_MARKER",
    "PendingMigration",
    "cluster_wide",
    "cluster_wide_statements",
    "created_tables",
    "evaluate_rehearsal",
    "file_version",
    "is_transactional",
    "lint_pending",
    "order_pending",
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


def _ident(text: str, kind: str) -> str | None:
    if kind == "word":
        return text.lower()
    if kind == "qident":
        return text[1:-1].replace('""', '"')
    return None


def created_tables(text: str) -> list[str]:
    """Tables (and materialized views) a migration creates, as ``name`` or ``schema.name``."""
    out: list[str] = []
    for st in split_statements(text):
        toks = st.tokens
        words = [t.upper for t in toks]
        pos = 1
        if words[:1] != ["CREATE"]:
            continue
        if words[pos : pos + 2] == ["OR", "REPLACE"]:
            pos += 2
        if pos < len(words) and words[pos] in ("GLOBAL", "LOCAL"):
            pos += 1
        if pos < len(words) and words[pos] in ("TEMP", "TEMPORARY", "UNLOGGED"):
            pos += 1
        if words[pos : pos + 2] == ["MATERIALIZED", "VIEW"]:
            pos += 2
        elif pos < len(words) and words[pos] == "TABLE":
            pos += 1
        else:
            continue
        if words[pos : pos + 3] == ["IF", "NOT", "EXISTS"]:
            pos += 3
        parts: list[str] = []
        while pos < len(toks):
            name = _ident(toks[pos].text, toks[pos].kind)
            if name is None:
                break
            parts.append(name)
            if pos + 1 < len(toks) and toks[pos + 1].text == ".":
                pos += 2
                continue
            break
        if parts:
            out.append(".".join(parts))
    return out


def lint_pending(
    migrations: Sequence[PendingMigration], *, hot_tables: Iterable[str] | None = None
) -> list[Finding]:
    """Lint every pending file in order; tables created by an earlier one are new in later ones.

    A file that runs inside a transaction is linted as such, so a CONCURRENTLY
    that would fail there is reported; the rehearsal decides the same way.
    ``hot_tables``: tables a RENAME on would break the running release.
    """
    hot = None if hot_tables is None else list(hot_tables)
    new: list[str] = []
    findings: list[Finding] = []
    for m in migrations:
        findings += lint_migration(
            m.text,
            new_tables=new,
            hot_tables=hot,
            in_transaction=m.transactional,
            source=m.name,
        )
        new += created_tables(m.text)
    return findings


#: Kinds of object that live in the cluster's shared catalogs, not in one database.
_ROLE_WORDS = frozenset({"ROLE", "USER", "GROUP"})
_SHARED_OBJECTS = frozenset({"DATABASE", "TABLESPACE"})
#: Shared objects that GRANT/REVOKE ... ON and COMMENT / SECURITY LABEL ON can name.
_SHARED_ACL_OBJECTS = frozenset({"DATABASE", "TABLESPACE", "PARAMETER"})
_SHARED_COMMENT_OBJECTS = frozenset({"DATABASE", "TABLESPACE", "ROLE"})


def cluster_wide(st: Statement) -> str | None:
    """What makes a statement act on the whole cluster (``"ALTER ROLE"``), or None.

    Recognised from significant tokens only, so the words inside a comment,
    a string or a function body never match: CREATE/ALTER/DROP ROLE, USER
    (not USER MAPPING, a per-database object) and GROUP; ALTER SYSTEM;
    CREATE/ALTER/DROP DATABASE and TABLESPACE; GRANT/REVOKE of role
    membership (no ``ON``); GRANT/REVOKE ON DATABASE, TABLESPACE or PARAMETER
    and COMMENT / SECURITY LABEL ON DATABASE, TABLESPACE or ROLE (shared
    catalogs); DROP OWNED and REASSIGN OWNED (they reach shared objects too).
    Dynamic SQL (``EXECUTE`` in a DO block or function) cannot be seen.
    """
    w = st.words(4)
    head = w[0]
    if head in ("CREATE", "ALTER", "DROP"):
        kind = w[1]
        if kind in _ROLE_WORDS:
            if kind == "USER" and w[2] == "MAPPING" and w[3] in ("FOR", "IF"):
                return None
            return f"{head} {kind}"
        if kind in _SHARED_OBJECTS or (head == "ALTER" and kind == "SYSTEM"):
            return f"{head} {kind}"
        if head == "DROP" and kind == "OWNED":
            return "DROP OWNED"
        return None
    if head == "REASSIGN" and w[1] == "OWNED":
        return "REASSIGN OWNED"
    words = [t.upper for t in st.tokens]
    if head in ("GRANT", "REVOKE"):
        if "ON" not in words:
            return f"{head} of role membership"
        target = words[words.index("ON") + 1 : words.index("ON") + 2]
        if target and target[0] in _SHARED_ACL_OBJECTS:
            return f"{head} ON {target[0]}"
        return None
    if head == "COMMENT" or (head == "SECURITY" and w[1] == "LABEL"):
        label = "COMMENT" if head == "COMMENT" else "SECURITY LABEL"
        if "ON" in words:
            target = words[words.index("ON") + 1 : words.index("ON") + 2]
            if target and target[0] in _SHARED_COMMENT_OBJECTS:
                return f"{label} ON {target[0]}"
    return None


def cluster_wide_statements(migrations: Iterable[PendingMigration]) -> list[str]:
    """One line per statement the rehearsal refuses to run, naming file, statement and line.

    The scratch database is on the target's server: a cluster-wide statement
    run there changes the target (its roles, settings, databases), so such a
    file has to be rehearsed by hand.
    """
    out: list[str] = []
    for m in migrations:
        for st in m.statements:
            what = cluster_wide(st)
            if what is not None:
                out.append(
                    f"{m.name} statement {st.index} (line {st.line}): {what} is cluster-wide; "
                    "PF-04 will not run it on the target's server -- rehearse it by hand"
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
