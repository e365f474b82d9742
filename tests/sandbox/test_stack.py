"""The reference stack: every component answers a real request, start/stop is clean."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import ntplib
import psycopg
import pytest
from _sandbox_helpers import eventually, promql
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from pytest_spark.sandbox import components as c
from pytest_spark.sandbox.launcher import PROMETHEUS_DIR, Endpoints, Sandbox, SandboxError
from pytest_spark.sandbox.migrate import latest_version

SIX_CANARY_SERIES = (
    "canary:api_latency_p95:seconds",
    "canary:http_5xx:ratio",
    "canary:ws_staleness_p95:seconds",
    "canary:risk_blocks:per_minute",
    "canary:idempotency_conflict:ratio",
    "canary:csp_violations:per_minute",
)


def test_sql_through_pgbouncer(endpoints: Endpoints) -> None:
    with psycopg.connect(endpoints.pgbouncer_dsn, connect_timeout=5) as conn:
        row = conn.execute("SELECT current_user, count(*) FROM instruments").fetchone()
    assert row == ("spark_app", 4)


def test_pgbouncer_admin_console_reports_config(endpoints: Endpoints) -> None:
    with psycopg.connect(
        endpoints.pgbouncer_admin_dsn,
        autocommit=True,
        connect_timeout=5,
        cursor_factory=psycopg.ClientCursor,
    ) as conn:
        config = {r[0]: r[1] for r in conn.execute("SHOW CONFIG").fetchall()}
    assert config["pool_mode"] == "transaction"
    assert config["query_wait_timeout"] == "3"
    assert config["listen_addr"] == "127.0.0.1"


def test_postgres_is_migrated_and_archiving(endpoints: Endpoints) -> None:
    with psycopg.connect(endpoints.db_dsn, connect_timeout=5) as conn:
        version = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()[0]
        settings = dict(
            conn.execute(
                "SELECT name, setting FROM pg_settings WHERE name IN"
                " ('archive_mode', 'wal_level', 'listen_addresses', 'max_connections')"
            ).fetchall()
        )
        superuser = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        assert superuser.fetchone()[0] is True
    assert version == latest_version(endpoints.migrations_dir)
    assert settings == {
        "archive_mode": "on",
        "wal_level": "replica",
        "listen_addresses": "127.0.0.1",
        "max_connections": "60",
    }
    assert Path(endpoints.wal_archive_dir).is_dir()
    assert (Path(endpoints.pg_bin_dir) / "pg_basebackup").exists()


def test_wal_segments_reach_the_archive(endpoints: Endpoints) -> None:
    archive = Path(endpoints.wal_archive_dir)
    before = set(archive.iterdir())
    with psycopg.connect(endpoints.db_dsn, autocommit=True, connect_timeout=5) as conn:
        conn.execute("SELECT pg_logical_emit_message(false, 'test', 'x')")
        conn.execute("SELECT pg_switch_wal()")
        eventually(lambda: set(archive.iterdir()) - before, timeout=10, interval=0.2)
        row = conn.execute(
            "SELECT archived_count, last_archived_time, last_failed_time FROM pg_stat_archiver"
        ).fetchone()
    archived, last_ok, last_failed = row
    assert archived > 0
    # an earlier fault test may have recorded failures; healthy now means success is newer
    assert last_failed is None or last_ok > last_failed


def test_prometheus_scrapes_every_api_instance(endpoints: Endpoints) -> None:
    up = promql(endpoints, 'up{job="spark-api"}')
    assert sorted(r["value"][1] for r in up) == ["1", "1", "1"]  # two release, one stable
    series = promql(endpoints, 'sum by (instance) (spark_http_requests_total{job="spark-api"})')
    expected = {u.removeprefix("http://") for u in [*endpoints.api_urls, *endpoints.stable_urls]}
    assert {r["metric"]["instance"] for r in series} == expected


def test_slo_and_canary_recording_rules_have_data(endpoints: Endpoints) -> None:
    def missing() -> list[str]:
        names = (*SIX_CANARY_SERIES, "slo:sli_error:ratio_rate5m", "slo:burn_rate:ratio_rate1h")
        return [n for n in names if not promql(endpoints, n)]

    eventually(lambda: not missing(), timeout=30)
    # The budget's sign depends on what earlier fault tests did to this stack's short
    # history; what must hold is the rule's arithmetic over the same evaluation (a later
    # rule of a group sees the earlier one's result at the same timestamp).
    (budget,) = promql(endpoints, "slo:error_budget_remaining:ratio30d")
    assert math.isfinite(float(budget["value"][1])) and float(budget["value"][1]) <= 1
    (gap,) = promql(
        endpoints, "slo:error_budget_remaining:ratio30d - (1 - slo:sli_error:ratio_rate30d / 0.01)"
    )
    assert abs(float(gap["value"][1])) < 1e-9


def test_rule_groups_evaluate_and_alertmanager_is_wired(endpoints: Endpoints) -> None:
    groups = httpx.get(f"{endpoints.prometheus_url}/api/v1/rules", timeout=5).json()
    health = {r["name"]: r["health"] for g in groups["data"]["groups"] for r in g["rules"]}
    assert "SparkErrorBudgetFastBurn" in health
    assert set(health.values()) <= {"ok", "unknown"}
    ams = httpx.get(f"{endpoints.prometheus_url}/api/v1/alertmanagers", timeout=5).json()
    assert ams["data"]["activeAlertmanagers"]


def test_alertmanager_status(endpoints: Endpoints) -> None:
    resp = httpx.get(f"{endpoints.alertmanager_url}/api/v2/status", timeout=5)
    assert resp.status_code == 200
    body = resp.json()
    assert body["cluster"]["status"] == "disabled"
    assert body["versionInfo"]["version"]


def test_chrony_answers_sntp(endpoints: Endpoints) -> None:
    host, port = endpoints.ntp_server.rsplit(":", 1)
    answer = ntplib.NTPClient().request(host, port=int(port), version=4, timeout=2)
    assert 1 <= answer.stratum <= 15
    assert abs(answer.offset) < 0.1
    assert answer.leap != 3


def test_order_round_trip(endpoints: Endpoints) -> None:
    base = endpoints.api_urls[0]
    body = {
        "account": "ACC-1",
        "symbol": "ETH-USD",
        "side": "buy",
        "price": "3199.99",
        "quantity": "0.250",
    }
    key = str(uuid.uuid4())
    created = httpx.post(f"{base}/orders", json=body, headers={"Idempotency-Key": key}, timeout=5)
    assert created.status_code == 201, created.text
    order = created.json()
    fetched = httpx.get(f"{endpoints.api_urls[1]}/orders/{order['id']}", timeout=5).json()
    assert (fetched["price"], fetched["quantity"]) == ("3199.99", "0.250")
    with psycopg.connect(endpoints.db_dsn, connect_timeout=5) as conn:
        row = conn.execute("SELECT price::text FROM orders WHERE id = %s", (order["id"],))
        assert row.fetchone()[0] == "3199.99000000"


def test_version_reports_the_release(endpoints: Endpoints) -> None:
    for url in endpoints.api_urls:
        info = httpx.get(f"{url}/version", timeout=5).json()
        assert (info["version"], info["git_sha"], info["build_time"]) == (
            endpoints.release_version,
            endpoints.git_sha,
            endpoints.build_time,
        )


def test_sbom_names_the_release(endpoints: Endpoints) -> None:
    bom = json.loads(Path(endpoints.sbom_path).read_text())
    assert (bom["bomFormat"], bom["specVersion"]) == ("CycloneDX", "1.6")
    comp = bom["metadata"]["component"]
    assert comp["version"] == endpoints.release_version
    assert comp["purl"] == f"pkg:generic/spark-api@{endpoints.release_version}"
    assert {"name": "spark:git_sha", "value": endpoints.git_sha} in comp["properties"]
    assert all(x.get("purl") for x in bom["components"])
    errors = JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(bom))
    assert errors is None, errors


def test_promtool_accepts_the_rules_and_config(sandbox: Sandbox) -> None:
    rules = sorted(str(p) for p in (PROMETHEUS_DIR / "rules").glob("*.yml"))
    done = subprocess.run(["promtool", "check", "rules", *rules], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    config = sandbox.layout.prometheus / "prometheus.yml"
    done = subprocess.run(["promtool", "check", "config", str(config)], capture_output=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_state_file_is_private_and_secrets_stay_out_of_argv(sandbox: Sandbox) -> None:
    state = sandbox.state_dir / "state.json"
    assert state.stat().st_mode & 0o777 == 0o600
    password = sandbox.secret("app_password")
    for name in ("api-1", "api-2", "pgbouncer", "loadgen"):
        rec = sandbox.record(name)
        assert rec is not None
        argv = Path(f"/proc/{rec.pid}/cmdline").read_bytes().decode()
        assert password not in argv


def test_status_lists_live_components(sandbox: Sandbox) -> None:
    info = sandbox.status()
    assert info["running"] is True
    expected = {"postgres", "pgbouncer", "api-1", "api-2", "prometheus", "alertmanager"}
    assert expected | {"chrony", "loadgen"} <= set(info["components"])
    assert all(comp["alive"] for comp in info["components"].values())
    assert "***" in info["endpoints"]["db_dsn"]


def test_second_up_on_the_same_state_dir_refuses(sandbox: Sandbox) -> None:
    with pytest.raises(SandboxError, match=r"already running in .* \(pid \d+\); run `pytest"):
        Sandbox(sandbox.state_dir).up(timeout=10)
    assert sandbox.status()["running"] is True


# --- separate stacks: clean shutdown -----------------------------------------------------

CLI = [sys.executable, "-m", "pytest_spark.sandbox.cli", "sandbox"]


def _pids_and_ports(state_dir: Path) -> tuple[list[c.ProcRecord], list[int], Path]:
    state = json.loads((state_dir / "state.json").read_text())
    recs = [c.ProcRecord.from_dict(r) for r in state["procs"].values()]
    return recs, list(state["ports"].values()), Path(state["paths"]["pg_root"])


def _assert_all_gone(
    recs: list[c.ProcRecord], ports: list[int], pg_root: Path, state_dir: Path
) -> None:
    assert [r.name for r in recs if c.is_alive(r)] == []
    # A freed port may be taken at once by another worker's stack (CI runs three): what
    # must not remain is a listener of *this* stack, one whose command line, environment
    # or working dir names its state dir, its pg root or one of its ports' DSNs.
    ours = [str(state_dir), str(pg_root), *(f"127.0.0.1:{p}/" for p in ports)]
    held = {p: _listeners(p) for p in ports if not c.port_is_free(p)}
    leaked = {
        p: hits for p, found in held.items() if (hits := [f for f in found if _names(f, ours)])
    }
    assert leaked == {}
    assert not pg_root.exists()


def _names(identity: str, ours: list[str]) -> bool:
    return any(marker in identity for marker in ours)


def _listeners(port: int) -> list[str]:
    """Command line, environment and cwd of each process listening on a TCP port (/proc)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":  # LISTEN
                inodes.add(f"socket:[{fields[9]}]")
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or not _holds(proc, inodes):
            continue
        try:
            raw = (proc / "cmdline").read_bytes() + b" " + (proc / "environ").read_bytes()
            text = raw.replace(b"\0", b" ").decode(errors="replace")
            found.append(f"{text} {os.readlink(proc / 'cwd')}")
        except OSError:
            continue  # gone meanwhile
    return found


