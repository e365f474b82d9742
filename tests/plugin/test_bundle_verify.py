"""A synthetic suite's bundle verifies; any tampering is detected and named."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile

import pytest

from pytest_spark.bundle import verify

PLANTED = "Pl4nted-S3cret-Value"

SUITE = f"""
import pytest

@pytest.mark.spark_check("BS-01")
def test_pass(evidence):
    evidence.observe("dsn", "postgresql://spark:{PLANTED}@127.0.0.1:5432/spark")
    evidence.observe("headers", {{"Authorization": "Bearer {PLANTED}", "Date": "x"}})
    evidence.attach("raw-headers.txt", "Cookie: session={PLANTED}\\nServer: spark\\n")

@pytest.mark.spark_check("BS-02")
def test_fail(evidence):
    evidence.observe("applied", [1, 2, 3])
    assert False, "schema at 3, expected 4"

@pytest.mark.spark_check("PF-01")
def test_error(evidence):
    evidence.attach("partial.txt", b"version: 1.4.0")
    raise TimeoutError("timed out after 2 s talking to http://127.0.0.1:1")
"""


@pytest.fixture
def bundle(pytester, bundle_of, monkeypatch):
    monkeypatch.setenv("SPARK_DB_PASSWORD", PLANTED)
    pytester.makepyfile(SUITE)
    pytester.makefile(
        ".toml",
        spark='[targets]\ndb_dsn = "postgresql://spark:${SPARK_DB_PASSWORD}@127.0.0.1/spark"\n',
    )
    pytester.runpytest("-p", "no:cacheprovider", "--release", "v1.4.0", "--junitxml=junit.xml")
    return bundle_of()


def test_layout_matches_the_contract(bundle):
    names = {p.relative_to(bundle.folder).as_posix() for p in bundle.files()}
    assert {
        "verdict.json",
        "manifest.json",
        "attestation.json",
        "summary.md",
        "waivers.json",
        "junit.xml",
        "checks/BS-01.json",
        "checks/BS-02.json",
        "checks/PF-01.json",
        "artifacts/BS-01/raw-headers.txt",
        "artifacts/PF-01/partial.txt",
    } <= names
    assert (
        bundle.tarball.is_file()
        and bundle.tarball.with_name(bundle.tarball.name + ".sha256").is_file()
    )
    manifest = bundle.json("manifest.json")
    assert manifest["run"]["release"] == "v1.4.0" and manifest["run"]["pytest"]
    stmt = bundle.json("attestation.json")
    assert stmt["_type"] == "https://in-toto.io/Statement/v1"
    assert stmt["predicate"]["spark"]["verdict"] == "NO-GO"


def test_evidence_is_written_for_failing_and_erroring_tests(bundle):
    assert bundle.check("BS-02")["observations"] == [{"name": "applied", "data": [1, 2, 3]}]
    rec = bundle.check("PF-01")
    assert rec["outcome"] == "error"
    assert rec["artifacts"] == ["artifacts/PF-01/partial.txt", "artifacts/PF-01/traceback.txt"]
    assert (bundle.folder / "artifacts/PF-01/partial.txt").read_bytes() == b"version: 1.4.0"


def test_a_planted_secret_never_reaches_any_bundle_file(bundle):
    for path in [*bundle.files(), bundle.tarball]:
        data = path.read_bytes()
        if path.suffix == ".gz":
            with tarfile.open(path) as tar:
                for member in tar.getmembers():
                    if member.isfile():
                        assert PLANTED.encode() not in tar.extractfile(member).read(), member.name
            continue
        assert PLANTED.encode() not in data, path


def test_intact_bundle_and_tarball_verify(bundle):
    for target in (bundle.folder, bundle.tarball):
        result = verify(target)
        assert result.ok, result.problems
        assert result.verdict == "NO-GO"


def test_cli_verify_exit_codes(bundle, tmp_path):
    ok = subprocess.run(
        [sys.executable, "-m", "pytest_spark.cli", "verify", str(bundle.tarball)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0 and ok.stdout.startswith("OK:")
    copy = tmp_path / "b" / bundle.folder.name
    shutil.copytree(bundle.folder, copy)
    (copy / "summary.md").write_text("all good, ship it")
    bad = subprocess.run(
        [sys.executable, "-m", "pytest_spark.cli", "verify", str(copy)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 1 and "summary.md: sha256" in bad.stdout


def test_cli_verify_pins_the_code_that_decided(bundle, capsys):
    """--plugin-digest / --suite-digest: the run was decided by the code a release reviewed."""
    from pytest_spark import suite
    from pytest_spark.cli import main

    plugin = suite.identity(bundle.folder)["plugin"]["digest"]
    assert main(["verify", str(bundle.tarball), "--plugin-digest", plugin.split(":")[1]]) == 0
    capsys.readouterr()
    assert main(["verify", str(bundle.tarball), "--plugin-digest", "sha256:" + "0" * 64]) == 1
    out = capsys.readouterr().out
    assert f"OTHER CODE: the run's plugin digest is {plugin}, not sha256:" in out
    assert main(["verify", str(bundle.tarball), "--plugin-digest", plugin.upper()[7:]]) == 0
    capsys.readouterr()
    # this run's rootdir had no checks/ directory: no suite digest to match
    assert main(["verify", str(bundle.tarball), "--suite-digest", "ab" * 32]) == 1
    assert "OTHER CODE: the run names no suite digest: no checks/" in capsys.readouterr().out


@pytest.mark.parametrize("pin", ["", "  ", "sha256:", "ab" * 31, "zz" * 32, "ab" * 33])
def test_a_malformed_or_empty_pin_is_a_usage_error_not_no_pin(bundle, capsys, pin):
    """Review finding: --suite-digest "" (an unset CI variable) verified as if not pinned."""
    from pytest_spark.cli import main

    assert main(["verify", str(bundle.tarball), "--suite-digest", pin]) == 2
    assert "--suite-digest" in capsys.readouterr().err
    assert main(["combine", str(bundle.tarball), "--plugin-digest", pin]) == 2


def tampered(bundle, tmp_path):
    copy = tmp_path / "copy" / bundle.folder.name  # verify binds the folder name to the run id
    shutil.copytree(bundle.folder, copy)
    return copy


def test_one_changed_byte_is_detected(bundle, tmp_path):
    copy = tampered(bundle, tmp_path)
    target = copy / "artifacts/PF-01/partial.txt"
    data = bytearray(target.read_bytes())
    data[0] ^= 0x01
    target.write_bytes(bytes(data))
    problems = verify(copy).problems
    assert problems == [problems[0]] and problems[0].startswith(
        "artifacts/PF-01/partial.txt: sha256"
    )


def test_removed_file_is_detected(bundle, tmp_path):
    copy = tampered(bundle, tmp_path)
    (copy / "checks/BS-02.json").unlink()
    problems = verify(copy).problems
    assert "checks/BS-02.json: listed in manifest but missing" in problems
    assert any("verdict.json: outcomes" in p for p in problems)


def test_added_file_is_detected(bundle, tmp_path):
    copy = tampered(bundle, tmp_path)
    (copy / "artifacts/extra.txt").write_text("x")
    assert "artifacts/extra.txt: present but not in manifest" in verify(copy).problems


def test_edited_verdict_is_detected_even_with_a_rehashed_manifest(bundle, tmp_path):
    copy = tampered(bundle, tmp_path)
    verdict = json.loads((copy / "verdict.json").read_text())
    verdict["verdict"], verdict["reasons"] = "GO", []
    (copy / "verdict.json").write_text(json.dumps(verdict))
    problems = verify(copy).problems
    assert any(p.startswith("verdict.json: sha256") for p in problems)
    assert any('verdict is "GO" but the records give "NO-GO"' in p for p in problems)
    # a forger who also fixes the manifest still fails the recomputation
    from pytest_spark.bundle import sha256_file

    manifest = json.loads((copy / "manifest.json").read_text())
    for entry in manifest["files"]:
        if entry["path"] == "verdict.json":
            entry["sha256"] = sha256_file(copy / "verdict.json")
    (copy / "manifest.json").write_text(json.dumps(manifest))
    problems = verify(copy).problems
    assert any("but the records give" in p for p in problems)
    assert any("attestation.json" in p for p in problems)


def test_edited_check_record_outcome_is_detected(bundle, tmp_path):
    copy = tampered(bundle, tmp_path)
    rec = json.loads((copy / "checks/BS-02.json").read_text())
    rec["outcome"] = "passed"
    (copy / "checks/BS-02.json").write_text(json.dumps(rec))
    problems = verify(copy).problems
    assert any(p.startswith("checks/BS-02.json: sha256") for p in problems)


def test_tampered_tarball_fails_its_sidecar(bundle, tmp_path):
    copy = tmp_path / bundle.tarball.name
    shutil.copy(bundle.tarball, copy)
    shutil.copy(bundle.tarball.with_name(bundle.tarball.name + ".sha256"), tmp_path)
    with copy.open("ab") as fh:
        fh.write(b"\0")
    result = verify(copy)
    assert any(".sha256" in p for p in result.problems)


def test_xdist_run_produces_one_bundle(pytester, bundle_of):
    pytest.importorskip("xdist")
    pytester.makepyfile(SUITE)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-n", "2", "--release", "v1.4.0",
        "--spark-check", "BS-01,BS-02,PF-01",
    )  # fmt: skip
    assert result.ret == 1
    b = bundle_of()
    assert sorted(b.verdict["outcomes"]) == ["BS-01", "BS-02", "PF-01"]
    assert b.check("BS-02")["observations"][0]["data"] == [1, 2, 3]
    assert (b.folder / "artifacts/BS-01/raw-headers.txt").is_file()
    assert verify(b.folder).ok
    assert b.verdict["not_run"] == []


def test_forged_attestation_fields_are_detected(bundle, tmp_path):
    copy = tampered(bundle, tmp_path)
    stmt = json.loads((copy / "attestation.json").read_text())
    stmt["predicate"]["verificationResult"] = "PASSED"
    stmt["subject"][0]["name"] = "spark@v9.9.9"
    (copy / "attestation.json").write_text(json.dumps(stmt))
    problems = verify(copy).problems
    assert any("predicate.verificationResult is 'PASSED'" in p for p in problems), problems
    assert any("subject[0].name" in p for p in problems), problems


def test_malformed_bundle_content_is_reported_not_a_crash(bundle, tmp_path):
    copy = tampered(bundle, tmp_path)
    (copy / "waivers.json").write_text('[{"check": "BS-01"}]')
    problems = verify(copy).problems
    assert any(p.startswith("malformed bundle") for p in problems), problems


LEAKY = f"""
import pytest
from pytest_spark.probes.db import connect

