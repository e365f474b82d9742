"""One outcome, one story (issue 15): the terminal, JUnit XML, the HTML report, summary.md
and verdict.json of ONE real run agree on every check's outcome.

The run holds each outcome EVIDENCE.md names: passed, failed (an assertion), error (a probe
that could not reach its target, and a fixture that broke in setup), waived (a failure under
an active waiver) and a blocker skipped by policy ("not verified", which blocks the
verdict). The expected counts are written out here, not computed by the code under test.
"""

from __future__ import annotations

import html
import json
import re
import xml.etree.ElementTree as ET
from collections import Counter

import pytest

SUITE = """
import pytest
from pytest_spark.probes import ProbeError


@pytest.fixture
def db():
    raise OSError("connection refused by 127.0.0.1:1")


@pytest.mark.spark_check("BS-01")
def test_clock_skew(evidence):
    evidence.observe("clocks", [{"host": "api", "skew_s": 5.1}, {"host": "db", "skew_s": 0.1}])
    evidence.attach("chronyc.txt", "System time: 5.1 seconds fast of NTP time")
    assert False, "skew 5.1 s between api and db (limit 1 s)"


@pytest.mark.spark_check("PF-02")
def test_ntp(evidence):
    raise ProbeError("NTP server 127.0.0.1:33633 did not answer within 5.0 s")


@pytest.mark.spark_check("BS-02")
def test_migrations(evidence, db):
    pass


@pytest.mark.spark_check("PF-01")
def test_identity(evidence):
    evidence.observe("instances", {"api-1": "v1.4.0"})


@pytest.mark.spark_check("PF-03")
def test_saturation(evidence):
    assert False, "cpu at 91 % (limit 80 %)"


@pytest.mark.spark_check("RT-02")
def test_idempotency(evidence):
    pass
"""

WAIVERS = """
[PF-03]
justification = "capacity upgrade lands next sprint"
approver = "alice"
expires = "2999-01-01"
"""

IDS = "BS-01,PF-02,BS-02,PF-01,PF-03,RT-02"
EXPECTED = {"passed": 1, "failed": 1, "error": 2, "waived": 1, "not verified": 1}
BY_CHECK = {
    "BS-01": "failed",
    "PF-02": "error",
    "BS-02": "error",
    "PF-01": "passed",
    "PF-03": "waived",
    "RT-02": "not verified",
}


@pytest.fixture
def one_run(pytester: pytest.Pytester, bundle_of):
    pytester.makepyfile(test_suite=SUITE)
    pytester.makefile(".toml", waivers=WAIVERS)
    result = pytester.runpytest(
        "-p",
        "no:cacheprovider",
        "-v",
        "--release",
        "v1.4.0",
        "--spark-check",
        IDS,
        "--junitxml=junit.xml",
        "--html=report.html",
        "--self-contained-html",
        # BS-02 asks for a fixture named like the suite's `db`: give it a target, or the
        # run is refused up front as having nothing to check (issue 15)
        "--spark-db-dsn=postgresql://spark@127.0.0.1:1/spark",
    )
    return result, bundle_of(), pytester.path


def _stats_line(result: pytest.RunResult) -> dict[str, int]:
    line = next(ln for ln in reversed(result.outlines) if re.search(r"\d+ passed", ln))
    found = re.findall(r"(\d+) (passed|failed|errors?|waived|not verified)", line)
    return {("error" if w.startswith("error") else w): int(n) for n, w in found}


