"""Every row of the verdict policy, through real pytest runs of synthetic suites."""

from __future__ import annotations

import html
import sys
from pathlib import Path

import pytest

from pytest_spark import catalog

SUITE = """
import pytest

@pytest.mark.spark_check("BS-01")
def test_bs01(evidence):
    evidence.observe("clock", {{"skew_s": 0.2}})
    {bs01}

@pytest.mark.spark_check("PF-01")
def test_pf01(evidence):
    {pf01}

@pytest.mark.spark_check("RT-02")
def test_rt02(evidence):
    evidence.observe("raced", 8)
"""

ERROR = "raise ConnectionError('timed out after 2 s talking to api')"


def suite(bs01: str = "pass", pf01: str = "pass") -> str:
    return SUITE.format(bs01=bs01, pf01=pf01)


SUITE_IDS = "BS-01,PF-01,RT-02"


def run(pytester: pytest.Pytester, *args: str, ids: str | None = SUITE_IDS) -> pytest.RunResult:
    """A release run scoped to the synthetic suite's ids (the rest of the catalog is out of
    scope; without --spark-check every catalog check is in scope and missing ones block)."""
    scope = ("--spark-check", ids) if ids else ()
    return pytester.runpytest("-p", "no:cacheprovider", "--release", "v1.4.0", *scope, *args)


def test_all_pass_with_writes_allowed_is_go_exit_0(pytester, bundle_of):
    pytester.makepyfile(suite())
    result = run(pytester, "--spark-allow-writes")
    assert result.ret == 0
    assert result.outlines[-1].startswith(
        "SPARK VERDICT: GO for --spark-check BS-01,PF-01,RT-02 (3 of 3), PARTIAL: 3 of "
        f"{len(catalog.CHECKS)} catalog checks -- bundle: "
    )
    assert bundle_of().verdict["verdict"] == "GO"


def test_blocker_failure_is_no_go_and_evidence_is_written(pytester, bundle_of):
    pytester.makepyfile(suite(bs01="assert False, 'skew 5.1 s between api and db (limit 1 s)'"))
    result = run(pytester, "--spark-allow-writes")
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        ["SPARK VERDICT: NO-GO for *(3 of 3)* -- BS-01 failed -- bundle: *"]
    )
    b = bundle_of()
    rec = b.check("BS-01")
    assert rec["outcome"] == "failed" and rec["effective_outcome"] == "failed"
    assert rec["message"] == "skew 5.1 s between api and db (limit 1 s)"
    assert rec["observations"] == [{"name": "clock", "data": {"skew_s": 0.2}}]


def test_blocker_error_is_could_not_verify(pytester, bundle_of):
    pytester.makepyfile(suite(pf01=ERROR))
    result = run(pytester, "--spark-allow-writes")
    assert result.ret == 1
    reason = bundle_of().verdict["reasons"][0]
    assert reason["check"] == "PF-01" and reason["outcome"] == "error"
    assert "could not verify: timed out after 2 s" in reason["message"]  # no class name


def test_error_in_a_fixture_is_an_error_with_evidence_record(pytester, bundle_of):
    pytester.makepyfile(
        """
        import pytest

        @pytest.fixture
        def db():
            raise OSError("connection refused to 127.0.0.1:1")

        @pytest.mark.spark_check("BS-02")
        def test_bs02(evidence, db):
            pass
        """
    )
    # the target is configured (BS-02 is not refused for having none); it refuses connections
    assert run(pytester, "--spark-db-dsn=postgresql://u@127.0.0.1:1/x", ids="BS-02").ret == 1
    rec = bundle_of().check("BS-02")
    assert rec["outcome"] == "error" and "connection refused" in rec["message"]


def test_writes_check_skipped_by_policy_is_no_go_not_verified(pytester, bundle_of):
    pytester.makepyfile(suite())
    result = run(pytester)
    assert result.ret == 1
    reason = bundle_of().verdict["reasons"][0]
    assert reason["check"] == "RT-02" and reason["outcome"] == "skipped"
    assert "not verified (skipped by policy)" in reason["message"]
    assert "--spark-allow-writes" in reason["message"]


def test_exempt_policy_skip_is_go(pytester):
    pytester.makepyfile(suite())
    pytester.makefile(".toml", spark='[policy]\nexempt = ["RT-02"]\n')
    assert run(pytester).ret == 0


def test_disruptive_is_refused_in_production_even_when_allowed(pytester, bundle_of):
    pytester.makepyfile(
        """
        import pytest
        @pytest.mark.spark_check("RT-08")
        def test_pitr():
            pass
        """
    )
    pytester.makefile(".toml", spark="[policy]\nproduction = true\n")
    result = run(pytester, "--spark-allow-disruptive", ids="RT-08")
    assert result.ret == 4  # contradictory policy is a usage error before any test
    result.stderr.fnmatch_lines(["*allow_disruptive is refused when policy.production = true*"])
    result = run(pytester, ids="RT-08")
    assert result.ret == 1
    assert "target is production" in bundle_of().verdict["reasons"][0]["message"]