@pytest.mark.spark_check("BS-02")
def test_db(evidence):
    with connect("postgresql://spark:{PLANTED}@127.0.0.1:9/spark", timeout=1):
        pass

@pytest.mark.spark_check("BS-01")
def test_prints(evidence):
    print("dsn is postgresql://spark:{PLANTED}@db/spark")
    assert False, "see captured output"
"""


def test_secrets_in_tracebacks_and_captured_output_are_redacted(pytester, bundle_of):
    pytester.makepyfile(LEAKY)
    result = pytester.runpytest(
        "-p", "no:cacheprovider", "--release", "v1.4.0", "--junitxml=junit.xml"
    )
    assert result.ret == 1
    assert "could not verify" in result.stdout.str()
    assert PLANTED not in result.stdout.str() + result.stderr.str()
    assert PLANTED not in (pytester.path / "junit.xml").read_text()
    for path in bundle_of().files():
        assert PLANTED.encode() not in path.read_bytes(), path


@pytest.mark.parametrize("body", ["null", "[]", '"x"'])
def test_attestation_that_is_not_an_object_is_detected(bundle, tmp_path, body):
    copy = tampered(bundle, tmp_path)
    (copy / "attestation.json").write_text(body)
    assert "attestation.json: not an in-toto Statement (not a JSON object)" in verify(copy).problems


@pytest.mark.parametrize("content", [b"not gzip at all", None])
def test_unreadable_tarball_is_not_a_bundle_exit_2(bundle, tmp_path, content):
    broken = tmp_path / "broken.tar.gz"
    data = bundle.tarball.read_bytes()
    broken.write_bytes(content if content is not None else data[: len(data) // 2])
    proc = subprocess.run(
        [sys.executable, "-m", "pytest_spark.cli", "verify", str(broken)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "not a readable .tar.gz" in proc.stderr and "Traceback" not in proc.stderr


def test_verify_never_echoes_the_bytes_of_what_it_was_given(tmp_path):
    """gzip's own error quotes a file's first bytes: a symlink to a secret must not leak."""
    secret = tmp_path / "shadow"
    secret.write_bytes(b"root:$6$SECRETHASH:19000:0:99999:7:::\n")
    link = tmp_path / "x.tar.gz"
    link.symlink_to(secret)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest_spark.cli", "verify", str(link)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 2 and "not a readable .tar.gz (not gzip data)" in proc.stderr
    assert "ro" not in proc.stderr.split("(", 1)[1] and "SECRET" not in proc.stdout + proc.stderr


def test_evidence_dir_that_is_a_file_stops_the_run_before_any_test(pytester):
    pytester.makepyfile(SUITE)
    (pytester.path / "afile").write_text("x")
    result = pytester.runpytest("-p", "no:cacheprovider", "--spark-evidence-dir", "afile")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*--spark-evidence-dir afile: exists and is not a directory*"])
