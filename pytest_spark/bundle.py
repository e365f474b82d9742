"""Evidence bundle: write it atomically, and verify it from nothing but its own files.

Layout and contract: ../shared/spec/EVIDENCE.md. The manifest hashes every file;
the attestation's subject is the manifest's digest (or the release artifact's),
so changing any byte is detectable and the verdict can be recomputed offline.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import tarfile
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .catalog import BY_ID
from .report import attestation, summary
from .verdict import compute
from .waivers import Waiver

FORMAT = "pytest-spark-bundle/1"
UNHASHED = frozenset({"manifest.json", "attestation.json"})


def dumps(obj: Any) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def atomic_write(path: Path, data: bytes) -> None:
    """Write via a temp file in the same folder and rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass
class RunData:
    """Everything the writer needs; assembled by the plugin at session end."""

    run_id: str
    release: str
    records: list[dict[str, Any]]
    artifacts: dict[str, dict[str, bytes]]  # check id -> file name -> bytes
    verdict: dict[str, Any]
    waivers: list[Waiver]
    policy: dict[str, Any]
    run: dict[str, Any]  # metadata: start/end, host, versions, git sha, config (redacted)
    extra_files: dict[str, Path] = field(default_factory=dict)  # junit.xml, report.html


def policy_digest(policy: Mapping[str, Any], waivers: Sequence[Waiver]) -> str:
    return sha256_bytes(dumps({"policy": policy, "waivers": [w.to_dict() for w in waivers]}))


def write_bundle(root: Path, data: RunData) -> tuple[Path, Path]:
    """Write reports/<release>/<run-id>/ and its .tar.gz (+ .sha256); returns both paths."""
    release_dir = root / (data.release or "unreleased")
    final = release_dir / data.run_id
    staging = release_dir / f".{data.run_id}.partial"
    if staging.exists():
        shutil.rmtree(staging)
    (staging / "checks").mkdir(parents=True)
    files: dict[str, bytes] = {}
    outcomes = data.verdict["outcomes"]
    for rec in data.records:
        rec = dict(rec, effective_outcome=outcomes.get(rec["id"], rec["outcome"]))
        files[f"checks/{rec['id']}.json"] = dumps(rec)
    for cid, arts in data.artifacts.items():
        for name, content in arts.items():
            files[f"artifacts/{cid}/{name}"] = content
    pdigest = policy_digest(data.policy, data.waivers)
    verdict_doc = dict(
        data.verdict,
        release=data.release,
        run_id=data.run_id,
        policy=data.policy,
        policy_digest=pdigest,
        format=FORMAT,
    )
    files["verdict.json"] = dumps(verdict_doc)
    files["waivers.json"] = dumps([w.to_dict() for w in data.waivers])
    files["summary.md"] = summary.render(verdict_doc, data.records, bundle=str(final)).encode()
    for name, src in data.extra_files.items():
        if src.is_file():
            files[name] = src.read_bytes()
    entries = []
    for rel, content in sorted(files.items()):
        target = staging / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        entries.append({"path": rel, "sha256": sha256_bytes(content), "size": len(content)})
    manifest = {"format": FORMAT, "files": entries, "run": data.run}
    manifest_bytes = dumps(manifest)
    (staging / "manifest.json").write_bytes(manifest_bytes)
    statement = attestation.statement(
        verdict_doc,
        manifest_sha256=sha256_bytes(manifest_bytes),
        artifact_digest=data.run.get("artifact_digest", ""),
        time_verified=data.run.get("end", ""),
    )
    (staging / "attestation.json").write_bytes(dumps(statement))
    if final.exists():
        shutil.rmtree(final)
    os.replace(staging, final)
    tarball = release_dir / f"{data.run_id}.tar.gz"
    write_tarball(final, tarball)
    atomic_write(
        tarball.with_name(tarball.name + ".sha256"),
        f"{sha256_file(tarball)}  {tarball.name}\n".encode(),
    )
    return final, tarball


def write_tarball(folder: Path, tarball: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=tarball.parent, prefix=f".{tarball.name}.", suffix=".tmp")
    os.close(fd)
    try:
        with tarfile.open(tmp, "w:gz", compresslevel=6) as tar:
            tar.add(folder, arcname=folder.name)
        os.replace(tmp, tarball)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# ---------------------------------------------------------------- verify


@dataclass
class VerifyResult:
    problems: list[str]
    verdict: str

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(path: Path) -> VerifyResult:
    """Re-hash every file and recompute the verdict from the bundle's own contents."""
    if path.is_file() and path.name.endswith((".tar.gz", ".tgz")):
        with tempfile.TemporaryDirectory(prefix="spark-verify-") as tmp:
            problems = _check_sidecar(path)
            folder = _extract(path, Path(tmp))
            result = verify_folder(folder)
            result.problems[:0] = problems
            return result
    if path.is_dir():
        return verify_folder(path)
    raise FileNotFoundError(f"no bundle at {path} (expected a bundle folder or .tar.gz)")


