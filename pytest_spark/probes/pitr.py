"""RT-08 restore drill: prove point-in-time recovery works end to end, within a deadline.

Steps: take a base backup of the target (pg_basebackup, streamed WAL), write
a sentinel row *after* it and a second row after the chosen recovery target,
force a WAL switch and wait until the archiver has the segment, restore the
backup into a scratch directory with ``restore_command`` (copying from the
archive), ``recovery_target_time`` and ``recovery.signal``, start a
temporary postgres on a free 127.0.0.1 port, wait for recovery to end
(``recovery_target_action=promote``), and read the rows back. The scratch
instance is stopped and its directory deleted whatever happens.

The scratch instance is started with ``archive_mode=off`` (it must never push
a new timeline into the live archive), its own ``pg_hba.conf`` (trust only on
a private unix-socket directory; TCP needs the restored roles' passwords)
and ``ssl=off``. When running as root, PostgreSQL's tools run as the
``postgres`` system user, as the sandbox does. Passwords go to the tools
through ``PGPASSWORD``, never on a command line.

Problems of the environment (tools missing, cannot connect, deadline passed
while taking the backup) raise ``ProbeError`` (the check cannot verify);
a restore that does not come back is a result (``restore_error``) the check
fails on.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from ..rules.dbsql import quote_ident
from ..rules.operations import archive_dir_from_command, segment_archived
from . import ProbeError
from .command import CommandError, kill_group, run_argv
from .db import connect, rows

SENTINEL_TABLE = "spark_pitr_sentinel"
SERVICE_USER = "postgres"  # PostgreSQL refuses to run as root
LOCALHOST = "127.0.0.1"
LOG_TAIL_LINES = 12
LOG_KEEP_LINES = 400
SHM_MARGIN_BYTES = 512 * 1024 * 1024

SERVER_FACTS_SQL = """
SELECT current_setting('server_version_num')::int AS server_version_num,
       current_setting('archive_command') AS archive_command,
       current_user AS role,
       current_database() AS database,
       (SELECT rolsuper OR rolreplication FROM pg_catalog.pg_roles
         WHERE rolname = current_user) AS can_replicate,
       (SELECT count(*) FROM pg_catalog.pg_tablespace
         WHERE spcname NOT IN ('pg_default', 'pg_global'))::int AS extra_tablespaces,
       (SELECT sum(pg_database_size(oid)) FROM pg_catalog.pg_database
         WHERE datallowconn AND has_database_privilege(oid, 'CONNECT'))::bigint AS cluster_bytes
"""
WAL_SWITCH_SQL = (
    "SELECT pg_walfile_name(pg_current_wal_insert_lsn()) AS segment, pg_switch_wal()::text AS lsn"
)
ARCHIVER_SQL = "SELECT last_archived_wal, failed_count, last_failed_wal FROM pg_stat_archiver"
RESTORED_SQL_TMPL = (
    "SELECT token, phase, written_at FROM {table} WHERE token = ANY(%(tokens)s) ORDER BY id"
)


class Deadline:
    """One budget for the whole drill; every wait and subprocess gets what is left."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def left(self, step: str) -> float:
        remaining = self.end - time.monotonic()
        if remaining <= 0:
            raise ProbeError(f"PITR drill timed out after {self.seconds:g} s ({step})")
        return remaining


@dataclass
class DrillResult:
    """What the drill did and saw; timings in seconds."""

    timings: dict[str, float] = field(default_factory=dict)
    sentinel: dict[str, Any] = field(default_factory=dict)
    restored_rows: list[dict[str, Any]] = field(default_factory=list)
    restore_error: str = ""
    commands: list[str] = field(default_factory=list)
    settings: dict[str, str] = field(default_factory=dict)
    postgres_log: str = ""
    scratch_dir: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "timings": self.timings,
            "sentinel": self.sentinel,
            "restored_rows": self.restored_rows,
            "restore_error": self.restore_error,
            "commands": self.commands,
            "restore_settings": self.settings,
            "log_tail": self.postgres_log.splitlines()[-LOG_TAIL_LINES:],
            "scratch_dir": self.scratch_dir,
        }


# --------------------------------------------------------------------------- discovery


