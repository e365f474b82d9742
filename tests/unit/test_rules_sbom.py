"""BS-09 / RT-10 SBOM rules, and the offline, fast CycloneDX 1.6 validation probe."""

from __future__ import annotations

import copy
import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_spark.probes import sbom as probe
from pytest_spark.rules import sbom
from pytest_spark.rules.findings import codes, failures

SHA = "3af9e486223a9d753fd68bf87a1f9c71658fe119"


def bom(version: str = "1.4.0", sha: str = SHA, **root: Any) -> dict[str, Any]:
    component = {
        "type": "application",
        "bom-ref": f"spark-api@{version}",
        "name": "spark-api",
        "version": version,
        "purl": f"pkg:generic/spark-api@{version}",
        "properties": [
            {"name": "spark:git_sha", "value": sha},
            {"name": "spark:build_time", "value": "2026-01-01T00:00:00Z"},
        ],
        **root,
    }
    return {
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "version": 1,
        "metadata": {"component": component},
        "components": [
            {
                "type": "library",
                "bom-ref": "jinja2==3.1.6",
                "name": "jinja2",
                "version": "3.1.6",
                "purl": "pkg:pypi/jinja2@3.1.6",
                "externalReferences": [{"type": "website", "url": "https://palletsprojects.com/"}],
            }
        ],
    }


RUNNING = {
    "http://a": {"version": "1.4.0", "git_sha": SHA, "build_time": "2026-01-01T00:00:00Z"},
    "http://b": {"version": "1.4.0", "git_sha": SHA, "build_time": "2026-01-01T00:00:00Z"},
}


def test_release_sbom_is_clean() -> None:
    doc = bom()
    assert sbom.format_findings(doc) == []
    assert sbom.release_findings(doc, service="spark-api", version="v1.4.0") == []
    assert sbom.purl_findings(doc) == []
    assert sbom.running_findings(doc, RUNNING) == []


def test_wrong_version_and_service_named() -> None:
    found = sbom.release_findings(bom("1.3.1"), service="spark-api", version="1.4.0")
    assert codes(found) == ["sbom-wrong-version"]
    assert "'1.3.1'" in found[0].message and "'1.4.0'" in found[0].message
    found = sbom.release_findings(bom(name="other"), service="spark-api", version="1.4.0")
    assert codes(found) == ["sbom-wrong-service"]


def test_root_purl_must_agree_with_version() -> None:
    doc = bom(purl="pkg:generic/spark-api@9.9.9")
    assert codes(sbom.release_findings(doc, service="spark-api", version="1.4.0")) == [
        "sbom-root-purl-version"
    ]


def test_missing_metadata_component() -> None:
    doc = bom()
    del doc["metadata"]["component"]
    assert codes(sbom.release_findings(doc, service="spark-api", version="1.4.0")) == [
        "sbom-no-metadata-component"
    ]
    assert codes(sbom.running_findings(doc, RUNNING)) == ["sbom-no-metadata-component"]


def test_spec_version_must_be_1_6() -> None:
    doc = bom()
    doc["specVersion"] = "1.5"
    assert codes(sbom.format_findings(doc)) == ["sbom-spec-version"]


def test_components_need_valid_purls_nested_too() -> None:
    doc = bom()
    doc["components"][0]["components"] = [{"type": "library", "name": "inner", "version": "1"}]
    doc["components"].append({"type": "library", "name": "bad", "version": "2", "purl": "nope"})
    found = sbom.purl_findings(doc)
    assert codes(found) == ["sbom-component-without-purl", "sbom-component-invalid-purl"]
    assert "inner@1 (components[0].components[0])" in found[0].message
    assert "1 of 3" in found[0].message


def test_purl_version_drift_is_a_warning() -> None:
    doc = bom()
    doc["components"][0]["version"] = "3.1.7"
    found = sbom.purl_findings(doc)
    assert codes(found) == ["sbom-purl-version-drift"] and failures(found) == []


def test_no_components_fails() -> None:
    doc = bom()
    doc["components"] = []
    assert codes(sbom.purl_findings(doc)) == ["sbom-no-components"]


def test_other_build_is_not_what_runs() -> None:
    found = sbom.running_findings(bom(sha="0" * 40), RUNNING)
    assert codes(found) == ["sbom-build-not-running"] * 2
    assert "spark:git_sha=" + "0" * 40 in found[0].message and SHA in found[0].message


def test_other_version_is_named_in_every_field() -> None:
    found = sbom.running_findings(bom("1.3.1"), {"http://a": RUNNING["http://a"]})
    assert [f.message.split(" is ")[0] for f in found] == [
        "SBOM metadata.component.version",
        "SBOM metadata.component.bom-ref",
        "SBOM metadata.component.purl",
    ]


