"""Which code decided a verdict: the check suite's and the plugin's content digests.

EVIDENCE.md's run record names "the git sha of the suite"; a sha does not see an
edited working tree, so the record (manifest.json ``run.code``) also carries a
digest of the files themselves:
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
import re
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: The suite's directory under the rootdir (README: the user-facing suite lives in checks/)
SUITE_DIR = "checks"
#: Bounds on what a digest reads: a suite is tens of files, the plugin a few hundred.
MAX_FILES = 5000
MAX_BYTES = 64 * 1024 * 1024
CHUNK = 1024 * 1024
MAX_DEPTH = 32
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


def args_outside(rootdir: Path, invocation_dir: Path, args: list[str]) -> list[str]:
    """The command-line paths (``path`` or ``path::node``) that lie outside the rootdir's
    suite directory; none when there is no suite directory. A release run must not import
    test modules from elsewhere: importing one runs its code inside the run."""
    home = suite_dir(rootdir)
    if home is None:
        return []
    out = []
    for arg in args:
        path = Path(arg.split("::", 1)[0])
        if outside_suite(path if path.is_absolute() else invocation_dir / path, home):
            out.append(arg)
    return out


def tree_digest(root: Path) -> dict[str, Any]:
    """``{"path", "files", "digest"}`` of every regular file below ``root``.

    The digest is sha256 over one line per file, sorted by relative path as bytes
    (``LC_ALL=C sort``): ``<sha256 hex of the content>  <path>\\n``, the line
    sha256sum prints. Left out: byte-code (``*.pyc``, ``__pycache__``), tool
    caches (``.pytest_cache``, ``.mypy_cache``, ``.ruff_cache``) and anything
    not a regular file. Refused: a symlink (pytest would import its target,
    unseen), byte-code outside ``__pycache__`` (Python imports it without a
    source), Python inside a tool cache, a name holding a newline or a
    backslash (sha256sum escapes those, and a newline would forge a line),
    nesting over MAX_DEPTH directories.
    Sizes are checked before reading and files are hashed in chunks.
    Raises TreeTooLarge, OSError, ValueError.
    """
    base = os.fsencode(root)
    lines: list[tuple[bytes, str]] = []
    total = 0
    for dirpath, dirnames, filenames in os.walk(base):
        if dirpath.count(b"/") - base.count(b"/") >= MAX_DEPTH:  # before os.walk recurses
            raise TreeTooLarge(f"{root}: directories nested over {MAX_DEPTH} deep")
        for name in [*dirnames, *filenames]:  # __pycache__ too: a link is never ours to skip
            if os.path.islink(os.path.join(dirpath, name)):
                # pytest imports what a link points to; the digest would not see it
                raise ValueError(f"{root}: a symlink: {os.path.join(dirpath, name)!r}")
        for skipped in (d for d in dirnames if os.fsdecode(d) in _SKIP_DIRS - {"__pycache__"}):
            _refuse_python_in_cache(root, os.path.join(dirpath, skipped))
        dirnames[:] = [d for d in dirnames if os.fsdecode(d) not in _SKIP_DIRS]
        for name in filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            if not stat.S_ISREG(st.st_mode):
                continue
            if name.endswith(b".pyc"):
                if os.path.basename(dirpath) != b"__pycache__":  # imported with no source
                    raise ValueError(f"{root}: byte-code without its source: {path!r}")
                continue
            rel = os.path.relpath(path, base)
            if b"\n" in rel or b"\\" in rel:
                raise ValueError(f"{root}: a file name holds a newline or a backslash: {rel!r}")
            total += st.st_size
            if len(lines) >= MAX_FILES or total > MAX_BYTES:
                raise TreeTooLarge(f"{root}: over {MAX_FILES} files or {MAX_BYTES} bytes")
            lines.append((rel, _file_sha256(path, st.st_size)))
    lines.sort()
    text = b"".join(f"{hexd}  ".encode() + rel + b"\n" for rel, hexd in lines)
    digest = hashlib.sha256(text).hexdigest()
    return {"path": root.name, "files": len(lines), "digest": f"sha256:{digest}"}


def _refuse_python_in_cache(root: Path, cache: bytes) -> None:
    """A tool cache is not digested (it changes every run), so it must hold no Python:
    pytest collects a conftest there when norecursedirs is overridden."""
    for dirpath, _dirs, filenames in os.walk(cache):
        for name in filenames:
            if name.endswith((b".py", b".pyc")):
                path = os.path.join(dirpath, name)
                raise ValueError(f"{root}: Python in a tool cache: {path!r}")


def _file_sha256(path: bytes, size: int) -> str:
    """sha256 of a file read in chunks, never more than the ``size`` it was stat'ed at + 1."""
    h = hashlib.sha256()
    left = size + 1  # a file growing under us is hashed as found, not read without end
    with open(path, "rb") as fh:
        while left > 0 and (chunk := fh.read(min(CHUNK, left))):
            h.update(chunk)
            left -= len(chunk)
    return h.hexdigest()


def identity(rootdir: Path) -> dict[str, Any]:
    """The run record's ``code``: the suite's and the plugin's digests (suite None: the
    rootdir has no suite directory)."""
    suite = suite_dir(rootdir)
    plugin = Path(__file__).resolve().parent
    out: dict[str, Any] = {}
    for key, root in (("suite", suite), ("plugin", plugin)):
        try:
            out[key] = tree_digest(root) if root is not None else None
        except (OSError, ValueError) as exc:  # TreeTooLarge is a ValueError
            out[key] = {"path": root.name if root else "", "error": str(exc)}
    return out


_HEX64 = frozenset("0123456789abcdef")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def parse_pin(text: str, option: str) -> str:
    """A pinned digest as given on a command line: 64 hex digits, ``sha256:`` optional, any
    case; returned as ``sha256:<lower hex>``. An empty value (an unset CI variable) is an
    error, never "no pin". Raises ValueError naming ``option``."""
    hexd = text.strip().lower().removeprefix("sha256:")
    if len(hexd) != 64 or not set(hexd) <= _HEX64:
        raise ValueError(f"{option} {text!r}: give the 64 hex digits of a sha256 digest")
    return f"sha256:{hexd}"


def code_problems(
    run: Mapping[str, Any], pins: Mapping[str, str | None], *, require_suite: bool
) -> list[str]:
    """Why a bundle's run (manifest ``run``) was not decided by the reviewed code: a digest
    other than a pin, or (``require_suite``, or a suite pin) no suite digest at all (the
    run had no checks/ suite, or could not read it)."""
    code = run.get("code") if isinstance(run.get("code"), Mapping) else {}
    out = []
    for part in ("suite", "plugin"):
        tree = code.get(part)
        got = tree.get("digest") if isinstance(tree, Mapping) else None
        if not (isinstance(got, str) and _DIGEST.fullmatch(got)):
            got = None  # a digest of another shape names nothing
        pin = pins.get(part)
        if part == "suite" and not got and (require_suite or pin):
            why = tree.get("error") if isinstance(tree, Mapping) else None
            where = f"its {SUITE_DIR}/ could not be read ({why})" if why else f"no {SUITE_DIR}/"
            out.append(f"the run names no suite digest: {where}")
        elif pin and got != pin:
            out.append(f"the run's {part} digest is {got or 'not recorded'}, not {pin}")
    return out
