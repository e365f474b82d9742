"""A half-started stack dies with its owner (issue 8 section 6).

Observed before: SIGKILL of a ``--spark-sandbox`` run 1.2-3 s into start-up
left 3-7 stack processes and a /tmp/spark-pg-* directory; SIGTERM there exited
143 and left 3. Here a real ``pytest --spark-sandbox`` run is killed at several
points of start-up -- each point reached by polling state.json for the
component's record, never by sleeping -- and nothing of that run may remain:
no process carrying its state directory, no recorded process, no port, no
PostgreSQL directory. Only the pytest process this test started is signalled.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from _sandbox_helpers import eventually

from pytest_spark.sandbox import components as c
from pytest_spark.sandbox import lifeline
from pytest_spark.sandbox.launcher import Sandbox

ROOT = Path(__file__).resolve().parents[2]
GONE_WITHIN_S = 20.0  # generous on a loaded 2-core machine; not a timing assertion


@dataclass
class Seen:
    """Everything of the run that state.json showed while we polled it."""

    procs: dict[str, c.ProcRecord] = field(default_factory=dict)
    ports: list[int] = field(default_factory=list)
    pg_root: Path | None = None


def _state(state_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((state_dir / "state.json").read_text())
    except (OSError, ValueError):  # not written yet, or replaced under us
        return None


def _owner(state_dir: Path, tmp_path: Path) -> subprocess.Popen[bytes]:
    argv = [
        sys.executable,
        "-m",
        "pytest",
        str(ROOT / "checks"),
        "-p",
        "no:cacheprovider",
        "--spark-sandbox",
        "--spark-sandbox-dir",
        str(state_dir),
        "--spark-evidence-dir",
        str(tmp_path / "evidence"),
        "--spark-check",
        "PF-01",
    ]
    out = open(tmp_path / "owner.out", "wb")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=c.python_env())


def _wait_for(proc: subprocess.Popen[bytes], state_dir: Path, component: str) -> Seen:
    """Poll state.json until ``component`` is recorded (the kill point)."""
    seen = Seen()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the run ended before {component} started"
        state = _state(state_dir)
        if state:
            seen.ports = list(state.get("ports", {}).values())
            seen.pg_root = Path(state["paths"]["pg_root"])
            for name, rec in state.get("procs", {}).items():
                seen.procs[name] = c.ProcRecord.from_dict(rec)
            if component in seen.procs:
                return seen
        time.sleep(0.005)
    pytest.fail(f"{component} was not started within 90 s")


def _marked(state_dir: Path, pg_root: Path | None) -> list[str]:
    """Live processes with the run's marker in their environment or its pg dir in argv."""
    needle = f"\0{c.STACK_MARKER}={state_dir}\0".encode()
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
            argv = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if c.proc_start_ticks(int(pid)) is None:
            continue  # a zombie holds nothing
        if needle in b"\0" + environ or (pg_root and str(pg_root).encode() in argv):
            command = argv.replace(b"\0", b" ").decode(errors="replace")
            found.append(f"{pid}: {command[:120]}")
    return found


def _leftovers(state_dir: Path, seen: Seen) -> list[str]:
    out = [f"recorded {r.name} (pid {r.pid})" for r in seen.procs.values() if c.is_alive(r)]
    out += [f"process {p}" for p in _marked(state_dir, seen.pg_root)]
    out += [f"port {p} in use" for p in seen.ports if not c.port_is_free(p)]
    if seen.pg_root and seen.pg_root.exists():
        out.append(f"directory {seen.pg_root}")
    return out


def _assert_gone(state_dir: Path, seen: Seen) -> None:
    """Poll until nothing of the run is left; fail naming what still is."""
    deadline = time.monotonic() + GONE_WITHIN_S
    while left := _leftovers(state_dir, seen):
        if time.monotonic() > deadline:
            pytest.fail(f"left behind {GONE_WITHIN_S:g} s after the owner died: {left}")
        time.sleep(0.1)


def _cleanup(state_dir: Path, proc: subprocess.Popen[bytes], seen: Seen | None) -> None:
    """After a failed assertion: stop what this test's run left, ours only."""
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=30)
    Sandbox(state_dir).down()
    pg_root = seen.pg_root if seen else None
    lifeline.kill_stack(state_dir, pg_root, 10)
    if pg_root is not None and pg_root.name.startswith("spark-pg-"):
        shutil.rmtree(pg_root, ignore_errors=True)


