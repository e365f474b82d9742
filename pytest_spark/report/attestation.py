"""An in-toto Statement v1 with a verification-summary style predicate.

The subject is the release artifact when its digest is known, else the
manifest; either way the predicate carries the verdict and the policy digest,
so a deploy pipeline can gate on a signed-able, standard document.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://slsa.dev/verification_summary/v1"
VERIFIER_ID = "https://pypi.org/project/pytest-spark-deploy"


def statement(
    verdict: Mapping[str, Any], *, manifest_sha256: str, artifact_digest: str, time_verified: str
) -> dict[str, Any]:
    release = verdict.get("release") or "unreleased"
    if artifact_digest:
        algo, _, hexdigest = artifact_digest.partition(":")
        subject = {"name": f"spark@{release}", "digest": {algo: hexdigest}}
    else:
        subject = {"name": "manifest.json", "digest": {"sha256": manifest_sha256}}
    from .. import __version__

    return {
        "_type": STATEMENT_TYPE,
        "subject": [subject],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "verifier": {"id": VERIFIER_ID, "version": {"pytest-spark-deploy": __version__}},
            "timeVerified": time_verified,
            "resourceUri": f"spark:release/{release}",
            "policy": {
                "uri": "spark:policy/go-no-go",
                "digest": {"sha256": verdict.get("policy_digest", "")},
            },
            "verificationResult": "PASSED" if verdict.get("verdict") == "GO" else "FAILED",
            "verifiedLevels": [],
            "manifestDigest": {"sha256": manifest_sha256},
            "spark": {
                "verdict": verdict.get("verdict"),
                "runId": verdict.get("run_id"),
                "reasons": [r["check"] for r in verdict.get("reasons", [])],
            },
        },
    }


def check(
    stmt: Mapping[str, Any], manifest_sha256: str, run: Mapping[str, Any], verdict: Any
) -> list[str]:
    """What in the attestation disagrees with the bundle it sits in."""
    problems = []
    pred = stmt.get("predicate", {})
    if stmt.get("_type") != STATEMENT_TYPE:
        problems.append("attestation.json: not an in-toto Statement v1")
    if pred.get("manifestDigest", {}).get("sha256") != manifest_sha256:
        problems.append("attestation.json: manifest digest does not match manifest.json")
    if not run.get("artifact_digest"):
        subj = (stmt.get("subject") or [{}])[0].get("digest", {}).get("sha256")
        if subj != manifest_sha256:
            problems.append("attestation.json: subject digest does not match manifest.json")
    if isinstance(verdict, Mapping):
        if pred.get("spark", {}).get("verdict") != verdict.get("verdict"):
            problems.append("attestation.json: verdict differs from verdict.json")
        if pred.get("policy", {}).get("digest", {}).get("sha256") != verdict.get("policy_digest"):
            problems.append("attestation.json: policy digest differs from verdict.json")
    return problems
