"""Release identity and supply chain: flags, running version, SBOM.

BS-07 / PF-07 flags, PF-01 identity, BS-09 SBOM and RT-10 SBOM attach. Each
test reads every API instance's JSON documents (``/flags``, ``/version``) or
the release's SBOM file, records them as received, hands them to a pure rule
in ``pytest_spark.rules`` and fails naming the flag, field or component with
its value and the instance it came from.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from pytest_spark.config import SparkConfig
from pytest_spark.evidence import Recorder
from pytest_spark.probes import ProbeError
from pytest_spark.probes import sbom as sbom_probe
from pytest_spark.probes.pages import json_docs
from pytest_spark.rules import flags, identity
from pytest_spark.rules import sbom as sbom_rules
from pytest_spark.rules.json_values import field
from pytest_spark.rules.problems import Problem, fail_messages, summary


def _release_version(spark_config: SparkConfig) -> str:
    version = identity.normalize_version(spark_config.release["version"] or "")
    if not version:
        raise ProbeError("no release version to compare with: pass --release (e.g. v1.4.0)")
    return version


@pytest.mark.spark_check("BS-07")
def test_bs07_new_flags_off_kill_switches_exist(
    http: httpx.Client, api_urls: list[str], release: Any, evidence: Recorder
) -> None:
    """On every instance each flag new in this release is OFF and each kill switch exists."""
    manifest = {
        "new_flags": list(release["new_flags"]),
        "kill_switches": list(release["kill_switches"]),
    }
    evidence.observe("manifest", manifest)
    empty = flags.empty_manifest(**manifest)
    if empty:
        raise ProbeError(empty)
    problems: list[Problem] = []
    for url, doc in json_docs(http, api_urls, "/flags").items():
        evidence.observe("flags", {"url": f"{url}/flags", "body": doc})
        found = flags.manifest_findings(doc, url, **manifest)
        evidence.observe("findings", {"url": url, "findings": [f.to_dict() for f in found]})
        problems += fail_messages(found)
    assert not problems, summary(problems)


@pytest.mark.spark_check("PF-07")
def test_pf07_flag_snapshot_same_and_fresh(
    http: httpx.Client, api_urls: list[str], thresholds: Any, evidence: Recorder
) -> None:
    """All instances serve the same flag snapshot version, none older than the threshold."""
    max_age = float(thresholds["flag_snapshot_max_age_s"])
    docs = json_docs(http, api_urls, "/flags")
    now = dt.datetime.now(dt.UTC)
    found, seen = flags.snapshot_findings(docs, now=now, max_age_s=max_age)
    evidence.observe(
        "snapshots",
        {"local_utc": now.isoformat(), "max_age_s": max_age, "instances": seen},
    )
    evidence.observe("findings", [f.to_dict() for f in found])
    problems = fail_messages(found)
    assert not problems, summary(problems)


@pytest.mark.spark_check("PF-01")
def test_pf01_instances_run_the_release(
    http: httpx.Client, api_urls: list[str], spark_config: SparkConfig, evidence: Recorder
) -> None:
    """Every instance's /version is the release (and git sha), and all instances agree."""
    version = _release_version(spark_config)
    git_sha = spark_config.release["git_sha"]
    evidence.observe("expected", {"version": version, "git_sha": git_sha or None})
    docs = json_docs(http, api_urls, "/version")
    evidence.observe("instances", docs)
    found = identity.identity_findings(docs, version=version, git_sha=git_sha)
    evidence.observe("findings", [f.to_dict() for f in found])
    problems = fail_messages(found)
    assert not problems, summary(problems)


@pytest.mark.spark_check("BS-09")
def test_bs09_sbom_valid_cyclonedx_for_release(
    spark_config: SparkConfig, configured: Callable[[str], Any], evidence: Recorder, max_bytes: int
) -> None:
    """The release SBOM exists, is schema-valid CycloneDX 1.6, names the release, has purls."""
    path = str(configured("release.sbom"))
    service = spark_config.release["service"]
    version = _release_version(spark_config)
    evidence.observe("expected", {"path": path, "service": service, "version": version})
    sbom_file = sbom_probe.read(path, max_bytes=max_bytes)
    assert sbom_file is not None, f"release SBOM {path} does not exist"
    evidence.observe(
        "sbom", {"path": path, "sha256": sbom_file.sha256, "bytes": len(sbom_file.raw)}
    )
    assert sbom_file.doc is not None, f"release SBOM {path} is {sbom_file.json_error}"
    errors = sbom_probe.schema_errors(sbom_file.doc)
    evidence.observe("schema", {"schema": "CycloneDX 1.6 (strict, offline)", "errors": errors})
    problems: list[Problem] = []
    if errors:
        problems.append((f"SBOM {path} is not valid CycloneDX 1.6: {'; '.join(errors[:3])}", ""))
    doc = sbom_file.doc if isinstance(sbom_file.doc, Mapping) else {}
    root = sbom_rules.root_component(doc)
    evidence.observe("metadata.component", root)
    found = sbom_rules.format_findings(doc)
    found += sbom_rules.release_findings(doc, service=service, version=version)
    found += sbom_rules.purl_findings(doc)
    found += sbom_rules.reference_findings(doc, sbom_probe.schema_document())
    evidence.observe("findings", [f.to_dict() for f in found])
    problems += fail_messages(found)
    assert not problems, summary(problems)


@pytest.mark.spark_check("RT-10")
def test_rt10_sbom_attached_and_matches_running_build(
    http: httpx.Client,
    api_urls: list[str],
    configured: Callable[[str], Any],
    evidence: Recorder,
    max_bytes: int,
) -> None:
    """The SBOM goes into the evidence with its digest, and its build is the one that runs."""
    path = str(configured("release.sbom"))
    docs = json_docs(http, api_urls, "/version")
    evidence.observe("instances", docs)
    sbom_file = sbom_probe.read(path, max_bytes=max_bytes)
    assert sbom_file is not None, f"release SBOM {path} does not exist: nothing to attach"
    attached = evidence.attach(Path(path).name or "sbom.json", sbom_file.raw)
    evidence.observe(
        "sbom",
        {
            "path": path,
            "sha256": f"sha256:{sbom_file.sha256}",
            "bytes": len(sbom_file.raw),
            "attached_as": attached,
        },
    )
    assert isinstance(sbom_file.doc, Mapping), f"release SBOM {path} is not a JSON object"
    doc = sbom_file.doc
    root = sbom_rules.root_component(doc) or {}
    build = sbom_rules.build_property(doc, "id")
    built_at = sbom_rules.build_property(doc, "time")
    evidence.observe(
        "comparison",
        {
            "sbom": {
                "version": root.get("version"),
                "bom-ref": root.get("bom-ref"),
                "purl": root.get("purl"),
                "build_id": dict([build]) if build else None,
                "build_time": dict([built_at]) if built_at else None,
            },
            "running": {url: {k: field(d, k) for k in identity.FIELDS} for url, d in docs.items()},
        },
    )
    found = sbom_rules.running_findings(doc, docs)
    evidence.observe("findings", [f.to_dict() for f in found])
    problems = fail_messages(found)
    assert not problems, summary(problems)
