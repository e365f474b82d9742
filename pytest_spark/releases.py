"""Release labels (one canonical form) and pruning old evidence bundles.

A label is a SemVer 2.0.0 version with an optional leading ``v``; ``1.4.0`` and
``v1.4.0`` are one release, written ``v1.4.0`` everywhere (bundle folder,
verdict, attestation), so two spellings never split one release's evidence.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

# The regular expression semver.org recommends (SemVer 2.0.0, "Is there a suggested
# regular expression?"), with an optional leading v.
_SEMVER = re.compile(
    r"[vV]?(?P<core>(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?)"
)
ACCEPTED = "MAJOR.MINOR.PATCH as in SemVer 2.0.0, v optional (e.g. v1.4.0, 1.4.0, v2.0.0-rc.1)"
MAX_LEN = 64


def canonical(label: str) -> str:
    """``1.4.0`` / ``v1.4.0`` / `` V1.4.0 `` -> ``v1.4.0``; anything else is a ValueError."""
    m = _SEMVER.fullmatch(label.strip())
    if m is None or len(m.group("core")) + 1 > MAX_LEN:
        raise ValueError(f"release {label!r} is not a release label: use {ACCEPTED}")
    return "v" + m.group("core")


def same_release(a: str, b: str) -> bool:
    """Do two labels name one release (``1.4.0`` and ``v1.4.0`` do)?"""
    try:
        return canonical(a) == canonical(b)
    except ValueError:
        return a == b


# A bundle's run id: 20261130T093845Z-1a2b3c (session.SparkState.run_id).
_RUN_ID = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{6}")


@dataclass
class Plan:
    """What ``prune`` removes, per release folder, and what it keeps."""

    remove: list[Path] = field(default_factory=list)
    keep: list[Path] = field(default_factory=list)


def plan(evidence_dir: Path, keep: int) -> Plan:
    """Keep the newest ``keep`` runs of each release folder under ``evidence_dir``.

    A run is its folder, its tarball and the tarball's .sha256 sidecar, all named by the
    run id (newest = largest id: ids start with the UTC start time). Nothing whose name is
    not a run id is touched: other files, other folders, half-written staging folders.
    """
    if keep < 1:
        raise ValueError("--keep must be at least 1")
    out = Plan()
    if not evidence_dir.is_dir():
        return out
    for release_dir in sorted(p for p in evidence_dir.iterdir() if p.is_dir()):
        runs: dict[str, list[Path]] = {}
        for entry in release_dir.iterdir():
            rid = _run_of(entry)
            if rid is not None and not entry.is_symlink():
                runs.setdefault(rid, []).append(entry)
        newest_first = sorted(runs, reverse=True)
        for i, rid in enumerate(newest_first):
            (out.keep if i < keep else out.remove).extend(sorted(runs[rid]))
    return out


def _run_of(entry: Path) -> str | None:
    name = entry.name
    if entry.is_dir():
        return name if _RUN_ID.fullmatch(name) else None
    for suffix in (".tar.gz", ".tar.gz.sha256"):
        if name.endswith(suffix) and _RUN_ID.fullmatch(name.removesuffix(suffix)):
            return name.removesuffix(suffix)
    return None


def apply(p: Plan) -> None:
    for path in p.remove:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