def _check_sidecar(tarball: Path) -> list[str]:
    side = tarball.with_name(tarball.name + ".sha256")
    if not side.is_file():
        return []
    expected = side.read_text().split()[0] if side.read_text().strip() else ""
    actual = sha256_file(tarball)
    return (
        [] if expected == actual else [f"{tarball.name}: sha256 {actual} != {side.name} {expected}"]
    )


def _extract(tarball: Path, into: Path) -> Path:
    with tarfile.open(tarball, "r:gz") as tar:
        tar.extractall(into, filter="data")
    dirs = [p for p in into.iterdir() if p.is_dir()]
    if len(dirs) != 1:
        raise ValueError(f"{tarball}: expected one bundle folder inside, found {len(dirs)}")
    return dirs[0]


def _load_json(folder: Path, rel: str, problems: list[str]) -> Any:
    try:
        return json.loads((folder / rel).read_bytes())
    except FileNotFoundError:
        problems.append(f"{rel}: missing")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        problems.append(f"{rel}: not valid JSON ({exc})")
    return None


def verify_folder(folder: Path) -> VerifyResult:
    problems: list[str] = []
    manifest = _load_json(folder, "manifest.json", problems)
    if not isinstance(manifest, dict):
        return VerifyResult(problems or ["manifest.json: not an object"], "unknown")
    listed = {}
    for entry in manifest.get("files", []):
        rel = entry["path"]
        listed[rel] = entry
        target = folder / rel
        if not target.is_file():
            problems.append(f"{rel}: listed in manifest but missing")
            continue
        digest = sha256_file(target)
        if digest != entry["sha256"]:
            problems.append(f"{rel}: sha256 {digest[:16]}... != manifest {entry['sha256'][:16]}...")
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        if p.is_file() and rel not in listed and rel not in UNHASHED:
            problems.append(f"{rel}: present but not in manifest")
    verdict_doc = _load_json(folder, "verdict.json", problems)
    statement = _load_json(folder, "attestation.json", problems)
    if isinstance(statement, dict):
        problems += attestation.check(
            statement, sha256_file(folder / "manifest.json"), manifest.get("run", {}), verdict_doc
        )
    if not isinstance(verdict_doc, dict):
        return VerifyResult(problems, "unknown")
    problems += _recompute(folder, manifest, verdict_doc)
    return VerifyResult(problems, verdict_doc.get("verdict", "unknown"))


def _recompute(
    folder: Path, manifest: Mapping[str, Any], verdict_doc: Mapping[str, Any]
) -> list[str]:
    problems: list[str] = []
    records = []
    for p in sorted((folder / "checks").glob("*.json")):
        rec = _load_json(folder, f"checks/{p.name}", problems)
        if not isinstance(rec, dict):
            continue
        records.append(rec)
        known = BY_ID.get(rec.get("id", ""))
        if known is None:
            problems.append(f"checks/{p.name}: unknown check id {rec.get('id')!r}")
        elif rec.get("severity") != str(known.severity):
            problems.append(
                f"checks/{p.name}: severity {rec.get('severity')!r} differs from the catalog's "
                f"{known.severity!s}"
            )
    raw_waivers = _load_json(folder, "waivers.json", problems) or []
    waivers = [Waiver(**w) for w in raw_waivers]
    policy = verdict_doc.get("policy", {})
    if policy_digest(policy, waivers) != verdict_doc.get("policy_digest"):
        problems.append("verdict.json: policy_digest does not match policy + waivers.json")
    run = manifest.get("run", {})
    try:
        day = dt.date.fromisoformat(run.get("start", "")[:10])
    except ValueError:
        problems.append("manifest.json: run.start is not a UTC timestamp")
        return problems
    again = compute(
        records,
        waivers=waivers,
        exempt=policy.get("exempt", []),
        day=day,
        interrupted=bool(run.get("interrupted")),
        not_run=run.get("not_run", []),
    )
    for key in ("verdict", "reasons", "outcomes", "counts"):
        if again[key] != verdict_doc.get(key):
            problems.append(
                f"verdict.json: {key} is {_short(verdict_doc.get(key))} but the records give "
                f"{_short(again[key])}"
            )
    for rec in records:
        eff = again["outcomes"].get(rec["id"])
        if rec.get("effective_outcome") != eff:
            problems.append(
                f"checks/{rec['id']}.json: effective_outcome {rec.get('effective_outcome')!r} "
                f"but recomputed {eff!r}"
            )
    return problems


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 120 else text[:117] + "..."