def test_build_time_and_missing_build_id() -> None:
    running = {"http://a": {**RUNNING["http://a"], "build_time": "2026-02-02T00:00:00Z"}}
    assert codes(sbom.running_findings(bom(), running)) == ["sbom-build-time-not-running"]
    doc = bom(properties=[])
    assert codes(sbom.running_findings(doc, RUNNING)) == ["sbom-no-build-id"]


def test_build_property_names() -> None:
    for name in ("spark:git_sha", "vcs.revision", "build-commit", "GIT-SHA"):
        assert sbom.build_property(bom(properties=[{"name": name, "value": "x"}])) == (name, "x")
    assert sbom.build_property(bom(properties=[{"name": "shaman", "value": "x"}])) is None


def test_abbreviated_sha_matches() -> None:
    running = {"http://a": {**RUNNING["http://a"], "git_sha": SHA[:7]}}
    assert sbom.running_findings(bom(), running) == []


@settings(max_examples=100, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda c: st.lists(c) | st.dictionaries(st.text(), c),
        max_leaves=20,
    )
)
def test_rules_never_crash_on_arbitrary_json(doc: Any) -> None:
    as_bom = doc if isinstance(doc, dict) else {"components": doc, "metadata": doc}
    sbom.format_findings(as_bom)
    sbom.release_findings(as_bom, service="spark-api", version="1.4.0")
    sbom.purl_findings(as_bom)
    sbom.running_findings(as_bom, {"http://a": doc})


# ------------------------------------------------------------------ the probe


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a connection fails loudly: validation must be offline."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def test_valid_bom_validates_offline(no_network: None) -> None:
    assert probe.schema_errors(bom()) == []


def test_schema_errors_name_the_path(no_network: None) -> None:
    doc = bom()
    doc["version"] = "one"
    doc["components"][0]["externalReferences"][0]["url"] = "https://exa mple.com/"
    errors = probe.schema_errors(doc)
    assert "version: 'one' is not of type 'integer'" in errors
    assert any(e.startswith("components/0/externalReferences/0/url") for e in errors)


def test_unknown_property_is_rejected_by_the_strict_schema(no_network: None) -> None:
    doc = bom()
    doc["components"][0]["colour"] = "blue"
    assert probe.schema_errors(doc)


def test_fast_validator_agrees_with_the_library(no_network: None) -> None:
    """Same verdict as cyclonedx-python-lib's own validate_str on small documents."""
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    lib = JsonStrictValidator(SchemaVersion.V1_6)
    good = bom()
    bad = copy.deepcopy(good)
    bad["metadata"]["component"]["type"] = "spaceship"
    for doc in (good, bad):
        assert (lib.validate_str(json.dumps(doc)) is None) == (probe.schema_errors(doc) == [])


def test_many_urls_validate_fast(no_network: None) -> None:
    doc = bom()
    refs = [{"type": "website", "url": f"https://example.com/p/{i}?q={i}#f"} for i in range(500)]
    doc["components"][0]["externalReferences"] = refs
    probe.schema_errors(doc)  # warm
    started = time.perf_counter()
    assert probe.schema_errors(doc) == []
    assert time.perf_counter() - started < 5.0


def test_read_missing_invalid_and_valid(tmp_path: Path) -> None:
    assert probe.read(tmp_path / "none.json") is None
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    got = probe.read(bad)
    assert got is not None and got.doc is None and got.json_error.startswith("not JSON")
    ok = tmp_path / "ok.json"
    ok.write_text(json.dumps(bom()))
    got = probe.read(ok)
    assert got is not None and got.doc["specVersion"] == "1.6"
    assert len(got.sha256) == 64


def test_read_unreadable_is_probe_error(tmp_path: Path) -> None:
    from pytest_spark.probes import ProbeError

    with pytest.raises(ProbeError, match="cannot read SBOM"):
        probe.read(tmp_path)  # a directory


# ------------------------------------------ bom-refs: unique, and references resolve


def _refs(doc: Any) -> list[Any]:
    return sbom.reference_findings(doc, probe.schema_document())


def test_a_clean_bom_has_unique_resolving_refs() -> None:
    doc = bom()
    doc["dependencies"] = [{"ref": "spark-api@1.4.0", "dependsOn": ["jinja2==3.1.6"]}]
    assert _refs(doc) == []


def test_root_and_component_sharing_a_bom_ref_fails() -> None:
    doc = bom()
    doc["components"][0]["bom-ref"] = "spark-api@1.4.0"  # the root's bom-ref
    found = _refs(doc)
    assert codes(found) == ["sbom-duplicate-bom-ref"]
    assert failures(found) == found
    assert "'spark-api@1.4.0' at metadata.component.bom-ref, components[0].bom-ref" in (
        found[0].message
    )
    assert probe.schema_errors(doc) == []  # the schema alone cannot see it


