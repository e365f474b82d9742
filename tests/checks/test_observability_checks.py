"""BS-01, PF-02, BS-06, BS-08, PF-08, PF-09, RT-09 against the real reference stack.

Each check passes on the healthy stack, fails under the fault CHECKS.md lists
for it (with its id among the NO-GO reasons and the problem named), and ends
as ERROR ("could not verify") within its deadline when its target is gone or
hangs. Faults are always reverted by ``sandbox.inject``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

IDS = ("BS-01", "PF-02", "BS-06", "BS-08", "PF-08", "PF-09", "RT-09")
PROMETHEUS_IDS_FIRST = ("BS-01", "BS-06", "BS-08", "PF-09", "RT-09")  # PF-08: Alertmanager
USER_REQUESTS = 'spark_http_requests_total{job="spark-api",route!~"/metrics|/healthz"}'
SHORT_TIMEOUT_S = 1.0
CHECKS_DIR = Path(__file__).resolve().parents[2] / "checks"
CheckRun = Any  # tests/checks/conftest.py: what run_checks returns


# --- helpers


def promql(sandbox: Any, query: str) -> list[dict[str, Any]]:
    resp = httpx.get(
        f"{sandbox.endpoints.prometheus_url}/api/v1/query", params={"query": query}, timeout=5
    )
    resp.raise_for_status()
    return list(resp.json()["data"]["result"])


def eventually(
    what: str, probe: Callable[[], bool], timeout: float, interval: float = 0.25
) -> float:
    """Poll until probe() holds; returns the seconds it took (bounded: fails after timeout)."""
    t0 = time.monotonic()
    while True:
        if probe():
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            pytest.fail(f"{what}: not true after {timeout} s")
        time.sleep(interval)


def all_targets_scraped(sandbox: Any) -> bool:
    """Every active target has been scraped and is up (after a start or a Prometheus reset)."""
    url = f"{sandbox.endpoints.prometheus_url}/api/v1/targets"
    targets = httpx.get(url, params={"state": "active"}, timeout=5).json()["data"]["activeTargets"]
    return bool(targets) and all(t["health"] == "up" for t in targets)


def config_file(directory: Path, text: str) -> Path:
    path = directory / f"spark-{time.monotonic_ns()}.toml"
    path.write_text(text)
    return path


def assert_fails(r: CheckRun, cid: str, *fragments: str) -> str:
    """The check failed (not errored), blocks the verdict, and its message names the problem."""
    assert r.verdict["verdict"] == "NO-GO", r.output[-3000:]
    assert cid in r.reason_ids()
    assert r.outcome(cid) == "failed", r.message(cid)
    message = r.message(cid)
    for fragment in fragments:
        assert fragment in message, message
    return message


def observation(r: CheckRun, cid: str, name: str) -> list[Any]:
    return [o["data"] for o in r.record(cid)["observations"] if o["name"] == name]


# --- (1) the healthy stack


def test_all_observability_checks_pass_on_the_healthy_stack(run_checks, sandbox) -> None:
    eventually("every scrape target up", lambda: all_targets_scraped(sandbox), 15)
    r = run_checks(*IDS)
    assert r.verdict["verdict"] == "GO", r.output[-3000:]
    assert {cid: r.outcome(cid) for cid in IDS} == dict.fromkeys(IDS, "passed")

    (readings,) = observation(r, "BS-01", "readings")
    clocks = {row["clock"] for row in readings}
    assert {"local UTC", "database clock_timestamp()", "Prometheus time()"} <= clocks
    assert all("rtt_s" in row for row in readings)
    assert sum(1 for c in clocks if c.endswith(" Date")) == len(sandbox.endpoints.api_urls)

    (samples,) = observation(r, "PF-02", "ntp_samples")
    assert samples[0]["server"] == sandbox.endpoints.ntp_server
    assert {"t1", "t2", "t3", "t4", "offset", "delay", "stratum", "leap"} <= set(samples[0])

    queries = [o["query"] for o in observation(r, "BS-06", "promql")]
    assert 'max(timestamp(spark_ws_last_update_age_seconds{job="spark-api"}))' in queries
    assert all(o["result"] for o in observation(r, "BS-06", "promql"))

    (slo,) = observation(r, "BS-08", "slo")
    assert slo["budget_remaining_30d"] > 0
    assert set(slo["error_ratio"]) == {"5m", "30m", "1h", "6h", "30d"}

    assert r.record("PF-09")["artifacts"] == ["artifacts/PF-09/baseline.json"]
    baseline = json.loads((r.folder / "artifacts" / "PF-09" / "baseline.json").read_text())
    assert baseline["window"] == "5m" and len(baseline["metrics"]) == 6
    assert all(m["value"] is not None for m in baseline["metrics"].values())

    (silences,) = observation(r, "RT-09", "silences")
    assert silences["endpoint"] == "/api/v2/silences"
    alerts = {a["alertname"] for a in observation(r, "RT-09", "protected_alerts")[0]}
    assert {"SparkErrorBudgetFastBurn", "SparkCanaryRollback"} <= alerts


# --- (2) one fault per check


def test_bs01_fails_when_an_api_clock_runs_5s_ahead(run_checks, sandbox) -> None:
    with sandbox.inject("api-faketime"):
        r = run_checks("BS-01")
    api_1 = sandbox.endpoints.api_urls[0]
    message = assert_fails(r, "BS-01", "clock skew between", f"API {api_1} Date")
    assert "> 1.0 s" in message


def test_pf02_cannot_verify_when_the_ntp_server_is_unreachable(run_checks, sandbox, pytester):
    short = config_file(pytester.path, f"[policy]\ntimeout_s = {SHORT_TIMEOUT_S}\n")
    with sandbox.inject("ntp-unreachable"):
        r = run_checks("PF-02", args=("--spark-config", str(short)))
    server = sandbox.endpoints.ntp_server
    _assert_could_not_verify(
        r,
        ("PF-02",),
        # a stopped server's closed port answers with ICMP "port unreachable": a refusal
        f"NTP server {server} did not answer: NTP server {server} refused the query",
        f"no NTP server answered ({server})",
    )


def test_pf02_fails_when_the_client_clock_is_skewed_with_libfaketime(sandbox, tmp_path) -> None:
    """The machine running the checks is 5 s off: PF-02, run under libfaketime, must see it."""
    from pytest_spark.sandbox.components import faketime_env

    evidence = tmp_path / "reports"
    argv = [
        sys.executable, "-m", "pytest", str(CHECKS_DIR),
        "-p", "no:cacheprovider",
        "--spark-sandbox", "--spark-sandbox-dir", str(sandbox.state_dir),
        "--spark-evidence-dir", str(evidence),
        "--spark-check", "PF-02",
    ]  # fmt: skip
    env = {**os.environ, **faketime_env("+5s")}
    done = subprocess.run(
        argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    (folder,) = [p for p in evidence.glob("*/*") if p.is_dir()]
    verdict = json.loads((folder / "verdict.json").read_text())
    record = json.loads((folder / "checks" / "PF-02.json").read_text())
    assert done.returncode != 0, done.stdout[-3000:]
    assert verdict["verdict"] == "NO-GO"
    assert [r["check"] for r in verdict["reasons"]] == ["PF-02"]
    assert record["outcome"] == "failed", record["message"]
    assert f"NTP offset to {sandbox.endpoints.ntp_server} is -" in record["message"]
    offset = record["observations"][0]["data"][0]["offset"]
    assert offset == pytest.approx(-5.0, abs=0.5)


def test_bs06_fails_when_a_metric_family_stops_being_exported(run_checks, sandbox) -> None:
    family = "spark_ws_last_update_age_seconds"
    with sandbox.inject("metric-family-missing"):
        eventually(
            f"{family} gone from Prometheus",
            lambda: not promql(sandbox, f'{family}{{job="spark-api"}}'),
            10,
        )
        r = run_checks("BS-06")
    assert_fails(r, "BS-06", f"{family} has no series for job spark-api")


def test_bs08_fails_on_a_5xx_burst(run_checks, sandbox) -> None:
    """The burst must dominate the 1h window: on a stack with a long healthy history that
    takes ~5 % of the history (minutes), so an old history is dropped first (bounded time)."""
    uptime = promql(sandbox, 'time() - process_start_time_seconds{job="prometheus"}')
    if not uptime or float(uptime[0]["value"][1]) > 180:
        sandbox.reset_prometheus()
    with sandbox.inject("error-burst"):
        r = run_checks("BS-08")
    message = assert_fails(r, "BS-08", "fast burn:", "over 1h and", "over 5m")
    assert "paging threshold 14.4x" in message


def test_pf08_fails_when_a_scrape_target_stops(run_checks, sandbox) -> None:
    instance = sandbox.endpoints.api_urls[1].removeprefix("http://")
    with sandbox.inject("scrape-target-stopped"):
        r = run_checks("PF-08")
    assert_fails(r, "PF-08", f"scrape target spark-api/{instance} is down", "connection refused")


def test_pf09_fails_without_traffic(run_checks, sandbox, pytester) -> None:
    """Without requests the window drains of data after ~window + one scrape; a 5 s window
    (instead of the default 5m) keeps that bounded, the check itself is unchanged."""
    window = "5s"
    short = config_file(pytester.path, f'[thresholds]\nbaseline_window = "{window}"\n')
    drained = f"sum(rate({USER_REQUESTS}[{window}])) == 0"
    with sandbox.inject("no-traffic"):
        eventually(
            "the baseline window drained of requests", lambda: bool(promql(sandbox, drained)), 20
        )
        r = run_checks("PF-09", args=("--spark-config", str(short)))
    message = assert_fails(r, "PF-09", "baseline metric error_rate_5xx is nan (no data)")
    assert "api_p95_latency_seconds" in message
    baseline = json.loads((r.folder / "artifacts" / "PF-09" / "baseline.json").read_text())
    assert baseline["window"] == window
    assert baseline["metrics"]["error_rate_5xx"]["value"] is None


def test_rt09_fails_on_a_silence_of_the_fast_burn_alert(run_checks, sandbox) -> None:
    with sandbox.inject("slo-silence"):
        r = run_checks("RT-09")
    assert_fails(
        r,
        "RT-09",
        "active silence",
        '{alertname="SparkErrorBudgetFastBurn"}',
        "mutes SparkErrorBudgetFastBurn",
    )
    (silences,) = observation(r, "RT-09", "silences")
    assert [s["status"]["state"] for s in silences["data"]].count("active") == 1


def _post_silence(sandbox: Any, matcher: dict[str, Any]) -> httpx.Response:
    now = time.time()
    body = {
        "matchers": [matcher],
        "startsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        "endsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 3600)),
        "createdBy": "pytest-spark test",
        "comment": "RE2 matcher",
    }
    return httpx.post(f"{sandbox.endpoints.alertmanager_url}/api/v2/silences", json=body, timeout=5)


@pytest.mark.parametrize(
    "value",
    ["Spark[[:alpha:]]+", "Foo|(?i)sparkerrorbudget.*burn", r"\QSparkErrorBudgetFastBurn\E"],
)
def test_rt09_judges_regex_silences_with_re2_as_alertmanager_does(
    run_checks, sandbox, value: str
) -> None:
    """Alertmanager accepts these RE2 (Go) regexes; Python's re would read them otherwise."""
    matcher = {"name": "alertname", "value": value, "isRegex": True, "isEqual": True}
    resp = _post_silence(sandbox, matcher)
    assert resp.status_code == 200, resp.text
    sid = resp.json()["silenceID"]
    try:
        r = run_checks("RT-09")
    finally:
        httpx.delete(f"{sandbox.endpoints.alertmanager_url}/api/v2/silence/{sid}", timeout=5)
    assert_fails(r, "RT-09", f'alertname=~"{value}"', "mutes SparkErrorBudgetFastBurn")


