"""suite.tree_digest and suite.outside_suite: which code decided a verdict."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from pytest_spark import suite


def _tree(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def test_digest_is_sha256_over_sha256sum_lines_sorted_by_path(tmp_path: Path) -> None:
    root = _tree(tmp_path / "checks", {"b.py": b"two", "a/c.json": b"{}", "a.py": b"one"})
    lines = "".join(
        f"{hashlib.sha256(data).hexdigest()}  {rel}\n"
        for rel, data in sorted({"b.py": b"two", "a/c.json": b"{}", "a.py": b"one"}.items())
    )
    got = suite.tree_digest(root)
    assert got == {
        "path": "checks",
        "files": 3,
        "digest": "sha256:" + hashlib.sha256(lines.encode()).hexdigest(),
    }


def test_digest_changes_with_content_and_with_names(tmp_path: Path) -> None:
    root = _tree(tmp_path / "checks", {"test_a.py": b"def test(): pass\n"})
    before = suite.tree_digest(root)["digest"]
    (root / "test_a.py").write_bytes(b"def test(): assert False\n")
    edited = suite.tree_digest(root)["digest"]
    (root / "test_a.py").rename(root / "test_b.py")
    renamed = suite.tree_digest(root)["digest"]
    assert len({before, edited, renamed}) == 3


def test_byte_code_is_not_part_of_the_suite(tmp_path: Path) -> None:
    root = _tree(tmp_path / "checks", {"test_a.py": b"x = 1\n"})
    before = suite.tree_digest(root)
    _tree(root, {"__pycache__/test_a.cpython-311.pyc": b"\0", ".pytest_cache/v/x": b"[]"})
    assert suite.tree_digest(root) == before


@pytest.mark.parametrize("kind", ["file", "dir"])
def test_a_symlink_in_the_suite_is_refused(tmp_path: Path, kind: str) -> None:
    """pytest imports what a link points to; the digest would not see it (review finding)."""
    root = _tree(tmp_path / "checks", {"test_a.py": b"x = 1\n"})
    _tree(tmp_path / "elsewhere", {"test_b.py": b"y = 2\n"})
    target = tmp_path / "elsewhere" / ("test_b.py" if kind == "file" else "")
    (root / ("test_b.py" if kind == "file" else "sub")).symlink_to(target)
    with pytest.raises(ValueError, match="a symlink"):
        suite.tree_digest(root)


@pytest.mark.parametrize(
    "planted",
    ["statistics.pyc", "sub/helpers.pyc", ".pytest_cache/conftest.py", ".ruff_cache/x.pyc"],
)
def test_python_the_digest_would_not_see_is_refused(tmp_path: Path, planted: str) -> None:
    """Final review: a sourceless checks/statistics.pyc replaced the stdlib module for a
    check (GO) while the digest, which skipped every .pyc, stayed the reviewed one."""
    root = _tree(tmp_path / "checks", {"test_a.py": b"x = 1\n", planted: b"\0"})
    with pytest.raises(ValueError, match=r"byte-code without its source|Python in a tool cache"):
        suite.tree_digest(root)


def test_deep_nesting_is_refused_not_a_recursion_error(tmp_path: Path) -> None:
    root = tmp_path / "checks"
    deep = root.joinpath(*["d"] * (suite.MAX_DEPTH + 5))
    deep.mkdir(parents=True)
    (deep / "test_x.py").write_text("")
    with pytest.raises(suite.TreeTooLarge, match="nested over"):
        suite.tree_digest(root)


@pytest.mark.parametrize(
    "digest", [5, {"a": 1}, "", "sha256:" + "A" * 64, "sha256:abc", "md5:" + "a" * 64]
)
def test_a_recorded_digest_of_another_shape_names_no_suite(digest: object) -> None:
    run = {"code": {"suite": {"path": "checks", "digest": digest}}}
    assert suite.code_problems(run, {}, require_suite=True) == [
        "the run names no suite digest: no checks/"
    ]


def test_args_outside_the_suite_are_found_as_pytest_would_resolve_them(tmp_path: Path) -> None:
    (tmp_path / "checks").mkdir()
    args = ["checks", "checks/test_a.py::test_x", "tests", ".", "../x.py", str(tmp_path)]
    assert suite.args_outside(tmp_path, tmp_path, args) == ["tests", ".", "../x.py", str(tmp_path)]
    assert suite.args_outside(tmp_path, tmp_path / "checks", ["test_a.py"]) == []
    assert suite.args_outside(tmp_path / "nosuite", tmp_path, ["anything"]) == []


def test_a_tree_over_the_cap_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _tree(tmp_path / "checks", {f"f{i}.py": b"" for i in range(4)})
    monkeypatch.setattr(suite, "MAX_FILES", 3)
    with pytest.raises(suite.TreeTooLarge, match="over 3 files"):
        suite.tree_digest(root)


def test_identity_records_an_unreadable_suite_instead_of_failing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _tree(tmp_path / "checks", {"test_a.py": b""})
    monkeypatch.setattr(suite, "MAX_FILES", 0)
    got = suite.identity(tmp_path)
    assert got["suite"]["path"] == "checks" and "over 0 files" in got["suite"]["error"]


def test_no_suite_directory_means_no_suite_digest_and_no_rule(tmp_path: Path) -> None:
    assert suite.identity(tmp_path)["suite"] is None
    assert suite.identity(tmp_path)["plugin"]["files"] > 10
    assert not suite.outside_suite(tmp_path / "test_x.py", suite.suite_dir(tmp_path))


@pytest.mark.parametrize(
    ("rel", "outside"),
    [
        ("checks/test_x.py", False),
        ("checks/chaos/test_x.py", False),
        ("checks/../tests/test_x.py", True),  # resolved, not compared as text
        ("checks_extra/test_x.py", True),  # a name sharing the prefix is not inside
        ("tests/checks/test_x.py", True),
        ("test_x.py", True),
    ],
)
def test_outside_suite_is_decided_on_the_resolved_path(
    tmp_path: Path, rel: str, outside: bool
) -> None:
    (tmp_path / "checks").mkdir()
    assert suite.outside_suite(tmp_path / rel, suite.suite_dir(tmp_path)) is outside


def test_the_readme_recipe_rederives_the_digest_with_coreutils(tmp_path: Path) -> None:
    """README "Which code decided": find | LC_ALL=C sort | sha256sum per file | sha256sum."""
    root = _tree(
        tmp_path / "checks",
        {"b.py": b"2", "a/Z.json": b"{}", "a/a.py": b"1", "é.txt": b"x", "__pycache__/x.pyc": b""},
    )
    recipe = (
        "find . -type f ! -name '*.pyc' ! -path '*/__pycache__/*' -printf '%P\\n' "
        '| LC_ALL=C sort | while IFS= read -r f; do sha256sum "$f"; done | sha256sum'
    )
    out = subprocess.run(
        ["bash", "-c", recipe], cwd=root, capture_output=True, text=True, check=True
    ).stdout
    assert suite.tree_digest(root)["digest"] == "sha256:" + out.split()[0]


def test_a_name_that_is_not_utf8_is_digested_as_bytes(tmp_path: Path) -> None:
    root = _tree(tmp_path / "checks", {"a.py": b"1"})
    (Path(os.fsdecode(os.fsencode(root) + b"/bad\xffname.txt"))).write_bytes(b"x")
    got = suite.tree_digest(root)
    assert got["files"] == 2


def test_a_name_with_a_newline_is_refused_not_forged(tmp_path: Path) -> None:
    root = _tree(tmp_path / "checks", {"a.json": b"{}", "a.json\nfake  b.py": b"x"})
    with pytest.raises(ValueError, match="newline or a backslash"):
        suite.tree_digest(root)
    assert "newline" in suite.identity(tmp_path)["suite"]["error"]


def test_size_is_checked_before_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "checks"
    root.mkdir()
    with open(root / "big.bin", "wb") as fh:  # sparse: 1 GiB on paper, nothing on disk
        fh.truncate(1 << 30)
    monkeypatch.setattr(suite, "MAX_BYTES", 1 << 20)
    monkeypatch.setattr(suite, "_file_sha256", lambda *a: pytest.fail("read a file over the cap"))
    with pytest.raises(suite.TreeTooLarge):
        suite.tree_digest(root)