def test_warning_never_blocks(pytester, monkeypatch, bundle_of):
    from pytest_spark import catalog

    warn = catalog.Check(
        "BS-02", "Migrate", catalog.Suite.BLINDSPOTS, catalog.Severity.WARNING, "x"
    )
    monkeypatch.setitem(catalog.BY_ID, "BS-02", warn)
    pytester.makepyfile(
        """
        import pytest
        @pytest.mark.spark_check("BS-01")
        def test_ok(): pass
        @pytest.mark.spark_check("BS-02")
        def test_warn(): assert False, "1 migration behind"
        """
    )
    result = run(pytester, ids="BS-01,BS-02")
    assert result.ret == 0
    assert bundle_of().verdict["warnings"][0]["message"] == "1 migration behind"


def test_waived_failure_is_go_and_visible(pytester, bundle_of):
    pytester.makepyfile(suite(bs01="assert False, 'skew'"))
    pytester.makefile(
        ".toml",
        waivers=(
            '[BS-01]\njustification = "NTP fix in 1.4.1"\n'
            'approver = "sre-lead"\nexpires = 2999-01-01\n'
        ),
    )
    result = run(pytester, "--spark-allow-writes")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*BS-01*waived*by sre-lead until 2999-01-01*"])
    b = bundle_of()
    assert b.check("BS-01")["outcome"] == "failed"
    assert b.check("BS-01")["effective_outcome"] == "waived"


def test_expired_waiver_is_reported_and_not_applied(pytester, bundle_of):
    pytester.makepyfile(suite(bs01="assert False, 'skew'"))
    pytester.makefile(
        ".toml",
        waivers='[BS-01]\njustification = "old"\napprover = "sre-lead"\nexpires = 2020-01-01\n',
    )
    result = run(pytester, "--spark-allow-writes")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*BS-01*EXPIRED*waiver expired 2020-01-01*"])
    assert bundle_of().verdict["waivers"]["expired"][0]["check"] == "BS-01"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('[BS-01]\napprover = "x"\nexpires = 2030-01-01\n', "missing justification"),
        ('[XX-01]\njustification="a"\napprover="b"\nexpires=2030-01-01\n', "not a known check id"),
        ('[BS-01]\njustification="a"\napprover="b"\nexpires="soon"\n', "expires must be a date"),
        ("[BS-01\n", "invalid TOML"),
    ],
)
def test_malformed_waivers_stop_the_run_before_any_test(pytester, body, message):
    pytester.makepyfile(suite())
    pytester.makefile(".toml", waivers=body)
    result = run(pytester)
    assert result.ret == 4
    result.stderr.fnmatch_lines([f"*{message}*"])
    assert not (pytester.path / "reports").exists()


def test_nothing_ran_is_no_go(pytester, bundle_of):
    pytester.makepyfile(suite())
    result = run(pytester, "-k", "no_such_test")
    assert result.ret != 0
    reasons = bundle_of().verdict["reasons"]
    assert reasons[-1]["outcome"] == "nothing-ran"
    assert [r["check"] for r in reasons[:-1]] == ["BS-01", "PF-01", "RT-02"]  # -k left them out


def test_stopped_run_is_incomplete(pytester, bundle_of):
    pytester.makepyfile(suite(bs01="assert False"))
    result = run(pytester, "-x", "--spark-allow-writes")
    assert result.ret == 1
    reasons = bundle_of().verdict["reasons"]
    assert reasons[-1]["outcome"] == "incomplete"
    assert "2 selected test(s) did not run" in reasons[-1]["message"]


def test_keyboard_interrupt_is_incomplete(pytester, bundle_of):
    pytester.makepyfile(suite(pf01="raise KeyboardInterrupt"))
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--release", "v1.4.0", "--spark-allow-writes"
    )
    assert result.ret == 2
    assert bundle_of().verdict["reasons"][-1]["outcome"] == "incomplete"


def test_plain_test_suites_are_left_alone(pytester):
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest("-p", "no:cacheprovider")
    assert result.ret == 0
    assert "SPARK VERDICT" not in result.stdout.str()
    assert not (pytester.path / "reports").exists()


def test_unknown_check_id_is_a_usage_error(pytester):
    pytester.makepyfile("import pytest\n@pytest.mark.spark_check('ZZ-01')\ndef test_x(): pass\n")
    result = run(pytester)
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*unknown check id 'ZZ-01'*"])


def test_bad_config_is_one_line_exit_4(pytester):
    pytester.makepyfile(suite())
    pytester.makefile(".toml", spark="[thresholds]\nntp_max_offset_s = 'fast'\n")
    result = run(pytester)
    assert result.ret == 4
    result.stderr.fnmatch_lines(
        ["ERROR: pytest-spark: *thresholds.ntp_max_offset_s must be a number*"]
    )
    assert "Traceback" not in result.stderr.str()


