"""Issue 8 section 4: every tampering is rejected with the trusted key, and without a key
verify either rejects it or says plainly that it proved integrity only.

Each case names what it does; the first eleven are the observed inputs of the
issue (8 of 28 tamperings were accepted), the rest are siblings of the same
kinds: forged content, forged signatures, wrong names, hostile JSON, hostile
archives and hostile file systems.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import os
import shutil
import tarfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from _forge import make_bundle, read_json, recompute_verdict, reseal, retar, seal_tarball
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_spark import bundle, signing
from pytest_spark.bundle import Limits, verify

RUN_B = "20261130T080000Z-bbbbbb"  # this run: NO-GO (BS-02 failed, PF-05 skipped by policy)
RUN_A = "20261130T070000Z-aaaaaa"  # an earlier run of the same release: GO
OUTCOMES_B = {"BS-01": "passed", "BS-02": "failed", "PF-05": "skipped", "RT-04": "passed"}
OUTCOMES_A = {"BS-01": "passed", "BS-02": "passed", "PF-05": "passed", "RT-04": "passed"}
SCOPE = {"selection": "-m preflight", "selected": sorted(OUTCOMES_B), "not_selected": []}
MIB = 1 << 20


@dataclass
class Ctx:
    root: Path  # reports/
    trusted: Ed25519PrivateKey  # the CI's key; tests hold the private half, forgers never do
    attacker: Ed25519PrivateKey

    @property
    def b(self) -> Path:
        return self.root / "v1.4.0" / RUN_B

    @property
    def a(self) -> Path:
        return self.root / "v1.4.0" / RUN_A

    def tarball(self, folder: Path) -> Path:
        return folder.with_name(folder.name + ".tar.gz")


@pytest.fixture
def ctx(tmp_path: Path) -> Ctx:
    c = Ctx(tmp_path / "reports", Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate())
    make_bundle(c.root, RUN_B, OUTCOMES_B, c.trusted, scope=SCOPE)
    make_bundle(c.root, RUN_A, OUTCOMES_A, c.trusted, scope=SCOPE)
    return c


def judge(path: Path, key=None, **kwargs) -> str:
    """rejected | authentic (verified with the key) | unchecked (signed, no key) | unsigned."""
    try:
        result = verify(path, key=key, **kwargs)
    except (ValueError, OSError):
        return "rejected"
    if not result.ok:
        return "rejected"
    return {"verified": "authentic", "unchecked": "unchecked", "unsigned": "unsigned"}[
        result.signature
    ]


def edit_json(path: Path, change: Callable[[dict], None]) -> None:
    doc = json.loads(path.read_text())
    change(doc)
    path.write_bytes(bundle.dumps(doc))


# ---------------------------------------------------------------- tamperings


def full_forgery(c: Ctx, key=None) -> Path:
    """Records -> passed, verdict recomputed, manifest re-hashed, attestation rebuilt."""
    for rec in c.b.glob("checks/*.json"):
        edit_json(rec, lambda r: r.update(outcome="passed", message="", skip_kind=""))
    recompute_verdict(c.b)
    reseal(c.b, key)
    return c.b


def full_forgery_signed_by_attacker(c: Ctx) -> Path:
    return full_forgery(c, c.attacker)


def full_forgery_attacker_claims_trusted_keyid(c: Ctx) -> Path:
    full_forgery(c, c.attacker)
    edit_json(
        c.b / "attestation.json",
        lambda e: e["signatures"][0].update(keyid=signing.keyid(c.trusted.public_key())),
    )
    return c.b


def policy_exempt_edit(c: Ctx) -> Path:
    """PF-05's policy skip made harmless: exempt in verdict.json and run config, all re-derived."""
    edit_json(c.b / "verdict.json", lambda v: v["policy"]["exempt"].append("PF-05"))
    edit_json(
        c.b / "manifest.json", lambda m: m["run"]["config"]["policy"]["exempt"].append("PF-05")
    )
    for rec in c.b.glob("checks/BS-02.json"):
        edit_json(rec, lambda r: r.update(outcome="passed", message=""))
    recompute_verdict(c.b)
    reseal(c.b)
    return c.b


