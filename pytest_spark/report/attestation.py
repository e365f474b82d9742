"""An in-toto Statement v1 with a verification-summary style predicate.

The subject is the release artifact when its digest is known, else the
manifest; either way the predicate carries the verdict and the policy digest,
so a deploy pipeline can gate on a standard document. When a key is configured
the Statement is the payload of a DSSE envelope (signing.py), so everything it
names is signed: release, run id (= the bundle's folder name), scope, verdict
digest, policy digest and the manifest digest (which hashes every other file).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://slsa.dev/verification_summary/v1"
VERIFIER_ID = "https://pypi.org/project/pytest-spark-deploy"


def statement(
    verdict: Mapping[str, Any],
    *,
    manifest_sha256: str,
    verdict_sha256: str,
    artifact_digest: str,
    time_verified: str,
    tool_version: str,
) -> dict[str, Any]:
    release = verdict.get("release") or "unreleased"
    spark: dict[str, Any] = {
        "verdict": verdict.get("verdict"),
        "release": verdict.get("release"),
        "runId": verdict.get("run_id"),
        "bundle": verdict.get("run_id"),  # the folder / <name>.tar.gz the bundle must carry
        "verdictDigest": {"sha256": verdict_sha256},
        "reasons": [r["check"] for r in verdict.get("reasons", [])],
    }
    if "scope" in verdict:
        spark["scope"] = verdict["scope"]
    if artifact_digest:
        algo, _, hexdigest = artifact_digest.partition(":")
        subject = {"name": f"spark@{release}", "digest": {algo: hexdigest}}
    else:
        subject = {"name": "manifest.json", "digest": {"sha256": manifest_sha256}}
    return {
        "_type": STATEMENT_TYPE,
        "subject": [subject],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "verifier": {"id": VERIFIER_ID, "version": {"pytest-spark-deploy": tool_version}},
            "timeVerified": time_verified,
            "resourceUri": f"spark:release/{release}",
            "policy": {
                "uri": "spark:policy/go-no-go",
                "digest": {"sha256": verdict.get("policy_digest", "")},
            },
            "verificationResult": "PASSED" if verdict.get("verdict") == "GO" else "FAILED",
            "verifiedLevels": [],
            "manifestDigest": {"sha256": manifest_sha256},
            "spark": spark,
        },
    }


def check(
    stmt: Mapping[str, Any],
    manifest_sha256: str,
    verdict_sha256: str,
    run: Mapping[str, Any],
    verdict: Any,
) -> list[str]:
    """What in the attestation differs from the one the bundle's own files imply.

    The whole statement is rebuilt from verdict.json and the manifest and compared,
    so no field a deploy gate might read (verificationResult, subject, ...) can be
    edited on its own.
    """
    if stmt.get("_type") != STATEMENT_TYPE:
        return ["attestation.json: not an in-toto Statement v1"]
    predicate = stmt.get("predicate")
    digest = predicate.get("manifestDigest") if isinstance(predicate, Mapping) else None
    if digest != {"sha256": manifest_sha256}:
        return [f"attestation.json: manifestDigest {digest!r} is not manifest.json's"]
    if not isinstance(verdict, Mapping):
        return []
    expected = statement(
        verdict,
        manifest_sha256=manifest_sha256,
        verdict_sha256=verdict_sha256,
        artifact_digest=run.get("artifact_digest", ""),
        time_verified=run.get("end", ""),
        tool_version=run.get("tool", {}).get("pytest-spark-deploy", ""),
    )
    return [
        f"attestation.json: {path} is {got!r} but the bundle implies {want!r}"
        for path, got, want in _differences(stmt, expected)
    ]


def _differences(got: Any, want: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    if isinstance(got, Mapping) and isinstance(want, Mapping):
        out = []
        for key in sorted(set(got) | set(want)):
            out += _differences(got.get(key), want.get(key), f"{path}.{key}" if path else key)
        return out
    if isinstance(got, list) and isinstance(want, list) and len(got) == len(want):
        out = []
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            out += _differences(g, w, f"{path}[{i}]")
        return out
    return [] if got == want else [(path, got, want)]
