"""pytest-html integration: a report that stands alone (issue 15; EVIDENCE.md, Reports).

The verdict comes first (title and banner, above pytest-metadata's environment table),
then release, run id, bundle and the verify command, scope, waivers and counts in
checks; every row has the check id, title, outcome in the shared vocabulary
(report/outcome.py) and message, and opens to the check's evidence as tables.

Only pytest-html 4's hooks are used. Two of its limits are worked with, not around:
its results filter knows a fixed set of results (passed, failed, error, skipped,
xfailed, ...), so a waived check files under "xfailed" with the label "Waived" and a
not-verified one under "skipped" with a red NOT VERIFIED outcome; and its page layout
is a template, so the order (verdict first) is set by a style block in the summary.
One function per section: a new section (canary stages, ...) is one more function.
"""

from __future__ import annotations

import html
import json
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from .. import catalog
from ..session import SparkState, bundle_paths
from ..verdict import GO, scope_label
from . import outcome as vocab
from .terminal import check_id_of

MAX_ROWS = 50  # rows of one observation table; the full data is in checks/<ID>.json
MAX_PREVIEW = 4096  # bytes of a text artifact shown inline
RESULT_LABELS = {"xfailed": "Waived", "skipped": "Skipped / not verified"}

STYLE = """<style>
body{display:flex;flex-direction:column}
#title{order:-3} body>p:first-of-type{order:-2} .summary{order:-1}
#environment-header,#environment{order:5} footer{order:6}
.run-count{display:none}
.spark-verdict{border:3px solid var(--spark);padding:6px 12px;margin:6px 0}
.spark-verdict h2{color:var(--spark);margin:4px 0}
.spark-facts td,.spark-facts th,.spark-evidence td,.spark-evidence th{border:1px solid #ccc;
 padding:2px 6px;text-align:left;vertical-align:top;font-size:13px}
.spark-facts,.spark-evidence{border-collapse:collapse;margin:4px 0}
.spark-evidence caption{text-align:left;font-weight:bold;padding:4px 0}
.spark-word-failed,.spark-word-error,.spark-word-not-verified{color:#cf222e;font-weight:bold}
.spark-word-waived,.spark-word-skipped{color:#9a6700;font-weight:bold}
.spark-word-passed{color:#1a7f37}
</style>"""