def test_every_report_tells_the_same_outcomes(one_run):
    result, bundle, root = one_run
    assert result.ret == 1

    # verdict.json: raw outcomes become effective ones; a skipped blocker blocks
    v = bundle.verdict
    assert v["verdict"] == "NO-GO"
    assert v["counts"] == {"passed": 1, "failed": 1, "error": 2, "skipped": 1, "waived": 1}
    assert {r["check"] for r in v["reasons"]} == {"BS-01", "PF-02", "BS-02", "RT-02"}

    # terminal: pytest's own stats line uses the same words
    assert _stats_line(result) == EXPECTED

    # JUnit: <error> for errors, a visible waiver, a not-verified skip, counts to match
    suite = ET.parse(root / "junit.xml").getroot().find("testsuite")
    assert (suite.get("failures"), suite.get("errors"), suite.get("skipped")) == ("1", "2", "2")
    kinds = Counter()
    for case in suite.findall("testcase"):
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        child = next((c for c in case if c.tag in ("failure", "error", "skipped")), None)
        kind = "passed" if child is None else child.tag
        if child is not None and child.get("type") == "spark.waived":
            kind = "waived"
        if child is not None and child.get("type") == "spark.not-verified":
            kind = "not verified"
        kinds[kind] += 1
        assert props["spark_outcome"] == BY_CHECK[props["spark_check"]]
    junit = {"failure": "failed", "error": "error"}
    assert {junit.get(k, k): n for k, n in kinds.items()} == EXPECTED

    # HTML: the rows' results (pytest-html's filters) and our outcome column
    page = (root / "report.html").read_text()
    blob = re.search(r'data-jsonblob="([^"]*)"', page).group(1)
    rows = [row for rows in json.loads(html.unescape(blob))["tests"].values() for row in rows]
    assert Counter(row["result"] for row in rows) == {
        "Passed": 1,
        "Failed": 1,
        "Error": 2,
        "XFailed": 1,  # filed under pytest-html's "xfailed" filter, labelled "Waived"
        "Skipped": 1,
    }
    words = Counter(
        re.search(r'class="spark-word-[^"]*">([A-Z ]+)<', "".join(row["resultsTableRow"]))[1]
        for row in rows
    )
    assert {w.lower(): n for w, n in words.items()} == EXPECTED
    for label, n in (("Errors", 2), ("Failed", 1), ("Waived", 1), ("Passed", 1)):
        assert f">{n} {label}," in page.replace("\n", "").replace("  ", ""), label
    assert "6 checks</b>" in page

    # summary.md: the same words and counts, no exception class
    summary = (bundle.folder / "summary.md").read_text()
    assert "Checks: 1 passed, 1 failed, 2 error, 1 waived, 1 not verified" in summary
    table = Counter(
        line.split(" | ")[3].split(" (raw")[0]
        for line in summary.splitlines()
        if line[:4] == "| BS" or line[:4] in ("| PF", "| RT")
    )
    assert dict(table) == EXPECTED
    assert "ProbeError" not in summary and "OSError" not in summary


def test_check_lines_not_tracebacks(one_run):
    result, bundle, _ = one_run
    out = result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "*BS-01 Time * FAILED  skew 5.1 s between api and db (limit 1 s)",
            "*PF-02 NTP * ERROR  could not verify: NTP server 127.0.0.1:33633 did not answer "
            "within 5.0 s",
            "*PF-03 Saturation * WAIVED  cpu at 91 % (limit 80 %)",
            "*RT-02 Idempotency TTL * NOT VERIFIED  not verified (skipped by policy): RT-02 writes "
            "to the target; pass --spark-allow-writes",
        ]
    )
    # no traceback, test source or object dump in the terminal ...
    assert "raise ProbeError" not in out and "Recorder(" not in out and "def test_ntp" not in out
    # ... it is in the bundle, one artifact per failing check
    tb = (bundle.folder / "artifacts/PF-02/traceback.txt").read_text()
    assert 'raise ProbeError("NTP server' in tb
    assert "artifacts/PF-02/traceback.txt" in bundle.check("PF-02")["artifacts"]
    assert "connection refused" in (bundle.folder / "artifacts/BS-02/traceback.txt").read_text()
    # the verdict section names the skipped blocker for what it is
    assert re.search(r"RT-02\s+not verified\s+skipped by policy: RT-02 writes", out)
    assert out.count("spark verdict: NO-GO") == 1 and out.count("SPARK VERDICT:") == 1


