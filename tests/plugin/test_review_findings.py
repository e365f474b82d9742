"""Inputs an independent review found (false GO at the deploy gate, a guard that could be
switched off, tracebacks for unreadable files, a check id the verdict did not parse)."""

from __future__ import annotations

import re

import pytest

from pytest_spark import catalog, verdict
from pytest_spark.cli import main

SUITE = """
import pytest

@pytest.mark.spark_check("PF-01")
def test_pf01(evidence):
    {body}
"""


def release_run(pytester: pytest.Pytester, body: str, *args: str) -> pytest.RunResult:
    pytester.makepyfile(SUITE.format(body=body))
    return pytester.runpytest(
        "-p", "no:cacheprovider", "--release", "v1.4.0", "--spark-check", "PF-01", *args
    )


def tarball_of(result: pytest.RunResult) -> str:
    return result.outlines[-1].rsplit("bundle: ", 1)[1]


def test_verify_require_go_refuses_a_no_go_bundle(pytester, capsys):
    result = release_run(pytester, "assert False, 'PF-01 broken'")
    assert result.ret == 1
    path = str(pytester.path / tarball_of(result))
    assert main(["verify", path]) == 0  # intact: integrity alone is not a deploy GO
    capsys.readouterr()
    assert main(["verify", path, "--require-go"]) == 1
    assert "NOT A DEPLOY GO: the verdict is NO-GO" in capsys.readouterr().out


def test_verify_require_go_refuses_a_partial_go(pytester, capsys):
    result = release_run(pytester, "pass")
    assert result.ret == 0
    assert main(["verify", str(pytester.path / tarball_of(result)), "--require-go"]) == 1
    assert "the scope is partial" in capsys.readouterr().out


@pytest.mark.parametrize("bad", ["nan", "inf", "0", "-1"])
def test_verify_limits_must_be_positive_numbers(tmp_path, capsys, bad):
    assert main(["verify", str(tmp_path), "--deadline-s", bad]) == 2
    assert "--deadline-s must be > 0" in capsys.readouterr().err


@pytest.mark.parametrize("part", ["spark-secrets", "spark-run", "spark-fixtures"])
def test_the_plugins_parts_cannot_be_switched_off(pytester, part):
    """Review finding: -p no:spark-run ran the checks with no verdict and exit 0."""
    pytester.makepyfile(SUITE.format(body="pass"))
    result = pytester.runpytest("-p", f"no:{part}", "--release", "v1.4.0")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{part} cannot be disabled*"])


@pytest.mark.parametrize("option", ["--spark-config", "--spark-waivers"])
@pytest.mark.parametrize("kind", ["binary", "directory"])
def test_an_unreadable_config_or_waivers_path_is_one_line_exit_4(pytester, option, kind):
    pytester.makepyfile(SUITE.format(body="pass"))
    target = pytester.path / "x.toml"
    if kind == "binary":
        target.write_bytes(b"\xff\xfe[x]")
    else:
        target.mkdir()
    result = pytester.runpytest(f"{option}={target}", "--release", "v1.4.0")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()


def test_three_digit_check_ids_are_check_ids():
    assert verdict._CHECK_ID.fullmatch("CN-100")
    assert re.fullmatch(verdict._CHECK_ID, "PF-01")


def _preflight_go(pytester: pytest.Pytester) -> str:
    body = 'import pytest\n\n@pytest.mark.spark_check("PF-0{i}")\ndef test_pf0{i}():\n    pass\n'
    home = pytester.mkdir("checks")  # --require-go wants the run's suite digest
    pytester.makeini("[pytest]\ntestpaths = checks\n")  # a release run collects checks/ only
    for i in range(1, 10):
        (home / f"test_pf0{i}.py").write_text(body.format(i=i))
    result = pytester.runpytest("-p", "no:cacheprovider", "-m", "preflight", "--release", "1.4.0")
    assert result.ret == 0 and "GO for preflight (9 of 9)" in result.outlines[-1]
    return str(pytester.path / tarball_of(result))