def test_suite_markers_select_checks_and_strict_markers_work(pytester):
    pytester.makepyfile(suite())
    result = run(pytester, "-m", "preflight", "--strict-markers", ids=None)
    result.assert_outcomes(passed=1, deselected=2)
    pytester.makepyfile(test_typo="import pytest\n@pytest.mark.prefligth\ndef test_x(): pass\n")
    assert pytester.runpytest("--strict-markers", "test_typo.py").ret != 0


def test_markers_are_listed(pytester):
    result = pytester.runpytest("--markers")
    for name in (
        "blindspots",
        "preflight",
        "redteam",
        "contract",
        "chaos",
        "canary",
        "spark_check(id)",
    ):
        result.stdout.fnmatch_lines([f"@pytest.mark.{name}*"])


def test_junit_has_check_ids_and_is_kept_in_the_bundle(pytester, bundle_of):
    pytester.makepyfile(suite())
    run(pytester, "--spark-allow-writes", "--junitxml=junit.xml")
    junit = (bundle_of().folder / "junit.xml").read_text()
    assert '<property name="spark_check" value="BS-01"' in junit


def test_github_step_summary_is_appended(pytester, monkeypatch):
    target = pytester.path / "step.md"
    target.write_text("# earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(target))
    pytester.makepyfile(suite())
    run(pytester, "--spark-allow-writes")
    text = target.read_text()
    assert text.startswith("# earlier step\n") and "Spark release v1.4.0: **GO**" in text


def test_html_report_has_banner_columns_and_evidence(pytester, bundle_of):
    pytest.importorskip("pytest_html")
    pytester.makepyfile(suite(bs01="assert False, 'skew'"))
    run(pytester, "--spark-allow-writes", "--html=report.html", "--self-contained-html")
    page = html.unescape((pytester.path / "report.html").read_text())
    assert "Spark verdict: NO-GO" in page
    assert "<th>Check</th>" in page and "<td>BS-01</td>" in page and "blocker" in page
    assert "<caption>clock</caption>" in page and "<th>skew_s</th><td>0.2</td>" in page  # inline
    assert (bundle_of().folder / "report.html").is_file()


@pytest.mark.parametrize("flag", ["--co", "--collect-only"])
def test_collect_only_is_no_verdict_and_not_exit_0(pytester, flag):
    """Issue 8: --collect-only exited 0 on a release run; CI reads 0 as GO. No verdict, exit 5."""
    pytester.makepyfile(suite())
    result = run(pytester, flag)
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    assert result.outlines[-1].startswith("SPARK VERDICT: none -- --collect-only runs no check")
    assert "SPARK VERDICT: GO" not in result.stdout.str()
    assert not (pytester.path / "reports").exists()


def test_collect_only_of_a_plain_suite_is_left_alone(pytester):
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest("-p", "no:cacheprovider", "--co")
    assert result.ret == 0 and "SPARK VERDICT" not in result.stdout.str()


def test_spark_check_selects_by_id_and_rejects_unknown_ids(pytester, bundle_of):
    pytester.makepyfile(suite())
    result = run(pytester, "--spark-check", "PF-01,BS-01", ids=None)
    result.assert_outcomes(passed=2, deselected=1)
    assert sorted(bundle_of().verdict["outcomes"]) == ["BS-01", "PF-01"]
    result = run(pytester, "--spark-check", "PF-99", ids=None)
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*unknown check id(s)*PF-99*"])


def test_a_check_module_that_fails_to_import_makes_the_run_incomplete(pytester, bundle_of):
    pytester.makepyfile(test_good=suite(), test_broken="import no_such_module_here\n")
    result = run(pytester, "--spark-allow-writes", "--continue-on-collection-errors")
    assert result.ret != 0
    reasons = bundle_of().verdict["reasons"]
    assert reasons[-1]["outcome"] == "incomplete"
    assert "test_broken.py (collection error)" in " ".join(bundle_of().verdict["not_run"])


def test_sigterm_is_an_interrupted_run_with_a_verdict(pytester, bundle_of):
    pytester.makepyfile(suite(pf01="import os, signal; os.kill(os.getpid(), signal.SIGTERM)"))
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--release", "v1.4.0", "--spark-allow-writes"
    )
    assert result.ret == 2
    assert bundle_of().verdict["reasons"][-1]["outcome"] == "incomplete"
    result.stdout.fnmatch_lines(["SPARK VERDICT: NO-GO*incomplete*"])


def test_a_timeout_is_could_not_verify_not_a_failure(pytester, bundle_of):
    pytest.importorskip("pytest_timeout")
    pytester.makepyfile(suite(pf01="import time; time.sleep(5)"))
    run(pytester, "--spark-allow-writes", "--timeout", "1")
    reason = next(r for r in bundle_of().verdict["reasons"] if r["check"] == "PF-01")
    assert reason["outcome"] == "error" and "Timeout" in reason["message"]


