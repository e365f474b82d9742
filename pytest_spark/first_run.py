"""First contact: refuse a run whose selected checks have nothing to talk to, in one message.

A fresh clone with no spark.toml and no --spark-sandbox used to print hundreds of
lines of tracebacks, one per check, for one root cause. Which settings a check
cannot run without is known from the catalog (``catalog.DETAILS``) and the
fixtures that ``require`` them (checks/conftest.py); this module only decides and
words the refusal (pure, unit-tested).
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from . import catalog
from .options import TARGET_FLAGS

# Settings a check cannot run without (checks/conftest.py ``require`` / ``configured``);
# optional ones (http_redirect_url, pg_bin_dir, rehearsal_dsn ...) are not listed.
REQUIRED: frozenset[str] = frozenset(
    {f"{sec}.{key}" for sec, key, _ in TARGET_FLAGS.values()}
    | {"release.sbom", "release.pending_migrations_dir"}
)
# Fixtures of checks/ that reach a target: a test using none of them (e.g. a synthetic
# test bound to a check id) needs no target, whatever its catalog entry says.
TARGET_FIXTURES: frozenset[str] = frozenset(
    {"api_urls", "clients", "db", "prometheus", "configured", "pgbouncer_admin"}
)
FLAG_OF: dict[str, str] = {f"{sec}.{key}": flag for flag, (sec, key, _) in TARGET_FLAGS.items()}


def needs(check_id: str) -> tuple[str, ...]:
    """The settings this check cannot run without (from its catalog entry)."""
    detail = catalog.DETAILS.get(check_id)
    return tuple(k for k in detail.config if k in REQUIRED) if detail else ()


def is_set(sections: Mapping[str, Mapping[str, Any]], dotted: str) -> bool:
    section, _, key = dotted.partition(".")
    return sections[section][key] not in ("", [], None)


def missing(
    sections: Mapping[str, Mapping[str, Any]], check_ids: Iterable[str]
) -> dict[str, list[str]]:
    """check id -> the required settings it lacks (only checks that lack something)."""
    out: dict[str, list[str]] = {}
    for cid in sorted(set(check_ids)):
        lacking = [k for k in needs(cid) if not is_set(sections, k)]
        if lacking:
            out[cid] = lacking
    return out


def nothing_usable(
    sections: Mapping[str, Mapping[str, Any]], targeted: Iterable[str]
) -> dict[str, list[str]] | None:
    """When every selected check that needs a target lacks one: what is missing; else None."""
    ids = sorted(set(targeted))
    if not ids:
        return None
    lacking = missing(sections, ids)
    return lacking if len(lacking) == len(ids) else None


def refusal(
    lacking: Mapping[str, Sequence[str]],
    *,
    source: str,
    args: Sequence[str],
) -> str:
    """The one message (a few short lines) printed instead of one traceback per check."""
    settings: list[str] = []
    for keys in lacking.values():
        settings += [k for k in keys if k not in settings]
    shown = [f"{k} ({FLAG_OF[k]})" if k in FLAG_OF else k for k in settings]
    where = f"{source} sets none of them" if source else "no spark.toml here, no --spark-config"
    names = list(lacking)
    ids = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
    rerun = shlex.join(["pytest", *[a for a in args if a != "--spark-sandbox"], "--spark-sandbox"])
    return "\n".join(
        [
            f"pytest-spark: nothing to check -- the selected checks ({ids}) have no target.",
            f"  missing: {', '.join(shown)}",
            f"  {where}.",
            f"  try the reference stack:  {rerun}",
            "  or configure your platform: pytest-spark init   (writes spark.toml with every "
            "setting; fill in [targets])",
            "  no check ran, no verdict, no bundle (exit 4).",
        ]
    )
