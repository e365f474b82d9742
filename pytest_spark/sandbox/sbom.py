"""The release SBOM: a real CycloneDX 1.6 document of the environment the API runs in.

`cyclonedx-py environment` lists what is installed; we then name the release as
metadata.component (BS-09) and record the build id (git sha) so RT-10 can tell
an SBOM of another build. Generation takes ~0.6 s, so the raw document is
cached per set of installed distributions.

Package-metadata URLs (externalReferences) are dropped from the release SBOM:
they carry no identity the checks use, and schema-validating their IRI format
costs ~8 s of CPU per validation (cyclonedx-python-lib), against ~0.3 s without.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

SERVICE_NAME = "spark-api"
BUILD_SHA_PROPERTY = "spark:git_sha"
BUILD_TIME_PROPERTY = "spark:build_time"


class SbomError(RuntimeError):
    """The SBOM could not be generated."""


def cache_dir() -> Path:
    """Per-user cache of generated artefacts (XDG_CACHE_HOME honoured)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    path = Path(base) / "pytest-spark"
    path.mkdir(parents=True, exist_ok=True)
    return path


def stale_cache_entries(pattern: str, min_age_s: float = 3600.0) -> list[Path]:
    """Finished cache entries untouched for an hour: safe to prune (no one is copying them)."""
    cutoff = time.time() - min_age_s
    return [
        p
        for p in cache_dir().glob(pattern)
        if not p.name.endswith(".tmp") and p.stat().st_mtime < cutoff
    ]


def environment_key() -> str:
    """Digest of the installed distributions: the raw SBOM changes only with them."""
    names = sorted(f"{d.metadata['Name']}=={d.version}" for d in metadata.distributions())
    return hashlib.sha256("\n".join([sys.executable, *names]).encode()).hexdigest()[:16]


def _cyclonedx_cli() -> list[str]:
    exe = Path(sys.executable).with_name("cyclonedx-py")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("cyclonedx-py")
    if found:
        return [found]
    raise SbomError("cyclonedx-py not found; pip install cyclonedx-bom")


def raw_environment_bom(timeout: float = 60.0) -> dict[str, Any]:
    """CycloneDX 1.6 JSON of this interpreter's environment (cached)."""
    cached = cache_dir() / f"env-bom-{environment_key()}.json"
    if cached.exists():
        return json.loads(cached.read_text())
    argv = [*_cyclonedx_cli(), "environment", "--sv", "1.6", "--of", "JSON"]
    argv += ["--no-validate", "-o", "-", sys.executable]
    done = subprocess.run(argv, capture_output=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise SbomError(f"cyclonedx-py failed: {done.stderr.decode(errors='replace')[-500:]}")
    bom = json.loads(done.stdout)
    for old in stale_cache_entries("env-bom-*.json"):  # other environments' documents
        old.unlink(missing_ok=True)
    tmp = cached.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(bom))
    tmp.replace(cached)
    return bom


def release_component(version: str, git_sha: str, build_time: str) -> dict[str, Any]:
    """metadata.component naming the service at the release version."""
    return {
        "type": "application",
        "bom-ref": f"{SERVICE_NAME}@{version}",
        "name": SERVICE_NAME,
        "version": version,
        "purl": f"pkg:generic/{SERVICE_NAME}@{version}",
        "properties": [
            {"name": BUILD_SHA_PROPERTY, "value": git_sha},
            {"name": BUILD_TIME_PROPERTY, "value": build_time},
        ],
    }


def release_bom(raw: dict[str, Any], version: str, git_sha: str, build_time: str) -> dict[str, Any]:
    """The raw environment BOM turned into the release's SBOM."""
    bom = copy.deepcopy(raw)
    root = release_component(version, git_sha, build_time)
    bom["serialNumber"] = f"urn:uuid:{uuid.uuid4()}"
    bom["metadata"]["timestamp"] = datetime.now(UTC).isoformat()
    bom["metadata"]["component"] = root
    for comp in [
        *bom.get("components", []),
        *bom["metadata"].get("tools", {}).get("components", []),
    ]:
        comp.pop("externalReferences", None)
    for comp in bom.get("components", []):
        _ensure_purl(comp)
    direct = [c["bom-ref"] for c in bom.get("components", []) if "bom-ref" in c]
    deps = [d for d in bom.get("dependencies", []) if d.get("ref") != root["bom-ref"]]
    bom["dependencies"] = [{"ref": root["bom-ref"], "dependsOn": direct}, *deps]
    return bom


def _ensure_purl(comp: dict[str, Any]) -> None:
    """Editable/local installs come without a purl; every component must carry one."""
    if comp.get("purl") or not comp.get("name") or not comp.get("version"):
        return
    name = re.sub(r"[-_.]+", "-", comp["name"]).lower()
    comp["purl"] = f"pkg:pypi/{name}@{comp['version']}"


def write_release_sbom(path: Path, version: str, git_sha: str, build_time: str) -> Path:
    """Generate (or reuse the cached raw BOM) and write the release SBOM at path."""
    bom = release_bom(raw_environment_bom(), version, git_sha, build_time)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(bom, indent=1))
    return path


# ------------------------------------------------------------------ fault variants


def invalid_variant() -> dict[str, Any]:
    """Valid JSON, invalid CycloneDX: wrong types and an unknown component type."""
    return {
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "version": "one",
        "metadata": {"component": {"type": "spaceship", "name": 42}},
        "components": [{"name": "left-pad", "type": "library", "purl": 17}],
    }


def other_version_variant(bom: dict[str, Any], version: str) -> dict[str, Any]:
    """The same SBOM claiming another release version."""
    out = copy.deepcopy(bom)
    comp = out["metadata"]["component"]
    old_ref = comp["bom-ref"]
    comp.update(
        version=version,
        purl=f"pkg:generic/{SERVICE_NAME}@{version}",
        **{"bom-ref": f"{SERVICE_NAME}@{version}"},
    )
    for dep in out.get("dependencies", []):
        if dep.get("ref") == old_ref:
            dep["ref"] = comp["bom-ref"]
    return out


def other_build_variant(bom: dict[str, Any]) -> dict[str, Any]:
    """The same release version, but of another build (other sha, other package pins)."""
    out = copy.deepcopy(bom)
    out["serialNumber"] = f"urn:uuid:{uuid.uuid4()}"
    comp = out["metadata"]["component"]
    sha = build_sha(out) or ""
    other = hashlib.sha1(f"other-build:{sha}".encode()).hexdigest()
    comp["properties"] = [
        {"name": p["name"], "value": other if p["name"] == BUILD_SHA_PROPERTY else p["value"]}
        for p in comp.get("properties", [])
    ]
    for c in out.get("components", []):
        if c.get("name", "").lower() in {"starlette", "uvicorn", "psycopg"} and "version" in c:
            bumped = c["version"] + ".post999"
            if "purl" in c:
                c["purl"] = c["purl"].replace(f"@{c['version']}", f"@{bumped}")
            c["version"] = bumped
    return out


def build_sha(bom: dict[str, Any]) -> str | None:
    """The build id recorded in an SBOM by :func:`release_component`."""
    comp = bom.get("metadata", {}).get("component", {})
    for prop in comp.get("properties", []):
        if prop.get("name") == BUILD_SHA_PROPERTY:
            return str(prop.get("value"))
    return None
