"""The terminal's words for check results: check lines instead of function names and
tracebacks (issue 15). Plain functions; plugin.py's hooks only call them.

pytest decides how a report is counted and printed through ``pytest_report_teststatus``
(category, letter, word); we answer it with the shared vocabulary (report/outcome.py),
so the stats line says "1 error, 1 waived, 1 not verified" exactly as verdict.json does.
"""

from __future__ import annotations

from typing import Any

import pytest

from .. import catalog
from .outcome import ERROR, PASSED, WORDS, check_line, message

Status = tuple[str, str, "str | tuple[str, dict[str, bool]]"]


def check_id_of(report: pytest.TestReport | pytest.CollectReport) -> str:
    """The check id a report belongs to (the spark_check junit property set at collection)."""
    return str(dict(getattr(report, "user_properties", None) or ()).get("spark_check", ""))


def teststatus(report: pytest.TestReport, *, own_line: bool) -> Status | None:
    """pytest_report_teststatus for a check's phase report, or None for pytest's default.

    ``own_line``: -v while tests run; the category still counts, but the line is ours
    (``progress_line``), printed once the test's teardown is in.
    """
    if not check_id_of(report) or report.when not in ("setup", "call", "teardown"):
        return None
    payload = getattr(report, "spark", None) or {}
    if report.passed:
        if report.when != "call":
            return None  # pytest's ("", "", ""): passing setup/teardown are not results
        word = WORDS[PASSED]
    else:
        word = WORDS[payload.get("shown", ERROR)]
    if own_line:
        return word.category, "", ""
    return word.category, word.letter, (word.word, {word.colour: True})


def test_line(check_id: str, test: dict[str, Any], nodeid: str) -> tuple[str, str]:
    """(line, colour) of one finished test: `PF-02 NTP  ERROR  could not verify: ...`."""
    check = catalog.BY_ID[check_id]
    shown = test.get("shown", PASSED)
    title = check.title
    params = nodeid.partition("[")[2]
    if params:
        title += f" [{params}"
    text = message(shown, test.get("message", ""), skip_kind=test.get("skip_kind", ""))
    return check_line(check_id, title, shown, text, width=22), WORDS[shown].colour


def write_test_line(tr: Any, report: pytest.TestReport) -> None:
    """-v: a finished test's check line, after pytest's "path::test " prefix (under xdist,
    which prints no prefix, on a line of its own, ended the way pytest ends its own)."""
    payload = getattr(report, "spark", None)
    if not payload or report.when != "teardown":
        return
    line, colour = test_line(payload["check"], payload["test"], report.nodeid)
    if hasattr(report, "node"):
        tr.ensure_newline()
        tr.write(line, **{colour: True})
        tr.currentfspath = -2
    else:
        tr.write(line, **{colour: True})


def short_longrepr(report: pytest.TestReport) -> str | None:
    """What a failed check shows in FAILURES/ERRORS, JUnit and HTML instead of its traceback
    (the traceback is artifacts/<ID>/traceback.txt in the bundle)."""
    payload = getattr(report, "spark", None)
    cid = check_id_of(report)
    if not payload or not cid or not report.failed:
        return None
    shown = payload.get("shown", ERROR)
    text = message(shown, payload.get("message", ""), skip_kind=payload.get("skip_kind", ""))
    line = check_line(cid, catalog.BY_ID[cid].title, shown, text)
    return (
        f"{line}\n(full traceback: artifacts/{cid}/ in the evidence bundle, or run with --tb=long)"
    )


def tb_explicit(config: pytest.Config) -> bool:
    """--tb given (command line, addopts or ini): then pytest prints tracebacks as asked."""
    return config.option.tbstyle != "auto"
