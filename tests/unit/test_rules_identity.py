"""PF-01 identity rules: release version (with or without 'v'), git sha, agreement."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_spark.rules import identity
from pytest_spark.rules.findings import codes

SHA = "3af9e486223a9d753fd68bf87a1f9c71658fe119"


def v(version: str = "1.4.0", sha: str = SHA, built: str = "2026-01-01T00:00:00Z") -> Any:
    return {"service": "spark-api", "version": version, "git_sha": sha, "build_time": built}


@pytest.mark.parametrize(
    ("raw", "norm"), [("v1.4.0", "1.4.0"), ("V2", "2"), ("1.4.0", "1.4.0"), (" v1 ", "1")]
)
def test_normalize_version(raw: str, norm: str) -> None:
    assert identity.normalize_version(raw) == norm


def test_leading_v_is_kept_when_it_is_part_of_a_name() -> None:
    assert identity.normalize_version("vnext") == "vnext"


@given(st.from_regex(r"[0-9]+(\.[0-9]+){0,3}", fullmatch=True))
def test_normalize_is_idempotent_and_strips_one_v(version: str) -> None:
    assert identity.normalize_version("v" + version) == version
    assert identity.normalize_version(identity.normalize_version(version)) == version


def test_all_good() -> None:
    docs = {"http://a": v(), "http://b": v("v1.4.0")}
    assert identity.identity_findings(docs, version="v1.4.0", git_sha=SHA[:10]) == []


def test_old_instance_is_named() -> None:
    found = identity.identity_findings({"http://a": v(), "http://b": v("1.3.1")}, version="v1.4.0")
    assert codes(found) == ["version-mismatch", "version-disagree"]
    assert found[0].message == "http://b reports version 1.3.1, expected release 1.4.0"
    assert "1.4.0 on http://a; 1.3.1 on http://b" in found[1].message


def test_sha_mismatch_and_disagreement_without_configured_sha() -> None:
    docs = {"http://a": v(), "http://b": v(sha="f" * 40, built="2026-01-02T00:00:00Z")}
    assert codes(identity.identity_findings(docs, version="1.4.0", git_sha=SHA)) == [
        "git-sha-mismatch",
        "git_sha-disagree",
        "build_time-disagree",
    ]
    assert codes(identity.identity_findings(docs, version="1.4.0")) == [
        "git_sha-disagree",
        "build_time-disagree",
    ]


def test_missing_fields_and_non_objects() -> None:
    found = identity.identity_findings(
        {"http://a": {"version": "1.4.0"}, "http://b": []}, version="1.4.0"
    )
    assert codes(found) == ["git_sha-missing", "build_time-missing", "version-not-object"]


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [(SHA, SHA.upper(), True), (SHA[:7], SHA, True), (SHA[:6], SHA, False), ("", SHA, False)],
)
def test_sha_matches(a: str, b: str, same: bool) -> None:
    assert identity.sha_matches(a, b) is same