class HtmlHooks:
    """Registered as ``spark-html`` when pytest-html is active (controller only)."""

    def __init__(self, state: SparkState, config: pytest.Config) -> None:
        self.state = state
        self.config = config
        self.report: Any = None  # pytest-html's ReportData (given to pytest_html_report_title)
        self.tests: dict[str, dict[str, Any]] = {}  # nodeid -> teardown payload
        self.tracebacks: dict[str, list[str]] = {}

    def pytest_html_report_title(self, report: Any) -> None:
        self.report = report
        report.title = f"Spark {self.state.release or 'unreleased'}: running"

    @pytest.hookimpl(tryfirst=True)  # before pytest-html (trylast) turns extras into rows
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        payload = getattr(report, "spark", None)
        if not payload or hasattr(self.config, "workerinput"):  # the controller writes it
            return
        if payload.get("traceback"):
            self.tracebacks.setdefault(report.nodeid, []).append(payload["traceback"])
        if report.when == "teardown":
            self.tests[report.nodeid] = payload
            body = evidence_html(payload, self.tracebacks.pop(report.nodeid, []), self.links())
            from pytest_html import extras

            report.extras = [  # type: ignore[attr-defined]
                *getattr(report, "extras", []),
                extras.html(self.state.config.redactor.text(body)),
            ]

    def pytest_html_results_table_header(self, cells: list[str]) -> None:
        cells[1:1] = [
            "<th>Check</th>",
            "<th>Title</th>",
            "<th>Severity</th>",
            "<th>Outcome</th>",
            "<th>Message</th>",
        ]

    def pytest_html_results_table_row(self, report: pytest.TestReport, cells: list[str]) -> None:
        cid = check_id_of(report)
        payload = self.tests.get(report.nodeid)
        if not cid or payload is None:
            cells[1:1] = ["<td></td>"] * 5
            return
        test = payload["test"]
        word = test["shown"]
        text = vocab.message(word, test.get("message", ""), skip_kind=test.get("skip_kind", ""))
        cells[0] = f'<td class="col-result">{vocab.WORDS[word].html}</td>'
        cells[1:1] = [
            f"<td>{html.escape(cid)}</td>",
            f"<td>{html.escape(catalog.BY_ID[cid].title)}</td>",
            f"<td>{html.escape(str(catalog.BY_ID[cid].severity))}</td>",
            f"<td>{word_html(word, test['outcome'])}</td>",
            f"<td>{html.escape(text)}</td>",
        ]

    def pytest_html_results_table_html(self, report: pytest.TestReport, data: list[str]) -> None:
        """A skip reason as text, not the (path, line, reason) tuple pytest keeps."""
        longrepr = report.longrepr
        if report.skipped and isinstance(longrepr, tuple) and len(longrepr) == 3:
            reason = str(longrepr[2]).removeprefix("Skipped: ")
            data[:] = [html.escape(reason)]

    def pytest_html_results_summary(self, prefix: list[str], summary: Any, postfix: Any) -> None:
        v = self.state.verdict
        if v is None:
            return
        if self.report is not None:
            self.report.title = title(v, self.state.release, self.state.run_id)
            recount(self.report)
        records = self.state.records
        prefix += [
            STYLE,
            verdict_html(v, self.state.release),
            facts_html(self.state, v),
            counts_html(v, records, len(self.tests), time.time() - self.state.started),
            waivers_html(v),
        ]

    def links(self) -> str:
        """Artifact links are relative to the report file, into this run's bundle folder."""
        folder, _ = bundle_paths(self.state)
        target = getattr(self.config.option, "htmlpath", None)
        if not target:
            return ""
        here = (self.config.invocation_params.dir / os.path.expandvars(target)).parent
        return Path(os.path.relpath(self.config.invocation_params.dir / folder, here)).as_posix()

    def bundle_copy(self, page: Path, work: Path) -> Path:
        """The report as the bundle keeps it, next to artifacts/: links lose their prefix."""
        return rebase_links(page, self.links(), work / page.name)


def rebase_links(page: Path, prefix: str, out: Path) -> Path:
    """Copy ``page`` with every ``prefix/artifacts/...`` link made ``artifacts/...``.

    The links sit in pytest-html's JSON data attribute, so the prefix is looked for as
    that attribute holds it: HTML-escaped (our href), JSON-encoded, HTML-escaped again.
    """
    from markupsafe import escape  # pytest-html renders with Jinja, which brings it

    text = page.read_text(encoding="utf-8")
    if prefix:
        encoded = str(escape(json.dumps(html.escape(prefix + "/"))[1:-1]))
        text = text.replace(encoded + "artifacts/", "artifacts/")
    out.write_text(text, encoding="utf-8")
    return out


def title(verdict: Mapping[str, Any], release: str, run_id: str) -> str:
    return f"Spark {release or 'unreleased'}: {verdict['verdict']} (run {run_id})"


def recount(report: Any) -> None:
    """pytest-html counted outcomes before our row hook set them; count the rows shown."""
    outcomes = report.outcomes
    for entry in outcomes.values():
        entry["value"] = 0
    for rows in report.data["tests"].values():
        for row in rows:
            key = str(row.get("result", "")).lower()
            if key in outcomes:
                outcomes[key]["value"] += 1
    for key, label in RESULT_LABELS.items():
        if key in outcomes:
            outcomes[key]["label"] = label


def word_html(word: str, raw: str) -> str:
    css = word.replace(" ", "-")
    shown = html.escape(vocab.WORDS[word].word)
    extra = f" (raw: {html.escape(raw)})" if word == vocab.WAIVED else ""
    return f'<span class="spark-word-{css}">{shown}</span>{extra}'


