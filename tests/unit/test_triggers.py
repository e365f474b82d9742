"""The trigger catalog: shape, the seed's thresholds, overrides that cannot make a trigger
vacuous (NaN, unknown ids), and the artefacts generated from it."""

from __future__ import annotations

import json
import math
import shutil
import subprocess

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_spark.canary import rules, triggers
from pytest_spark.cli import main


def test_sixteen_triggers_t01_to_t16_with_kinds_from_the_spec() -> None:
    assert [t.id for t in triggers.TRIGGERS] == [f"T{i:02d}" for i in range(1, 17)]
    kinds = [t.kind for t in triggers.TRIGGERS]
    assert kinds[:6] == [triggers.Kind.STANDARD] * 6
    assert kinds[6:14] == [triggers.Kind.ENHANCED] * 8
    assert kinds[14:] == [triggers.Kind.GUARD] * 2
    assert len({t.alert for t in triggers.TRIGGERS}) == 16


@pytest.mark.parametrize(
    ("tid", "threshold", "for_"),
    [
        ("T01", 0.4, "5m"),  # p95 latency > 400 ms for 5 m
        ("T02", 0.03, "5m"),  # 5xx > 3 % for 5 m
        ("T03", 120, "3m"),  # WebSocket staleness > 120 s for 3 m
        ("T04", 50, "0s"),  # CSP violations > 50/min
        ("T05", 0.05, "3m"),  # idempotency conflicts > 5 % for 3 m
        ("T06", 0.9, "3m"),  # PgBouncer pool utilisation > 90 % for 3 m
    ],
)
def test_standard_triggers_carry_the_seed_thresholds(tid: str, threshold: float, for_: str) -> None:
    t = triggers.get(tid)
    assert (t.comparator, t.threshold, t.for_) == (">", threshold, for_)


def test_get_is_case_insensitive_and_names_the_known_ids() -> None:
    assert triggers.get("t07").id == "T07"
    with pytest.raises(KeyError, match=r"T01\.\.T16"):
        triggers.get("T17")


def test_overrides_change_threshold_and_for() -> None:
    (t01,) = triggers.configured({"T01": {"threshold": 0.5, "for": "2m"}}, ids=["T01"])
    assert (t01.threshold, t01.for_) == (0.5, "2m")
    assert t01.expr.endswith("> 0.5")
    compressed = triggers.configured(for_="10s")
    assert {t.for_ for t in compressed} == {"10s"}


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, "0.4", True])
def test_a_threshold_that_could_never_fire_is_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="T01"):
        triggers.configured({"T01": {"threshold": bad}})


@pytest.mark.parametrize(
    ("overrides", "match"),
    [({"T99": {"threshold": 1}}, "T99"), ({"T01": {"treshold": 1}}, "treshold")],
)
def test_unknown_ids_and_keys_are_refused(overrides: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        triggers.configured(overrides)


@pytest.mark.parametrize("bad", ["", "5", "5 m", "m", "1d", "-5m", "5m5h"])
def test_bad_durations_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        triggers.duration_s(bad)


@given(st.integers(min_value=0, max_value=10 * 86400))
def test_duration_text_round_trips(seconds: int) -> None:
    assert triggers.duration_s(triggers.prom_duration(seconds)) == seconds


def test_every_trigger_expression_uses_recorded_signals_that_exist() -> None:
    records = {s.record for s in triggers.SIGNALS}
    for t in triggers.TRIGGERS:
        used = {r for r in records if r in t.expr}
        assert used, f"{t.id} watches no recorded signal"


def test_rules_file_has_every_signal_and_one_alert_per_trigger() -> None:
    doc = rules.rules_file()
    recording, alerts = doc["groups"]
    assert [r["record"] for r in recording["rules"]] == [s.record for s in triggers.SIGNALS]
    assert [r["labels"]["trigger"] for r in alerts["rules"]] == [t.id for t in triggers.TRIGGERS]
    assert all("{job}" not in r["expr"] for r in recording["rules"])


def test_promtool_accepts_the_printed_rules(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["triggers", "--prometheus-rules"]) == 0
    text = capsys.readouterr().out
    promtool = shutil.which("promtool")
    assert promtool, "promtool not found: `make setup` installs the prometheus package"
    proc = subprocess.run(
        [promtool, "check", "rules", "/dev/stdin"],
        input=text, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS: 32 rules found" in proc.stdout


def test_dashboard_has_at_least_ten_panels_covering_the_six_metrics(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["triggers", "--grafana-dashboard"]) == 0
    doc = json.loads(capsys.readouterr().out)
    panels = [p for p in doc["panels"] if p["type"] != "row"]
    assert len(panels) >= 10
    exprs = " ".join(t["expr"] for p in panels for t in p["targets"])
    for record in triggers.CANARY_METRICS.values():
        assert f'{record}{{track="canary"}}' in exprs and f'{record}{{track="stable"}}' in exprs
    assert "ALERTS{" in exprs and "outbox" in exprs and "ws_disconnects" in exprs


def test_cli_table_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["triggers"]) == 0
    assert capsys.readouterr().out.strip() == triggers.markdown_table()
    assert main(["triggers", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in rows] == [t.id for t in triggers.TRIGGERS]


def test_cli_bad_duration_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["triggers", "--for", "soon"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "soon" in err


def test_readme_trigger_table_is_the_generated_one() -> None:
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    begin, end = "<!-- triggers:begin -->\n", "\n<!-- triggers:end -->"
    assert readme.split(begin, 1)[1].split(end, 1)[0] == triggers.markdown_table()