def test_alertmanager_refuses_a_silence_that_is_not_re2(sandbox) -> None:
    """What RT-09 says about an invalid matcher rests on this: it cannot be created."""
    matcher = {"name": "alertname", "value": "(?!Disk).*", "isRegex": True, "isEqual": True}
    resp = _post_silence(sandbox, matcher)
    assert resp.status_code == 400, resp.text


def test_bs08_says_how_much_data_its_30d_figures_cover(run_checks, sandbox) -> None:
    """The sandbox's Prometheus holds minutes, not 30 days: the figure must say so."""
    r = run_checks("BS-08")
    assert r.outcome("BS-08") == "passed", r.message("BS-08")
    (slo,) = observation(r, "BS-08", "slo")
    assert 0 <= slo["data_covers_s_of_30d"] < 30 * 86400
    (findings,) = observation(r, "BS-08", "findings")
    partial = [f for f in findings if f["code"] == "budget-window-partial"]
    assert partial and partial[0]["severity"] == "warn"
    assert "the 30d figures cover only" in partial[0]["message"]


# --- (3) unreachable or hung targets: ERROR within the deadline


def _assert_could_not_verify(r: CheckRun, ids: tuple[str, ...], *fragments: str) -> None:
    reasons = {x["check"]: x for x in r.verdict["reasons"]}
    assert r.verdict["verdict"] == "NO-GO"
    for cid in ids:
        assert r.outcome(cid) == "error", (cid, r.message(cid))
        assert reasons[cid]["message"].startswith("could not verify: "), reasons[cid]
        for fragment in fragments:
            assert fragment in reasons[cid]["message"], reasons[cid]
        assert r.record(cid)["duration_s"] < SHORT_TIMEOUT_S + 2, cid