def test_summary_makes_target_text_inert(pytester, bundle_of):
    pytester.makepyfile(suite(bs01="assert False, '![x](https://evil.example/p.png) <b>|</b>'"))
    run(pytester, "--spark-allow-writes")
    text = (bundle_of().folder / "summary.md").read_text()
    assert "![x](" not in text and "<b>" not in text
    assert "\\!\\[x\\](https://evil.example/p.png) \\<b\\>\\|\\</b\\>" in text


def test_any_setting_can_be_given_on_the_command_line(pytester, bundle_of):
    pytester.makepyfile(suite())
    run(
        pytester,
        "--spark-allow-writes",
        "--spark-set", "thresholds.ntp_max_offset_s=0.001",
        "--spark-set", "policy.exempt=['RT-08']",
        "--spark-set", "schema.test_account=PROBE-1",
    )  # fmt: skip
    config = bundle_of().json("manifest.json")["run"]["config"]
    assert config["thresholds"]["ntp_max_offset_s"] == 0.001
    assert config["policy"]["exempt"] == ["RT-08"]
    assert config["schema"]["test_account"] == "PROBE-1"
    result = run(pytester, "--spark-set", "thresholds.nope=1")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*--spark-set 'thresholds.nope': expected SECTION.KEY=VALUE*"])
    result = run(pytester, "--spark-set", "thresholds.ntp_max_offset_s=fast")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*thresholds.ntp_max_offset_s must be a number*"])


# ---- issue 8, section 2: no GO on nothing -------------------------------------------

PF_BODY = 'import pytest\n\n@pytest.mark.spark_check("PF-0{i}")\ndef test_pf0{i}():\n    pass\n'


def preflight_suite(pytester: pytest.Pytester, **modules: str) -> None:
    """The nine preflight checks, one module each (so one can be skipped or broken)."""
    home = pytester.path / "checks"  # the suite's place: runs name its digest (suite.py)
    home.mkdir(exist_ok=True)
    pytester.makeini("[pytest]\ntestpaths = checks\n")  # a release run collects checks/ only
    for i in range(1, 10):
        (home / f"test_pf0{i}.py").write_text(modules.get(f"pf0{i}", PF_BODY.format(i=i)))


def preflight_run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest(
        "-p", "no:cacheprovider", "-m", "preflight", "--release", "1.4.0", *args
    )


def test_full_preflight_is_go_and_the_line_names_the_scope(pytester, bundle_of):
    preflight_suite(pytester)
    result = preflight_run(pytester)
    assert result.ret == 0
    assert result.outlines[-1].startswith("SPARK VERDICT: GO for preflight (9 of 9) -- bundle: ")
    scope = bundle_of().verdict["scope"]
    assert scope["name"] == "preflight" and scope["selection"]["markexpr"] == "preflight"
    assert scope["in_scope"] == scope["selected"] == [f"PF-0{i}" for i in range(1, 10)]
    assert (
        "PF-01" not in scope["out_of_scope"]
        and len(scope["out_of_scope"]) == len(catalog.CHECKS) - 9
    )
    assert scope["not_run"] == [] and scope["partial"] == ""


@pytest.mark.parametrize("flag", ["--setup-plan", "--setup-only"])
def test_setup_plan_and_setup_only_run_no_check_and_are_not_go(pytester, bundle_of, flag):
    """Issue 8: `pytest -m preflight --release 1.4.0 --setup-plan` was GO, exit 0, passed: 9."""
    preflight_suite(pytester)
    result = preflight_run(pytester, flag)
    assert result.ret != 0
    assert "SPARK VERDICT: NO-GO" in result.outlines[-1]
    v = bundle_of().verdict
    assert v["verdict"] == "NO-GO" and v["counts"]["passed"] == 0
    assert {r["check"] for r in v["reasons"] if r["outcome"] == "not run"} == {
        f"PF-0{i}" for i in range(1, 10)
    }
    assert any(r["outcome"] == "nothing-ran" for r in v["reasons"])
    assert all(n.endswith("(no call phase)") for n in v["not_run"] if "::" in n)


def test_module_skipped_at_module_level_is_not_run_and_blocks(pytester, bundle_of):
    """Issue 8: a check module with pytest.skip(allow_module_level=True) vanished; GO, exit 0."""
    preflight_suite(
        pytester,
        pf03='import pytest\npytest.skip("no saturation here", allow_module_level=True)\n'
        '@pytest.mark.spark_check("PF-03")\ndef test_pf03():\n    assert False\n',
    )
    result = preflight_run(pytester)
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        ["SPARK VERDICT: NO-GO for preflight (8 of 9) -- 1 in scope not run (PF-03)*"]
    )
    v = bundle_of().verdict
    assert v["reasons"] == [
        {"check": "PF-03", "outcome": "not run", "message": "in scope but produced no result"}
    ]
    assert v["scope"]["not_run"] == ["PF-03"]
    from pytest_spark.bundle import verify

    assert verify(bundle_of().folder).ok  # a reviewer re-derives "not run" from the bundle


def test_missing_check_module_is_not_run_and_blocks(pytester, bundle_of):
    preflight_suite(pytester)
    (pytester.path / "checks" / "test_pf07.py").unlink()
    result = preflight_run(pytester)
    assert result.ret == 1
    assert bundle_of().verdict["scope"]["not_run"] == ["PF-07"]


