"""Each of the 16 triggers fires on a synthetic series that breaks it and stays quiet on a
healthy one, proven by Prometheus's own rule engine (``promtool test rules``).

The rules file under test is generated from the catalog exactly as the CLI prints
it, so these tests prove the shipped rules, not a copy. Series are written the way
the API exports them (counters, histogram buckets, gauges per ``track``); see
https://prometheus.io/docs/prometheus/latest/configuration/unit_testing_rules/.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from pytest_spark.canary import rules, triggers

STEP_S = 15
STEPS = 80  # 20 minutes at 15 s
API = 'job="spark-api",route="/orders",method="POST"'
LE = ("0.05", "0.1", "0.25", "0.5", "1", "+Inf")

Series = list[tuple[str, str]]


def counter(per_s: float | Callable[[int], float], steps: int = STEPS, step_s: int = STEP_S) -> str:
    """Cumulative counter values; ``per_s`` may vary by step index (a rising rate)."""
    total, out = 0.0, []
    for i in range(steps + 1):
        out.append(f"{total:g}")
        rate = per_s(i) if callable(per_s) else per_s
        total += rate * step_s
    return " ".join(out)


def gauge(value: float | Callable[[int], float], steps: int = STEPS) -> str:
    return " ".join(f"{(value(i) if callable(value) else value):g}" for i in range(steps + 1))


def http(track: str, *, ok: float = 10, err: float = 0.05, latency: float = 0.04) -> Series:
    """Requests of one track: ok and 5xx rates (req/s), every request at ``latency`` s."""
    base = f'{API},track="{track}"'
    out = [
        (f'spark_http_requests_total{{{base},code="201"}}', counter(ok)),
        (f'spark_http_requests_total{{{base},code="500"}}', counter(err)),
    ]
    for le in LE:
        hit = le == "+Inf" or float(le) >= latency
        out.append(
            (
                f'spark_http_request_duration_seconds_bucket{{{base},code="201",le="{le}"}}',
                counter(ok + err if hit else 0),
            )
        )
    return out


def healthy_tracks(*extra: tuple[str, str], **canary: float) -> Series:
    """Both tracks healthy (canary shaped by ``canary``), plus ``extra`` series."""
    return [*http("stable"), *http("canary", **canary), *extra]


def stable_plus(*extra: tuple[str, str]) -> Series:
    return [*http("stable"), *extra]


def per_track(metric: str, track: str, values: str, extra: str = "") -> tuple[str, str]:
    return (f'{metric}{{job="spark-api",track="{track}"{extra}}}', values)


@dataclass(frozen=True)
class Case:
    breach: Series
    healthy: Series
    eval_time: str = "19m"
    interval: str = f"{STEP_S}s"


def rising(start: float, slope: float) -> Callable[[int], float]:
    return lambda i: start + slope * i


CASES: dict[str, Case] = {
    "T01": Case(healthy_tracks(latency=0.5), healthy_tracks()),
    "T02": Case(healthy_tracks(ok=9, err=1), healthy_tracks(ok=9.95, err=0.05)),
    "T03": Case(
        healthy_tracks(
            per_track("spark_ws_last_update_age_seconds", "canary", gauge(200), ',symbol="BTC"')
        ),
        healthy_tracks(
            per_track("spark_ws_last_update_age_seconds", "canary", gauge(1), ',symbol="BTC"')
        ),
    ),
    "T04": Case(
        healthy_tracks(per_track("spark_csp_violations_total", "canary", counter(1))),
        healthy_tracks(per_track("spark_csp_violations_total", "canary", counter(0.05))),
    ),
    "T05": Case(
        healthy_tracks(
            per_track("spark_idempotency_requests_total", "canary", counter(10)),
            per_track("spark_idempotency_conflicts_total", "canary", counter(1)),
        ),
        healthy_tracks(
            per_track("spark_idempotency_requests_total", "canary", counter(10)),
            per_track("spark_idempotency_conflicts_total", "canary", counter(0.1)),
        ),
    ),
    "T06": Case(
        [
            ('pgbouncer_pools_server_active_connections{database="spark",user="app"}', gauge(19)),
            ('pgbouncer_databases_pool_size{name="spark"}', gauge(20)),
        ],
        [
            ('pgbouncer_pools_server_active_connections{database="spark",user="app"}', gauge(5)),
            ('pgbouncer_databases_pool_size{name="spark"}', gauge(20)),
        ],
    ),
    # two of the six degraded together against stable, neither past its own T01/T02 limit
    "T07": Case(healthy_tracks(latency=0.25, ok=9.8, err=0.2), healthy_tracks()),
    "T08": Case(healthy_tracks(latency=0.25), healthy_tracks(latency=0.1)),
    # growth of an old process leaks; the same growth of a process younger than the
    # window is its warm-up (start time = 15 min in: younger than the 10 m window at 19 m)
    "T09": Case(
        healthy_tracks(
            per_track("process_resident_memory_bytes", "canary", gauge(rising(1e8, 1.5e6))),
            per_track("process_start_time_seconds", "canary", gauge(0)),
        ),
        healthy_tracks(
            per_track("process_resident_memory_bytes", "canary", gauge(rising(1e8, 1.5e6))),
            per_track("process_start_time_seconds", "canary", gauge(900)),
        ),
    ),
    "T10": Case(
        healthy_tracks(
            (
                'pgbouncer_pools_server_active_connections{database="spark",user="app"}',
                gauge(rising(5, 1)),
            ),
            ('pgbouncer_pools_server_idle_connections{database="spark",user="app"}', gauge(0)),
            ('pgbouncer_pools_server_used_connections{database="spark",user="app"}', gauge(0)),
        ),
        # the pool warming up (idle server connections opening) is no leak
        healthy_tracks(
            ('pgbouncer_pools_server_active_connections{database="spark",user="app"}', gauge(5)),
            (
                'pgbouncer_pools_server_idle_connections{database="spark",user="app"}',
                gauge(rising(0, 1)),
            ),
            ('pgbouncer_pools_server_used_connections{database="spark",user="app"}', gauge(0)),
        ),
    ),
    "T11": Case(
        [
            (
                'spark_outbox_oldest_unpublished_age_seconds{job="spark-api"}',
                gauge(rising(0, STEP_S)),
            )
        ],
        [('spark_outbox_oldest_unpublished_age_seconds{job="spark-api"}', gauge(1))],
    ),
    # keys expired over an hour ago still stored vs. keys purged within minutes of expiry
    "T12": Case(
        [
            (
                'spark_idempotency_oldest_expired_key_age_seconds{job="spark-api"}',
                gauge(rising(3000, 60), 60),
            )
        ],
        [('spark_idempotency_oldest_expired_key_age_seconds{job="spark-api"}', gauge(20, 60))],
        eval_time="59m",
        interval="1m",
    ),
    "T13": Case(
        healthy_tracks(per_track("spark_ws_disconnects_total", "canary", counter(1))),
        healthy_tracks(per_track("spark_ws_disconnects_total", "canary", counter(0.05))),
    ),
    "T14": Case(
        healthy_tracks(per_track("spark_decimal_precision_errors_total", "canary", counter(0.1))),
        healthy_tracks(per_track("spark_decimal_precision_errors_total", "canary", gauge(0))),
    ),
    # latency over the SLO in both; only the breach has the CPU saturated
    "T15": Case(
        healthy_tracks(
            per_track("process_cpu_seconds_total", "canary", counter(1.0)), latency=0.25
        ),
        healthy_tracks(
            per_track("process_cpu_seconds_total", "canary", counter(0.2)), latency=0.25
        ),
    ),
    # 5xx share and risk blocks both rising vs. both steady at the same level
    "T16": Case(
        stable_plus(
            (f'spark_http_requests_total{{{API},track="canary",code="201"}}', counter(10)),
            (
                f'spark_http_requests_total{{{API},track="canary",code="500"}}',
                counter(rising(0.1, 0.01)),
            ),
            per_track("spark_risk_blocks_total", "canary", counter(rising(0.1, 0.01))),
        ),
        stable_plus(
            (f'spark_http_requests_total{{{API},track="canary",code="201"}}', counter(10)),
            (f'spark_http_requests_total{{{API},track="canary",code="500"}}', counter(0.5)),
            per_track("spark_risk_blocks_total", "canary", counter(0.5)),
        ),
    ),
}


def expected_alert(trigger: triggers.Trigger) -> dict[str, object]:
    rule = rules.alerting_rule(trigger)
    return {"exp_labels": rule["labels"], "exp_annotations": rule["annotations"]}


def promtool_test(tmp_path: Path, trigger: triggers.Trigger, series: Series, fires: bool) -> str:
    """Write the generated rules and one unit test; return promtool's output (assert rc 0)."""
    case = CASES[trigger.id]
    rules_path = tmp_path / "rules.yml"
    rules_path.write_text(rules.to_yaml(rules.rules_file()))
    test = {
        "rule_files": [str(rules_path)],
        "evaluation_interval": case.interval,
        "tests": [
            {
                "interval": case.interval,
                "input_series": [{"series": s, "values": v} for s, v in series],
                "alert_rule_test": [
                    {
                        "eval_time": case.eval_time,
                        "alertname": trigger.alert,
                        "exp_alerts": [expected_alert(trigger)] if fires else [],
                    }
                ],
            }
        ],
    }
    test_path = tmp_path / "test.yml"
    test_path.write_text(rules.to_yaml(test))
    promtool = shutil.which("promtool")
    assert promtool, "promtool not found: `make setup` installs the prometheus package"
    proc = subprocess.run(
        [promtool, "test", "rules", str(test_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_every_trigger_has_a_promtool_case() -> None:
    assert sorted(CASES) == [t.id for t in triggers.TRIGGERS]


@pytest.mark.parametrize("tid", [t.id for t in triggers.TRIGGERS])
def test_trigger_fires_on_a_breaking_series(tmp_path: Path, tid: str) -> None:
    promtool_test(tmp_path, triggers.get(tid), CASES[tid].breach, fires=True)


@pytest.mark.parametrize("tid", [t.id for t in triggers.TRIGGERS])
def test_trigger_stays_quiet_on_a_healthy_series(tmp_path: Path, tid: str) -> None:
    promtool_test(tmp_path, triggers.get(tid), CASES[tid].healthy, fires=False)


def test_a_promtool_test_can_fail(tmp_path: Path) -> None:
    """The harness is not vacuous: expecting T01 on a healthy series is a promtool failure."""
    with pytest.raises(AssertionError, match="FAILED"):
        promtool_test(tmp_path, triggers.get("T01"), CASES["T01"].healthy, fires=True)
