"""Issue 15, first contact, as a newcomer types it: real pytest processes on a copy of checks/."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

CHECKS_DIR = Path(__file__).resolve().parents[2] / "checks"
RUN = ("-p", "no:cacheprovider")


@pytest.fixture
def clone(pytester: pytest.Pytester) -> pytest.Pytester:
    """A fresh checkout's layout: checks/ as testpaths, no spark.toml, no sandbox."""
    shutil.copytree(CHECKS_DIR, pytester.path / "checks")
    pytester.makeini("[pytest]\ntestpaths = checks\n")
    return pytester


def test_first_preflight_run_without_targets_is_one_short_message_and_exit_4(clone) -> None:
    result = clone.runpytest_subprocess(*RUN, "-m", "preflight", "--release", "v1.4.0")
    out, err = result.stdout.str(), result.stderr.str()
    assert result.ret == 4, out + err
    lines = [ln for ln in (out + err).splitlines() if ln.strip()]
    assert len(lines) <= 15, "\n".join(lines)
    text = out + err
    assert "Traceback" not in text and "SparkConfig(" not in text
    assert "no target" in text and "targets.api_urls (--spark-api-url)" in text
    assert "pytest-spark init" in text and "--spark-sandbox" in text
    assert "passed" not in text and "failed" not in text  # no test ran
    assert not (clone.path / "reports").exists()  # no bundle, no verdict


def test_a_run_selecting_only_checks_whose_targets_are_set_is_not_refused(clone) -> None:
    result = clone.runpytest_subprocess(
        *RUN, "--spark-check", "pf-05", "--release", "1.4.0", "--spark-no-bundle",
        "--spark-api-url=http://127.0.0.1:9", "--spark-set", "policy.timeout_s=2",
    )  # fmt: skip
    text = result.stdout.str()
    assert result.ret == 1, text  # ran and could not reach the target: ERROR, NO-GO
    assert "nothing to check" not in text
    assert "SPARK VERDICT: NO-GO for --spark-check PF-05 (1 of 1)" in text
    # no bundle asked for: the last line says what that means for a deploy gate
    assert result.outlines[-1].endswith(
        "bundle: (none: --spark-no-bundle, no evidence for `pytest-spark verify --require-go`)"
    )


def test_release_labels_share_one_folder_and_banana_is_one_line(clone) -> None:
    # in checks/: a bound test elsewhere cannot stand in for the suite's check
    (clone.path / "checks" / "test_bound.py").write_text(
        'import pytest\n\n@pytest.mark.spark_check("PF-05")\ndef test_pf05():\n    pass\n'
    )
    run = (*RUN, "checks/test_bound.py", "--spark-check", "PF-05")
    for label in ("1.4.0", "v1.4.0"):
        result = clone.runpytest_subprocess(*run, "--release", label)
        assert result.ret == 0, result.stdout.str()
    assert [p.name for p in (clone.path / "reports").iterdir()] == ["v1.4.0"]
    assert len(list((clone.path / "reports" / "v1.4.0").glob("*.tar.gz"))) == 2
    bad = clone.runpytest_subprocess(*run, "--release", "banana")
    assert bad.ret == 4
    errors = [ln for ln in bad.stderr.str().splitlines() if ln.strip()]
    assert len(errors) == 1 and "MAJOR.MINOR.PATCH" in errors[0], errors
    unreleased = clone.runpytest_subprocess(*run)
    assert unreleased.ret == 1
    assert "SPARK VERDICT: NO-GO" in unreleased.outlines[-1]
    assert "no release" in unreleased.outlines[-1]


def test_spark_check_and_m_dropping_an_id_warns(clone) -> None:
    result = clone.runpytest_subprocess(
        *RUN, "--collect-only", "-q", "--spark-check", "PF-05,RT-04", "-m", "preflight"
    )
    assert "-m 'preflight' drops RT-04 named by --spark-check" in result.stdout.str()


@pytest.fixture
def project(pytester: pytest.Pytester, tmp_path_factory: pytest.TempPathFactory):
    """A project whose ini selects suite/ only, and a config file outside it."""
    pytester.makeini("[pytest]\ntestpaths = suite\n")
    (pytester.path / "suite").mkdir()
    (pytester.path / "suite" / "test_suite.py").write_text("def test_in_suite():\n    pass\n")
    (pytester.path / "own").mkdir()
    (pytester.path / "own" / "test_own.py").write_text("def test_projects_own():\n    pass\n")
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "x.toml"
    elsewhere.write_text("[policy]\ntimeout_s = 2.0\n")
    return pytester, elsewhere


def test_spark_config_with_equals_keeps_rootdir_and_testpaths(project) -> None:
    pytester, config = project
    result = pytester.runpytest_subprocess(*RUN, "--collect-only", "-q", f"--spark-config={config}")
    out = result.stdout.str()
    assert result.ret == 0, out
    assert "test_in_suite" in out and "test_projects_own" not in out


def test_spark_config_space_form_never_collects_the_wrong_tests(project) -> None:
    pytester, config = project
    result = pytester.runpytest_subprocess(
        *RUN, "--collect-only", "-q", "--spark-config", str(config)
    )
    out, err = result.stdout.str(), result.stderr.str()
    assert "test_projects_own" not in out
    assert result.ret == 4, out + err
    assert f"write --spark-config={config}" in err


def test_space_form_inside_the_project_is_harmless(project) -> None:
    pytester, _config = project
    (pytester.path / "staging.toml").write_text("[policy]\ntimeout_s = 2.0\n")
    result = pytester.runpytest_subprocess(
        *RUN, "--collect-only", "-q", "--spark-config", "staging.toml"
    )
    out = result.stdout.str()
    assert result.ret == 0, out + result.stderr.str()
    assert "test_in_suite" in out and "test_projects_own" not in out