def test_module_that_fails_to_import_is_not_run_and_blocks(pytester, bundle_of):
    preflight_suite(pytester, pf05="import no_such_module_anywhere\n")
    result = preflight_run(pytester, "--continue-on-collection-errors")
    assert result.ret != 0
    v = bundle_of().verdict
    assert v["scope"]["not_run"] == ["PF-05"]
    assert {r["outcome"] for r in v["reasons"]} == {"not run", "incomplete"}


def test_k_that_deselects_an_in_scope_check_blocks(pytester, bundle_of):
    preflight_suite(pytester)
    result = preflight_run(pytester, "-k", "not test_pf02")
    assert result.ret == 1
    assert bundle_of().verdict["scope"]["not_run"] == ["PF-02"]
    assert bundle_of().verdict["scope"]["selection"]["keyword"] == "not test_pf02"


def test_k_that_thins_a_check_is_a_partial_go(pytester, bundle_of):
    preflight_suite(
        pytester,
        pf04='import pytest\n\n@pytest.mark.spark_check("PF-04")\n'
        '@pytest.mark.parametrize("n", [1, 2])\ndef test_pf04(n):\n    pass\n',
    )
    result = preflight_run(pytester, "-k", "not 2]")
    assert result.ret == 0
    assert result.outlines[-1].startswith(
        "SPARK VERDICT: GO for preflight (9 of 9), PARTIAL: some tests of PF-04 deselected"
    )


def test_spark_check_go_says_it_is_partial(pytester, bundle_of):
    preflight_suite(pytester)
    result = pytester.runpytest(
        "-p", "no:cacheprovider", "--release", "1.4.0", "--spark-check", "PF-01"
    )
    assert result.ret == 0
    assert result.outlines[-1].startswith(
        "SPARK VERDICT: GO for --spark-check PF-01 (1 of 1), PARTIAL: 1 of "
        f"{len(catalog.CHECKS)} catalog checks"
    )
    scope = bundle_of().verdict["scope"]
    assert scope["in_scope"] == ["PF-01"] and scope["partial"]


def test_last_failed_rerun_without_the_rest_is_not_a_release_go(pytester, monkeypatch):
    import json

    preflight_suite(
        pytester,
        pf06='import os, pytest\n\n@pytest.mark.spark_check("PF-06")\ndef test_pf06():\n'
        '    assert os.environ.get("FIXED"), "sequence at 91 %"\n',
    )
    args = ("-m", "preflight", "--release", "1.4.0", "--spark-evidence-dir")
    assert pytester.runpytest(*args, "first").ret == 1
    monkeypatch.setenv("FIXED", "1")
    result = pytester.runpytest(*args, "again", "--lf")
    assert result.ret == 1  # 8 checks were not re-run: `pytest-spark combine` joins the runs
    (folder,) = [p for p in (pytester.path / "again").glob("*/*") if p.is_dir()]
    v = json.loads((folder / "verdict.json").read_text())
    assert v["scope"]["selection"]["last_failed"] is True
    assert len(v["scope"]["not_run"]) == 8 and v["outcomes"] == {"PF-06": "passed"}


def test_a_full_evidence_dir_is_no_go_with_a_verdict_line_and_no_leftovers(pytester, tmp_path):
    """Issue 8: a 64 KiB evidence tmpfs gave a raw OSError traceback and left .RUN.partial."""
    import os
    import subprocess

    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "full"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)]).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        preflight_suite(
            pytester,
            pf01='import pytest\n\n@pytest.mark.spark_check("PF-01")\ndef test_pf01(evidence):\n'
            '    evidence.attach("big.bin", b"x" * 200_000)\n',
        )
        result = preflight_run(pytester, f"--spark-evidence-dir={mnt}")
        assert result.ret == 1
        result.assert_outcomes(passed=9)  # the checks ran whole; only the bundle failed
        out = result.stdout.str() + result.stderr.str()
        assert "Traceback" not in out and "Errno 28" not in out
        result.stdout.fnmatch_lines(
            [
                "pytest-spark: the evidence bundle could not be written (No space left on device*",
                "SPARK VERDICT: NO-GO for preflight (9 of 9) -- * no evidence "
                "-- bundle: (no bundle written)",
            ]
        )
        assert list(mnt.rglob("*")) == []  # no .RUN.partial, no half tarball
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("[thresholds]\nclock_skew_s = nan\n", "thresholds.clock_skew_s must be a finite number"),
        ("[thresholds]\noutbox_max_age_s = nan\noutbox_max_backlog = 5\n", "outbox_max_age_s"),
        ("[thresholds]\nheartbeat_max_age_s = inf\n", "heartbeat_max_age_s must be a finite"),
        ("[policy]\ntimeout_s = 1e9\n", "policy.timeout_s must be in (0, 300] s"),
        ("[thresholds]\npool_sample_window_s = 1e9\n", "pool_sample_window_s must be in"),
    ],
)
def test_nan_and_absurd_settings_stop_the_run_before_any_test(pytester, setting, message):
    """Issue 8: clock_skew_s = nan with a 4.8 s skew was GO; RT-03 with NaN limits was GO."""
    pytester.makepyfile(suite(bs01="assert False, 'a check ran'"))
    pytester.makefile(".toml", spark=setting)
    result = run(pytester)
    assert result.ret == 4
    result.stderr.fnmatch_lines([f"ERROR: pytest-spark: *{message}*"])
    assert "Traceback" not in result.stderr.str() and "a check ran" not in result.stdout.str()
    assert not (pytester.path / "reports").exists()
    result = run(pytester, "--spark-set", "thresholds.clock_skew_s=nan")
    assert result.ret == 4