def policy_exempt_edit_verdict_only(c: Ctx) -> Path:
    edit_json(c.b / "verdict.json", lambda v: v["policy"]["exempt"].append("PF-05"))
    recompute_verdict(c.b)
    reseal(c.b)
    return c.b


def other_runs_go_bundle_renamed(c: Ctx) -> Path:
    shutil.rmtree(c.b)
    shutil.copytree(c.a, c.b)
    return c.b


def other_runs_go_bundle_renamed_ids_rewritten(c: Ctx) -> Path:
    other_runs_go_bundle_renamed(c)
    edit_json(c.b / "verdict.json", lambda v: v.update(run_id=RUN_B))
    edit_json(c.b / "manifest.json", lambda m: m["run"].update(run_id=RUN_B))
    reseal(c.b)
    return c.b


def other_runs_go_bundle_renamed_signed_attestation_kept(c: Ctx) -> Path:
    """A's bundle, ids rewritten, manifest re-hashed, A's real signed envelope kept."""
    envelope = (c.a / "attestation.json").read_bytes()
    other_runs_go_bundle_renamed_ids_rewritten(c)
    (c.b / "attestation.json").write_bytes(envelope)
    return c.b


def other_runs_go_tarball_renamed(c: Ctx) -> Path:
    target = c.tarball(c.b)
    shutil.copy(c.tarball(c.a), target)
    seal_tarball(target)
    return target


def other_runs_signed_attestation_replayed(c: Ctx) -> Path:
    shutil.copy(c.a / "attestation.json", c.b / "attestation.json")
    return c.b


def run_metadata_edited(c: Ctx) -> Path:
    edit_json(
        c.b / "manifest.json", lambda m: m["run"].update(host="laptop", suite_git_sha="0" * 40)
    )
    reseal(c.b)
    return c.b


def run_metadata_edited_not_resealed(c: Ctx) -> Path:
    edit_json(c.b / "manifest.json", lambda m: m["run"].update(end="2026-11-30T09:00:00Z"))
    return c.b


def duplicate_keys_in_verdict(c: Ctx) -> Path:
    """'"verdict": "GO"' first (a first-wins reader's view), the real NO-GO last."""
    text = (c.b / "verdict.json").read_text()
    (c.b / "verdict.json").write_text('{"verdict": "GO",' + text.lstrip()[1:])
    reseal(c.b)
    return c.b


def duplicate_keys_in_attestation(c: Ctx) -> Path:
    """A forged GO statement as the envelope's first payload, the real signed one last."""
    envelope = read_json(c.b, "attestation.json")
    stmt = json.loads(signing.b64decode(envelope["payload"], "payload"))
    stmt["predicate"]["verificationResult"] = "PASSED"
    forged = base64.b64encode(bundle.dumps(stmt)).decode()
    text = json.dumps(envelope)
    (c.b / "attestation.json").write_text('{"payload": "' + forged + '", ' + text[1:])
    return c.b


def duplicate_keys_in_plain_statement(c: Ctx) -> Path:
    reseal(c.b)  # unsigned statement
    text = (c.b / "attestation.json").read_text()
    (c.b / "attestation.json").write_text(
        '{"predicate": {"verificationResult": "PASSED"}, ' + text.lstrip()[1:]
    )
    return c.b


def duplicate_keys_in_check_record(c: Ctx) -> Path:
    path = c.b / "checks/BS-02.json"
    path.write_text('{"outcome": "passed", ' + path.read_text()[1:])
    reseal(c.b)
    return c.b


def two_verdict_members(c: Ctx) -> Path:
    forged = read_json(c.a, "verdict.json")
    forged["run_id"] = RUN_B
    tarball = c.tarball(c.b)
    retar(c.b, tarball, [(f"{RUN_B}/verdict.json", bundle.dumps(forged))])
    return tarball


