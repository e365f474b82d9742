"""Helpers for pytester-driven tests of the plugin: run a synthetic suite, read its bundle."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest


class Bundle:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.tarball = folder.with_name(folder.name + ".tar.gz")

    def json(self, rel: str) -> Any:
        return json.loads((self.folder / rel).read_text())

    @property
    def verdict(self) -> dict[str, Any]:
        return self.json("verdict.json")

    def check(self, cid: str) -> dict[str, Any]:
        return self.json(f"checks/{cid}.json")

    def files(self) -> list[Path]:
        return [p for p in self.folder.rglob("*") if p.is_file()]


def find_bundle(root: Path) -> Bundle:
    runs = [p for p in (root / "reports").glob("*/*") if p.is_dir()]
    assert len(runs) == 1, f"expected one bundle, found {runs}"
    return Bundle(runs[0])


@pytest.fixture
def bundle_of(pytester: pytest.Pytester):
    return lambda: find_bundle(pytester.path)
