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
