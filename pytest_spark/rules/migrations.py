"""BS-02: the database schema is at the migration version the release expects.

Code deployed against a schema one migration behind fails on the first
query that touches the new column; one ahead means a rollback target that
no longer fits. A failed or ``dirty`` migration means the schema is in a
state no migration file describes. All of it is visible in the migrations
table, whatever the tool: golang-migrate (one row: version, dirty), Flyway
(one row per migration with success), Rails-style (version only).
``dbsql.schema_migrations_sql`` returns each row as JSON so this module can
read whichever columns exist.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from .findings import Finding

__all__ = ["AppliedMigration", "evaluate_migrations", "normalise_rows", "version_key"]

VersionKey = tuple[tuple[int, int | str], ...]


def version_key(version: Any) -> VersionKey:
    """Sort key for migration versions: ``12`` < ``0013`` < ``20240101120000``,
    ``1.2`` < ``1.10``. Numeric parts compare as numbers, others as text."""
    parts = re.split(r"[._\-]", str(version).strip()) if not isinstance(version, int) else [version]
    key: list[tuple[int, int | str]] = []
    for part in parts:
        if isinstance(part, int):
            key.append((0, part))
        elif part.isdigit():
            key.append((0, int(part)))
        elif part:
            key.append((1, part.lower()))
    return tuple(key)


class AppliedMigration:
    """One row of the migrations table, read tolerantly."""

    __slots__ = ("dirty", "key", "success", "version")

    def __init__(self, version: Any, success: bool = True, dirty: bool = False) -> None:
        self.version = str(version).strip()
        self.key = version_key(version)
        self.success = success
        self.dirty = dirty

    def __repr__(self) -> str:
        return f"AppliedMigration({self.version!r}, success={self.success}, dirty={self.dirty})"


def _flag(value: Any, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, str):
        return value.strip().lower() in ("t", "true", "1", "yes", "y")
    return bool(value)


def normalise_rows(rows: Iterable[Mapping[str, Any]]) -> list[AppliedMigration]:
    """Applied migrations from table rows (flat dicts, or ``{"row": {...}}``
    as ``schema_migrations_sql`` returns them). Rows without a version
    (Flyway repeatable migrations, the baseline marker) are skipped."""
    out: list[AppliedMigration] = []
    for raw in rows:
        row = raw.get("row") if isinstance(raw.get("row"), Mapping) else raw
        version = row.get("version")
        if version is None or str(version).strip() == "":
            continue
        out.append(
            AppliedMigration(
                version,
                success=_flag(row.get("success"), True),
                dirty=_flag(row.get("dirty"), False),
            )
        )
    return out


def _show(versions: Iterable[AppliedMigration | str], limit: int = 10) -> str:
    names = [v.version if isinstance(v, AppliedMigration) else v for v in versions]
    more = f" (+{len(names) - limit} more)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def evaluate_migrations(
    rows: Iterable[Mapping[str, Any]],
    expected_version: Any | None,
    *,
    known_versions: Iterable[Any] | None = None,
    sequential: bool = False,
) -> list[Finding]:
    """BS-02 findings.

    ``expected_version``: the release's migration (None or 0: only check for
    failed/dirty rows). ``known_versions``: every migration the release
    ships; enables gap (known but not applied) and unknown (applied but not
    shipped) detection. ``sequential``: versions are consecutive integers,
    so a missing integer between the lowest and highest applied is a gap.

    Codes: migration-table-empty, migration-dirty, migration-failed,
    migration-behind, migration-ahead, migration-gap, migration-unknown.
    """
    applied = normalise_rows(rows)
    findings: list[Finding] = []
    expect = None if expected_version in (None, "", 0, "0") else expected_version
    if not applied:
        want = f"; release expects {expect}" if expect is not None else ""
        return [Finding("migration-table-empty", f"no migration recorded as applied{want}")]
    for m in applied:
        if m.dirty:
            findings.append(
                Finding(
                    "migration-dirty",
                    f"migration {m.version} is marked dirty: it failed part-way and the schema "
                    "matches no migration file",
                )
            )
        if not m.success:
            findings.append(
                Finding("migration-failed", f"migration {m.version} is recorded as failed")
            )
    good = sorted((m for m in applied if m.success and not m.dirty), key=lambda m: m.key)
    current = good[-1] if good else None
    if expect is not None:
        want_key = version_key(expect)
        if current is None:
            findings.append(
                Finding(
                    "migration-behind",
                    f"no successfully applied migration; release expects {expect}",
                )
            )
        elif current.key < want_key:
            pending = ""
            if known_versions is not None:
                todo = sorted(
                    (str(v) for v in known_versions if current.key < version_key(v) <= want_key),
                    key=version_key,
                )
                pending = f"; {len(todo)} pending: {_show(todo)}" if todo else ""
            findings.append(
                Finding(
                    "migration-behind",
                    f"schema at migration {current.version}, release expects {expect}{pending}",
                )
            )
        elif current.key > want_key:
            findings.append(
                Finding(
                    "migration-ahead",
                    f"schema at migration {current.version}, ahead of the {expect} the release "
                    "expects (a newer release migrated it; rolling back onto it is unsafe)",
                )
            )
    applied_keys = {m.key for m in good}
    if known_versions is not None:
        known = {version_key(v): str(v) for v in known_versions}
        # only below the current version: above it, shipped migrations are "pending"
        top = current.key if current else ()
        lowest = good[0].key if good else ()
        missing = sorted(
            (name for k, name in known.items() if lowest < k < top and k not in applied_keys),
            key=version_key,
        )
        if missing:
            findings.append(
                Finding(
                    "migration-gap",
                    f"migrations shipped but never applied below the current version: "
                    f"{_show(missing)}",
                )
            )
        unknown = [m for m in good if m.key not in known]
        if unknown:
            findings.append(
                Finding(
                    "migration-unknown",
                    f"applied migrations this release does not ship: {_show(unknown)}",
                )
            )
    elif sequential:
        ints = sorted(k[0][1] for k in applied_keys if len(k) == 1 and k[0][0] == 0)
        if len(ints) >= 2:
            present = set(ints)
            holes = [str(v) for v in range(ints[0], ints[-1]) if v not in present]
            if holes:
                findings.append(
                    Finding(
                        "migration-gap",
                        f"version numbers missing between {ints[0]} and {ints[-1]}: {_show(holes)}",
                    )
                )
    return findings