def two_verdict_members_via_dot_path(c: Ctx) -> Path:
    tarball = c.tarball(c.b)
    retar(c.b, tarball, [(f"{RUN_B}/./verdict.json", (c.a / "verdict.json").read_bytes())])
    return tarball


def fifo_in_folder(c: Ctx) -> Path:
    os.mkfifo(c.b / "artifacts/BS-01/pipe")
    return c.b


def fifo_replacing_a_listed_file(c: Ctx) -> Path:
    (c.b / "summary.md").unlink()
    os.mkfifo(c.b / "summary.md")
    return c.b


def symlink_to_dev_zero(c: Ctx) -> Path:
    os.symlink("/dev/zero", c.b / "artifacts/BS-01/zero.txt")
    return c.b


def symlink_to_an_identical_file(c: Ctx) -> Path:
    outside = c.root / "outside.json"
    shutil.copy(c.b / "checks/BS-01.json", outside)
    (c.b / "checks/BS-01.json").unlink()
    os.symlink(outside, c.b / "checks/BS-01.json")
    return c.b


def symlinked_directory(c: Ctx) -> Path:
    outside = c.root / "outside"
    shutil.move(c.b / "artifacts/BS-01", outside)
    os.symlink(outside, c.b / "artifacts/BS-01")
    return c.b


def member_of_512_mib_in_folder(c: Ctx) -> Path:
    with open(c.b / "artifacts/BS-01/big.bin", "wb") as fh:
        fh.truncate(512 * MIB)  # sparse: no disk, no memory
    return c.b


def member_of_512_mib_in_tarball(c: Ctx) -> Path:
    """A real 512 MiB member, compressed as it streams (never allocated)."""
    tarball = c.tarball(c.b)
    comp = zlib.compressobj(1, zlib.DEFLATED, 31)  # gzip framing
    with tarball.open("wb") as fh:
        for p in sorted(c.b.rglob("*")):
            if p.is_file():
                data = p.read_bytes()
                info = tarfile.TarInfo(f"{RUN_B}/{p.relative_to(c.b).as_posix()}")
                info.size = len(data)
                pad = -len(data) % tarfile.BLOCKSIZE
                fh.write(comp.compress(info.tobuf(tarfile.GNU_FORMAT) + data + bytes(pad)))
        info = tarfile.TarInfo(f"{RUN_B}/artifacts/BS-01/big.bin")
        info.size = 512 * MIB
        fh.write(comp.compress(info.tobuf(tarfile.GNU_FORMAT)))
        zero = bytes(MIB)
        for _ in range(512):
            fh.write(comp.compress(zero))
        fh.write(comp.compress(bytes(2 * tarfile.BLOCKSIZE)) + comp.flush())
    seal_tarball(tarball)
    return tarball


def huge_pax_header_in_tarball(c: Ctx) -> Path:
    """A pax header tarfile would read whole into memory: 256 MiB declared, refused first."""
    tarball = c.tarball(c.b)
    retar(c.b, tarball)
    raw = gzip.decompress(tarball.read_bytes())
    pax = tarfile.TarInfo(f"{RUN_B}/PaxHeader")
    pax.type, pax.size = tarfile.XHDTYPE, 256 * MIB
    tarball.write_bytes(gzip.compress(pax.tobuf(tarfile.USTAR_FORMAT) + raw, compresslevel=1))
    seal_tarball(tarball)
    return tarball


def one_byte_changed(c: Ctx) -> Path:
    path = c.b / "artifacts/BS-02/raw.txt"
    data = bytearray(path.read_bytes())
    data[0] ^= 1
    path.write_bytes(bytes(data))
    return c.b


def file_removed(c: Ctx) -> Path:
    (c.b / "checks/BS-02.json").unlink()
    return c.b


def file_removed_and_resealed(c: Ctx) -> Path:
    (c.b / "checks/BS-02.json").unlink()
    shutil.rmtree(c.b / "artifacts/BS-02")
    recompute_verdict(c.b)
    reseal(c.b)
    return c.b