def test_waiver_expiring_at_an_offset_is_judged_in_utc(pytester, bundle_of):
    """Issue 8: expires = 2026-11-30T00:00:01+14:00 (2026-11-29T10:00:01Z) was applied 21 h
    after it had expired, because only the local date was kept."""
    pytester.makepyfile(suite(bs01="assert False, 'skew 4.8 s'"))
    pytester.makefile(
        ".toml",
        waivers='[BS-01]\njustification = "j"\napprover = "sre-lead"\n'
        "expires = 2026-11-30T00:00:01+14:00\n",
    )
    result = run(pytester, "--spark-allow-writes")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*BS-01*EXPIRED*waiver expired 2026-11-29T10:00:01Z*"])
    b = bundle_of()
    assert b.check("BS-01")["effective_outcome"] == "failed"
    from pytest_spark.bundle import verify

    assert verify(b.folder).ok


# ---- pytest-spark combine: one release verdict from several runs -----------------------


def combine_cli(*args: str) -> tuple[int, str, str]:
    import contextlib
    import io

    from pytest_spark.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["combine", *args])
    return code, out.getvalue(), err.getvalue()


def two_runs(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    release2: str = "1.4.0",
    sign: tuple[str, ...] = (),
):
    """A full preflight run where PF-06 fails, then a --spark-check PF-06 re-run that passes
    (``sign``: extra options of both runs, e.g. ``--spark-signing-key``)."""
    preflight_suite(
        pytester,
        pf06='import os, pytest\n\n@pytest.mark.spark_check("PF-06")\ndef test_pf06():\n'
        '    assert os.environ.get("FIXED"), "sequence at 91 %"\n',
    )
    base = (*sign, "-p", "no:cacheprovider", "--spark-evidence-dir")
    first = pytester.runpytest(*base, "r1", "-m", "preflight", "--release", "1.4.0")
    assert first.ret == 1
    monkeypatch.setenv("FIXED", "1")
    second = pytester.runpytest(*base, "r2", "--spark-check", "PF-06", "--release", release2)
    assert second.ret == 0 and "PARTIAL" in second.outlines[-1]
    (a,) = (pytester.path / "r1").glob("*/*.tar.gz")
    (b,) = [p for p in (pytester.path / "r2").glob("*/*") if p.is_dir()]
    return a, b


def test_combine_a_failed_run_and_its_partial_rerun_is_a_release_go(pytester, monkeypatch):
    a, b = two_runs(pytester, monkeypatch)
    out_json = pytester.path / "combined.json"
    code, out, err = combine_cli(str(a), str(b), "--require", "preflight", "--out", str(out_json))
    assert code == 0, out + err
    assert out.strip().splitlines()[-1] == (
        "SPARK RELEASE VERDICT: GO for release v1.4.0 (9 of 9 required checks, from 2 run(s)); "
        "2 run(s) unauthenticated: integrity only (give --key PUB)"
    )
    import json

    v = json.loads(out_json.read_text())
    assert v["verdict"] == "GO" and v["checks"]["PF-06"]["outcome"] == "passed"
    assert v["checks"]["PF-06"]["run_id"] == b.name and len(v["runs"]) == 2
    # only the first run: PF-06 failed; the whole catalog required: the others never ran
    assert combine_cli(str(a), "--require", "preflight")[0] == 1
    code, out, _ = combine_cli(str(a), str(b))
    assert code == 1 and f"(9 of {len(catalog.CHECKS)} required checks" in out
    assert "RT-10  not run" in out


def test_combine_refuses_tampered_bundles_and_mixed_releases(pytester, monkeypatch):
    a, b = two_runs(pytester, monkeypatch, release2="1.4.1")
    code, _, err = combine_cli(str(a), str(b), "--require", "preflight")
    assert code == 2 and "refusing to mix releases" in err
    rec = b / "checks" / "PF-06.json"
    rec.write_text(rec.read_text().replace('"passed"', '"failed"', 1))
    code, _, err = combine_cli(str(b), "--require", "PF-06")
    assert code == 2 and "does not verify" in err


