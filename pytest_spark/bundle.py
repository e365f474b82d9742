"""Evidence bundle: write it atomically, and verify it from nothing but its own files.

Layout and contract: ../shared/spec/EVIDENCE.md. The manifest hashes every file;
the attestation's subject is the manifest's digest (or the release artifact's),
so changing any byte is detectable and the verdict can be recomputed offline.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .catalog import BY_ID
from .evidence import safe_name
from .report import attestation, summary
from .verdict import compute
from .waivers import Waiver

FORMAT = "pytest-spark-bundle/1"
UNHASHED = frozenset({"manifest.json", "attestation.json"})


def dumps(obj: Any) -> bytes:
    """Pretty JSON for the few top-level documents a reviewer opens first."""
    return (json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def dumps_compact(obj: Any) -> bytes:
    """One-line JSON (C encoder) for the many per-check records: 5x faster to write."""
    return (json.dumps(obj, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _write_new(path: Path, data: bytes) -> None:
    """Create a file in the (private) staging folder with raw os calls: thousands per bundle."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


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
    redact: Callable[[bytes], bytes] = field(default=lambda data: data)  # secrets -> ***


def policy_digest(policy: Mapping[str, Any], waivers: Sequence[Waiver]) -> str:
    return sha256_bytes(dumps({"policy": policy, "waivers": [w.to_dict() for w in waivers]}))


def write_bundle(root: Path, data: RunData) -> tuple[Path, Path]:
    """Write reports/<release>/<run-id>/ and its .tar.gz (+ .sha256); returns both paths."""
    release_dir = root / safe_name(data.release or "unreleased")
    final = release_dir / data.run_id
    staging = release_dir / f".{data.run_id}.partial"
    if staging.exists():
        shutil.rmtree(staging)
    (staging / "checks").mkdir(parents=True)
    files: dict[str, bytes] = {}
    outcomes = data.verdict["outcomes"]
    for rec in data.records:
        rec = dict(rec, effective_outcome=outcomes.get(rec["id"], rec["outcome"]))
        files[f"checks/{rec['id']}.json"] = dumps_compact(rec)
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
    files = {rel: data.redact(content) for rel, content in files.items()}  # last defence
    entries = []
    made: set[str] = set()
    for rel, content in sorted(files.items()):
        parent = rel.rpartition("/")[0]
        if parent and parent not in made:
            (staging / parent).mkdir(parents=True, exist_ok=True)
            made.add(parent)
        _write_new(staging / rel, content)
        entries.append({"path": rel, "sha256": sha256_bytes(content), "size": len(content)})
    manifest = {"format": FORMAT, "files": entries, "run": data.run}
    manifest_bytes = dumps(manifest)
    (staging / "manifest.json").write_bytes(manifest_bytes)
    statement = attestation.statement(
        verdict_doc,
        manifest_sha256=sha256_bytes(manifest_bytes),
        artifact_digest=data.run.get("artifact_digest", ""),
        time_verified=data.run.get("end", ""),
        tool_version=data.run.get("tool", {}).get("pytest-spark-deploy", ""),
    )
    files["manifest.json"] = manifest_bytes
    files["attestation.json"] = dumps(statement)
    (staging / "attestation.json").write_bytes(files["attestation.json"])
    if final.exists():
        shutil.rmtree(final)
    os.replace(staging, final)
    tarball = release_dir / f"{data.run_id}.tar.gz"
    write_tarball(files, data.run_id, tarball)
    atomic_write(
        tarball.with_name(tarball.name + ".sha256"),
        f"{sha256_file(tarball)}  {tarball.name}\n".encode(),
    )
    return final, tarball


def write_tarball(files: Mapping[str, bytes], top: str, tarball: Path) -> None:
    """Tar the bundle from memory (no re-reading of thousands of files), atomically."""
    fd, tmp = tempfile.mkstemp(dir=tarball.parent, prefix=f".{tarball.name}.", suffix=".tmp")
    os.close(fd)
    mtime = int(time.time())
    try:
        with tarfile.open(tmp, "w:gz", compresslevel=6, format=tarfile.GNU_FORMAT) as tar:
            for rel in sorted(files):
                info = tarfile.TarInfo(f"{top}/{rel}")
                info.size, info.mtime, info.mode = len(files[rel]), mtime, 0o644
                tar.addfile(info, io.BytesIO(files[rel]))
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
        problems = _check_sidecar(path)
        result = verify_files(_read_tarball(path))
        result.problems[:0] = problems
        return result
    if path.is_dir():
        return verify_files(_read_folder(path))
    raise FileNotFoundError(f"no bundle at {path} (expected a bundle folder or .tar.gz)")