@pytest.mark.parametrize(
    "where",
    [
        lambda d, ref: (
            d["components"][0]
            .setdefault("components", [])
            .append({"type": "library", "name": "nested", "bom-ref": ref})
        ),
        lambda d, ref: d.setdefault("services", []).append({"name": "svc", "bom-ref": ref}),
        lambda d, ref: d.setdefault("vulnerabilities", []).append({"id": "CVE-1", "bom-ref": ref}),
        lambda d, ref: (
            d["metadata"]["component"]
            .setdefault("components", [])
            .append({"type": "library", "name": "inner", "bom-ref": ref})
        ),
    ],
    ids=["nested-component", "service", "vulnerability", "inside-root"],
)
def test_duplicates_anywhere_in_the_bom_fail(where: Any) -> None:
    doc = bom()
    where(doc, "jinja2==3.1.6")
    assert codes(_refs(doc)) == ["sbom-duplicate-bom-ref"]


@pytest.mark.parametrize(
    ("section", "path"),
    [
        ({"dependencies": [{"ref": "spark-api@1.4.0", "dependsOn": ["gone"]}]}, "dependsOn[0]"),
        ({"dependencies": [{"ref": "gone"}]}, "dependencies[0].ref"),
        ({"compositions": [{"aggregate": "complete", "assemblies": ["gone"]}]}, "assemblies[0]"),
        (
            {"compositions": [{"aggregate": "complete", "dependencies": ["gone"]}]},
            "dependencies[0]",
        ),
        (
            {"vulnerabilities": [{"id": "CVE-1", "affects": [{"ref": "gone"}]}]},
            "vulnerabilities[0].affects[0].ref",
        ),
        (
            {
                "annotations": [
                    {
                        "subjects": ["gone"],
                        "annotator": {"organization": {"name": "x"}},
                        "timestamp": "2026-01-01T00:00:00Z",
                        "text": "t",
                    }
                ]
            },
            "annotations[0].subjects[0]",
        ),
    ],
)
def test_dangling_references_fail(section: dict[str, Any], path: str) -> None:
    doc = {**bom(), **section}
    found = _refs(doc)
    assert codes(found) == ["sbom-dangling-reference"]
    assert path in found[0].message and "'gone'" in found[0].message


def test_bom_links_into_this_bom_are_resolved_others_left_alone() -> None:
    serial = "3e671687-395b-41f5-a30f-a58921a69b79"
    doc = {**bom(), "serialNumber": f"urn:uuid:{serial}"}
    doc["vulnerabilities"] = [
        {"id": "CVE-1", "affects": [{"ref": f"urn:cdx:{serial}/1#jinja2%3D%3D3.1.6"}]},
        {"id": "CVE-2", "affects": [{"ref": f"urn:cdx:{serial}/1#missing"}]},
        {"id": "CVE-3", "affects": [{"ref": "urn:cdx:aaaaaaaa-395b-41f5-a30f-a58921a69b79/1#x"}]},
    ]
    found = _refs(doc)
    assert codes(found) == ["sbom-dangling-reference"]
    assert "vulnerabilities[1]" in found[0].message and "CVE-1" not in found[0].message
    assert "vulnerabilities[0]" not in found[0].message and "vulnerabilities[2]" not in (
        found[0].message
    )


def test_a_bom_ref_that_reads_as_a_bom_link_warns() -> None:
    doc = bom()
    doc["components"][0]["bom-ref"] = "urn:cdx:x"
    found = _refs(doc)
    assert codes(found) == ["sbom-bom-ref-looks-like-bom-link"]
    assert failures(found) == []


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda c: st.lists(c) | st.dictionaries(st.sampled_from(["bom-ref", "ref", "x"]), c),
        max_leaves=20,
    )
)
def test_reference_rule_never_crashes_on_arbitrary_json(doc: Any) -> None:
    as_bom = doc if isinstance(doc, dict) else {"components": doc, "dependencies": doc}
    for finding in _refs(as_bom):
        assert finding.message


def test_the_library_does_not_check_bom_ref_uniqueness_itself() -> None:
    """Why reference_findings exists: cyclonedx-python-lib deserialises a BOM whose root and
    a component share a bom-ref without complaint. If this starts failing, the library
    checks it: use the library and delete our walker."""
    from cyclonedx.model.bom import Bom

    doc = bom()
    doc["components"][0]["bom-ref"] = "spark-api@1.4.0"
    Bom.from_json(doc)  # type: ignore[attr-defined]  # no exception
