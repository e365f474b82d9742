"""Every row of the verdict policy, through real pytest runs of synthetic suites."""

from __future__ import annotations

import html

import pytest

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


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("-p", "no:cacheprovider", "--release", "v1.4.0", *args)


def test_all_pass_with_writes_allowed_is_go_exit_0(pytester, bundle_of):
    pytester.makepyfile(suite())
    result = run(pytester, "--spark-allow-writes")
    assert result.ret == 0
    assert result.outlines[-1].startswith("SPARK VERDICT: GO -- bundle: ")
    assert bundle_of().verdict["verdict"] == "GO"


def test_blocker_failure_is_no_go_and_evidence_is_written(pytester, bundle_of):
    pytester.makepyfile(suite(bs01="assert False, 'skew 5.1 s between api and db (limit 1 s)'"))
    result = run(pytester, "--spark-allow-writes")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["SPARK VERDICT: NO-GO -- BS-01 failed -- bundle: *"])
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
    assert "could not verify: ConnectionError: timed out after 2 s" in reason["message"]


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
    assert run(pytester).ret == 1
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
    result = run(pytester, "--spark-allow-disruptive")
    assert result.ret == 4  # contradictory policy is a usage error before any test
    result.stderr.fnmatch_lines(["*allow_disruptive is refused when policy.production = true*"])
    result = run(pytester)
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
    result = run(pytester)
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
    assert bundle_of().verdict["reasons"][0]["outcome"] == "nothing-ran"


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
    result = run(pytester, "-m", "preflight", "--strict-markers")
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
    assert "BS-01 evidence" in page
    assert (bundle_of().folder / "report.html").is_file()


def test_collect_only_writes_no_bundle_and_no_verdict(pytester):
    pytester.makepyfile(suite())
    result = run(pytester, "--co")
    assert result.ret == 0
    assert "SPARK VERDICT" not in result.stdout.str()
    assert not (pytester.path / "reports").exists()


def test_spark_check_selects_by_id_and_rejects_unknown_ids(pytester, bundle_of):
    pytester.makepyfile(suite())
    result = run(pytester, "--spark-check", "PF-01,BS-01")
    result.assert_outcomes(passed=2, deselected=1)
    assert sorted(bundle_of().verdict["outcomes"]) == ["BS-01", "PF-01"]
    result = run(pytester, "--spark-check", "PF-99")
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