def test_combine_with_a_key_authenticates_every_run_and_refuses_forgeries(pytester, monkeypatch):
    """A bundle rebuilt from scratch is self-consistent (integrity holds); only the
    signature tells it from a real run, so combine takes verify's --key and
    --require-signature (EVIDENCE.md "Verify")."""
    from pytest_spark.cli import main

    assert main(["keygen", str(pytester.path / "ci.key")]) == 0
    assert main(["keygen", str(pytester.path / "other.key")]) == 0
    two_runs(pytester, monkeypatch, sign=("--spark-signing-key", "ci.key"))
    for run in ("r1", "r2"):  # make room for the unsigned pair below
        (pytester.path / run).rename(pytester.path / f"signed-{run}")
    (a,) = (pytester.path / "signed-r1").glob("*/*.tar.gz")
    (b,) = [p for p in (pytester.path / "signed-r2").glob("*/*") if p.is_dir()]
    pub, other = pytester.path / "ci.key.pub", pytester.path / "other.key.pub"
    code, out, err = combine_cli(str(a), str(b), "--require", "preflight", "--key", str(pub),
                                 "--require-signature")  # fmt: skip
    assert code == 0, out + err
    assert out.strip().splitlines()[-1].endswith("(9 of 9 required checks, from 2 run(s))")
    code, _, err = combine_cli(str(a), str(b), "--require", "preflight", "--key", str(other))
    assert code == 2 and "does not verify" in err
    monkeypatch.delenv("FIXED")
    unsigned, _ = two_runs(pytester, monkeypatch)
    code, _, err = combine_cli(str(unsigned), str(b), "--require", "preflight",
                               "--key", str(pub), "--require-signature")  # fmt: skip
    assert code == 2 and "not signed by the given key" in err
    code, _, err = combine_cli(str(a), "--require-signature")
    assert code == 2 and "--require-signature needs --key PUB" in err


def test_combine_drops_stale_results(pytester, monkeypatch):
    a, b = two_runs(pytester, monkeypatch)
    later = "2999-01-01T00:00:00+00:00"
    code, out, _ = combine_cli(str(a), str(b), "--require", "preflight", "--now", later)
    assert code == 1 and "stale: newest result (passed" in out
    assert combine_cli(str(a), str(b), "--max-age", "forever")[0] == 2


def test_under_xdist_scope_and_call_phases_are_judged_on_the_controller(pytester, bundle_of):
    pytest.importorskip("xdist")
    preflight_suite(pytester)
    base = ("-p", "no:cacheprovider", "-n", "2", "-m", "preflight", "--release", "1.4.0")
    result = pytester.runpytest_subprocess(*base)
    assert result.ret == 0, result.stdout.str()[-2000:]
    assert result.outlines[-1].startswith("SPARK VERDICT: GO for preflight (9 of 9) -- bundle: ")
    for folder in (pytester.path / "reports").glob("*/*"):
        if folder.is_dir():
            import shutil

            shutil.rmtree(folder)
    result = pytester.runpytest_subprocess(*base, "--setup-only")
    assert result.ret != 0 and "SPARK VERDICT: NO-GO" in result.outlines[-1]


@pytest.mark.parametrize("bad", ["nan", "99999999999999999999999", "yesterday"])
def test_combine_now_errors_name_the_option(bad: str) -> None:
    code, out, err = combine_cli("/nonexistent.tar.gz", "--now", bad)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and f"--now {bad!r}: not an ISO 8601 time" in err, err


STAND_IN = 'import pytest\n\n@pytest.mark.spark_check("PF-01")\ndef test_pf01():\n    pass\n'


def suite_in_checks(pytester: pytest.Pytester) -> None:
    """The synthetic suite where a real one lives: checks/ under the rootdir."""
    pytester.mkdir("checks")
    pytester.path.joinpath("checks", "test_suite.py").write_text(suite())


def conftest_elsewhere(pytester: pytest.Pytester) -> Path:
    """other/conftest.py, which leaves a marker file behind if it is ever imported."""
    pytester.mkdir("other")
    marker = pytester.path / "imported"
    pytester.path.joinpath("other", "conftest.py").write_text(
        f"import pathlib\npathlib.Path({str(marker)!r}).write_text('x')\n"
    )
    return marker


@pytest.mark.parametrize(
    "where", [("tests/test_stand_in.py",), ("tests",), (".",), ("--pyargs", "test_stand_in")]
)
def test_a_release_run_refuses_test_paths_outside_the_suite(pytester, where):
    """Importing a test module runs its code inside the run (it could patch the plugin):
    with a checks/ suite under the rootdir, a release run collects nothing else."""
    suite_in_checks(pytester)
    pytester.mkdir("tests")
    pytester.path.joinpath("tests", "test_stand_in.py").write_text(STAND_IN)
    result = run(pytester, "--spark-allow-writes", *where)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*pytest-spark: a release run collects*checks/ only*"])
    assert not (pytester.path / "reports").exists()


