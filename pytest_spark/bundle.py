"""Evidence bundle: write it atomically, and verify it from nothing but its own files.

Layout and contract: ../shared/spec/EVIDENCE.md. The manifest hashes every file;
the attestation's subject is the manifest's digest (or the release artifact's),
so changing any byte is detectable and the verdict can be recomputed offline.
Integrity alone cannot stop a forger who re-derives everything with this
module's own helpers: with a configured Ed25519 key the attestation is a DSSE
envelope (signing.py) and ``verify(path, key=PUB)`` proves who produced it.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import hashlib
import io
import json
import os
import shutil
import stat
import tarfile
import tempfile
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import signing
from .catalog import BY_ID
from .evidence import safe_name
from .releases import same_release
from .report import attestation, summary
from .verdict import compute
from .waivers import Waiver

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

FORMAT = "pytest-spark-bundle/2"  # 2: signed DSSE attestation binding release, run, scope
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
    signing_key: Ed25519PrivateKey | None = None  # signs attestation.json as a DSSE envelope
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
        verdict_sha256=sha256_bytes(files["verdict.json"]),
        artifact_digest=data.run.get("artifact_digest", ""),
        time_verified=data.run.get("end", ""),
        tool_version=data.run.get("tool", {}).get("pytest-spark-deploy", ""),
    )
    files["manifest.json"] = manifest_bytes
    payload = dumps(statement)
    if data.signing_key is not None:
        files["attestation.json"] = dumps(signing.sign(payload, data.signing_key))
    else:
        files["attestation.json"] = payload
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
#
# verify reads input a forger controls, so it trusts nothing about its shape:
# only regular files (a FIFO would block, a symlink could point at /dev/zero),
# no duplicate tar members or JSON keys (a reader that keeps the first and one
# that keeps the last would see different verdicts), a size cap per member and
# in total, and one deadline for the whole verification. Files are hashed as
# they stream; only the JSON documents verify parses are kept in memory.

MIB = 1 << 20
CHUNK = MIB


@dataclass(frozen=True)
class Limits:
    """Caps for one verification (the defaults are far above any real bundle's sizes)."""

    member_bytes: int = 64 * MIB
    total_bytes: int = 512 * MIB
    json_bytes: int = 16 * MIB  # a JSON document verify parses is kept in memory
    members: int = 100_000
    deadline_s: float = 120.0


@dataclass(frozen=True)
class Member:
    """One bundle file as verify saw it: size, digest and, for JSON documents, the bytes."""

    size: int
    sha256: str
    data: bytes | None = None


class Refused(ValueError):
    """The bundle cannot be read safely (too large, too slow); verification stops here."""


@dataclass
class VerifyResult:
    problems: list[str]
    verdict: str
    signature: str = "unsigned"  # "verified" (by --key), "unchecked" (signed, no key), "unsigned"
    keyids: list[str] = field(default_factory=list)
    release: str = ""
    run_id: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def authenticated(self) -> bool:
        """Intact and signed by the key the verifier trusts: proves who produced it."""
        return self.ok and self.signature == "verified"

    @property
    def trust(self) -> str:
        if self.signature == "verified":
            return f"signed by {self.keyids[0][:16]}... (authenticated)"
        if self.signature == "unchecked":
            return "signed, signature not checked (no --key): integrity only"
        return "unsigned: integrity only"


class _Budget:
    """The whole verification's deadline and byte budget, charged as data streams in."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.until = time.monotonic() + limits.deadline_s
        self.total = 0
        self.count = 0

    def tick(self) -> None:
        if time.monotonic() > self.until:
            raise Refused(f"verification exceeded its deadline of {self.limits.deadline_s:g} s")

    def member(self, rel: str, size: int) -> None:
        self.tick()
        self.count += 1
        if self.count > self.limits.members:
            raise Refused(f"more than {self.limits.members} files")
        if size > self.limits.member_bytes:
            raise Refused(f"{rel}: {size} bytes exceeds the {_mib(self.limits.member_bytes)} cap")
        self.charge(size)

    def charge(self, n: int) -> None:
        self.total += n
        if self.total > self.limits.total_bytes:
            raise Refused(f"bundle exceeds the {_mib(self.limits.total_bytes)} total cap")


def _mib(n: int) -> str:
    return f"{n / MIB:g} MiB"


def _stream(rel: str, read: Any, declared: int, budget: _Budget) -> Member:
    """Hash a member chunk by chunk; never more than its declared size (it may grow)."""
    h = hashlib.sha256()
    keep = rel.endswith(".json") and declared <= budget.limits.json_bytes
    chunks: list[bytes] = []
    got = 0
    while chunk := read(CHUNK):
        budget.tick()
        got += len(chunk)
        if got > declared:
            raise Refused(f"{rel}: grew past its size {declared} while being read")
        h.update(chunk)
        if keep:
            chunks.append(chunk)
    if got != declared:
        raise Refused(f"{rel}: {got} bytes read but {declared} declared")
    return Member(declared, h.hexdigest(), b"".join(chunks) if keep else None)


def verify(
    path: Path,
    *,
    key: Any = None,
    require_signature: bool = False,
    release: str | None = None,
    limits: Limits | None = None,
) -> VerifyResult:
    """Re-hash every file, recompute the verdict and, with ``key`` (an Ed25519 public key
    or a PEM path), prove the attestation was signed by it; see EVIDENCE.md "Verify".

    Raises ValueError/OSError only when ``path`` is not a readable bundle at all.
    """
    return read_verified(
        path, key=key, require_signature=require_signature, release=release, limits=limits
    )[0]


def read_verified(
    path: Path,
    *,
    key: Any = None,
    require_signature: bool = False,
    release: str | None = None,
    limits: Limits | None = None,
) -> tuple[VerifyResult, dict[str, bytes]]:
    """:func:`verify`, plus the JSON documents exactly as they were verified
    (``{"verdict.json": b"...", "checks/PF-01.json": b"...", ...}``), so a reader such
    as ``combine`` uses the very bytes whose digests were checked, with no second read.
    The documents are empty when verification failed."""
    path = Path(path)
    if key is not None and not hasattr(key, "verify"):
        key = signing.load_public_key(Path(key))
    limits = limits or Limits()
    budget = _Budget(limits)
    problems: list[str] = []
    if path.name.endswith((".tar.gz", ".tgz")) and path.is_file():
        name = path.name.removesuffix(".tar.gz").removesuffix(".tgz")
        if path.stat().st_size > limits.total_bytes:
            return VerifyResult([f"refused: {path.name} exceeds the total cap"], "unknown"), {}
        problems += _check_sidecar(path, budget)
        try:
            members, read_problems = _read_tarball(path, budget, name)
        except Refused as exc:
            return VerifyResult([*problems, f"refused: {exc}"], "unknown"), {}
    elif path.is_dir():
        if not (path / "manifest.json").is_file():  # never walk /etc or / as a "bundle"
            raise FileNotFoundError(f"not a bundle: {path} has no manifest.json")
        name = Path(os.path.abspath(path)).name  # the name asked for, even via a symlink
        try:
            members, read_problems = _read_folder(path, budget)
        except Refused as exc:
            return VerifyResult([f"refused: {exc}"], "unknown"), {}
    else:
        raise FileNotFoundError(f"no bundle at {path} (expected a bundle folder or .tar.gz)")
    if read_problems:  # ambiguous content: judging a verdict from it would be a guess
        return VerifyResult(problems + read_problems, "unknown"), {}
    result = verify_members(
        members, name=name, key=key, require_signature=require_signature, release=release
    )
    result.problems[:0] = problems
    if not result.ok:
        return result, {}
    return result, {rel: m.data for rel, m in members.items() if m.data is not None}


def _read_folder(folder: Path, budget: _Budget) -> tuple[dict[str, Member], list[str]]:
    """Regular files only: symlinks, FIFOs, sockets and devices are named, never opened."""
    files: dict[str, Member] = {}
    problems: list[str] = []

    def walk_error(exc: OSError) -> None:
        problems.append(f"{exc.filename}: cannot read ({exc.strerror})")

    for dirpath, dirs, names in os.walk(folder, onerror=walk_error):
        rel_dir = os.path.relpath(dirpath, folder)
        for name in sorted([*dirs, *names]):
            full = os.path.join(dirpath, name)
            rel = (name if rel_dir == "." else f"{rel_dir}/{name}").replace(os.sep, "/")
            st = os.lstat(full)
            if stat.S_ISDIR(st.st_mode):
                continue
            if not stat.S_ISREG(st.st_mode):
                problems.append(f"{rel}: not a regular file ({_kind(st.st_mode)}); not read")
                continue
            member = _read_regular(full, rel, budget)
            if isinstance(member, str):
                problems.append(member)
            else:
                files[rel] = member
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(dirpath, d))]
    return files, problems


def _kind(mode: int) -> str:
    for test, text in (
        (stat.S_ISLNK, "symlink"),
        (stat.S_ISFIFO, "FIFO"),
        (stat.S_ISSOCK, "socket"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
    ):
        if test(mode):
            return text
    return f"mode {mode:o}"


def _read_regular(full: str, rel: str, budget: _Budget) -> Member | str:
    # O_NOFOLLOW/O_NONBLOCK: a file swapped for a symlink or FIFO after lstat still never blocks
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(full, flags)
    except OSError as exc:
        return f"{rel}: cannot open ({exc.strerror})"
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return f"{rel}: not a regular file ({_kind(st.st_mode)}); not read"
        budget.member(rel, st.st_size)
        return _stream(rel, lambda n: os.read(fd, n), st.st_size, budget)
    finally:
        os.close(fd)


class _Guard(io.RawIOBase):
    """The decompressed tar stream, with the deadline and a byte cap (a gzip bomb stops)."""

    def __init__(self, raw: Any, budget: _Budget) -> None:
        self.raw, self.budget, self.seen = raw, budget, 0
        self.cap = budget.limits.total_bytes + budget.limits.members * 1024 + 16 * MIB
        self.data_end = 0  # offset just past the last non-zero byte

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        self.budget.tick()
        data = self.raw.read(CHUNK if n < 0 or n > CHUNK else n)
        if data.strip(b"\0"):
            self.data_end = self.seen + len(data.rstrip(b"\0"))
        self.seen += len(data)
        if self.seen > self.cap:
            raise Refused(f"decompressed tarball exceeds {_mib(self.cap)}")
        return data

    def drain(self) -> None:
        while self.read(CHUNK):
            pass


class _CappedInfo(tarfile.TarInfo):
    """tarfile reads a pax/GNU long-name header's data whole into memory: cap it first."""

    META_TYPES = (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE,
                  tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK)  # fmt: skip
    META_CAP = MIB

    def _proc_member(self, tarfile: Any) -> Any:  # the one hook before the data is read
        if self.type in self.META_TYPES and self.size > self.META_CAP:
            raise Refused(f"tar header extension of {self.size} bytes (cap {_mib(self.META_CAP)})")
        return super()._proc_member(tarfile)  # type: ignore[misc]


def _read_tarball(tarball: Path, budget: _Budget, name: str) -> tuple[dict[str, Member], list[str]]:
    """Read members in one pass; links, devices, duplicates and escaping paths are refused."""
    files: dict[str, Member] = {}
    problems: list[str] = []
    tops: set[str] = set()
    fd = os.open(tarball, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError(f"{tarball}: not a regular file")
        with (
            os.fdopen(os.dup(fd), "rb") as raw,
            gzip.GzipFile(fileobj=raw, mode="rb") as gz,
            tarfile.open(fileobj=(guard := _Guard(gz, budget)), mode="r|",
                         tarinfo=_CappedInfo) as tar,
        ):  # fmt: skip
            for member in tar:
                top, _, rel = member.name.partition("/")
                tops.add(top)
                rel = rel.rstrip("/") if member.isdir() else rel
                parts = rel.split("/")
                if rel and ("" in parts or "." in parts or ".." in parts):
                    problems.append(f"unexpected member {member.name!r} (not a plain path)")
                    continue
                if member.isdir():
                    continue
                if not member.isfile() or not rel:
                    problems.append(f"unexpected member {member.name!r} (not a regular file)")
                    continue
                budget.member(rel, member.size)
                extracted = tar.extractfile(member)
                read = extracted.read if extracted else (lambda n: b"")
                got = _stream(rel, read, member.size, budget)
                if rel in files:
                    problems.append(f"{rel}: duplicate tar member (a reader could take either)")
                    continue
                files[rel] = got
            guard.drain()
            if guard.data_end > tar.offset:  # `tar --ignore-zeros` would read on
                problems.append("data after the tar end-of-archive marker")
    except gzip.BadGzipFile:  # its message quotes the file's first bytes: not echoed
        raise ValueError(f"{tarball}: not a readable .tar.gz (not gzip data)") from None
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise ValueError(f"{tarball}: not a readable .tar.gz ({exc})") from None
    finally:
        os.close(fd)
    if tops != {name}:
        found = ", ".join(repr(t) for t in sorted(tops)) or "nothing"
        problems.append(f"{tarball.name}: must hold one folder {name!r}, holds {found}")
    return files, problems


def _check_sidecar(tarball: Path, budget: _Budget) -> list[str]:
    """<tarball>.sha256 must exist, name the tarball and match its digest."""
    side = tarball.with_name(tarball.name + ".sha256")
    if not side.is_file():
        return [f"{side.name}: missing (every tarball is written with its .sha256)"]
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(side, flags)
    except OSError as exc:
        return [f"{side.name}: cannot open ({exc.strerror})"]
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > 4096:
            return [f"{side.name}: not a small regular file"]
        text = os.read(fd, 4096).decode("utf-8", "replace").split()
    finally:
        os.close(fd)
    expected = text[0] if text else ""
    problems = []
    if len(text) != 2 or text[1].lstrip("*") != tarball.name:
        problems.append(f"{side.name}: does not name {tarball.name}")
    h = hashlib.sha256()
    with tarball.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            budget.tick()
            h.update(chunk)
    actual = h.hexdigest()
    if expected != actual:
        problems.append(f"{tarball.name}: sha256 {actual} != {side.name} {expected}")
    return problems


class DuplicateKeyError(ValueError):
    pass


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise DuplicateKeyError(f"duplicate key {k!r}")
        out[k] = v
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (RFC 8259)")


def strict_json(data: bytes) -> Any:
    """RFC 8259 JSON in UTF-8 with unique keys (RFC 8259 sec. 4: names SHOULD be unique;
    parsers disagree on which duplicate wins, so a duplicate is a forgery vector)."""
    return json.loads(data.decode("utf-8"), object_pairs_hook=_unique, parse_constant=_no_constant)


def _load_json(files: Mapping[str, Member], rel: str, problems: list[str]) -> Any:
    if rel not in files:
        problems.append(f"{rel}: missing")
        return None
    data = files[rel].data
    if data is None:
        problems.append(f"{rel}: too large to parse")
        return None
    try:
        return strict_json(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        problems.append(f"{rel}: not valid JSON ({exc})")
    return None


def verify_files(files: Mapping[str, bytes], **kwargs: Any) -> VerifyResult:
    """Verify a bundle given as {relative path: content} (see verify_members)."""
    members = {
        rel: Member(len(data), sha256_bytes(data), data if rel.endswith(".json") else None)
        for rel, data in files.items()
    }
    return verify_members(members, **kwargs)


def verify_members(
    files: Mapping[str, Member],
    *,
    name: str | None = None,
    key: Any = None,
    require_signature: bool = False,
    release: str | None = None,
) -> VerifyResult:
    """Verify read members; malformed content is a problem, never a crash."""
    try:
        return _verify_files(files, name, key, require_signature, release)
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
        return VerifyResult([f"malformed bundle: {type(exc).__name__}: {exc}"], "unknown")


def _verify_files(
    files: Mapping[str, Member],
    name: str | None,
    key: Any,
    require_signature: bool,
    release: str | None,
) -> VerifyResult:
    problems: list[str] = []
    manifest = _load_json(files, "manifest.json", problems)
    if not isinstance(manifest, dict):
        return VerifyResult(problems or ["manifest.json: not an object"], "unknown")
    if manifest.get("format") != FORMAT:
        problems.append(
            f"manifest.json: format {manifest.get('format')!r}; this pytest-spark verifies "
            f"{FORMAT!r} (re-run the suite to get a bundle of this format)"
        )
    listed = set()
    for entry in manifest.get("files", []):
        rel = entry["path"]
        if rel in listed:
            problems.append(f"{rel}: listed twice in manifest")
        listed.add(rel)
        if rel not in files:
            problems.append(f"{rel}: listed in manifest but missing")
            continue
        digest = files[rel].sha256
        if digest != entry["sha256"]:
            problems.append(f"{rel}: sha256 {digest[:16]}... != manifest {entry['sha256'][:16]}...")
    for rel in sorted(set(files) - listed - UNHASHED):
        problems.append(f"{rel}: present but not in manifest")
    for rel in sorted(UNHASHED & listed):
        problems.append(f"{rel}: must not be listed in the manifest")
    verdict_doc = _load_json(files, "verdict.json", problems)
    result = VerifyResult(problems, "unknown")
    statement = _open_attestation(files, key, result)
    if isinstance(statement, dict):
        problems += attestation.check(
            statement,
            files["manifest.json"].sha256,
            files["verdict.json"].sha256 if "verdict.json" in files else "",
            manifest.get("run", {}),
            verdict_doc,
        )
    if key is not None and result.signature != "verified":
        problems.append("attestation.json: not signed by the given key (--key): not authentic")
    elif require_signature and result.signature != "verified":
        problems.append("attestation.json: a verified signature is required (--key PUB)")
    if not isinstance(verdict_doc, dict):
        return result
    result.verdict = verdict_doc.get("verdict", "unknown")
    result.release, result.run_id = verdict_doc.get("release", ""), verdict_doc.get("run_id", "")
    problems += _bindings(manifest, verdict_doc, name, release)
    problems += _recompute(files, manifest, verdict_doc)
    return result


def _open_attestation(files: Mapping[str, Member], key: Any, result: VerifyResult) -> Any:
    """The in-toto Statement: from a DSSE envelope (signature checked with ``key``) or plain."""
    doc = _load_json(files, "attestation.json", result.problems)
    if "attestation.json" in files and not isinstance(doc, dict):
        result.problems.append("attestation.json: not an in-toto Statement (not a JSON object)")
        return None
    if isinstance(doc, dict) and files["attestation.json"].data != dumps(_canonical(doc)):
        # the one file no digest covers: one byte layout (and one base64 alphabet, though
        # DSSE readers accept two), so no byte of it is free to change
        result.problems.append("attestation.json: not in the canonical layout verify writes")
    if not signing.is_envelope(doc):
        return doc
    try:
        payload, result.keyids = signing.open_envelope(doc, key)
        statement = strict_json(payload)
    except signing.SigningError as exc:
        result.problems.append(f"attestation.json: {exc}")
        return None
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        result.problems.append(f"attestation.json: DSSE payload is not valid JSON ({exc})")
        return None
    result.signature = "verified" if key is not None else "unchecked"
    if not isinstance(statement, dict):
        result.problems.append("attestation.json: DSSE payload is not an in-toto Statement")
        return None
    return statement


def _canonical(doc: dict[str, Any]) -> Any:
    """The attestation as write_bundle lays it out: envelopes in padded standard base64."""
    if not signing.is_envelope(doc):
        return doc
    try:
        out = dict(doc, payload=base64.b64encode(signing.b64decode(doc.get("payload"), "")))
        out["payload"] = out["payload"].decode()
        if isinstance(doc.get("signatures"), list):
            out["signatures"] = [
                dict(s, sig=base64.b64encode(signing.b64decode(s.get("sig"), "")).decode())
                if isinstance(s, dict)
                else s
                for s in doc["signatures"]
            ]
    except signing.SigningError:
        return doc  # open_envelope names what is wrong with it
    return out


def _bindings(
    manifest: Mapping[str, Any],
    verdict_doc: Mapping[str, Any],
    name: str | None,
    release: str | None,
) -> list[str]:
    """The verdict belongs to this bundle: its name, its run metadata, the release asked for."""
    problems = []
    run = manifest.get("run", {})
    run_id, rel_ = verdict_doc.get("run_id"), verdict_doc.get("release")
    if name is not None and name != run_id:
        problems.append(f"bundle is named {name!r} but holds run {run_id!r}")
    if run.get("run_id") != run_id or run.get("release") != rel_:
        problems.append(
            f"manifest.json: run {run.get('run_id')!r}/{run.get('release')!r} differs from "
            f"verdict.json {run_id!r}/{rel_!r}"
        )
    if release is not None and not same_release(str(rel_), release):  # 1.4.0 is v1.4.0
        problems.append(f"bundle is for release {rel_!r}, not {release!r}")
    config_policy = run.get("config", {}).get("policy", {})
    for k, v in (verdict_doc.get("policy") or {}).items():
        if k in config_policy and config_policy[k] != v:
            problems.append(
                f"verdict.json: policy.{k} {_short(v)} differs from the run's config "
                f"{_short(config_policy[k])}"
            )
    return problems


def _recompute(
    files: Mapping[str, Member], manifest: Mapping[str, Any], verdict_doc: Mapping[str, Any]
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
        elif rel != f"checks/{rec['id']}.json":
            problems.append(f"{rel}: holds the record of {rec['id']}")
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
        release=str(run.get("release") or ""),
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