def _read_folder(folder: Path) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for dirpath, _dirs, names in os.walk(folder):
        rel_dir = os.path.relpath(dirpath, folder)
        for name in names:
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            files[rel.replace(os.sep, "/")] = _read(os.path.join(dirpath, name))
    return files


def _read(path: str) -> bytes:
    """Whole-file read with raw os calls: verify reads thousands of small files."""
    fd = os.open(path, os.O_RDONLY)
    try:
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _read_tarball(tarball: Path) -> dict[str, bytes]:
    """Read members in memory; links, devices and paths escaping the top folder are refused."""
    files: dict[str, bytes] = {}
    tops = set()
    try:
        with tarfile.open(tarball, "r:gz") as tar:
            for member in tar:
                top, _, rel = member.name.partition("/")
                tops.add(top)
                if member.isdir():
                    continue
                if not member.isfile() or not rel or ".." in rel.split("/") or rel[0] == "/":
                    raise ValueError(f"{tarball}: unexpected member {member.name!r}")
                extracted = tar.extractfile(member)
                files[rel] = extracted.read() if extracted else b""
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise ValueError(f"{tarball}: not a readable .tar.gz ({exc})") from None
    if len(tops) != 1:
        raise ValueError(f"{tarball}: expected one bundle folder inside, found {len(tops)}")
    return files


def _check_sidecar(tarball: Path) -> list[str]:
    side = tarball.with_name(tarball.name + ".sha256")
    if not side.is_file():
        return []
    text = side.read_text().split()
    expected = text[0] if text else ""
    actual = sha256_file(tarball)
    if expected == actual:
        return []
    return [f"{tarball.name}: sha256 {actual} != {side.name} {expected}"]


def _load_json(files: Mapping[str, bytes], rel: str, problems: list[str]) -> Any:
    if rel not in files:
        problems.append(f"{rel}: missing")
        return None
    try:
        return json.loads(files[rel])
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        problems.append(f"{rel}: not valid JSON ({exc})")
    return None


def verify_files(files: Mapping[str, bytes]) -> VerifyResult:
    """Verify a bundle given as {relative path: content}; malformed content is a problem."""
    try:
        return _verify_files(files)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        return VerifyResult([f"malformed bundle: {type(exc).__name__}: {exc}"], "unknown")


def _verify_files(files: Mapping[str, bytes]) -> VerifyResult:
    problems: list[str] = []
    manifest = _load_json(files, "manifest.json", problems)
    if not isinstance(manifest, dict):
        return VerifyResult(problems or ["manifest.json: not an object"], "unknown")
    listed = set()
    for entry in manifest.get("files", []):
        rel = entry["path"]
        listed.add(rel)
        if rel not in files:
            problems.append(f"{rel}: listed in manifest but missing")
            continue
        digest = sha256_bytes(files[rel])
        if digest != entry["sha256"]:
            problems.append(f"{rel}: sha256 {digest[:16]}... != manifest {entry['sha256'][:16]}...")
    for rel in sorted(set(files) - listed - UNHASHED):
        problems.append(f"{rel}: present but not in manifest")
    verdict_doc = _load_json(files, "verdict.json", problems)
    statement = _load_json(files, "attestation.json", problems)
    if "attestation.json" in files and not isinstance(statement, dict):
        problems.append("attestation.json: not an in-toto Statement (not a JSON object)")
    elif isinstance(statement, dict):
        problems += attestation.check(
            statement, sha256_bytes(files["manifest.json"]), manifest.get("run", {}), verdict_doc
        )
    if not isinstance(verdict_doc, dict):
        return VerifyResult(problems, "unknown")
    problems += _recompute(files, manifest, verdict_doc)
    return VerifyResult(problems, verdict_doc.get("verdict", "unknown"))


def _recompute(
    files: Mapping[str, bytes], manifest: Mapping[str, Any], verdict_doc: Mapping[str, Any]
) -> list[str]:
    problems: list[str] = []
    records = []
    for rel in sorted(r for r in files if r.startswith("checks/") and r.endswith(".json")):
        rec = _load_json(files, rel, problems)
        if not isinstance(rec, dict):
            continue
        records.append(rec)
        known = BY_ID.get(rec.get("id", ""))
        if known is None:
            problems.append(f"{rel}: unknown check id {rec.get('id')!r}")
        elif rec.get("severity") != str(known.severity):
            problems.append(
                f"{rel}: severity {rec.get('severity')!r} differs from the catalog's "
                f"{known.severity!s}"
            )
    raw_waivers = _load_json(files, "waivers.json", problems) or []
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
