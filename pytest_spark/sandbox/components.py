"""Start / ready / stop units for each server of the reference stack.

Each server runs as its own process group (``start_new_session``) so a stop
signal reaches every child it forked, and is recorded as a :class:`ProcRecord`
(pid + kernel start time) so another process can stop it later without
mistaking a recycled pid for ours. Spawned with ``stack=<state dir>``, a
process (and every child it forks) carries :data:`STACK_MARKER` in its
environment, so the stack's lifeline can find it even before it is recorded.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

PG_BIN = Path("/usr/lib/postgresql/15/bin")
FAKETIME_LIB = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")
SERVICE_USER = "postgres"  # PostgreSQL and PgBouncer refuse to run as root
LOCALHOST = "127.0.0.1"
#: Environment variable naming the state directory of the stack a process belongs to.
STACK_MARKER = "SPARK_SANDBOX_DIR"


class ComponentError(RuntimeError):
    """A server failed to start or to become ready in time."""


@dataclass(frozen=True)
class ProcRecord:
    """Enough about a started process to find and stop it from anywhere."""

    name: str
    pid: int
    started: int  # kernel start time in clock ticks; guards against pid reuse
    log: str

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> ProcRecord:
        return cls(str(data["name"]), int(data["pid"]), int(data["started"]), str(data["log"]))  # type: ignore[arg-type]


def running_as_root() -> bool:
    """PostgreSQL/PgBouncer must then run as the service user."""
    return os.geteuid() == 0


def service_ids() -> tuple[int, int]:
    """uid/gid the database servers run as (ourselves unless root)."""
    if not running_as_root():
        return os.getuid(), os.getgid()
    entry = pwd.getpwnam(SERVICE_USER)
    return entry.pw_uid, entry.pw_gid


def chown_service(path: Path) -> None:
    """Hand a path to the service user (no-op unless root)."""
    if running_as_root():
        uid, gid = service_ids()
        os.chown(path, uid, gid)


def free_ports(count: int) -> list[int]:
    """Distinct free loopback ports, all bound at once so none repeats."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((LOCALHOST, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def port_is_free(port: int) -> bool:
    """True when nothing listens on 127.0.0.1:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((LOCALHOST, port)) != 0


def proc_start_ticks(pid: int) -> int | None:
    """Kernel start time of pid, or None when it is gone or a zombie."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw.rsplit(")", 1)[1].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def is_alive(rec: ProcRecord) -> bool:
    """The recorded process still runs (and is the same process)."""
    return proc_start_ticks(rec.pid) == rec.started


def _reap(pid: int) -> None:
    """Collect a zombie child of ours so /proc forgets it."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def spawn(
    name: str,
    argv: Sequence[str],
    log_path: Path,
    *,
    env: Mapping[str, str] | None = None,
    as_service_user: bool = False,
    cwd: Path | None = None,
    stack: Path | None = None,
) -> tuple[subprocess.Popen[bytes], ProcRecord]:
    """Start argv in its own session with output to log_path (marked as ``stack``'s if given)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    if stack is not None:
        env = {**(os.environ if env is None else env), STACK_MARKER: str(stack)}
    kwargs: dict[str, object] = {}
    if as_service_user and running_as_root():
        uid, gid = service_ids()
        kwargs = {"user": uid, "group": gid, "extra_groups": []}
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
            close_fds=True,
            **kwargs,  # type: ignore[arg-type]
        )
    ticks = proc_start_ticks(proc.pid)
    if ticks is None:  # died instantly; record something that is never "alive"
        ticks = -1
    return proc, ProcRecord(name, proc.pid, ticks, str(log_path))