def file_added(c: Ctx) -> Path:
    (c.b / "artifacts/BS-01/extra.txt").write_text("x")
    return c.b


def verdict_edited_not_rehashed(c: Ctx) -> Path:
    edit_json(c.b / "verdict.json", lambda v: v.update(verdict="GO", reasons=[]))
    return c.b


def signature_stripped(c: Ctx) -> Path:
    """Downgrade: the signed statement kept, unsigned (every digest still matches)."""
    envelope = read_json(c.b, "attestation.json")
    (c.b / "attestation.json").write_bytes(signing.b64decode(envelope["payload"], "payload"))
    return c.b


def signatures_emptied(c: Ctx) -> Path:
    edit_json(c.b / "attestation.json", lambda e: e.update(signatures=[]))
    return c.b


def signature_bit_flipped(c: Ctx) -> Path:
    def flip(e: dict) -> None:
        sig = bytearray(signing.b64decode(e["signatures"][0]["sig"], "sig"))
        sig[5] ^= 0x10
        e["signatures"][0]["sig"] = base64.b64encode(bytes(sig)).decode()

    edit_json(c.b / "attestation.json", flip)
    return c.b


def keyid_hint_changed(c: Ctx) -> Path:
    edit_json(c.b / "attestation.json", lambda e: e["signatures"][0].update(keyid="0" * 64))
    return c.b


def attestation_whitespace_changed(c: Ctx) -> Path:
    """Same JSON, other bytes: the one file no digest covers has one layout."""
    path = c.b / "attestation.json"
    path.write_text(path.read_text().replace('\n  "payloadType"', '\n\t"payloadType"'))
    return c.b


def signature_unused_bits_set(c: Ctx) -> Path:
    """64 bytes of signature end in a base64 char with 4 unused bits: set one, same bytes."""

    def twiddle(e: dict) -> None:
        sig = e["signatures"][0]["sig"]
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
        last = alphabet.index(sig[-3])
        e["signatures"][0]["sig"] = sig[:-3] + alphabet[last ^ 1] + "=="

    edit_json(c.b / "attestation.json", twiddle)
    return c.b


def signature_in_the_url_safe_alphabet(c: Ctx) -> Path:
    """Same signature bytes in the other base64 form DSSE readers accept (URL-safe, no pad)."""
    edit_json(
        c.b / "attestation.json",
        lambda e: e["signatures"][0].update(
            sig=e["signatures"][0]["sig"].replace("+", "-").replace("/", "_").rstrip("=")
        ),
    )
    return c.b


def payload_type_changed(c: Ctx) -> Path:
    edit_json(c.b / "attestation.json", lambda e: e.update(payloadType="application/json"))
    return c.b


def waiver_added(c: Ctx) -> Path:
    waiver = {"check": "BS-02", "justification": "x", "approver": "me", "expires": "2027-01-01"}
    (c.b / "waivers.json").write_bytes(bundle.dumps([waiver]))
    edit_json(c.b / "verdict.json", lambda v: v["policy"]["exempt"].append("PF-05"))
    edit_json(
        c.b / "manifest.json", lambda m: m["run"]["config"]["policy"]["exempt"].append("PF-05")
    )
    recompute_verdict(c.b)
    reseal(c.b)
    return c.b


def severity_downgraded(c: Ctx) -> Path:
    edit_json(c.b / "checks/BS-02.json", lambda r: r.update(severity="warning"))
    recompute_verdict(c.b)
    reseal(c.b)
    return c.b


def record_swapped(c: Ctx) -> Path:
    shutil.copy(c.b / "checks/BS-01.json", c.b / "checks/BS-02.json")
    reseal(c.b)
    return c.b


def scope_edited(c: Ctx) -> Path:
    edit_json(c.b / "verdict.json", lambda v: v["scope"].update(selected=["BS-01"]))
    reseal(c.b)
    return c.b


def nan_in_record(c: Ctx) -> Path:
    path = c.b / "checks/BS-01.json"
    path.write_text(path.read_text().replace('"duration_s": 0.5', '"duration_s": NaN'))
    reseal(c.b)
    return c.b