# PF-08 asks Alertmanager before Prometheus and RT-09 the other way round, so one run with
# every target gone proves both clients' deadlines: PF-08 on Alertmanager, the rest on
# Prometheus.


def test_refused_prometheus_alertmanager_and_ntp(run_checks, pytester) -> None:
    short = config_file(pytester.path, f"[policy]\ntimeout_s = {SHORT_TIMEOUT_S}\n")
    dead = "http://127.0.0.1:9"
    r = run_checks(
        *IDS,
        args=(
            "--spark-config", str(short),
            "--spark-prometheus-url", dead,
            "--spark-alertmanager-url", dead,
            "--spark-ntp-server", "127.0.0.1:9",
        ),
    )  # fmt: skip
    _assert_could_not_verify(r, ("PF-08",), f"cannot reach {dead}/-/ready")
    _assert_could_not_verify(r, PROMETHEUS_IDS_FIRST, f"cannot query Prometheus at {dead}")
    _assert_could_not_verify(
        r, ("PF-02",), "NTP server 127.0.0.1:9 did not answer", "no NTP server answered"
    )


def test_hung_prometheus_alertmanager_and_ntp_time_out(run_checks, pytester, blackhole) -> None:
    """Servers that accept and never answer: every check ends at the 1 s deadline."""
    short = config_file(pytester.path, f"[policy]\ntimeout_s = {SHORT_TIMEOUT_S}\n")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent_ntp:
        silent_ntp.bind(("127.0.0.1", 0))
        ntp_server = f"127.0.0.1:{silent_ntp.getsockname()[1]}"
        r = run_checks(
            *IDS,
            args=(
                "--spark-config", str(short),
                "--spark-prometheus-url", blackhole,
                "--spark-alertmanager-url", blackhole,
                "--spark-ntp-server", ntp_server,
            ),
        )  # fmt: skip
    deadline = f"timed out after {SHORT_TIMEOUT_S} s"
    _assert_could_not_verify(r, ("PF-08",), f"{deadline} talking to {blackhole}/-/ready")
    _assert_could_not_verify(
        r, PROMETHEUS_IDS_FIRST, f"{deadline} talking to Prometheus at {blackhole}"
    )
    _assert_could_not_verify(r, ("PF-02",), f"{deadline} waiting for NTP server {ntp_server}")