def stop(rec: ProcRecord, *, sig: int = signal.SIGTERM, timeout: float = 5.0) -> None:
    """Signal the process, wait, then SIGKILL its whole group if needed."""
    if not is_alive(rec):
        _reap(rec.pid)
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(rec.pid, sig)
    if _wait_gone(rec, timeout):
        _kill_group(rec.pid)  # children (e.g. postgres backends) must not linger
        return
    _kill_group(rec.pid)
    if not _wait_gone(rec, 3.0):
        raise ComponentError(f"{rec.name} (pid {rec.pid}) survived SIGKILL")


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _wait_gone(rec: ProcRecord, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(rec.pid)
        if not is_alive(rec):
            _reap(rec.pid)  # it may have turned zombie between the two calls
            return True
        time.sleep(0.02)
    return False


def log_tail(path: str | Path, lines: int = 15) -> str:
    """Last lines of a log, for error messages."""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def wait_until(
    what: str,
    probe: Callable[[], bool],
    timeout: float,
    *,
    rec: ProcRecord | None = None,
    interval: float = 0.03,
) -> None:
    """Poll probe until true; fail fast if rec's process dies meanwhile."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while True:
        try:
            if probe():
                return
        except Exception as exc:  # probe errors mean "not yet"
            last = exc
        if rec is not None and not is_alive(rec):
            raise ComponentError(f"{what} exited during start-up:\n{log_tail(rec.log)}")
        if time.monotonic() >= deadline:
            detail = f" (last error: {last})" if last else ""
            tail = f"\n{log_tail(rec.log)}" if rec else ""
            raise ComponentError(f"{what} not ready after {timeout:.1f} s{detail}{tail}")
        time.sleep(interval)


def http_status(url: str, *, timeout: float = 1.0, method: str = "GET") -> int:
    """Status code of a plain loopback HTTP request (stdlib: cheap to import)."""
    assert url.startswith("http://")
    hostport, _, path = url[len("http://") :].partition("/")
    host, _, port = hostport.partition(":")
    conn = http.client.HTTPConnection(host, int(port or 80), timeout=timeout)
    try:
        conn.request(method, "/" + path)
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


def tcp_open(port: int, timeout: float = 0.5) -> bool:
    """Something accepts connections on 127.0.0.1:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        return s.connect_ex((LOCALHOST, port)) == 0


# --- PostgreSQL


def pg_settings(*, port: int, socket_dir: Path, archive_dir: Path) -> dict[str, str]:
    """postgresql.conf values: loopback only, archiving on, tuned for speed."""
    return {
        "listen_addresses": "'127.0.0.1'",
        "port": str(port),
        "unix_socket_directories": f"'{socket_dir}'",
        "unix_socket_permissions": "0700",
        "max_connections": "60",
        "superuser_reserved_connections": "3",
        "shared_buffers": "32MB",
        "fsync": "off",
        "synchronous_commit": "off",
        "wal_level": "replica",
        "archive_mode": "on",
        "archive_command": f"'test ! -f {archive_dir}/%f && cp %p {archive_dir}/%f'",
        "archive_timeout": "10s",
        "max_wal_senders": "4",
        "jit": "off",
        "timezone": "'UTC'",
        "log_timezone": "'UTC'",
        "log_min_messages": "warning",
        "log_line_prefix": "'%m [%p] '",
        "dynamic_shared_memory_type": "posix",
    }


def write_pg_conf(data_dir: Path, settings: Mapping[str, str]) -> None:
    """Write sandbox.conf, included last by postgresql.conf (ALTER SYSTEM still wins)."""
    body = "".join(f"{k} = {v}\n" for k, v in settings.items())
    conf = data_dir / "sandbox.conf"
    conf.write_text(body)
    chown_service(conf)
    main = data_dir / "postgresql.conf"
    text = main.read_text()
    if "include_if_exists 'sandbox.conf'" not in text:
        main.write_text(text + "\ninclude_if_exists 'sandbox.conf'\n")


PG_HBA = """\
# sandbox: unix socket (0700 dir, service user only) trusted; TCP needs SCRAM
local   all          all                      trust
local   replication  all                      trust
host    all          all          127.0.0.1/32  scram-sha-256
host    replication  all          127.0.0.1/32  scram-sha-256
"""


def initdb(data_dir: Path, log_path: Path, *, stack: Path | None = None) -> None:
    """Create a cluster whose superuser is spark_admin (1 MB WAL segments keep archives small)."""
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    chown_service(data_dir.parent)
    argv = [
        str(PG_BIN / "initdb"),
        "-D",
        str(data_dir),
        "-U",
        "spark_admin",
        "--auth=trust",
        "-E",
        "UTF8",
        "--locale=C.UTF-8",
        "--wal-segsize=1",
        "--no-sync",
        "--no-instructions",
    ]
    proc, rec = spawn("initdb", argv, log_path, as_service_user=True, stack=stack)
    if proc.wait(timeout=60) != 0:
        raise ComponentError(f"initdb failed:\n{log_tail(rec.log)}")
    (data_dir / "pg_hba.conf").write_text(PG_HBA)


def start_postgres(
    data_dir: Path, socket_dir: Path, log_path: Path, *, stack: Path | None = None
) -> ProcRecord:
    """Run the postmaster in the foreground of its own session."""
    socket_dir.mkdir(parents=True, exist_ok=True)
    chown_service(socket_dir)
    argv = [str(PG_BIN / "postgres"), "-D", str(data_dir)]
    _proc, rec = spawn("postgres", argv, log_path, as_service_user=True, stack=stack)
    return rec


def stop_postgres(rec: ProcRecord) -> None:
    """Fast shutdown (SIGINT): aborts sessions, leaves a clean cluster."""
    stop(rec, sig=signal.SIGINT, timeout=10.0)


# --- PgBouncer


def pgbouncer_ini(
    *,
    port: int,
    pg_port: int,
    run_dir: Path,
    pool_mode: str = "transaction",
    query_wait_timeout: int = 3,
) -> str:
    """pgbouncer.ini for the app database; faults rewrite pool_mode / query_wait_timeout.

    query_wait_timeout 3 s, below the app's 5 s database deadline: a query that
    waits for a server connection (pool exhausted, CHAOS.md CH-05) is failed by
    PgBouncer and answered 503, instead of the request waiting out the app's own
    deadline plus psycopg's wait for the cancelled query's result.
    """
    return f"""\
[databases]
spark = host=127.0.0.1 port={pg_port} dbname=spark

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = scram-sha-256
auth_file = {run_dir}/userlist.txt
admin_users = spark_admin
stats_users = spark_admin, spark_app
pool_mode = {pool_mode}
max_client_conn = 200
default_pool_size = 10
query_wait_timeout = {query_wait_timeout}
server_idle_timeout = 60
; default 15 s: a server login cut short (CH-01's kill) would stall every client that long
server_login_retry = 1
ignore_startup_parameters = extra_float_digits,options,application_name
pidfile = {run_dir}/pgbouncer.pid
"""


def write_private(path: Path, text: str, *, service: bool = False) -> None:
    """Write a file readable only by its owner (secrets live in it)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(path, 0o600)
    if service:
        chown_service(path)


def start_pgbouncer(ini: Path, log_path: Path, *, stack: Path | None = None) -> ProcRecord:
    argv = ["pgbouncer", str(ini)]
    _proc, rec = spawn("pgbouncer", argv, log_path, as_service_user=True, stack=stack)
    return rec


# --- API


def api_argv(
    *,
    port: int,
    instance: str,
    version: str,
    git_sha: str,
    build_time: str,
    request_log: Path | None = None,
) -> list[str]:
    """Command line of one API instance; DSN and control token go through the environment
    (SPARK_API_DSN, SPARK_CONTROL_TOKEN) so they never show in the process list."""
    extra = ["--request-log", str(request_log)] if request_log else []
    return [
        sys.executable,
        "-m",
        "pytest_spark.sandbox.app",
        "--host",
        LOCALHOST,
        "--port",
        str(port),
        "--instance",
        instance,
        "--version",
        version,
        "--git-sha",
        git_sha,
        "--build-time",
        build_time,
        *extra,
    ]


def python_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for our Python children: the project importable, output unbuffered."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("LD_PRELOAD", None)
    env.pop("FAKETIME", None)
    if extra:
        env.update(extra)
    return env


def faketime_env(offset: str) -> dict[str, str]:
    """libfaketime settings shifting the clocks by ``offset``. Monotonic clocks get the
    same constant shift, which no interval notices: FAKETIME_DONT_FAKE_MONOTONIC made
    clock_nanosleep fail with EINVAL, so Python's time.sleep raised in a faked process."""
    if not FAKETIME_LIB.exists():
        raise ComponentError(f"libfaketime not found at {FAKETIME_LIB}; apt-get install faketime")
    return {
        "LD_PRELOAD": str(FAKETIME_LIB),
        "FAKETIME": offset,
        "FAKETIME_DONT_RESET": "1",
    }


# --- Prometheus / Alertmanager


def prometheus_argv(config: Path, data: Path, port: int) -> list[str]:
    return [
        "prometheus",
        f"--config.file={config}",
        f"--storage.tsdb.path={data}",
        f"--web.listen-address={LOCALHOST}:{port}",
        "--storage.tsdb.retention.time=2d",
        "--log.level=warn",
    ]


def alertmanager_binary() -> str:
    """Debian names it prometheus-alertmanager; upstream alertmanager."""
    for name in ("prometheus-alertmanager", "alertmanager"):
        if shutil.which(name):
            return name
    raise ComponentError("alertmanager not installed; apt-get install prometheus-alertmanager")


ALERTMANAGER_YML = """\
route:
  receiver: "null"
  group_wait: 1s
  group_interval: 5s
  repeat_interval: 1h
receivers:
  - name: "null"
"""


def alertmanager_argv(config: Path, data: Path, port: int) -> list[str]:
    return [
        alertmanager_binary(),
        f"--config.file={config}",
        f"--storage.path={data}",
        f"--web.listen-address={LOCALHOST}:{port}",
        "--cluster.listen-address=",
        "--log.level=warn",
    ]


# --- chrony


def chrony_conf(*, port: int, run_dir: Path) -> str:
    """A local-clock NTP server on loopback that never steers the host clock."""
    return f"""\
port {port}
bindaddress 127.0.0.1
allow 127.0.0.1
local stratum 8
cmdport 0
pidfile {run_dir}/chronyd.pid
"""


# `make system` unpacks chronyd here (apt-get download + dpkg -x) rather than installing
# the chrony package, which would remove systemd-timesyncd from the user's machine.
CHRONYD_CACHE = Path(__file__).resolve().parents[2] / ".cache" / "debs" / "chrony" / "usr" / "sbin"


def chronyd_binary(
    environ: Mapping[str, str] | None = None,
    cache: Path = CHRONYD_CACHE,
    sbin: str = "/usr/sbin",
) -> str:
    """$SPARK_CHRONYD, else chronyd on PATH or in /usr/sbin, else the project's unpacked copy."""
    env = os.environ if environ is None else environ
    if env.get("SPARK_CHRONYD"):
        return env["SPARK_CHRONYD"]
    found = shutil.which("chronyd", path=os.pathsep.join([env.get("PATH", os.defpath), sbin]))
    if found:
        return found
    cached = cache / "chronyd"
    return str(cached) if cached.is_file() else "chronyd"


def chronyd_argv(conf: Path, binary: str | None = None) -> list[str]:
    # -x: never touch the system clock; -d: foreground; -U: allow non-root start
    argv = [binary or chronyd_binary(), "-f", str(conf), "-d", "-x"]
    if not running_as_root():
        argv.append("-U")
    return argv


def ntp_answers(port: int, timeout: float = 0.5) -> bool:
    """chrony replies to an SNTP v4 query."""
    import ntplib

    ntplib.NTPClient().request(LOCALHOST, port=port, version=4, timeout=timeout)
    return True


# --- HAProxy (the rollout layer)

#: Key of the canary share (0..100 %) in HAProxy's weights map; the runtime API sets it.
CANARY_WEIGHT_KEY = "canary"


def haproxy_cfg(
    *,
    port: int,
    stats_port: int,
    socket_path: Path,
    weights_map: Path,
    stable: Mapping[str, int],
    canary: Mapping[str, int],
) -> str:
    """haproxy.cfg: one public frontend splitting traffic between a ``stable`` and a
    ``canary`` backend by the percentage in ``weights_map``, health checks on every
    server, the runtime API on a unix socket, Prometheus metrics on ``stats_port``.

    A request goes to the canary when ``rand(100) - weight < 0`` and the canary has a
    live server (``nbsrv``), so weight 0 sends nothing there and a dead canary sends
    its share to stable instead of failing it (HAProxy 2.6 configuration manual:
    rand, sub, map_str_int, nbsrv; use-service prometheus-exporter).

    A request whose connection to a dead server fails is retried on another
    server (``retries`` + ``option redispatch 1``: only connection failures,
    so no request that reached an instance is sent twice), which keeps a
    crashed instance's errors inside the health check's ``inter`` x ``fall``
    window small (CHAOS.md CH-03).
    """

    def servers(group: Mapping[str, int]) -> str:
        return "\n".join(
            f"  server {name} {LOCALHOST}:{p} check inter 500ms fall 2 rise 1"
            for name, p in group.items()
        )

    return f"""\
global
  stats socket {socket_path} mode 600 level admin
  stats timeout 10s
  log stderr format raw local0 warning

defaults
  mode http
  log global
  timeout connect 2s
  timeout client 30s
  timeout server 30s
  timeout tunnel 1h
  option httpchk GET /healthz
  retries 3
  option redispatch 1
  default-server error-limit 50

frontend public
  bind {LOCALHOST}:{port}
  http-request set-var(txn.canary_weight) str({CANARY_WEIGHT_KEY}),map_str_int({weights_map},0)
  acl to_canary rand(100),sub(txn.canary_weight) -m int lt 0
  acl canary_alive nbsrv(canary) gt 0
  use_backend canary if to_canary canary_alive
  default_backend stable

backend stable
  balance roundrobin
{servers(stable)}

backend canary
  balance roundrobin
{servers(canary)}

frontend stats
  bind {LOCALHOST}:{stats_port}
  http-request use-service prometheus-exporter if {{ path /metrics }}
  stats enable
  stats uri /stats
"""


def haproxy_argv(cfg: Path) -> list[str]:
    """HAProxy in the foreground (-db), so the sandbox owns its one process."""
    if not shutil.which("haproxy"):
        raise ComponentError("haproxy not installed; apt-get install haproxy (make setup does)")
    return ["haproxy", "-f", str(cfg), "-db"]


def pgbouncer_exporter_argv(*, port: int, state_dir: Path) -> list[str]:
    return [
        sys.executable, "-m", "pytest_spark.sandbox.pgbouncer_exporter",
        "--port", str(port), "--state-dir", str(state_dir),
    ]  # fmt: skip