def manifest_lists_a_file_twice(c: Ctx) -> Path:
    edit_json(c.b / "manifest.json", lambda m: m["files"].append(dict(m["files"][0])))
    return c.b


def tar_member_escaping(c: Ctx) -> Path:
    tarball = c.tarball(c.b)
    retar(c.b, tarball, [(f"{RUN_B}/../evil.json", b"{}")])
    return tarball


def tar_symlink_member(c: Ctx) -> Path:
    tarball = c.tarball(c.b)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for p in sorted(c.b.rglob("*")):
            if p.is_file():
                tar.add(p, f"{RUN_B}/{p.relative_to(c.b).as_posix()}")
        link = tarfile.TarInfo(f"{RUN_B}/artifacts/BS-01/zero")
        link.type, link.linkname = tarfile.SYMTYPE, "/dev/zero"
        tar.addfile(link)
    tarball.write_bytes(gzip.compress(buf.getvalue()))
    seal_tarball(tarball)
    return tarball


def tar_hardlink_member(c: Ctx) -> Path:
    tarball = c.tarball(c.b)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for p in sorted(c.b.rglob("*")):
            if p.is_file() and p.name != "summary.md":
                tar.add(p, f"{RUN_B}/{p.relative_to(c.b).as_posix()}")
        link = tarfile.TarInfo(f"{RUN_B}/summary.md")
        link.type, link.linkname = tarfile.LNKTYPE, f"{RUN_B}/verdict.json"
        tar.addfile(link)
    tarball.write_bytes(gzip.compress(buf.getvalue()))
    seal_tarball(tarball)
    return tarball


def tar_appended_after_end_of_archive(c: Ctx) -> Path:
    """A second archive after the end marker: `tar --ignore-zeros` reads its verdict.json."""
    tarball = c.tarball(c.b)
    first = gzip.decompress(tarball.read_bytes())
    forged = read_json(c.a, "verdict.json") | {"run_id": RUN_B}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(f"{RUN_B}/verdict.json")
        data = bundle.dumps(forged)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    tarball.write_bytes(gzip.compress(first + buf.getvalue()))
    seal_tarball(tarball)
    return tarball


def tar_two_top_folders(c: Ctx) -> Path:
    tarball = c.tarball(c.b)
    retar(c.b, tarball, [(f"{RUN_A}/verdict.json", (c.a / "verdict.json").read_bytes())])
    return tarball


def tarball_renamed(c: Ctx) -> Path:
    target = c.tarball(c.b).with_name("20261130T090000Z-cccccc.tar.gz")
    shutil.copy(c.tarball(c.b), target)
    seal_tarball(target)
    return target


def sidecar_missing(c: Ctx) -> Path:
    tarball = c.tarball(c.b)
    tarball.with_name(tarball.name + ".sha256").unlink()
    return tarball


def tarball_byte_appended(c: Ctx) -> Path:
    tarball = c.tarball(c.b)
    with tarball.open("ab") as fh:
        fh.write(b"\0")
    return tarball


