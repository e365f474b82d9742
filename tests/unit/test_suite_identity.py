"""suite.tree_digest and suite.outside_suite: which code decided a verdict."""

from __future__ import annotations

import hashlib
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


def test_byte_code_and_symlinks_are_not_part_of_the_suite(tmp_path: Path) -> None:
    root = _tree(tmp_path / "checks", {"test_a.py": b"x = 1\n"})
    before = suite.tree_digest(root)
    _tree(root, {"__pycache__/test_a.cpython-311.pyc": b"\0", "old.pyc": b"\0"})
    (root / "link.py").symlink_to(root / "test_a.py")
    assert suite.tree_digest(root) == before


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
