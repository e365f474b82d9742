"""A forger's toolkit built from the package's own helpers, and a bundle factory.

The attacker in issue 8 section 4 has everything but the private key: they can
edit any file, recompute the verdict with ``verdict.compute``, re-hash the
manifest and rebuild the attestation with ``attestation.statement`` (and sign it
with a key of their own). ``reseal`` does exactly that, so every tampering in
the tests can be applied both naively and "fixed up".
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json
import tarfile
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pytest_spark import bundle, catalog, signing
from pytest_spark.evidence import build_record
from pytest_spark.report import attestation
from pytest_spark.verdict import compute
from pytest_spark.waivers import Waiver

RELEASE = "v1.4.0"
START = dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.UTC).timestamp()


def make_bundle(
    root: Path,
    run_id: str,
    outcomes: dict[str, str],
    key: Ed25519PrivateKey | None,
    *,
    exempt: tuple[str, ...] = (),
    scope: dict[str, Any] | None = None,
) -> tuple[Path, Path]:
    """A bundle as session.finish writes it, from check id -> raw outcome."""
    records = []
    for i, (cid, outcome) in enumerate(sorted(outcomes.items())):
        test = {
            "nodeid": f"checks/test_x.py::test_{cid}",
            "outcome": outcome,
            "start": START + i,
            "stop": START + i + 0.5,
            "message": "" if outcome == "passed" else f"{cid} is {outcome}",
            "skip_kind": "policy" if outcome == "skipped" else "",
            "observations": [{"name": "seen", "data": [i, outcome]}],
            "artifacts": {"raw.txt": b"x"},
        }
        records.append(build_record(catalog.get(cid), [test]))
    policy = {
        "exempt": list(exempt),
        "allow_writes": False,
        "allow_disruptive": False,
        "production": False,
    }
    verdict = compute(records, waivers=[], exempt=exempt, day=dt.date(2026, 11, 30))
    if scope is not None:
        verdict["scope"] = scope
    run = {
        "run_id": run_id,
        "release": RELEASE,
        "start": "2026-11-30T08:00:00Z",
        "end": "2026-11-30T08:01:00Z",
        "host": "ci-runner-1",
        "tool": {"pytest-spark-deploy": "0.1.0"},
        "suite_git_sha": "a" * 40,
        "argv": ["-m", "preflight"],
        "config": {"policy": dict(policy, timeout_s=5.0)},
        "artifact_digest": "",
        "interrupted": False,
        "not_run": [],
    }
    data = bundle.RunData(
        run_id=run_id,
        release=RELEASE,
        records=records,
        artifacts={cid: {"raw.txt": f"raw capture of {cid}".encode()} for cid in outcomes},
        verdict=verdict,
        waivers=[],
        policy=policy,
        run=run,
        signing_key=key,
    )
    return bundle.write_bundle(root, data)


def read_json(folder: Path, rel: str) -> Any:
    return json.loads((folder / rel).read_text())


def reseal(folder: Path, key: Ed25519PrivateKey | None = None) -> None:
    """Re-hash the manifest and rebuild the attestation from the folder's current files."""
    manifest = read_json(folder, "manifest.json")
    entries = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()):
        rel = path.relative_to(folder).as_posix()
        if rel in bundle.UNHASHED:
            continue
        data = path.read_bytes()
        entries.append({"path": rel, "sha256": bundle.sha256_bytes(data), "size": len(data)})
    manifest["files"] = entries
    manifest_bytes = bundle.dumps(manifest)
    (folder / "manifest.json").write_bytes(manifest_bytes)
    verdict_bytes = (folder / "verdict.json").read_bytes()
    run = manifest["run"]
    statement = attestation.statement(
        json.loads(verdict_bytes),
        manifest_sha256=bundle.sha256_bytes(manifest_bytes),
        verdict_sha256=bundle.sha256_bytes(verdict_bytes),
        artifact_digest=run.get("artifact_digest", ""),
        time_verified=run.get("end", ""),
        tool_version=run.get("tool", {}).get("pytest-spark-deploy", ""),
    )
    payload = bundle.dumps(statement)
    body = payload if key is None else bundle.dumps(signing.sign(payload, key))
    (folder / "attestation.json").write_bytes(body)


def recompute_verdict(folder: Path) -> None:
    """What a forger does after editing records or policy: derive a consistent verdict.json."""
    verdict = read_json(folder, "verdict.json")
    records = [read_json(folder, p.relative_to(folder).as_posix()) for p in folder.glob("checks/*")]
    waivers = [Waiver(**w) for w in read_json(folder, "waivers.json")]
    policy = verdict["policy"]
    day = dt.date(2026, 11, 30)
    again = compute(records, waivers=waivers, exempt=policy["exempt"], day=day)
    verdict.update(again)
    verdict["policy_digest"] = bundle.policy_digest(policy, waivers)
    for rec in records:
        rec["effective_outcome"] = again["outcomes"][rec["id"]]
        (folder / f"checks/{rec['id']}.json").write_bytes(bundle.dumps_compact(rec))
    (folder / "verdict.json").write_bytes(bundle.dumps(verdict))


def retar(folder: Path, tarball: Path, extra: list[tuple[str, bytes]] = ()) -> None:
    """Write ``tarball`` (+ .sha256) from ``folder``, with extra members appended as given."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        members = [
            (f"{tarball.name.removesuffix('.tar.gz')}/{p.relative_to(folder).as_posix()}",
             p.read_bytes())
            for p in sorted(folder.rglob("*")) if p.is_file()
        ]  # fmt: skip
        for name, data in [*members, *extra]:
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    tarball.write_bytes(gzip.compress(buf.getvalue(), compresslevel=1))
    seal_tarball(tarball)


def seal_tarball(tarball: Path) -> None:
    side = tarball.with_name(tarball.name + ".sha256")
    side.write_text(f"{bundle.sha256_file(tarball)}  {tarball.name}\n")
