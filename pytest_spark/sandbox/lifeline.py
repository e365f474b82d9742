"""The owner's lifeline: a stack dies with the process that started it, at any moment of its life.

``Sandbox.up()`` starts this watchdog before any component, with the read end
of a pipe whose write end only the owner holds (close-on-exec, so no other
child keeps it). Only the kernel closes it for good: when the owner exits,
however it dies (SIGKILL included, mid start-up included). The watchdog then
reads EOF and stops the stack: what state.json records (``Sandbox.down()``),
then every process still carrying this stack's marker in its environment (a
component spawned an instant before the owner died is not recorded yet; its
children inherit the marker), and processes whose command line names the
stack's PostgreSQL directory (``cp -a`` of the template, ``initdb``). Last,
the PostgreSQL directory itself goes (``/tmp/spark-pg-*`` when run as root).

A normal ``down()`` stops the watchdog first (SIGTERM: it exits at once,
without a teardown of its own), so a finished stack is stopped only once.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from .components import STACK_MARKER, python_env

KILL_ROUNDS_S = 10.0


def spawn(state_dir: Path, pg_root: Path, log_path: Path) -> tuple[int, subprocess.Popen[bytes]]:
    """Start the watchdog; returns (write end the owner keeps open, the process)."""
    read_end, write_end = os.pipe()  # both close-on-exec: only the watchdog inherits one
    argv = [
        sys.executable,
        "-m",
        "pytest_spark.sandbox.lifeline",
        "--state-dir",
        str(state_dir),
        "--pg-root",
        str(pg_root),
        "--fd",
        str(read_end),
    ]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=python_env(),
                start_new_session=True,  # a terminal's Ctrl-C is the owner's, not ours
                pass_fds=(read_end,),
            )
    except BaseException:
        os.close(write_end)
        raise
    finally:
        os.close(read_end)
    return write_end, proc


def _pids() -> Iterator[int]:
    me = os.getpid()
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) != me:
            yield int(name)


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError:  # gone, or not ours to read
        return b""


def stack_pids(state_dir: Path | str, pg_root: Path | str | None = None) -> list[int]:
    """Live processes of this stack: the marker in their environment, or pg_root in argv."""
    marker = f"\0{STACK_MARKER}={state_dir}\0".encode()
    root = f"{pg_root}".encode() if pg_root else None
    found = []
    for pid in _pids():
        stat = _read(f"/proc/{pid}/stat")
        if not stat or stat.rsplit(b")", 1)[-1].split()[:1] in ([b"Z"], [b"X"]):
            continue  # gone or a zombie: nothing left to stop
        marked = marker in b"\0" + _read(f"/proc/{pid}/environ")
        if marked or (root and root in _read(f"/proc/{pid}/cmdline")):
            found.append(pid)
    return found


def kill_stack(state_dir: Path | str, pg_root: Path | str | None, timeout: float) -> list[int]:
    """SIGKILL every process of the stack until none is left (or timeout); returns survivors."""
    deadline = time.monotonic() + timeout
    while True:
        pids = stack_pids(state_dir, pg_root)
        if not pids or time.monotonic() > deadline:
            return pids
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)


def teardown(state_dir: Path, pg_root: Path) -> None:
    """The owner is gone: stop what it recorded, then whatever it had not recorded yet."""
    from .launcher import Sandbox, SandboxError

    with contextlib.suppress(SandboxError, OSError, ValueError):
        Sandbox.attach(state_dir).down()
    sweep(state_dir, pg_root)


def sweep(state_dir: Path, pg_root: Path) -> None:
    """Kill every process of the stack still running, then remove its PostgreSQL directory."""
    survivors = kill_stack(state_dir, pg_root, KILL_ROUNDS_S)
    if survivors:
        print(f"lifeline: processes survived SIGKILL: {survivors}", file=sys.stderr)
    for _ in range(20):  # a killed cp may have been writing into it a moment ago
        shutil.rmtree(pg_root, ignore_errors=True)
        if not pg_root.exists():
            break
        time.sleep(0.05)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m pytest_spark.sandbox.lifeline")
    p.add_argument("--state-dir", type=Path, required=True)
    p.add_argument("--pg-root", type=Path, required=True)
    p.add_argument("--fd", type=int, required=True, help="read end of the owner's pipe")
    args = p.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # only EOF (or SIGTERM from down()) ends us
    while os.read(args.fd, 4096):  # the owner never writes: this returns b"" when it is gone
        pass
    print("owner process gone; stopping its sandbox", file=sys.stderr)
    teardown(args.state_dir, args.pg_root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