def verdict_html(v: Mapping[str, Any], release: str) -> str:
    go = v["verdict"] == GO
    colour = "#1a7f37" if go else "#cf222e"
    items = []
    for r in v["reasons"]:
        word, text = vocab.reason_word(r)
        items.append(
            f"<li><b>{html.escape(r['check'])}</b> {html.escape(word)}: {html.escape(text)}</li>"
        )
    items += [
        f"<li><b>{html.escape(w['check'])}</b> warning ({html.escape(w['outcome'])}): "
        f"{html.escape(w['message'])}</li>"
        for w in v.get("warnings", [])
    ]
    head = f"Spark verdict: {v['verdict']} for release {release or 'unreleased'}"
    return (
        f'<div class="spark-verdict" style="--spark:{colour}">'
        f"<h2>{html.escape(head)}</h2><p>{html.escape(scope_label(v).strip())}</p>"
        f"<ul>{''.join(items)}</ul></div>"
    )


def _table(rows: Sequence[tuple[str, str]], css: str = "spark-facts") -> str:
    """Two facts per row (label, value, label, value) so the evidence stays in view."""
    cells = [f"<th>{k}</th><td>{v}</td>" for k, v in rows]
    pairs = ["".join(cells[i : i + 2]) for i in range(0, len(cells), 2)]
    return f'<table class="{css}">{"".join(f"<tr>{p}</tr>" for p in pairs)}</table>'


def facts_html(state: SparkState, v: Mapping[str, Any]) -> str:
    """Release, run id, bundle, verify command, then the scope (verdict["scope"])."""
    _, tarball = bundle_paths(state)
    written = state.write_bundle
    bundle = html.escape(str(tarball)) if written else "(no bundle: --spark-no-bundle)"
    verify = f"<code>pytest-spark verify {html.escape(str(tarball))}</code>" if written else "-"
    rows = [
        ("Release", html.escape(state.release or "unreleased")),
        ("Run id", html.escape(state.run_id)),
        ("Bundle", bundle),
        ("Verify", verify),
    ]
    return _table(rows + scope_rows(v))


def scope_rows(v: Mapping[str, Any]) -> list[tuple[str, str]]:
    scope = v.get("scope")
    if not scope:
        return []
    in_scope = scope.get("in_scope", [])
    rows = [
        ("Scope", html.escape(scope.get("name") or "all checks")),
        ("In scope", f"{len(in_scope)} of {len(catalog.BY_ID)} catalog checks"),
    ]
    if scope.get("partial"):
        rows.append(("Partial", f"<b>{html.escape(scope['partial'])}</b>"))
    if scope.get("not_run"):
        rows.append(("Not run", f"<b>{html.escape(', '.join(scope['not_run']))}</b>"))
    out = scope.get("out_of_scope", [])
    if out:
        shown = ", ".join(out[:8]) + (f", ... ({len(out)} in all)" if len(out) > 8 else "")
        rows.append(("Out of scope", html.escape(shown)))
    return rows


def counts_html(
    v: Mapping[str, Any], records: Sequence[Mapping[str, Any]], tests: int, seconds: float
) -> str:
    """'28 checks (30 tests) in 12 s: 25 passed, 1 error, ...' in the shared vocabulary."""
    counts = vocab.shown_counts(vocab.record_shown(rec, v) for rec in records)
    parts = ", ".join(
        f'<span class="spark-word-{w.replace(" ", "-")}">{n} {html.escape(w)}</span>'
        for w, n in counts.items()
    )
    noun = "check" if len(records) == 1 else "checks"
    return (
        f'<p class="spark-counts"><b>{len(records)} {noun}</b> ({tests} tests) '
        f"in {seconds:.0f} s: {parts or 'none'}</p>"
    )


def waivers_html(v: Mapping[str, Any]) -> str:
    rows = []
    for kind in ("applied", "expired", "unused"):
        for w in v.get("waivers", {}).get(kind, []):
            rows.append(
                (
                    f"{html.escape(w['check'])} {kind}",
                    f"by {html.escape(w['approver'])} until {html.escape(str(w['expires']))}: "
                    f"{html.escape(w['justification'])}",
                )
            )
    return _table(rows) if rows else "<p>Waivers: none</p>"


# ------------------------------------------------------------ one check's evidence