def _holds(proc: Path, inodes: set[str]) -> bool:
    try:
        fds = list((proc / "fd").iterdir())
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(fd) in inodes:
                return True
        except OSError:
            continue  # closed meanwhile (the listing's own fd, for one)
    return False


def test_cli_up_detached_then_down_leaves_nothing(tmp_path: Path) -> None:
    state_dir = tmp_path / "cli-stack"
    env = c.python_env()
    up = subprocess.run(
        [*CLI, "--state-dir", str(state_dir), "up", "--detach", "--no-load"],
        capture_output=True,
        text=True,
        timeout=90,
        env=env,
    )
    try:
        assert up.returncode == 0, up.stderr
        assert "api_urls" in up.stdout and "***" in up.stdout
        recs, ports, pg_root = _pids_and_ports(state_dir)
        assert all(c.is_alive(r) for r in recs)
        status = subprocess.run(
            [*CLI, "--state-dir", str(state_dir), "status"],
            capture_output=True,
            timeout=30,
            env=env,
        )
        assert status.returncode == 0
    finally:
        down = subprocess.run(
            [*CLI, "--state-dir", str(state_dir), "down"], capture_output=True, timeout=60, env=env
        )
    assert down.returncode == 0
    _assert_all_gone(recs, ports, pg_root, state_dir)
    Sandbox(state_dir).down()  # idempotent