# name -> (tampering, what verify says without a key)
CASES: dict[str, tuple[Callable[[Ctx], Path], str]] = {
    # the observed inputs
    "full_forgery": (full_forgery, "unsigned"),
    "policy_exempt_edit": (policy_exempt_edit, "unsigned"),
    "other_runs_go_bundle_renamed": (other_runs_go_bundle_renamed, "rejected"),
    "other_runs_go_tarball_renamed": (other_runs_go_tarball_renamed, "rejected"),
    "run_metadata_edited": (run_metadata_edited, "unsigned"),
    "duplicate_keys_in_verdict": (duplicate_keys_in_verdict, "rejected"),
    "duplicate_keys_in_attestation": (duplicate_keys_in_attestation, "rejected"),
    "two_verdict_members": (two_verdict_members, "rejected"),
    "fifo_in_folder": (fifo_in_folder, "rejected"),
    "symlink_to_dev_zero": (symlink_to_dev_zero, "rejected"),
    "member_of_512_mib_in_folder": (member_of_512_mib_in_folder, "rejected"),
    "member_of_512_mib_in_tarball": (member_of_512_mib_in_tarball, "rejected"),
    # siblings: forged content re-derived with the package's helpers
    "full_forgery_signed_by_attacker": (full_forgery_signed_by_attacker, "unchecked"),
    "full_forgery_attacker_claims_trusted_keyid": (
        full_forgery_attacker_claims_trusted_keyid,
        "unchecked",
    ),
    "policy_exempt_edit_verdict_only": (policy_exempt_edit_verdict_only, "rejected"),
    "other_runs_go_bundle_renamed_ids_rewritten": (
        other_runs_go_bundle_renamed_ids_rewritten,
        "unsigned",
    ),
    "other_runs_go_bundle_renamed_signed_attestation_kept": (
        other_runs_go_bundle_renamed_signed_attestation_kept,
        "rejected",
    ),
    "other_runs_signed_attestation_replayed": (other_runs_signed_attestation_replayed, "rejected"),
    "run_metadata_edited_not_resealed": (run_metadata_edited_not_resealed, "rejected"),
    "file_removed_and_resealed": (file_removed_and_resealed, "unsigned"),
    "waiver_added": (waiver_added, "unsigned"),
    "severity_downgraded": (severity_downgraded, "rejected"),
    "record_swapped": (record_swapped, "rejected"),
    "scope_edited": (scope_edited, "unsigned"),
    # siblings: naive edits
    "one_byte_changed": (one_byte_changed, "rejected"),
    "file_removed": (file_removed, "rejected"),
    "file_added": (file_added, "rejected"),
    "verdict_edited_not_rehashed": (verdict_edited_not_rehashed, "rejected"),
    "manifest_lists_a_file_twice": (manifest_lists_a_file_twice, "rejected"),
    # siblings: the signature itself
    "signature_stripped": (signature_stripped, "unsigned"),
    "signatures_emptied": (signatures_emptied, "rejected"),
    "signature_bit_flipped": (signature_bit_flipped, "unchecked"),
    "payload_type_changed": (payload_type_changed, "rejected"),
    "keyid_hint_changed": (keyid_hint_changed, "unchecked"),
    "attestation_whitespace_changed": (attestation_whitespace_changed, "rejected"),
    "signature_unused_bits_set": (signature_unused_bits_set, "rejected"),
    "signature_in_the_url_safe_alphabet": (signature_in_the_url_safe_alphabet, "rejected"),
    # siblings: hostile JSON
    "duplicate_keys_in_plain_statement": (duplicate_keys_in_plain_statement, "rejected"),
    "duplicate_keys_in_check_record": (duplicate_keys_in_check_record, "rejected"),
    "nan_in_record": (nan_in_record, "rejected"),
    # siblings: hostile archives and file systems
    "two_verdict_members_via_dot_path": (two_verdict_members_via_dot_path, "rejected"),
    "tar_member_escaping": (tar_member_escaping, "rejected"),
    "huge_pax_header_in_tarball": (huge_pax_header_in_tarball, "rejected"),
    "tar_symlink_member": (tar_symlink_member, "rejected"),
    "tar_two_top_folders": (tar_two_top_folders, "rejected"),
    "tar_hardlink_member": (tar_hardlink_member, "rejected"),
    "tar_appended_after_end_of_archive": (tar_appended_after_end_of_archive, "rejected"),
    "tarball_renamed": (tarball_renamed, "rejected"),
    "sidecar_missing": (sidecar_missing, "rejected"),
    "tarball_byte_appended": (tarball_byte_appended, "rejected"),
    "fifo_replacing_a_listed_file": (fifo_replacing_a_listed_file, "rejected"),
    "symlink_to_an_identical_file": (symlink_to_an_identical_file, "rejected"),
    "symlinked_directory": (symlinked_directory, "rejected"),
}


