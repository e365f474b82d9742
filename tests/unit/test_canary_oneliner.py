"""The release one-liner and the per-stage tables, from stage evidence alone."""

from __future__ import annotations

import pytest

from pytest_spark.canary import oneliner

VALUES = {
    "canary": {
        "latency_p95": 0.182, "http_5xx": 0.0012, "ws_staleness_p95": 1.2, "risk_blocks": 3.0,
        "idempotency_conflicts": 0.014, "csp_violations": 4.0,
    },
    "baseline": {
        "latency_p95": 0.175, "http_5xx": 0.001, "ws_staleness_p95": 1.1, "risk_blocks": 2.9,
        "idempotency_conflicts": 0.015, "csp_violations": 4.1,
    },
}  # fmt: skip


def _stage(weight: int, outcome: str = "GO", rollback: bool = False) -> dict:
    return {
        "check": f"CN-{weight:02d}", "weight": weight, "outcome": outcome, "values": VALUES,
        "comparisons": [{"metric": "latency_p95", "decision": "pass", "p_value": 0.42}],
        "rollback": {"confirmed": True} if rollback else None,
    }  # fmt: skip


def test_all_stages_go() -> None:
    line = oneliner.summarize("v1.4.0", [_stage(w) for w in (1, 5, 25, 50, 100)])
    assert line == (
        "Spark v1.4.0 canary: 5/5 stages GO, 0 rollbacks | p95 182 ms (vs baseline 175 ms) | "
        "5xx 0.12% (vs baseline 0.10%) | ws_stale_p95 1200 ms (vs baseline 1100 ms) | "
        "risk_block 3 /min (vs baseline 2.9 /min) | idemp_conflict 1.40% (vs baseline 1.50%) | "
        "csp_viol 4 /min (vs baseline 4.1 /min) -- GO"
    )


def test_stopped_with_rollback_in_turkish() -> None:
    stages = [_stage(1), _stage(5), _stage(25, "NO-GO", rollback=True)]
    line = oneliner.summarize("v1.4.0", stages, lang="tr")
    assert line.startswith("Spark v1.4.0 kanarya: 2/5 aşama GO, 1 geri alma (durdu: CN-25)")
    assert line.endswith("-- NO-GO")


def test_no_stage_is_no_go_and_unknown_language_refused() -> None:
    assert oneliner.summarize("v1.4.0", []).endswith("-- NO-GO")
    with pytest.raises(ValueError, match="language"):
        oneliner.summarize("v1.4.0", [], lang="de")


def test_stage_tables_from_records() -> None:
    records = [{"id": "CN-25", "observations": [{"name": "stage", "data": _stage(25)}]}]
    text = oneliner.stage_tables_markdown(records)
    assert "**CN-25 at 25 %: GO**" in text
    assert "| p95 | 182 ms | 175 ms | pass | 0.42 |" in text
    assert "<td>182 ms</td><td>175 ms</td>" in oneliner.stage_table_html(_stage(25))


def test_blast_radius_stop_and_its_rollback_are_counted() -> None:
    blast = {"outcome": "failed", "rollback": {"confirmed": True}}
    line = oneliner.summarize("v1.4.0", [], blast=blast)
    assert line.startswith("Spark v1.4.0 canary: 0/5 stages GO, 1 rollbacks (stopped at CN-00)")
    assert line.endswith("-- NO-GO")