def evidence_html(payload: Mapping[str, Any], tracebacks: Sequence[str], links: str) -> str:
    """Observations as tables, artifacts linked (with a preview), the traceback folded."""
    cid = payload["check"]
    observations = payload.get("observations", [])
    parts = []
    stages = [o["data"] for o in observations if o.get("name") == "stage"]
    if stages:  # canary stage gates: the six metrics, canary vs baseline, at a glance
        from ..canary.oneliner import stage_table_html

        parts += [stage_table_html(stage) for stage in stages]
    parts += [observation_html(o.get("name", ""), o.get("data")) for o in observations]
    if not parts:
        parts.append("<p>No observations recorded.</p>")
    arts = payload.get("artifacts") or {}
    if arts:
        parts.append(artifacts_html(cid, arts, links))
    for tb in tracebacks:
        parts.append(
            f"<details><summary>traceback (also in the bundle: artifacts/{html.escape(cid)}/)"
            f"</summary><pre>{html.escape(tb)}</pre></details>"
        )
    return f'<div class="spark-evidence-block">{"".join(parts)}</div>'


def _cell(value: Any) -> str:
    if value is None or isinstance(value, (str, int, float, bool)):
        return html.escape(str(value))
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    if len(text) > 300:
        text = text[:297] + "..."
    return f"<code>{html.escape(text)}</code>"


def observation_html(name: str, data: Any) -> str:
    """A list of records is a table with a column per key, a mapping a key/value table,
    a list of values one row each, a value one line."""
    caption = f"<caption>{html.escape(name)}</caption>"
    if isinstance(data, list) and data and all(isinstance(r, dict) for r in data):
        return _records_table(caption, "", [("", row) for row in data[:MAX_ROWS]]) + _more(data)
    if isinstance(data, dict) and data and all(isinstance(r, dict) for r in data.values()):
        rows = [(str(k), row) for k, row in list(data.items())[:MAX_ROWS]]
        return _records_table(caption, "&nbsp;", rows) + _more(data)
    if isinstance(data, dict):
        body = "".join(
            f"<tr><th>{html.escape(str(k))}</th><td>{_cell(v)}</td></tr>"
            for k, v in list(data.items())[:MAX_ROWS]
        )
        return f'<table class="spark-evidence">{caption}{body}</table>{_more(data)}'
    if isinstance(data, list):
        body = "".join(f"<tr><td>{_cell(v)}</td></tr>" for v in data[:MAX_ROWS])
        return f'<table class="spark-evidence">{caption}{body}</table>{_more(data)}'
    return f"<p><b>{html.escape(name)}</b>: {_cell(data)}</p>"


def _records_table(
    caption: str, key_head: str, rows: Sequence[tuple[str, Mapping[str, Any]]]
) -> str:
    """One column per key (in first-seen order); with ``key_head``, a first column of row keys."""
    cols: list[str] = []
    for _, row in rows:
        cols += [k for k in row if k not in cols]
    head = (f"<th>{key_head}</th>" if key_head else "") + "".join(
        f"<th>{html.escape(c)}</th>" for c in cols
    )
    body = "".join(
        "<tr>"
        + (f"<th>{html.escape(key)}</th>" if key_head else "")
        + "".join(f"<td>{_cell(row.get(c, ''))}</td>" for c in cols)
        + "</tr>"
        for key, row in rows
    )
    return f'<table class="spark-evidence">{caption}<tr>{head}</tr>{body}</table>'


def _more(data: Sequence[Any] | Mapping[str, Any]) -> str:
    extra = len(data) - MAX_ROWS
    return f"<p>... {extra} more (all in checks/&lt;ID&gt;.json)</p>" if extra > 0 else ""


def artifacts_html(cid: str, arts: Mapping[str, bytes], links: str) -> str:
    items = []
    for name, content in arts.items():
        rel = f"artifacts/{cid}/{name}"
        href = f"{links}/{rel}" if links else rel
        item = f'<a href="{html.escape(href)}">{html.escape(rel)}</a> ({len(content)} bytes)'
        preview = _preview(content)
        if preview is not None:
            item = f"<details><summary>{item}</summary><pre>{html.escape(preview)}</pre></details>"
        items.append(f"<li>{item}</li>")
    return f"<p><b>Artifacts</b></p><ul>{''.join(items)}</ul>"


def _preview(content: bytes) -> str | None:
    try:
        text = bytes(content[:MAX_PREVIEW]).decode("utf-8")
    except UnicodeDecodeError:
        return None
    return text + ("\n..." if len(content) > MAX_PREVIEW else "")
