"""make demo's own helpers (the demo itself runs in tests/checks and CI's make demo)."""

from __future__ import annotations

import os
from pathlib import Path

from pytest_spark.demo import newest_bundle


def test_newest_bundle_is_the_run_just_written(tmp_path: Path) -> None:
    old = tmp_path / "v1.4.0" / "20261130T100000Z-aaaaaa.tar.gz"
    new = tmp_path / "v1.4.0" / "20261130T110000Z-bbbbbb.tar.gz"
    old.parent.mkdir()
    old.write_bytes(b"x")
    new.write_bytes(b"y")
    os.utime(old, (1000, 1000))
    os.utime(new, (2000, 2000))
    assert newest_bundle(tmp_path, since=1500) == new
    assert newest_bundle(tmp_path, since=3000) is None


def test_every_main_block_comes_after_all_it_calls() -> None:
    """`make demo` died with NameError: a helper was defined below `if __name__ ==
    "__main__":`, so `python -m` ran main() before the helper existed (imports in tests
    never see that). The main block is the last statement of every module that has one."""
    import ast
    from pathlib import Path

    import pytest_spark

    late = []
    for path in Path(pytest_spark.__file__).parent.rglob("*.py"):
        body = ast.parse(path.read_text()).body
        mains = [i for i, node in enumerate(body) if "__main__" in ast.unparse(node)[:40]]
        if mains and mains[-1] != len(body) - 1:
            late.append(str(path))
    assert late == []
