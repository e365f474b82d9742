"""Which code decided a verdict: the check suite's and the plugin's content digests.

EVIDENCE.md's run.json names "the git sha of the suite"; a sha does not see an
edited working tree, so run.json also carries a digest of the files themselves:
the suite directory (``checks/`` under the rootdir: the tests, their conftest,
pact files and experiments) and the installed ``pytest_spark`` package (the
rules that judge what the tests observed). A release process pins the digests
it reviewed; ``pytest-spark verify --suite-digest`` compares.

A catalog check bound by a test outside the suite directory is not the suite's
check: a placeholder ``@pytest.mark.spark_check("PF-01")`` elsewhere must not
stand in for it, so such a test counts as not run (the verdict cannot be GO).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

#: The suite's directory under the rootdir (README: the user-facing suite lives in checks/)
SUITE_DIR = "checks"
#: Bounds on what a digest reads: a suite is tens of files, the plugin a few hundred.
MAX_FILES = 5000
MAX_BYTES = 64 * 1024 * 1024
_SKIP_DIRS = frozenset({"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"})


class TreeTooLarge(ValueError):
    """The directory holds more than MAX_FILES files or MAX_BYTES bytes."""


def suite_dir(rootdir: Path) -> Path | None:
    """The suite directory of a run, or None when the rootdir has none (no rule applies)."""
    path = rootdir / SUITE_DIR
    return path if path.is_dir() else None


def outside_suite(item_path: Path, suite: Path | None) -> bool:
    """Is a test file outside the suite directory (False when there is no suite directory)?"""
    if suite is None:
        return False
    try:
        item_path.resolve().relative_to(suite.resolve())
    except ValueError:
        return True
    return False


def tree_digest(root: Path) -> dict[str, Any]:
    """``{"path", "files", "digest"}`` of every regular file below ``root``.

    The digest is sha256 over one line per file, sorted by relative POSIX path
    (code point order): ``<sha256 hex of the content>  <path>\\n``, the line
    sha256sum prints. Byte-code caches are left out; symlinks are not followed.
    Raises TreeTooLarge, OSError.
    """
    lines = []
    total = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS)
        for name in filenames:
            path = Path(dirpath, name)
            if name.endswith(".pyc") or path.is_symlink() or not path.is_file():
                continue
            data = path.read_bytes()
            total += len(data)
            if len(lines) >= MAX_FILES or total > MAX_BYTES:
                raise TreeTooLarge(f"{root}: over {MAX_FILES} files or {MAX_BYTES} bytes")
            rel = path.relative_to(root).as_posix()
            lines.append(f"{hashlib.sha256(data).hexdigest()}  {rel}\n")
    lines.sort(key=lambda line: line.split("  ", 1)[1])
    digest = hashlib.sha256("".join(lines).encode("utf-8")).hexdigest()
    return {"path": root.name, "files": len(lines), "digest": f"sha256:{digest}"}


def identity(rootdir: Path) -> dict[str, Any]:
    """run.json's ``code``: the suite's and the plugin's digests (None: no suite directory)."""
    suite = suite_dir(rootdir)
    plugin = Path(__file__).resolve().parent
    out: dict[str, Any] = {}
    for key, root in (("suite", suite), ("plugin", plugin)):
        try:
            out[key] = tree_digest(root) if root is not None else None
        except (OSError, TreeTooLarge) as exc:
            out[key] = {"path": root.name if root else "", "error": str(exc)}
    return out
