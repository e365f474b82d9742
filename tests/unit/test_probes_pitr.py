"""The restore drill's local decisions: archive location, scratch placement, settings, deadline."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from pytest_spark.probes import ProbeError, pitr


def test_archive_dir_from_archive_command(tmp_path: Path) -> None:
    command = f"test ! -f {tmp_path}/%f && cp %p {tmp_path}/%f"
    assert pitr.archive_dir(command) == tmp_path


def test_configured_archive_dir_wins(tmp_path: Path) -> None:
    assert pitr.archive_dir("wal-g wal-push %p", str(tmp_path)) == tmp_path


def test_archive_dir_unknown_or_unreachable_cannot_verify(tmp_path: Path) -> None:
    with pytest.raises(ProbeError, match="cannot tell where WAL is archived"):
        pitr.archive_dir("pgbackrest --stanza=main archive-push %p")
    with pytest.raises(ProbeError, match="not reachable from the test host"):
        pitr.archive_dir(f"cp %p {tmp_path}/missing/%f")


def test_scratch_goes_to_tmpfs_only_when_the_cluster_is_small() -> None:
    assert pitr.scratch_parent(None) is None
    assert pitr.scratch_parent(10**18) is None
    small = pitr.scratch_parent(1024)
    assert small is None or small == Path("/dev/shm")


def test_scratch_dir_is_private_and_always_removed() -> None:
    with pytest.raises(RuntimeError), pitr.scratch_dir() as path:
        assert path.is_dir() and (path.stat().st_mode & 0o777) == 0o700
        (path / "data").mkdir()
        raise RuntimeError("drill failed")
    assert not path.exists()


def test_restore_settings_never_archive_and_quote_the_archive() -> None:
    settings = pitr._restore_settings(
        port=5999, scratch=Path("/tmp/s"), archive=Path("/srv/wal archive"), target_time="T"
    )
    assert settings["archive_mode"] == "off"
    assert settings["restore_command"] == "cp '/srv/wal archive'/%f %p"
    assert settings["recovery_target_time"] == "T"
    assert settings["recovery_target_action"] == "promote"
    assert settings["listen_addresses"] == "127.0.0.1"


def test_deadline_names_the_step_it_ran_out_in() -> None:
    deadline = pitr.Deadline(0.01)
    assert deadline.left("backup") > 0
    time.sleep(0.02)
    with pytest.raises(ProbeError, match=r"timed out after 0\.01 s \(archive wait\)"):
        deadline.left("archive wait")


def test_tool_env_keeps_the_password_off_the_command_line(tmp_path: Path) -> None:
    conninfo, env = pitr._tool_env("postgresql://u:s3cret@127.0.0.1:5432/db", tmp_path)
    assert "s3cret" not in conninfo
    assert "host=127.0.0.1" in conninfo and "user=u" in conninfo
    assert env["PGPASSWORD"] == "s3cret"


def test_server_error_skips_the_noise_of_polling(tmp_path: Path) -> None:
    log = tmp_path / "postgres.log"
    log.write_text(
        "2026 UTC [1] FATAL:  recovery ended before configured recovery target was reached\n"
        "2026 UTC [2] FATAL:  the database system is starting up\n"
        "2026 UTC [1] LOG:  database system is shut down\n"
    )
    assert pitr._server_error(log) == "recovery ended before configured recovery target was reached"
