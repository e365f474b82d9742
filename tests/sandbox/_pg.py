"""A throwaway real PostgreSQL for the app and migration tests.

initdb into a temporary directory (as the ``postgres`` system user when
running as root, since PostgreSQL refuses root), start it on a free loopback
port with its socket inside that directory, stop and delete it on teardown.
Import the ``pg`` fixture into a test module: ``from _pg import pg``.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

PG_BIN_CANDIDATES = ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin")


def pg_bin() -> Path:
    """Directory of initdb/pg_ctl; skips when PostgreSQL is not installed."""
    for candidate in (os.environ.get("SPARK_PG_BIN", ""), *PG_BIN_CANDIDATES):
        if candidate and (Path(candidate) / "initdb").exists():
            return Path(candidate)
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    pytest.skip("PostgreSQL binaries not installed (apt-get install -y postgresql)")
    raise AssertionError  # unreachable


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PgServer:
    """A running throwaway cluster."""

    port: int
    root: Path

    def dsn(self, dbname: str = "postgres") -> str:
        """Conninfo for a database on this cluster (trust auth, no password)."""
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={dbname} connect_timeout=5"

    def create_database(self, name: str) -> str:
        """Create an empty database and return its conninfo."""
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.dsn(name)


def _as_postgres(cmd: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


def _chown_to_postgres(path: Path) -> None:
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(path, user.pw_uid, user.pw_gid)


def start_server() -> PgServer:
    """initdb + pg_ctl start; returns once the server accepts connections."""
    binaries = pg_bin()
    root = Path(tempfile.mkdtemp(prefix="spark-pg-"))
    root.chmod(0o755)
    _chown_to_postgres(root)
    data = root / "data"
    subprocess.run(
        _as_postgres(
            [
                str(binaries / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ]
        ),
        check=True,
        capture_output=True,
        timeout=60,
    )
    port = free_port()
    options = (
        f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
        " -c synchronous_commit=off -c full_page_writes=off -c max_connections=60"
    )
    subprocess.run(
        _as_postgres(
            [
                str(binaries / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                options,
                "-l",
                str(root / "server.log"),
                "-w",
                "-t",
                "30",
                "start",
            ]
        ),
        check=True,
        capture_output=True,
        timeout=60,
    )
    return PgServer(port=port, root=root)


def stop_server(server: PgServer) -> None:
    """Stop the cluster immediately and remove its files."""
    subprocess.run(
        _as_postgres(
            [
                str(pg_bin() / "pg_ctl"),
                "-D",
                str(server.root / "data"),
                "-m",
                "immediate",
                "-w",
                "-t",
                "30",
                "stop",
            ]
        ),
        capture_output=True,
        timeout=60,
    )
    shutil.rmtree(server.root, ignore_errors=True)


@pytest.fixture(scope="module")
def pg() -> Iterator[PgServer]:
    """One throwaway PostgreSQL per test module."""
    server = start_server()
    try:
        yield server
    finally:
        stop_server(server)