def test_junit_names_checks_and_carries_the_verdict(one_run):
    _, bundle, root = one_run
    suite = ET.parse(root / "junit.xml").getroot().find("testsuite")
    names = sorted(case.get("name") for case in suite.findall("testcase"))
    assert names == [
        "BS-01 Time",
        "BS-02 Migrate",
        "PF-01 Identity",
        "PF-02 NTP",
        "PF-03 Saturation",
        "RT-02 Idempotency TTL",
    ]
    assert {case.get("classname") for case in suite.findall("testcase")} == {"test_suite"}
    props = {p.get("name"): p.get("value") for p in suite.find("properties")}
    assert props["spark_verdict"] == "NO-GO"
    assert props["spark_release"] == "v1.4.0"
    assert props["spark_run_id"] == bundle.verdict["run_id"]
    error = suite.find("testcase[@name='PF-02 NTP']/error")
    assert error.get("message").startswith("PF-02 NTP  ERROR  could not verify: NTP server")
    # the bundle keeps the rewritten file, byte for byte
    assert (bundle.folder / "junit.xml").read_bytes() == (root / "junit.xml").read_bytes()


def test_html_report_stands_alone(one_run):
    _, bundle, root = one_run
    page = (root / "report.html").read_text()
    run_id = bundle.verdict["run_id"]
    assert f'<title id="head-title">Spark v1.4.0: NO-GO (run {run_id})</title>' in page
    assert 'class="spark-verdict"' in page
    # pytest-html's template puts the environment table first; the page order says otherwise
    assert ".summary{order:-1}" in page and "#environment-header,#environment{order:5}" in page
    for fact in (run_id, f"pytest-spark verify {bundle.tarball.relative_to(root)}", "Scope"):
        assert html.escape(fact) in page, fact
    assert "PF-03 applied" in page and "capacity upgrade lands next sprint" in page
    blob = html.unescape(re.search(r'data-jsonblob="([^"]*)"', page).group(1))
    data = json.loads(blob)
    assert "data:application/json;base64" not in blob  # evidence is inline, not a link
    (bs01,) = data["tests"]["test_suite.py::test_clock_skew"]
    evidence = "".join(extra["content"] for extra in bs01["extras"])
    assert "<caption>clocks</caption>" in evidence and "<th>skew_s</th>" in evidence
    assert "artifacts/BS-01/chronyc.txt" in evidence and "5.1 seconds fast" in evidence
    # artifact links resolve both from the report where --html put it and from the bundle's copy
    for where, page_dir in ((page, root), ((bundle.folder / "report.html").read_text(), None)):
        blob_html = html.unescape(re.search(r'data-jsonblob="([^"]*)"', where).group(1))
        hrefs = re.findall(r'href=\\"([^"\\]*chronyc.txt)\\"', blob_html)
        assert len(hrefs) == 1, hrefs
        target = (page_dir / hrefs[0]) if page_dir else (bundle.folder / hrefs[0])
        assert target.read_text().startswith("System time: 5.1 seconds fast"), hrefs
    assert (
        re.findall(
            r'href=\\"([^"\\]*chronyc.txt)',
            html.unescape((bundle.folder / "report.html").read_text()),
        )[0]
        == "artifacts/BS-01/chronyc.txt"
    )
    (rt02,) = data["tests"]["test_suite.py::test_idempotency"]
    assert rt02["log"].startswith("policy: RT-02 writes to the target")  # not a tuple
    for row in (bs01, rt02):
        assert "Recorder(" not in row["log"] and "Check(id=" not in row["log"]


def test_an_explicit_tb_prints_the_traceback(pytester: pytest.Pytester):
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest(
        "-p", "no:cacheprovider", "--release", "v1.4.0", "--spark-check", "PF-02", "--tb=short"
    )
    assert 'raise ProbeError("NTP server' in result.stdout.str()
