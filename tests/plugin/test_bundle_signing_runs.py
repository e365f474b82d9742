"""Signed bundles end to end: a key from configuration signs the run's attestation, and
`pytest-spark verify --key` proves who produced it (EVIDENCE.md "Verify")."""

from __future__ import annotations

import json

import pytest

from pytest_spark import cli, signing

SUITE = """
import pytest

@pytest.mark.spark_check("BS-01")
def test_pass(evidence):
    evidence.observe("x", 1)

@pytest.mark.spark_check("BS-02")
def test_fail(evidence):
    assert False, "schema at 3, expected 4"
"""


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def keys(pytester, capsys):
    code, out, _ = run_cli(capsys, "keygen", str(pytester.path / "spark.key"))
    assert code == 0 and "BEGIN" not in out
    return pytester.path / "spark.key", pytester.path / "spark.key.pub"


def test_keygen_refuses_to_overwrite(keys, capsys):
    code, _, err = run_cli(capsys, "keygen", str(keys[0]))
    assert code == 2 and "refusing to overwrite" in err


def test_a_run_with_a_signing_key_is_authenticated_by_its_public_key(
    pytester, bundle_of, keys, capsys
):
    private, public = keys
    pytester.makepyfile(SUITE)
    result = pytester.runpytest("-p", "no:cacheprovider", "--release", "v1.4.0",
                                "--spark-signing-key", str(private))  # fmt: skip
    assert result.ret == 1
    b = bundle_of()
    envelope = b.json("attestation.json")
    assert envelope["payloadType"] == "application/vnd.in-toto+json"
    assert envelope["signatures"][0]["keyid"] == signing.keyid(signing.load_public_key(public))
    for target in (b.folder, b.tarball):
        code, out, _ = run_cli(capsys, "verify", str(target), "--key", str(public))
        assert code == 0, out
        assert "verdict NO-GO recomputed and confirmed" in out and "(authenticated)" in out
        code, out, _ = run_cli(capsys, "verify", str(target))
        assert code == 0 and "signed, signature not checked (no --key): integrity only" in out
        code, out, _ = run_cli(
            capsys, "verify", str(target), "--key", str(public), "--require-signature", "--json"
        )
        doc = json.loads(out)
        assert code == 0 and doc["authenticated"] and doc["signature"] == "verified"
        assert (doc["release"], doc["run_id"]) == ("v1.4.0", b.folder.name)
        code, out, _ = run_cli(capsys, "verify", str(target), "--key", str(public),
                               "--release", "v1.5.0")  # fmt: skip
        assert code == 1 and "bundle is for release 'v1.4.0', not 'v1.5.0'" in out
    run_cli(capsys, "keygen", str(pytester.path / "other.key"))
    code, out, _ = run_cli(
        capsys, "verify", str(b.folder), "--key", str(pytester.path / "other.key.pub")
    )
    assert code == 1 and "NOT AUTHENTIC" in out and "not authentic" in out
    assert "TAMPERED" not in out  # intact, signed by another key: not a tampering


def test_a_key_given_as_pem_text_in_the_environment_never_leaves_the_process(
    pytester, bundle_of, keys, capsys, monkeypatch
):
    private, public = keys
    pem = private.read_text()
    monkeypatch.setenv("SPARK_SIGNING_KEY", pem)
    pytester.makefile(".toml", spark='[evidence]\nsigning_key = "${SPARK_SIGNING_KEY}"\n')
    pytester.makepyfile(SUITE)
    result = pytester.runpytest("-p", "no:cacheprovider", "--release", "v1.4.0", "-rA",
                                "--junitxml=junit.xml")  # fmt: skip
    assert result.ret == 1
    b = bundle_of()
    assert b.json("manifest.json")["run"]["config"]["evidence"]["signing_key"] == "***"
    body = "".join(pem.strip().splitlines()[1:-1])
    lines = [ln for ln in pem.splitlines() if "BEGIN" not in ln and "END" not in ln]
    output = result.stdout.str() + result.stderr.str()
    for path in [*b.files(), pytester.path / "junit.xml"]:
        data = path.read_text(errors="replace")
        assert "PRIVATE KEY" not in data and body not in data, path
        assert not any(ln in data for ln in lines), path
    assert "PRIVATE KEY" not in output and not any(ln in output for ln in lines)
    code, out, _ = run_cli(capsys, "verify", str(b.tarball), "--key", str(public))
    assert code == 0 and "(authenticated)" in out


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: None, "cannot open"),
        (lambda p: p.write_text("not a key"), "not an unencrypted PEM private key"),
    ],
)
def test_a_bad_signing_key_stops_the_run_before_any_test(pytester, make, message):
    make(pytester.path / "bad.key")
    pytester.makepyfile(SUITE)
    result = pytester.runpytest("-p", "no:cacheprovider", "--release", "v1.4.0",
                                "--spark-signing-key", "bad.key")  # fmt: skip
    assert result.ret == 4
    result.stderr.fnmatch_lines([f"*evidence.signing_key: signing key bad.key*{message}*"])
    assert not (pytester.path / "reports").exists()


def test_an_unsigned_run_says_integrity_only_and_fails_when_a_signature_is_required(
    pytester, bundle_of, keys, capsys
):
    pytester.makepyfile(SUITE)
    pytester.runpytest("-p", "no:cacheprovider", "--release", "v1.4.0")
    b = bundle_of()
    assert "_type" in b.json("attestation.json")  # a plain in-toto Statement
    code, out, _ = run_cli(capsys, "verify", str(b.folder))
    assert code == 0 and out.rstrip().endswith("unsigned: integrity only")
    code, out, _ = run_cli(capsys, "verify", str(b.folder), "--key", str(keys[1]),
                           "--require-signature")  # fmt: skip
    assert code == 1 and "not signed by the given key" in out
    code, _, err = run_cli(capsys, "verify", str(b.folder), "--require-signature")
    assert code == 2 and "--require-signature needs --key PUB" in err


def test_verify_of_a_bundle_folder_with_a_fifo_returns(pytester, bundle_of, capsys):
    import os

    pytester.makepyfile(SUITE)
    pytester.runpytest("-p", "no:cacheprovider", "--release", "v1.4.0")
    b = bundle_of()
    os.mkfifo(b.folder / "checks" / "pipe")
    code, out, _ = run_cli(capsys, "verify", str(b.folder))
    assert code == 1 and "checks/pipe: not a regular file (FIFO); not read" in out