def test_cli_up_in_the_foreground_stops_on_ctrl_c(tmp_path: Path) -> None:
    state_dir = tmp_path / "fg-stack"
    proc = subprocess.Popen(
        [*CLI, "--state-dir", str(state_dir), "up", "--no-load"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=c.python_env(),
    )
    try:
        assert proc.stdout is not None
        eventually(lambda: "press Ctrl-C" in proc.stdout.readline(), timeout=60, interval=0)
        recs, ports, pg_root = _pids_and_ports(state_dir)
        assert all(c.is_alive(r) for r in recs)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            Sandbox(state_dir).down()
    _assert_all_gone(recs, ports, pg_root, state_dir)


def test_owner_crash_is_cleaned_up_by_the_watchdog(tmp_path: Path) -> None:
    """The process that called up() dies without down(): nothing may outlive it."""
    state_dir = tmp_path / "orphan"
    script = (
        "import os, sys\n"
        "from pytest_spark.sandbox.launcher import Sandbox\n"
        "Sandbox(sys.argv[1], load=False).up(timeout=60)\n"
        "os.kill(os.getpid(), 9)\n"
    )
    child = subprocess.run(
        [sys.executable, "-c", script, str(state_dir)], env=c.python_env(), timeout=90
    )
    assert child.returncode == -signal.SIGKILL
    recs, ports, pg_root = _pids_and_ports(state_dir)
    eventually(lambda: not any(c.is_alive(r) for r in recs), timeout=20, interval=0.2)
    _assert_all_gone(recs, ports, pg_root, state_dir)
    assert not (state_dir / "state.json").exists()
    assert os.listdir(state_dir)  # logs stay for post-mortems
