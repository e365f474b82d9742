"""The app's command line: a real process, configured by flags and environment."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
from _app_server import migrated_dsn  # noqa: F401  (fixture)
from _pg import free_port, pg  # noqa: F401  (fixture)

SECRET = "s3cr3t-pw-not-for-logs"


def test_cli_serves_and_stops_cleanly(migrated_dsn: str) -> None:  # noqa: F811
    port = free_port()
    env = {
        **os.environ,
        # trust auth ignores the password; it is here to prove it never leaks.
        "SPARK_API_DSN": f"{migrated_dsn} password={SECRET}",
        "SPARK_CONTROL_TOKEN": "cli-token",
    }
    argv = [
        sys.executable, "-m", "pytest_spark.sandbox.app", "--port", str(port),
        "--instance", "cli-1", "--version", "1.4.0", "--git-sha", "f00d",
        "--build-time", "2024-06-01T00:00:00Z", "--log-level", "info",
    ]  # fmt: skip
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            assert time.monotonic() < deadline, "app did not become healthy"
            time.sleep(0.1)
        version = httpx.get(f"{url}/version", timeout=2).json()
        assert version["instance"] == "cli-1" and version["git_sha"] == "f00d"
        r = httpx.put(
            f"{url}/__sandbox/faults/version-old",
            headers={"X-Sandbox-Token": "cli-token"},
            timeout=2,
        )
        assert r.status_code == 200
        assert httpx.get(f"{url}/version", timeout=2).json()["version"] == "1.3.1"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            out, _ = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
    # uvicorn finishes the graceful shutdown, then re-raises the signal it caught.
    assert proc.returncode in (0, -signal.SIGTERM), out.decode()
    assert "Application shutdown complete" in out.decode()
    assert SECRET not in out.decode()
    assert "fault version-old activated" in out.decode()


def test_cli_refuses_non_loopback_host_and_missing_dsn() -> None:
    env = {k: v for k, v in os.environ.items() if k != "SPARK_API_DSN"}
    base = [sys.executable, "-m", "pytest_spark.sandbox.app", "--port", "1"]
    bad_host = subprocess.run(
        [*base, "--host", "0.0.0.0", "--dsn", "x"], env=env, capture_output=True, timeout=30
    )
    assert bad_host.returncode == 2 and b"not a loopback address" in bad_host.stderr
    no_dsn = subprocess.run(base, env=env, capture_output=True, timeout=30)
    assert no_dsn.returncode != 0 and b"no DSN" in no_dsn.stderr
