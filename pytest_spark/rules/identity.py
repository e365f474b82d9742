"""PF-01 identity rules: every API instance runs the release under test, and they agree.

Pure: the check fetches ``/version`` from each instance and passes the parsed
documents in. A release tag is written ``v1.4.0`` on the command line but an
instance reports ``1.4.0``, so versions are compared without one leading
``v``. A configured git sha may be abbreviated (>= 7 hex digits, as git
prints it): it then has to be a prefix of what the instance reports.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pytest_spark.rules.findings import Finding

__all__ = ["FIELDS", "identity_findings", "normalize_version", "sha_matches"]

FIELDS = ("version", "git_sha", "build_time")
MIN_ABBREV = 7


def normalize_version(version: str) -> str:
    """``v1.4.0`` -> ``1.4.0``: one leading v/V dropped, surrounding blanks too."""
    text = version.strip()
    return text[1:] if text[:1] in ("v", "V") and text[1:2].isdigit() else text


def sha_matches(expected: str, reported: str) -> bool:
    """Same commit: equal ignoring case, or one is an abbreviation (>= 7) of the other."""
    a, b = expected.strip().lower(), reported.strip().lower()
    if not a or not b:
        return False
    if a == b:
        return True
    short, long = sorted((a, b), key=len)
    return len(short) >= MIN_ABBREV and long.startswith(short)


def _text(doc: Mapping[str, Any], key: str) -> str | None:
    value = doc.get(key)
    return value if isinstance(value, str) and value.strip() else None


def identity_findings(
    instances: Mapping[str, Any], *, version: str, git_sha: str = ""
) -> list[Finding]:
    """Findings for ``{base_url: /version document}``.

    Each instance must report a version equal to the release (and the
    configured git sha when one is set); all instances must report the same
    version, git sha and build time, so a half-rolled deployment is caught
    even when no sha is configured.
    """
    out: list[Finding] = []
    want = normalize_version(version)
    if not want:
        out.append(Finding("release-version-unknown", "no release version given (--release)"))
    for url, doc in instances.items():
        if not isinstance(doc, Mapping):
            out.append(Finding("version-not-object", f"{url}/version is not a JSON object"))
            continue
        for key in FIELDS:
            if _text(doc, key) is None:
                out.append(
                    Finding(f"{key}-missing", f"{url}/version has no {key} (got {doc.get(key)!r})")
                )
        reported = _text(doc, "version")
        if want and reported is not None and normalize_version(reported) != want:
            out.append(
                Finding(
                    "version-mismatch",
                    f"{url} reports version {reported}, expected release {want}",
                )
            )
        sha = _text(doc, "git_sha")
        if git_sha and sha is not None and not sha_matches(git_sha, sha):
            out.append(
                Finding(
                    "git-sha-mismatch",
                    f"{url} reports git_sha {sha}, expected release.git_sha {git_sha}",
                )
            )
    docs = {u: d for u, d in instances.items() if isinstance(d, Mapping)}
    for key in FIELDS:
        seen: dict[str, list[str]] = {}
        for url, doc in docs.items():
            value = doc.get(key)
            shown = value if isinstance(value, str) else repr(value)
            if key == "version" and isinstance(value, str):
                shown = normalize_version(value)
            seen.setdefault(shown, []).append(url)
        if len(seen) > 1:
            detail = "; ".join(f"{v} on {', '.join(urls)}" for v, urls in seen.items())
            out.append(Finding(f"{key}-disagree", f"instances disagree on {key}: {detail}"))
    return out