# Components in the order start-up usually reaches them; threads make the order vary,
# which is why each point is reached by polling for that component's record.
SIGKILL_POINTS = ["lifeline", "postgres", "api-1", "pgbouncer", "prometheus", "loadgen"]
INTERRUPT_POINTS = [
    (signal.SIGTERM, "postgres"),
    (signal.SIGTERM, "api-2"),
    (signal.SIGTERM, "alertmanager"),
    (signal.SIGINT, "pgbouncer"),  # Ctrl-C: the behaviour SIGTERM must match
]


@pytest.mark.parametrize("component", SIGKILL_POINTS)
def test_sigkill_during_start_up_leaves_nothing(tmp_path: Path, component: str) -> None:
    state_dir = tmp_path / "state"
    proc = _owner(state_dir, tmp_path)
    seen: Seen | None = None
    try:
        seen = _wait_for(proc, state_dir, component)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
        _assert_gone(state_dir, seen)
    finally:
        if _leftovers(state_dir, seen or Seen()) or proc.poll() is None:
            _cleanup(state_dir, proc, seen)


@pytest.mark.parametrize(("sig", "component"), INTERRUPT_POINTS)
def test_sigterm_or_ctrl_c_during_start_up_is_an_interrupt_and_leaves_nothing(
    tmp_path: Path, sig: signal.Signals, component: str
) -> None:
    state_dir = tmp_path / "state"
    proc = _owner(state_dir, tmp_path)
    seen: Seen | None = None
    try:
        seen = _wait_for(proc, state_dir, component)
        proc.send_signal(sig)
        code = proc.wait(timeout=60)
        output = (tmp_path / "owner.out").read_text(errors="replace")
        # like Ctrl-C: pytest's "interrupted" exit code (not 143) and a message saying why
        assert code == pytest.ExitCode.INTERRUPTED, (code, output[-2000:])
        assert "stopped the half-started sandbox" in output, output[-2000:]
        assert "no check ran, no verdict" in output, output[-2000:]
        if sig == signal.SIGTERM:
            assert "terminated by signal 15 while the sandbox was starting" in output, output
        _assert_gone(state_dir, seen)
    finally:
        if _leftovers(state_dir, seen or Seen()) or proc.poll() is None:
            _cleanup(state_dir, proc, seen)


def test_lifeline_stops_a_process_spawned_but_not_yet_recorded(tmp_path: Path) -> None:
    """The owner dies between spawning a component and writing it to state.json."""
    state_dir, pg_root = tmp_path / "state", tmp_path / "pg-root"
    script = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from pytest_spark.sandbox import components as c, lifeline\n"
        "state, root = Path(sys.argv[1]), Path(sys.argv[2])\n"
        "fd, _ = lifeline.spawn(state, root, state / 'logs' / 'lifeline.log')\n"
        "root.mkdir()\n"
        "(root / 'data').write_text('x')\n"
        "_, rec = c.spawn('straggler', ['sleep', '300'], state / 'logs' / 's.log', stack=state)\n"
        "print(rec.pid, rec.started, flush=True)\n"
        "os.kill(os.getpid(), 9)\n"
    )
    owner = subprocess.run(
        [sys.executable, "-c", script, str(state_dir), str(pg_root)],
        env=c.python_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert owner.returncode == -signal.SIGKILL, owner.stderr
    pid, started = map(int, owner.stdout.split())
    straggler = c.ProcRecord("straggler", pid, started, "")
    try:
        eventually(
            lambda: not c.is_alive(straggler) and not pg_root.exists(),
            timeout=GONE_WITHIN_S,
            interval=0.1,
        )
    finally:
        if c.is_alive(straggler):
            c.stop(straggler, timeout=1)


def test_a_normal_down_stops_the_lifeline_without_a_second_teardown(tmp_path: Path) -> None:
    box = Sandbox(tmp_path / "state", load=False)
    box.up(timeout=60)
    try:
        rec = box.record("lifeline")
        assert rec is not None and c.is_alive(rec)
    finally:
        box.down()
    assert not c.is_alive(rec)
    log = (tmp_path / "state" / "logs" / "lifeline.log").read_text()
    assert "owner process gone" not in log
