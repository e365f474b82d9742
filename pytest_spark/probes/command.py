"""Run a local command under a total deadline, keeping only a tail of its output.

One way to run argv for every caller (rollback and weight commands, pg_dump and
friends, the pact verifier child, ``git rev-parse``): no shell, stdin closed or
given, the child in its own process group so an overrun kills what it started too
(``subprocess.run(timeout=)`` kills only the child, then waits on pipes a
grandchild may hold open forever), and output spooled to temporary files of which
only the last ``cap`` bytes are read (PRODUCT.md: every call has a deadline and a
size cap).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

#: Bytes of stdout and of stderr kept by default (the tail: errors come last).
OUTPUT_CAP = 64 * 1024


class CommandError(Exception):
    """The command could not run to its end: ``kind`` is "timeout" or "start"."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Finished:
    """A command that ran to its end (any exit status)."""

    returncode: int
    stdout: str  # the last ``cap`` bytes, decoded with replacement characters
    stderr: str
    duration_s: float


def run_argv(
    argv: Sequence[str],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    cwd: Path | str | None = None,
    stdin: str | None = None,
    cap: int = OUTPUT_CAP,
) -> Finished:
    """Run ``argv`` (no shell) within ``timeout`` seconds, wall clock, start to exit.

    Raises CommandError("start") when it cannot start (one line: the OS's reason) and
    CommandError("timeout") after killing its whole process group on overrun."""
    if not argv:
        raise CommandError("start", "empty command")
    name = Path(argv[0]).name
    t0 = time.monotonic()
    with (
        tempfile.TemporaryFile() as given,
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
    ):
        if stdin is not None:  # from a file: a child that never reads cannot block us
            given.write(stdin.encode())
            given.seek(0)
        try:
            proc = subprocess.Popen(
                list(argv),
                stdin=given if stdin is not None else subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                start_new_session=True,
            )
        except OSError as exc:
            raise CommandError("start", f"cannot run {argv[0]}: {exc.strerror or exc}") from None
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_group(proc)
            raise CommandError(
                "timeout", f"{name} did not finish within {timeout:g} s; stopped"
            ) from None
        except BaseException:  # Ctrl-C / SIGTERM while waiting: nothing is left running
            kill_group(proc)
            raise
        return Finished(proc.returncode, _tail(out, cap), _tail(err, cap), time.monotonic() - t0)


def _tail(fh: IO[bytes], cap: int) -> str:
    size = fh.seek(0, os.SEEK_END)
    fh.seek(max(size - cap, 0))
    return fh.read().decode("utf-8", "replace")


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL a child started with ``start_new_session`` and all it started; reap it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)