def test_a_preflight_only_go_is_no_release_go_unless_only_preflight_is_required(pytester, capsys):
    """Review finding 1: a full-scope preflight run (9 of 39 checks) passed the gate."""
    path = _preflight_go(pytester)
    capsys.readouterr()
    assert main(["verify", path, "--require-go"]) == 1
    out = capsys.readouterr().out
    n = len(catalog.CHECKS)
    assert f"NOT A DEPLOY GO: {n - 9} of {n} required checks did not pass in this run (BS-01" in out
    assert main(["verify", path, "--require-go", "--require", "preflight"]) == 0
    assert main(["verify", path, "--require-go", "--require", "preflight,RT-02"]) == 1
    assert main(["verify", path, "--require-go", "--require", "nonsense"]) == 2


def test_a_run_without_the_checks_suite_is_no_deploy_go_and_cannot_be_combined(pytester, capsys):
    """Review finding: stand-ins in a rootdir without checks/ (e.g. --rootdir elsewhere)
    were GO, and that bundle passed --require-go: the run names no suite digest."""
    path = _preflight_go(pytester)
    (pytester.path / "checks").rename(pytester.path / "stand_ins")
    again = pytester.runpytest("-p", "no:cacheprovider", "-m", "preflight", "--release", "1.4.0")
    assert again.ret == 0  # GO for what ran; the gate decides it is not the suite
    again.stdout.fnmatch_lines(["*no suite*no checks/ under the rootdir*refuse it"])
    suite_less = str(pytester.path / tarball_of(again))
    capsys.readouterr()
    args = ["--require-go", "--require", "preflight"]
    assert main(["verify", path, *args]) == 0
    assert main(["verify", suite_less, *args]) == 1
    assert "NOT A DEPLOY GO: the run names no suite digest: no checks/" in capsys.readouterr().out
    assert main(["combine", suite_less, "--require", "preflight"]) == 2
    assert "other code decided it: the run names no suite digest" in capsys.readouterr().err
    assert main(["combine", path, "--require", "preflight"]) == 0


def test_stale_evidence_is_no_deploy_go(pytester, capsys):
    """Review finding 5: the gate had no age limit."""
    import time

    path = _preflight_go(pytester)
    time.sleep(1.2)
    capsys.readouterr()
    args = ["verify", path, "--require-go", "--require", "preflight"]
    assert main([*args, "--max-age", "1s"]) == 1
    assert "the evidence is older than 0:00:01" in capsys.readouterr().out
    assert main([*args, "--max-age", "forever"]) == 2


@pytest.mark.parametrize("where", ["/etc", "/"])
def test_verify_of_a_folder_that_is_no_bundle_is_one_line(where, capsys):
    """Review finding 14: `verify /etc` reported 805 problems, `verify /` walked /proc."""
    assert main(["verify", where]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"pytest-spark verify: not a bundle: {where} has no manifest.json"


@pytest.mark.parametrize("expires", ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59-12:00"])
def test_waiver_expiries_at_the_ends_of_the_calendar_are_no_crash(pytester, expires):
    """Review finding 12: both crashed a run (internal error, exit 3)."""
    pytester.makefile(
        ".toml",
        waivers=f'[PF-01]\njustification = "j"\napprover = "a"\nexpires = "{expires}"\n',
    )
    result = release_run(pytester, "assert False, 'PF-01 broken'", "--spark-waivers",
                         "waivers.toml")  # fmt: skip
    out = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in out and "Traceback" not in out
    if expires.startswith("0001"):
        assert result.ret == 1 and "expired" in out  # an expired waiver does not apply
    else:
        assert result.ret == 4 and "past the last UTC date there is" in out


def test_combine_max_age_beyond_the_calendar_is_one_line(capsys, tmp_path):
    """Review finding 16: an OverflowError traceback."""
    assert main(["combine", str(tmp_path), "--max-age", "99999999999999d"]) == 2
    assert "must be above 0 and at most 90d" in capsys.readouterr().err
