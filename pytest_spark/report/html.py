"""pytest-html integration: verdict banner, id/severity columns, evidence as extras.

Registered only when pytest-html is installed and active.
"""

from __future__ import annotations

import html
from typing import Any

import pytest

from .. import catalog
from ..session import SparkState


class HtmlHooks:
    def __init__(self, state: SparkState) -> None:
        self.state = state

    def pytest_html_results_summary(self, prefix: list[str], summary: Any, postfix: Any) -> None:
        v = self.state.verdict
        if v is None:
            return
        colour = "#1a7f37" if v["verdict"] == "GO" else "#cf222e"
        reasons = "".join(
            f"<li><b>{html.escape(r['check'])}</b> {html.escape(r['outcome'])}: "
            f"{html.escape(r['message'])}</li>"
            for r in v["reasons"]
        )
        prefix.append(
            f'<div class="spark-verdict" style="border:3px solid {colour};padding:8px">'
            f'<h2 style="color:{colour}">Spark verdict: {html.escape(v["verdict"])}</h2>'
            f"<ul>{reasons}</ul></div>"
        )

    def pytest_html_results_table_header(self, cells: list[str]) -> None:
        cells.insert(1, "<th>Check</th>")
        cells.insert(2, "<th>Severity</th>")

    def pytest_html_results_table_row(self, report: pytest.TestReport, cells: list[str]) -> None:
        cid = dict(getattr(report, "user_properties", ())).get(
            "spark_check", ""
        )  # not on a collect report
        sev = str(catalog.BY_ID[cid].severity) if cid in catalog.BY_ID else ""
        cells.insert(1, f"<td>{html.escape(cid)}</td>")
        cells.insert(2, f"<td>{html.escape(sev)}</td>")


def add_evidence_extras(report: pytest.TestReport, payload: dict[str, Any]) -> None:
    """Attach a check's observations to its teardown report as a pytest-html JSON extra."""
    if report.when == "teardown" and payload.get("observations"):
        from pytest_html import extras

        report.extras = [
            *getattr(report, "extras", []),
            extras.json(payload["observations"], name=f"{payload['check']} evidence"),
        ]
        stages = [o["data"] for o in payload["observations"] if o.get("name") == "stage"]
        if stages:  # canary stage gates: the six metrics at a glance
            from ..canary.oneliner import stage_table_html

            report.extras += [extras.html(stage_table_html(s)) for s in stages]