@pytest.mark.parametrize("workers", [(), ("-n", "2")], ids=["serial", "xdist"])
def test_a_stand_in_linked_into_the_suite_is_not_counted(pytester, bundle_of, workers):
    """A symlink in checks/ to a test elsewhere: its target is no suite file (NO-GO: the
    suite cannot be digested), and its result is no record of the check."""
    suite_in_checks(pytester)
    pytester.mkdir("stand_ins")
    pytester.path.joinpath("stand_ins", "test_stand_in.py").write_text(STAND_IN)
    pytester.path.joinpath("checks", "test_zz.py").symlink_to("../stand_ins/test_stand_in.py")
    args = ("-p", "no:cacheprovider", "--release", "v1.4.0", "--spark-check", SUITE_IDS)
    args += ("--spark-allow-writes", *workers, "checks")
    # xdist in a subprocess: in-process xdist runs re-import asyncio (RecursionError later)
    result = (pytester.runpytest_subprocess if workers else pytester.runpytest)(*args)
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*not counted*checks/test_zz.py::test_pf01: bound outside*"])
    found = bundle_of()
    assert found.verdict["verdict"] == "NO-GO"
    not_run = found.json("manifest.json")["run"]["not_run"]
    assert "checks/test_zz.py::test_pf01 (bound outside the suite's checks/)" in not_run
    assert any(e.startswith("checks/ (not digested: ") and "a symlink" in e for e in not_run)
    nodeids = [t["nodeid"] for t in found.check("PF-01")["tests"]]
    assert nodeids == ["checks/test_suite.py::test_pf01"]
    combined = pytester.run(
        sys.executable, "-m", "pytest_spark.cli", "combine", str(found.tarball),
        "--require", "PF-01",
    )  # fmt: skip
    assert combined.ret == 2 and "names no suite digest" in combined.stderr.str()


def test_the_bundle_names_the_suite_and_plugin_digests(pytester, bundle_of):
    suite_in_checks(pytester)
    result = run(pytester, "--spark-allow-writes", "checks")
    assert result.ret == 0, result.stdout.str()[-2000:]
    code = bundle_of().json("manifest.json")["run"]["code"]
    assert code["suite"]["path"] == "checks" and code["suite"]["files"] == 1
    assert code["suite"]["digest"].startswith("sha256:")
    assert code["plugin"]["path"] == "pytest_spark" and code["plugin"]["files"] > 10


def test_the_suite_digest_is_taken_before_collection_imports_a_module(pytester, bundle_of):
    """A module that rewrites itself on import cannot make the record show other bytes."""
    from pytest_spark import suite as code

    pytester.mkdir("checks")
    module = pytester.path / "checks" / "test_suite.py"
    module.write_text(
        suite() + "\nimport pathlib\npathlib.Path(__file__).write_text('# innocent\\n')\n"
    )
    before = code.tree_digest(pytester.path / "checks")["digest"]
    result = run(pytester, "--spark-allow-writes", "checks")
    assert result.ret == 0, result.stdout.str()[-2000:]
    assert module.read_text() == "# innocent\n"
    assert bundle_of().json("manifest.json")["run"]["code"]["suite"]["digest"] == before


def test_the_conftest_of_a_path_outside_the_suite_is_never_imported(pytester):
    """Third review: other/conftest.py loaded (and could patch the plugin) before the
    refusal. The refusal now comes before pytest loads the initial conftests."""
    suite_in_checks(pytester)
    marker = conftest_elsewhere(pytester)
    pytester.path.joinpath("other", "test_stand_in.py").write_text(STAND_IN)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--release", "v1.4.0", "other")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert not marker.exists()


@pytest.mark.parametrize(
    ("testpaths", "refused"),
    [("checks/nope", True), ("checks/**/..", True), ("check*", False), ("checks", False)],
)
def test_testpaths_are_judged_as_pytest_expands_them(pytester, testpaths, refused):
    """Fourth review: testpaths matching nothing made pytest collect the rootdir (and load
    other/conftest.py); a glob was judged as its raw text."""
    suite_in_checks(pytester)
    marker = conftest_elsewhere(pytester)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--release", "v1.4.0", "--spark-check", SUITE_IDS,
        "--spark-allow-writes", "-o", f"testpaths={testpaths}",
    )  # fmt: skip
    if refused:
        assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()[-1500:]
    else:
        assert result.ret == 0, result.stdout.str()[-1500:]
    assert not marker.exists()


def test_the_suite_digest_is_taken_before_the_suites_conftest_runs(pytester, bundle_of):
    from pytest_spark import suite as code

    suite_in_checks(pytester)
    pytester.makeini("[pytest]\ntestpaths = checks\n")
    conftest = pytester.path / "checks" / "conftest.py"
    conftest.write_text("import pathlib\npathlib.Path(__file__).write_text('# reviewed\\n')\n")
    before = code.tree_digest(pytester.path / "checks")["digest"]
    result = run(pytester, "--spark-allow-writes")
    assert result.ret == 0, result.stdout.str()[-2000:]
    assert conftest.read_text() == "# reviewed\n"
    assert bundle_of().json("manifest.json")["run"]["code"]["suite"]["digest"] == before
