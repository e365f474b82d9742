"""probes/command.run_argv: deadline over the whole process group, output tail, one-line errors."""

from __future__ import annotations

import os
import sys
import time

import pytest

from pytest_spark.probes.command import CommandError, run_argv


def test_output_status_and_stdin() -> None:
    code = "import sys; d = sys.stdin.read(); print(d.upper()); print('oops', file=sys.stderr)"
    done = run_argv([sys.executable, "-c", code], timeout=30, stdin="rollback v1.3.1")
    assert done.returncode == 0
    assert done.stdout.strip() == "ROLLBACK V1.3.1" and done.stderr.strip() == "oops"


def test_only_the_tail_of_a_flood_is_kept() -> None:
    code = "import sys; sys.stdout.write('x' * 5_000_000 + 'END')"
    done = run_argv([sys.executable, "-c", code], timeout=30, cap=1000)
    assert len(done.stdout) == 1000 and done.stdout.endswith("END")


def test_a_child_that_never_reads_stdin_cannot_block_us() -> None:
    done = run_argv([sys.executable, "-c", "pass"], timeout=30, stdin="x" * 10_000_000)
    assert done.returncode == 0


def test_overrun_kills_the_whole_group_including_grandchildren(tmp_path) -> None:
    pidfile = tmp_path / "grandchild.pid"
    script = (
        "import subprocess, sys, time;"
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']);"
        f"open({str(pidfile)!r}, 'w').write(str(p.pid)); time.sleep(600)"
    )
    with pytest.raises(CommandError) as exc:
        run_argv([sys.executable, "-c", script], timeout=2)
    assert exc.value.kind == "timeout"
    assert (
        str(exc.value) == f"{os.path.basename(sys.executable)} did not finish within 2 s; stopped"
    )
    grandchild = int(pidfile.read_text())
    for _ in range(50):  # SIGKILLed with its group; gone once init reaps it
        try:
            os.kill(grandchild, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"grandchild {grandchild} outlived the deadline")


@pytest.mark.parametrize("argv", [["/nonexistent/rollback"], [], ["/"]])
def test_a_command_that_cannot_start_is_one_line(argv) -> None:
    with pytest.raises(CommandError) as exc:
        run_argv(argv, timeout=5)
    assert exc.value.kind == "start" and "\n" not in str(exc.value)
