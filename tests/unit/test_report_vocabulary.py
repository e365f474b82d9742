"""The shared outcome vocabulary agrees with the verdict, and evidence renders inert HTML."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from pytest_spark import verdict
from pytest_spark.report import html as report_html
from pytest_spark.report import outcome as vocab
from pytest_spark.waivers import Waiver

DAY = dt.date(2026, 11, 30)
BLOCKING = {vocab.FAILED, vocab.ERROR, vocab.NOT_VERIFIED}


@given(
    raw=st.sampled_from(sorted(verdict.RAW_OUTCOMES)),
    severity=st.sampled_from(["blocker", "warning"]),
    waived=st.booleans(),
    exempt=st.booleans(),
    skip_kind=st.sampled_from(["", "policy"]),
)
def test_a_word_blocks_exactly_when_the_verdict_blocks(raw, severity, waived, exempt, skip_kind):
    """EVIDENCE.md: the word a reader sees must never be milder than the verdict's reason."""
    rec = {"id": "PF-02", "severity": severity, "outcome": raw, "skip_kind": skip_kind}
    rec["message"] = "m"
    waivers = [Waiver("PF-02", "j", "alice", "2999-01-01")] if waived else []
    v = verdict.compute([rec], waivers=waivers, exempt=["PF-02"] if exempt else [], day=DAY)
    word = vocab.record_shown(rec, v)
    blocks = any(r["check"] == "PF-02" for r in v["reasons"])
    if severity == "blocker":
        assert (word in BLOCKING) == blocks, (word, v["reasons"])
    # the same word from the report-time inputs (terminal, JUnit, HTML rows)
    at_report_time = vocab.shown(raw, severity=severity, waived=waived, exempt=exempt)
    assert at_report_time == word


def test_reason_words():
    reason = {"check": "RT-02", "outcome": "skipped", "message": "not verified (skipped by "
              "policy): RT-02 writes to the target"}  # fmt: skip
    assert vocab.reason_word(reason) == (
        "not verified",
        "skipped by policy: RT-02 writes to the target",
    )
    assert vocab.reason_word({"outcome": "error", "message": "could not verify: x"}) == (
        "error",
        "could not verify: x",
    )


def test_check_line_is_the_issue_example():
    text = vocab.message("error", "NTP server 127.0.0.1:33633 did not answer within 5.0 s")
    assert vocab.check_line("PF-02", "NTP", "error", text) == (
        "PF-02 NTP  ERROR  could not verify: NTP server 127.0.0.1:33633 did not answer within 5.0 s"
    )


def test_evidence_tables_are_inert_html():
    hostile = "<script>alert(1)</script>"
    rows = report_html.observation_html("findings", [{"code": hostile, "n": 1}, {"extra": "x"}])
    assert "<th>code</th><th>n</th><th>extra</th>" in rows
    assert hostile not in rows and "&lt;script&gt;" in rows
    keyed = report_html.observation_html("instances", {"http://a": {"version": "1.4.0"}})
    assert "<th>http://a</th><td>1.4.0</td>" in keyed
    pairs = report_html.observation_html(hostile, {"skew_s": 5.1})
    assert hostile not in pairs and "<th>skew_s</th><td>5.1</td>" in pairs
    assert report_html.observation_html("n", 3) == "<p><b>n</b>: 3</p>"


def test_artifacts_link_and_preview_but_binary_is_not_previewed():
    out = report_html.artifacts_html("PF-01", {"a.txt": b"hello <b>", "b.bin": b"\xff\xfe"}, "")
    assert '<a href="artifacts/PF-01/a.txt">' in out and "hello &lt;b&gt;" in out
    assert '<a href="artifacts/PF-01/b.bin">' in out and "<pre>" in out.split("b.bin")[0]
    assert out.count("<pre>") == 1


def test_an_unreadable_junit_file_is_left_alone_with_a_warning(tmp_path):
    from pytest_spark.report import junit

    path = tmp_path / "junit.xml"
    path.write_text("<testsuites><testsuite")  # truncated: a full disk, a killed writer
    problem = junit.rewrite(path, {"verdict": "GO"}, "v1.4.0", "run")
    assert problem.startswith(f"JUnit XML {path} left as pytest wrote it")
    assert path.read_text() == "<testsuites><testsuite"