def server_facts(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    """Version, archive_command and whether this role may take a base backup."""
    found = rows(conn, SERVER_FACTS_SQL)
    return dict(found[0]) if found else {}


def pg_bin_dir(
    server_version_num: int,
    configured: str = "",
    tools: tuple[str, ...] = ("pg_basebackup", "postgres"),
) -> Path:
    """Where ``tools`` (default: pg_basebackup, postgres) of the server's major version live."""
    major = server_version_num // 10000
    candidates = [Path(configured)] if configured else []
    candidates.append(Path(f"/usr/lib/postgresql/{major}/bin"))
    with contextlib.suppress(CommandError):
        out = run_argv(["pg_config", "--bindir"], timeout=5)
        if out.returncode == 0 and out.stdout.strip():
            candidates.append(Path(out.stdout.strip()))
    for cand in candidates:
        present = all((cand / tool).is_file() for tool in tools)
        if present and _major_of(cand) == major:
            return cand
    raise ProbeError(
        f"no PostgreSQL {major} server binaries ({', '.join(tools)}) found in "
        f"{', '.join(map(str, candidates))}: install postgresql-{major} on the test host"
    )


def _major_of(bin_dir: Path) -> int | None:
    try:
        out = run_argv([str(bin_dir / "postgres"), "--version"], timeout=5)
        return int(out.stdout.split()[-1].split(".")[0])
    except (CommandError, ValueError, IndexError):
        return None


def archive_dir(archive_command: str, configured: str = "") -> Path:
    """The WAL archive directory: configured, else read from archive_command."""
    found = configured or archive_dir_from_command(archive_command or "")
    if not found:
        raise ProbeError(
            f"cannot tell where WAL is archived from archive_command {archive_command!r}: "
            "the restore drill needs a local archive directory"
        )
    path = Path(found)
    if not path.is_dir():
        raise ProbeError(f"WAL archive directory {path} is not reachable from the test host")
    return path


def free_port() -> int:
    """A port nothing listens on right now (the scratch instance binds it moments later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOCALHOST, 0))
        return int(s.getsockname()[1])


# --------------------------------------------------------------------------- processes


def _as_service_user() -> dict[str, Any]:
    if os.geteuid() != 0:
        return {}
    entry = pwd.getpwnam(SERVICE_USER)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def _own(path: Path) -> None:
    if os.geteuid() == 0:
        entry = pwd.getpwnam(SERVICE_USER)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


_POLL_NOISE = ("the database system is starting up", "not yet accepting connections")


def _server_error(log: Path) -> str:
    """The last FATAL/PANIC the restored server logged (not the ones our polling caused)."""
    for line in reversed(_tail(log, LOG_KEEP_LINES).splitlines()):
        if ("FATAL:" in line or "PANIC:" in line) and not any(n in line for n in _POLL_NOISE):
            return line.split(":  ", 1)[-1].strip()
    return _tail(log, 3)


def _run(argv: list[str], *, env: dict[str, str], log: Path, cwd: Path, timeout: float) -> None:
    """One tool run, output to log; a non-zero exit or the deadline is a ProbeError."""
    proc = _spawn(argv, env=env, log=log, cwd=cwd)
    try:
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        raise ProbeError(f"timed out after {timeout:.1f} s running {Path(argv[0]).name}") from None
    if code != 0:
        raise ProbeError(f"{Path(argv[0]).name} exited with {code}: {_tail(log, 5)}")


def _spawn(
    argv: list[str], *, env: dict[str, str], log: Path, cwd: Path
) -> subprocess.Popen[bytes]:
    """Start a PostgreSQL tool in its own process group (as the service user when root)."""
    with open(log, "ab") as out:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
            **_as_service_user(),
        )


def _stop(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """Fast shutdown (SIGINT), then SIGKILL to the whole group if it lingers."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=timeout)
    kill_group(proc)


def scratch_parent(cluster_bytes: int | None) -> Path | None:
    """RAM-backed /dev/shm when the cluster fits with a wide margin, else the temp dir.

    Creating a cluster's thousand small files dominates the drill on a slow
    disk (measured on the CI VM: 1.8-4.9 s for a 30 MB cluster on disk, 0.4 s
    on tmpfs); a large production cluster must never be copied into RAM.
    """
    shm = Path("/dev/shm")
    if not cluster_bytes or not shm.is_dir() or not os.access(shm, os.W_OK):
        return None
    need = 4 * cluster_bytes + SHM_MARGIN_BYTES
    return shm if shutil.disk_usage(shm).free > need else None


@contextlib.contextmanager
def scratch_dir(parent: Path | None = None, prefix: str = "spark-pitr-") -> Iterator[Path]:
    """A private directory for the restored cluster, deleted afterwards whatever happened."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    try:
        os.chmod(path, 0o700)
        _own(path)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# --------------------------------------------------------------------------- drill steps


def _tool_env(dsn: str, scratch: Path) -> tuple[str, dict[str, str]]:
    """Connection string without the password, and an environment carrying it."""
    params = {k: v for k, v in conninfo_to_dict(dsn).items() if v is not None}
    password = str(params.pop("password", "") or "")
    params["application_name"] = "pytest-spark-pitr"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG") and k != "LD_PRELOAD"}
    env.update({"HOME": str(scratch), "LC_ALL": "C", "PGCONNECT_TIMEOUT": "5"})
    if password:
        env["PGPASSWORD"] = password
    return make_conninfo("", **params), env


def _ensure_table(conn: psycopg.Connection[Any], table: str) -> None:
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {quote_ident(table)} ("
        " id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
        " token text NOT NULL UNIQUE,"
        " phase text NOT NULL,"
        " written_at timestamptz NOT NULL DEFAULT clock_timestamp())"
    )


def _write(conn: psycopg.Connection[Any], table: str, token: str, phase: str) -> datetime:
    row = conn.execute(
        f"INSERT INTO {quote_ident(table)} (token, phase) VALUES (%s, %s) RETURNING written_at",
        (token, phase),
    ).fetchone()
    assert row is not None
    return row["written_at"] if isinstance(row, dict) else row[0]


def _now(conn: psycopg.Connection[Any]) -> datetime:
    row = conn.execute("SELECT clock_timestamp() AS now").fetchone()
    assert row is not None
    return row["now"] if isinstance(row, dict) else row[0]


def _wait_archived(
    conn: psycopg.Connection[Any], segment: str, failed_before: int, deadline: Deadline
) -> str | None:
    """Poll pg_stat_archiver until ``segment`` is archived; the failure text if archiving fails."""
    while True:
        stats = rows(conn, ARCHIVER_SQL)[0]
        if segment_archived(stats["last_archived_wal"], segment):
            return None
        if int(stats["failed_count"] or 0) > failed_before:
            return (
                f"archiving WAL segment {segment} failed (pg_stat_archiver failed_count "
                f"{stats['failed_count']}, last_failed_wal {stats['last_failed_wal']})"
            )
        deadline.left(f"waiting for WAL segment {segment} to be archived")
        time.sleep(0.05)


def _restore_settings(
    *, port: int, scratch: Path, archive: Path, target_time: str
) -> dict[str, str]:
    return {
        "port": str(port),
        "listen_addresses": LOCALHOST,
        "unix_socket_directories": str(scratch),
        "hba_file": str(scratch / "pg_hba.conf"),
        "archive_mode": "off",
        "ssl": "off",
        "logging_collector": "off",
        "log_destination": "stderr",
        "cluster_name": "spark-pitr-drill",
        "restore_command": f"cp {shlex.quote(str(archive))}/%f %p",
        "recovery_target_time": target_time,
        "recovery_target_action": "promote",
        "recovery_target_inclusive": "on",
    }


def _wait_recovered(
    conninfo: str, proc: subprocess.Popen[bytes], log: Path, deadline: Deadline, timeout: float
) -> str:
    """Poll until the restored instance has left recovery; an error text if it cannot."""
    while True:
        if proc.poll() is not None:
            return f"restored postgres exited with code {proc.returncode}: {_server_error(log)}"
        with (
            contextlib.suppress(psycopg.Error),
            psycopg.connect(conninfo, connect_timeout=max(1, round(timeout))) as conn,
        ):
            row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
            if row is not None and row[0] is False:
                return ""
        if deadline.end - time.monotonic() <= 0:
            return f"recovery not finished after {deadline.seconds:g} s: {_server_error(log)}"
        time.sleep(0.05)


def restore_drill(
    dsn: str,
    *,
    timeout: float,
    deadline_s: float,
    pg_bin: Path,
    archive: Path,
    table: str = SENTINEL_TABLE,
    cluster_bytes: int | None = None,
) -> DrillResult:
    """Run the whole drill against ``dsn`` (a role allowed to replicate; writes allowed).

    ``cluster_bytes`` (from ``server_facts``) lets a small cluster be restored on tmpfs.
    """
    deadline = Deadline(deadline_s)
    result = DrillResult()
    t_start = time.monotonic()
    tokens: list[str] = []
    try:
        with scratch_dir(scratch_parent(cluster_bytes)) as scratch:
            result.scratch_dir = str(scratch)
            _drill(dsn, result, deadline, scratch, timeout, pg_bin, archive, table, tokens)
    finally:
        if tokens:  # the drill's rows served their purpose; leave the target as found
            with (
                contextlib.suppress(ProbeError, psycopg.Error),
                connect(dsn, timeout=timeout, read_only=False) as conn,
            ):
                conn.execute(f"DELETE FROM {quote_ident(table)} WHERE token = ANY(%s)", (tokens,))
        result.timings["total_s"] = round(time.monotonic() - t_start, 3)
    return result


def _drill(
    dsn: str,
    result: DrillResult,
    deadline: Deadline,
    scratch: Path,
    timeout: float,
    pg_bin: Path,
    archive: Path,
    table: str,
    tokens: list[str],
) -> None:
    timings = result.timings
    data = scratch / "data"
    log = scratch / "drill.log"
    conninfo, env = _tool_env(dsn, scratch)

    with connect(dsn, timeout=timeout, read_only=False) as conn:
        _ensure_table(conn, table)
        failed_before = int(rows(conn, ARCHIVER_SQL)[0]["failed_count"] or 0)

    # 1. base backup (streams the WAL it needs to be consistent)
    t = time.monotonic()
    backup = [
        str(pg_bin / "pg_basebackup"),
        "--pgdata", str(data),
        "--dbname", conninfo,
        "--wal-method=stream",
        "--checkpoint=fast",
        "--no-sync",
        "--no-manifest",
        "--no-password",
    ]  # fmt: skip
    result.commands.append(shlex.join(backup))
    _run(backup, env=env, log=log, cwd=scratch, timeout=deadline.left("base backup"))
    timings["backup_s"] = round(time.monotonic() - t, 3)

    # 2. sentinel after the backup, the target, a row after the target, WAL switch + archive
    t = time.monotonic()
    sentinel, after = f"pitr-{uuid.uuid4()}", f"pitr-after-{uuid.uuid4()}"
    with connect(dsn, timeout=timeout, read_only=False) as conn:
        tokens.append(sentinel)
        written = _write(conn, table, sentinel, "before-target")
        target = _now(conn)  # after the sentinel's commit, before the next row exists
        tokens.append(after)
        after_written = _write(conn, table, after, "after-target")
        switch = rows(conn, WAL_SWITCH_SQL)[0]
        target_text = target.isoformat()
        result.sentinel = {
            "table": table,
            "sentinel_token": sentinel,
            "sentinel_written_at": written.isoformat(),
            "recovery_target_time": target_text,
            "after_target_token": after,
            "after_target_written_at": after_written.isoformat(),
            "segment": switch["segment"],
            "switch_lsn": switch["lsn"],
        }
        timings["sentinel_s"] = round(time.monotonic() - t, 3)
        t = time.monotonic()
        failure = _wait_archived(conn, switch["segment"], failed_before, deadline)
        timings["archive_wait_s"] = round(time.monotonic() - t, 3)
    if failure:
        result.restore_error = failure
        return

    # 3. restore: recovery.signal + settings, start on a free port
    t = time.monotonic()
    port = free_port()
    settings = _restore_settings(
        port=port, scratch=scratch, archive=archive, target_time=target_text
    )
    result.settings = settings
    hba = scratch / "pg_hba.conf"
    hba.write_text("local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n")
    (data / "recovery.signal").write_text("")
    (data / "standby.signal").unlink(missing_ok=True)
    for path in (hba, data / "recovery.signal"):
        _own(path)
    argv = [str(pg_bin / "postgres"), "-D", str(data)]
    for key, value in settings.items():
        argv += ["-c", f"{key}={value}"]
    result.commands.append(shlex.join(argv))
    pg_log = scratch / "postgres.log"
    proc = _spawn(argv, env=env, log=pg_log, cwd=scratch)
    timings["restore_s"] = round(time.monotonic() - t, 3)
    try:
        # 4. recovery until promoted at the target
        t = time.monotonic()
        params = conninfo_to_dict(dsn)
        local = make_conninfo(
            "",
            host=str(scratch),
            port=str(port),
            user=params.get("user") or "",
            dbname=params.get("dbname") or "",
            application_name="pytest-spark-pitr",
        )
        result.restore_error = _wait_recovered(local, proc, pg_log, deadline, timeout)
        timings["recovery_s"] = round(time.monotonic() - t, 3)
        timings["rto_s"] = round(
            timings["backup_s"] + timings["restore_s"] + timings["recovery_s"], 3
        )
        if not result.restore_error:
            # 5. what the restored instance holds
            with connect(local, timeout=timeout, target="restored PostgreSQL") as conn:
                found = rows(
                    conn,
                    RESTORED_SQL_TMPL.format(table=quote_ident(table)),
                    {"tokens": [sentinel, after]},
                )
            result.restored_rows = [{**r, "written_at": r["written_at"].isoformat()} for r in found]
    finally:
        t = time.monotonic()
        _stop(proc)
        timings["stop_s"] = round(time.monotonic() - t, 3)
        result.postgres_log = _tail(pg_log, LOG_KEEP_LINES)


# --------------------------------------------------------------------------- throwaway cluster

THROWAWAY_USER = "spark_rehearsal"
THROWAWAY_DB = "postgres"


@dataclass
class LocalServer:
    """A throwaway PostgreSQL: connect through its private socket directory (trust, no TCP)."""

    dsn: str
    port: int
    directory: str
    version: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    commands: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "port": self.port,
            "directory": self.directory,
            "version": self.version,
            "timings": self.timings,
            "commands": self.commands,
        }


def _throwaway_settings(port: int, scratch: Path) -> dict[str, str]:
    return {
        "port": str(port),
        "listen_addresses": LOCALHOST,
        "unix_socket_directories": str(scratch),
        "hba_file": str(scratch / "pg_hba.conf"),
        "archive_mode": "off",
        "ssl": "off",
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
        "logging_collector": "off",
        "log_destination": "stderr",
        "cluster_name": "spark-rehearsal",
        "max_connections": "20",
        "shared_buffers": "16MB",
    }


@contextlib.contextmanager
def throwaway_server(pg_bin: Path, *, deadline_s: float, timeout: float) -> Iterator[LocalServer]:
    """initdb + postgres in a private temp dir on a free 127.0.0.1 port; gone afterwards.

    The same process handling as the restore drill (the ``postgres`` user when
    root, own process group, fast shutdown then SIGKILL of the group) and the
    same directory cleanup, in ``finally``: an error or Ctrl-C stops and
    removes it too. Only the private socket directory accepts connections
    (``local all all trust``); TCP is refused by pg_hba. fsync is off: the
    cluster holds a schema for minutes and is deleted.
    """
    deadline = Deadline(deadline_s)
    with scratch_dir(scratch_parent(64 * 1024 * 1024), prefix="spark-rehearsal-") as scratch:
        data, log = scratch / "data", scratch / "postgres.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG") and k != "LD_PRELOAD"}
        env.update({"HOME": str(scratch), "LC_ALL": "C"})
        t = time.monotonic()
        init = [
            str(pg_bin / "initdb"),
            "--pgdata", str(data),
            "--username", THROWAWAY_USER,
            "--auth", "trust",
            "--encoding", "UTF8",
            "--no-sync",
        ]  # fmt: skip
        server = LocalServer("", free_port(), str(scratch))
        server.commands.append(shlex.join(init))
        _run(
            init, env=env, log=scratch / "initdb.log", cwd=scratch, timeout=deadline.left("initdb")
        )
        server.timings["initdb_s"] = round(time.monotonic() - t, 3)
        hba = scratch / "pg_hba.conf"
        hba.write_text("local all all trust\n")
        _own(hba)
        argv = [str(pg_bin / "postgres"), "-D", str(data)]
        for key, value in _throwaway_settings(server.port, scratch).items():
            argv += ["-c", f"{key}={value}"]
        server.commands.append(shlex.join(argv))
        t = time.monotonic()
        proc = _spawn(argv, env=env, log=log, cwd=scratch)
        try:
            server.dsn = make_conninfo(
                "",
                host=str(scratch),
                port=str(server.port),
                user=THROWAWAY_USER,
                dbname=THROWAWAY_DB,
                application_name="pytest-spark-rehearsal",
            )
            server.version = _wait_ready(server.dsn, proc, log, deadline, timeout)
            server.timings["start_s"] = round(time.monotonic() - t, 3)
            yield server
        finally:
            t = time.monotonic()
            _stop(proc)
            server.timings["stop_s"] = round(time.monotonic() - t, 3)


def _wait_ready(
    conninfo: str, proc: subprocess.Popen[bytes], log: Path, deadline: Deadline, timeout: float
) -> str:
    """Poll until the throwaway server accepts connections; its version string."""
    while True:
        if proc.poll() is not None:
            raise ProbeError(
                f"throwaway postgres exited with code {proc.returncode}: {_server_error(log)}"
            )
        with (
            contextlib.suppress(psycopg.Error),
            psycopg.connect(conninfo, connect_timeout=max(1, round(timeout))) as conn,
        ):
            row = conn.execute("SELECT current_setting('server_version')").fetchone()
            return str(row[0]) if row else ""
        deadline.left("starting the throwaway postgres")
        time.sleep(0.05)