def test_the_untouched_bundle_is_authentic_with_the_key(ctx):
    pub = ctx.trusted.public_key()
    for path in (ctx.b, ctx.tarball(ctx.b)):
        assert judge(path, pub) == "authentic"
        assert judge(path) == "unchecked"
        result = verify(path, key=pub)
        assert (result.verdict, result.release, result.run_id) == ("NO-GO", "v1.4.0", RUN_B)
    assert judge(ctx.a, pub) == "authentic" and verify(ctx.a).verdict == "GO"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", list(CASES))
def test_tampering_is_rejected_with_the_key_and_flagged_without(ctx, case):
    tamper, without_key = CASES[case]
    path = tamper(ctx)
    assert judge(path, ctx.trusted.public_key()) == "rejected"
    assert judge(path) == without_key
    if without_key != "rejected":
        result = verify(path)
        assert result.trust.endswith("integrity only") and not result.authenticated
        assert judge(path, require_signature=True) == "rejected"


def test_a_bundle_signed_by_an_unknown_key_names_both_keys(ctx):
    path = full_forgery_signed_by_attacker(ctx)
    problems = verify(path, key=ctx.trusted.public_key()).problems
    assert any(
        "no signature in the DSSE envelope verifies with the given key" in p for p in problems
    )


def test_the_release_asked_for_is_bound(ctx):
    pub = ctx.trusted.public_key()
    assert judge(ctx.b, pub, release="v1.4.0") == "authentic"
    problems = verify(ctx.b, key=pub, release="v1.5.0").problems
    assert problems == ["bundle is for release 'v1.4.0', not 'v1.5.0'"]


def test_the_signed_statement_binds_release_run_scope_policy_and_manifest(ctx):
    envelope = read_json(ctx.b, "attestation.json")
    assert envelope["payloadType"] == "application/vnd.in-toto+json"
    stmt = json.loads(signing.b64decode(envelope["payload"], "payload"))
    spark = stmt["predicate"]["spark"]
    verdict = read_json(ctx.b, "verdict.json")
    assert (spark["release"], spark["runId"], spark["bundle"]) == ("v1.4.0", RUN_B, RUN_B)
    assert spark["scope"] == SCOPE
    assert spark["verdictDigest"]["sha256"] == bundle.sha256_file(ctx.b / "verdict.json")
    assert stmt["predicate"]["policy"]["digest"]["sha256"] == verdict["policy_digest"]
    assert stmt["predicate"]["manifestDigest"]["sha256"] == bundle.sha256_file(
        ctx.b / "manifest.json"
    )


def test_fifo_and_symlink_problems_name_the_file(ctx):
    fifo_in_folder(ctx)
    symlink_to_dev_zero(ctx)
    problems = verify(ctx.b).problems
    assert "artifacts/BS-01/pipe: not a regular file (FIFO); not read" in problems
    assert "artifacts/BS-01/zero.txt: not a regular file (symlink); not read" in problems


def test_duplicate_json_key_and_tar_member_are_named(ctx):
    duplicate_keys_in_verdict(ctx)
    assert any(
        p.startswith("verdict.json: not valid JSON (duplicate key 'verdict')")
        for p in verify(ctx.b).problems
    )
    shutil.rmtree(ctx.b)
    make_bundle(ctx.root, RUN_B, OUTCOMES_B, ctx.trusted)
    path = two_verdict_members(ctx)
    assert verify(path).problems == [
        "verdict.json: duplicate tar member (a reader could take either)"
    ]


def test_oversized_member_is_refused_before_it_is_read(ctx):
    path = member_of_512_mib_in_tarball(ctx)
    result = verify(path)
    assert result.problems == [
        "refused: artifacts/BS-01/big.bin: 536870912 bytes exceeds the 64 MiB cap"
    ]


def test_a_512_mib_member_under_a_raised_cap_is_streamed_not_held(ctx):
    import tracemalloc

    member_of_512_mib_in_folder(ctx)
    tracemalloc.start()
    try:
        result = verify(ctx.b, limits=Limits(member_bytes=1 << 30, total_bytes=1 << 30))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.problems == ["artifacts/BS-01/big.bin: present but not in manifest"]
    assert peak < 16 * MIB, f"peak {peak / MIB:.1f} MiB while hashing a 512 MiB file"


