"""probes.sbom.read: only a regular file, and at most the size cap of it.

A FIFO at the SBOM path would block the run for ever, a symlink to /dev/zero
would fill memory (the same kinds issue 8 found for bundles): both are a
ProbeError at once, a file beyond the cap a TooLarge.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pytest_spark.probes import MIB, ProbeError, TooLarge, sbom

pytestmark = pytest.mark.timeout(30)


def test_a_regular_file_is_read_and_parsed(tmp_path: Path) -> None:
    path = tmp_path / "sbom.json"
    path.write_text(json.dumps({"bomFormat": "CycloneDX"}))
    got = sbom.read(path)
    assert got is not None and got.doc == {"bomFormat": "CycloneDX"}


def test_a_missing_file_is_none(tmp_path: Path) -> None:
    assert sbom.read(tmp_path / "nope.json") is None


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "sbom.json"
    os.mkfifo(fifo)
    with pytest.raises(ProbeError, match="not a regular file"):
        sbom.read(fifo)


@pytest.mark.parametrize("target", ["/dev/zero", "/dev/urandom"])
def test_a_link_to_an_endless_device_is_refused(tmp_path: Path, target: str) -> None:
    link = tmp_path / "sbom.json"
    link.symlink_to(target)
    with pytest.raises(ProbeError, match="not a regular file"):
        sbom.read(link)


def test_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ProbeError, match="not a regular file"):
        sbom.read(tmp_path)


def test_a_file_beyond_the_cap_is_too_large(tmp_path: Path) -> None:
    path = tmp_path / "sbom.json"
    path.write_bytes(b" " * (MIB // 2 + 1))
    with pytest.raises(TooLarge, match=rf"SBOM {path} exceeded 0\.5 MiB"):
        sbom.read(path, max_bytes=MIB // 2)
    assert sbom.read(path, max_bytes=MIB // 2 + 1) is not None
