"""Issue 8 section 1 at the level a user sees: a trickling, flooding or silent target makes
the check ERROR ("could not verify") with a message saying what happened; a run stuck on
a silent database ends on SIGINT/SIGTERM with NO-GO incomplete.

HTTP targets are hang_servers.http_server; the database is the sandbox's real
PostgreSQL behind hang_servers.FreezingProxy (silent after session set-up).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from hang_servers import FreezingProxy, http_server, wait_for

CHECKS_DIR = Path(__file__).resolve().parents[2] / "checks"
DEADLINE_S = 1.0
API_IDS = ("BS-04", "PF-01", "PF-05")
pytestmark = pytest.mark.timeout(240)


def _default_sigint() -> None:
    """A job started in the background ignores SIGINT, and so would the child: undo that."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def short_config(directory: Path, extra: str = "") -> str:
    path = directory / "spark-deadlines.toml"
    path.write_text(f"[policy]\ntimeout_s = {DEADLINE_S}\nmax_response_mib = 1\n{extra}")
    return str(path)


def assert_could_not_verify(r: Any, ids: tuple[str, ...], *fragments: str) -> None:
    reasons = {x["check"]: x["message"] for x in r.verdict["reasons"]}
    assert r.verdict["verdict"] == "NO-GO", r.output[-3000:]
    for cid in ids:
        assert r.outcome(cid) == "error", (cid, r.message(cid))
        assert reasons[cid].startswith("could not verify: "), reasons[cid]
        for fragment in fragments:
            assert fragment in reasons[cid], (cid, reasons[cid])


def test_a_trickling_api_is_could_not_verify(run_checks, pytester) -> None:
    """Headers, then 1 byte/s (trickled headers are proven per client in tests/unit)."""
    with http_server("trickle-body") as api:
        r = run_checks(
            *API_IDS, args=("--spark-config", short_config(pytester.path), "--spark-api-url", api)
        )
    assert_could_not_verify(r, API_IDS, f"timed out after {DEADLINE_S} s talking to {api}/")


def test_an_endless_api_body_is_could_not_verify(run_checks, pytester) -> None:
    with http_server("endless-body") as api:
        r = run_checks(
            *API_IDS, args=("--spark-config", short_config(pytester.path), "--spark-api-url", api)
        )
    assert_could_not_verify(r, API_IDS, f"response from {api}/", "exceeded 1 MiB")


@pytest.mark.parametrize(
    ("prom_kind", "am_kind"),
    [("trickle-headers", "trickle-body"), ("endless-body", "endless-body")],
    ids=["trickling", "endless"],
)
def test_a_misbehaving_prometheus_or_alertmanager_is_could_not_verify(
    run_checks, pytester, prom_kind, am_kind
) -> None:
    with http_server(prom_kind) as prom, http_server(am_kind) as am:
        r = run_checks(
            "BS-01",
            "PF-08",
            args=(
                "--spark-config", short_config(pytester.path),
                "--spark-prometheus-url", prom,
                "--spark-alertmanager-url", am,
            ),
        )  # fmt: skip
    if prom_kind == "endless-body":
        assert_could_not_verify(r, ("BS-01",), f"response from {prom}/", "exceeded 1 MiB")
        assert_could_not_verify(r, ("PF-08",), f"response from {am}/-/ready exceeded 1 MiB")
    else:
        said = f"timed out after {DEADLINE_S} s talking to"
        assert_could_not_verify(r, ("BS-01",), f"{said} Prometheus at {prom}")
        assert_could_not_verify(r, ("PF-08",), f"{said} {am}/-/ready")


def test_a_database_silent_after_set_up_is_could_not_verify(
    run_checks, pytester, sandbox: Any
) -> None:
    """Start-up and the session check answered, then silence (each ReadyForQuery position is
    proven at the probe level in tests/sandbox/test_db_deadlines.py)."""
    freeze_after = 2
    host, port = "127.0.0.1", int(sandbox.endpoints.db_dsn.rsplit(":", 1)[1].split("/")[0])
    with FreezingProxy((host, port), freeze_after=freeze_after) as proxy:
        dsn = proxy.dsn(sandbox.endpoints.db_dsn)
        r = run_checks(
            "BS-02",
            "PF-06",
            args=("--spark-config", short_config(pytester.path), "--spark-db-dsn", dsn),
        )
    assert_could_not_verify(
        r, ("BS-02", "PF-06"), f"timed out after {DEADLINE_S} s waiting for PostgreSQL"
    )


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupt_ends_a_run_stuck_on_a_silent_database(
    pytester, sandbox: Any, sig: signal.Signals
) -> None:
    """A 60 s deadline far away: only the interrupt can end the run, and it must, quickly."""
    port = int(sandbox.endpoints.db_dsn.rsplit(":", 1)[1].split("/")[0])
    config = pytester.path / "spark-long.toml"
    config.write_text("[policy]\ntimeout_s = 60.0\n")
    with FreezingProxy(("127.0.0.1", port), freeze_after=2) as proxy:
        argv = [
            sys.executable, "-m", "pytest", str(CHECKS_DIR), "-p", "no:cacheprovider",
            "--spark-sandbox", "--spark-sandbox-dir", str(sandbox.state_dir),
            "--spark-evidence-dir", str(pytester.path / "reports"),
            "--spark-config", str(config),
            "--spark-check", "PF-06",
            "--spark-db-dsn", proxy.dsn(sandbox.endpoints.db_dsn),
        ]  # fmt: skip
        proc = subprocess.Popen(
            argv,
            cwd=pytester.path,
            preexec_fn=_default_sigint,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            wait_for(proxy.frozen, timeout=120)  # PF-06's query sent, its answer held back
            signalled = time.monotonic()
            proc.send_signal(sig)
            # ~1 s to the verdict; pytest then renders the interrupt traceback and the hypothesis
            # plugin imports hypothesis for its summary: several seconds more on a busy machine
            out, err = proc.communicate(timeout=30)
            print(f"run ended {time.monotonic() - signalled:.2f} s after {sig.name}")  # -s: measure
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 2, (out[-3000:], err[-3000:])
    verdict = [line for line in out.splitlines() if line.startswith("SPARK VERDICT:")]
    assert verdict and verdict[-1].startswith("SPARK VERDICT: NO-GO"), out[-3000:]
    assert "incomplete" in verdict[-1], verdict