def test_total_cap_and_deadline_refuse_the_whole_bundle(ctx):
    small = Limits(total_bytes=1024)
    assert verify(ctx.b, limits=small).problems[0].startswith("refused: bundle exceeds")
    assert verify(ctx.tarball(ctx.b), limits=small).problems[-1].startswith("refused:")
    expired = Limits(deadline_s=-1)
    assert verify(ctx.b, limits=expired).problems == [
        "refused: verification exceeded its deadline of -1 s"
    ]


def test_a_huge_tar_header_extension_is_refused_before_it_is_read(ctx):
    assert verify(huge_pax_header_in_tarball(ctx)).problems == [
        "refused: tar header extension of 268435456 bytes (cap 1 MiB)"
    ]


def test_a_bundle_of_another_format_says_so(ctx):
    edit_json(ctx.b / "manifest.json", lambda m: m.update(format="pytest-spark-bundle/1"))
    assert verify(ctx.b).problems[0] == (
        "manifest.json: format 'pytest-spark-bundle/1'; this pytest-spark verifies "
        "'pytest-spark-bundle/2' (re-run the suite to get a bundle of this format)"
    )


def test_missing_sidecar_is_reported(ctx):
    path = sidecar_missing(ctx)
    assert verify(path).problems == [
        f"{RUN_B}.tar.gz.sha256: missing (every tarball is written with its .sha256)"
    ]


def test_unsigned_bundle_says_integrity_only(tmp_path):
    folder, tarball = make_bundle(tmp_path, RUN_B, OUTCOMES_B, None)
    for path in (folder, tarball):
        result = verify(path)
        assert result.ok and result.signature == "unsigned"
        assert result.trust == "unsigned: integrity only"
        assert not verify(path, require_signature=True).ok
        key = Ed25519PrivateKey.generate().public_key()
        assert verify(path, key=key).problems == [
            "attestation.json: not signed by the given key (--key): not authentic"
        ]


@pytest.fixture(scope="module")
def signed_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("signed")
    key = Ed25519PrivateKey.generate()
    folder, tarball = make_bundle(root, RUN_B, OUTCOMES_B, key, scope=SCOPE)
    files = {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }
    return files, key.public_key(), tarball


@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_any_single_byte_change_to_any_file_is_rejected(signed_files, data):
    files, pub, _ = signed_files
    assert bundle.verify_files(files, name=RUN_B, key=pub).authenticated
    rel = data.draw(st.sampled_from(sorted(files)), label="file")
    at = data.draw(st.integers(0, len(files[rel]) - 1), label="offset")
    new = data.draw(st.integers(0, 255).filter(lambda b: b != files[rel][at]), label="byte")
    changed = dict(files)
    changed[rel] = files[rel][:at] + bytes([new]) + files[rel][at + 1 :]
    with_key = bundle.verify_files(changed, name=RUN_B, key=pub)
    assert not with_key.ok, (rel, at, new)
    without = bundle.verify_files(changed, name=RUN_B)
    # only the signature's own bytes cannot be judged without the key; verify then says so
    assert not without.ok or (rel == "attestation.json" and not without.authenticated)


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_any_single_byte_change_to_the_tarball_is_rejected(signed_files, data, tmp_path_factory):
    _, pub, tarball = signed_files
    raw = tarball.read_bytes()
    at = data.draw(st.integers(0, len(raw) - 1), label="offset")
    new = data.draw(st.integers(0, 255).filter(lambda b: b != raw[at]), label="byte")
    copy = tmp_path_factory.mktemp("tb") / tarball.name
    copy.write_bytes(raw[:at] + bytes([new]) + raw[at + 1 :])
    shutil.copy(tarball.with_name(tarball.name + ".sha256"), copy.parent)
    assert judge(copy, pub) == "rejected"
