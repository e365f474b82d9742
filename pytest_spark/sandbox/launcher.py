"""The sandbox: one reference Spark stack on loopback, under one state directory.

``Sandbox(state_dir).up()`` starts PostgreSQL, PgBouncer, two API instances of
the release under test (the ``canary`` track) and one of the previous release
(``stable``), HAProxy splitting public traffic between them (the rollout layer,
CANARY.md), Prometheus, Alertmanager, a PgBouncer exporter, chrony and the load
generator, waits until each
answers a real request, and returns :class:`Endpoints`. Everything it started
is recorded in ``state.json`` (0600: it holds the per-stack passwords), so
``Sandbox.attach(state_dir)`` in another process can inject faults or stop
the stack. ``down()`` is idempotent and leaves no process or port behind.
Unless detached, the stack dies with the process that started it, from the
first spawned process on (see :mod:`.lifeline`), and an interrupt (Ctrl-C,
SIGTERM turned into one) during start-up stops what was started so far.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import hashlib
import json
import os
import secrets
import shutil
import string
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import components as c
from . import lifeline
from . import sbom as sbom_mod

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = PACKAGE_DIR.parents[1]
MIGRATIONS_DIR = PACKAGE_DIR / "migrations"
PROMETHEUS_DIR = PACKAGE_DIR / "prometheus"
STATE_FILE = "state.json"
DEFAULT_STATE_DIR = Path(".sandbox")
API_INSTANCES = ("api-1", "api-2")  # the release under test: what the 28 checks look at
STABLE_INSTANCES = ("stable-1",)  # the previous release, behind HAProxy's stable backend
ALL_API_INSTANCES = API_INSTANCES + STABLE_INSTANCES
STABLE_VERSION = "1.3.1"
#: Canary share (%) a new stack starts with: all public traffic on the release, as after
#: a finished rollout, so the pre-deploy checks see it under load. `sandbox weight N`.
INITIAL_CANARY_WEIGHT = 100
#: The trigger rules the sandbox's Prometheus loads: compressed windows (CANARY.md).
SANDBOX_TRIGGER_WINDOW = "15s"
SANDBOX_TRIGGER_FOR = "5s"
SANDBOX_TRIGGER_RANGE = "30s"
#: PgBouncer's server connections swing by a few within 30 s as latency changes;
#: a leak is steady growth, judged over a longer window even on the sandbox.
#: T11's 60 s outbox age is a window too: compressed with the others (relay every 0.5 s).
SANDBOX_TRIGGER_OVERRIDES = {"T10": {"range": "2m"}, "T11": {"threshold": 8}}
# bump when the template's contents change in ways the migration files do not show
TEMPLATE_FORMAT = "3"


class SandboxError(Exception):
    """The sandbox cannot do what was asked; the message says why and what to do."""


class StartCancelled(SandboxError):
    """Start-up was interrupted: a component spawned afterwards is stopped at once."""


@dataclass(frozen=True)
class Endpoints:
    """Where every component of a running stack answers (DSNs carry the stack's passwords)."""

    api_urls: tuple[str, ...]
    db_dsn: str
    pgbouncer_dsn: str
    pgbouncer_admin_dsn: str
    prometheus_url: str
    alertmanager_url: str
    ntp_server: str
    state_dir: str
    sbom_path: str
    pending_migrations_dir: str
    migrations_dir: str
    wal_archive_dir: str
    pg_bin_dir: str
    release_version: str
    git_sha: str
    build_time: str
    public_url: str = ""  # HAProxy: the stable/canary split
    stable_urls: tuple[str, ...] = ()
    haproxy_socket: str = ""
    haproxy_weights_map: str = ""
    haproxy_metrics_url: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["api_urls"] = list(self.api_urls)
        data["stable_urls"] = list(self.stable_urls)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Endpoints:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["api_urls"] = tuple(values["api_urls"])
        values["stable_urls"] = tuple(values.get("stable_urls", ()))
        return cls(**values)


# --- state file


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _git_sha() -> str:
    """The project's commit if it is a git checkout, else a stable stand-in."""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(
            ["git", "-C", str(PROJECT_ROOT), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
        sha = done.stdout.strip()
        if done.returncode == 0 and len(sha) == 40:
            return sha
    return hashlib.sha1(b"spark-api-sandbox").hexdigest()


def _password() -> str:
    """URL-safe secret: it sits inside postgresql:// URLs and the PgBouncer auth file."""
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(32))


def _write_json_private(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    c.write_private(tmp, json.dumps(data, indent=1, sort_keys=True))
    tmp.replace(path)


class _State:
    """state.json of one state directory, guarded by an flock for read-modify-write."""

    def __init__(self, state_dir: Path) -> None:
        self.dir = state_dir
        self.path = state_dir / STATE_FILE
        self._thread_lock = threading.RLock()

    @contextlib.contextmanager
    def locked(self, timeout: float = 30.0) -> Iterator[None]:
        """Serialise writers across threads and processes."""
        self.dir.mkdir(parents=True, exist_ok=True)
        with self._thread_lock, open(self.dir / ".lock", "a") as fh:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise SandboxError(f"{self.dir} is locked by another command") from None
                    time.sleep(0.05)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def load(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        except json.JSONDecodeError as exc:
            raise SandboxError(f"corrupt {self.path}: {exc}; remove it after stopping") from exc

    def save(self, data: dict[str, Any]) -> None:
        _write_json_private(self.path, data)

    def update(self, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        with self.locked():
            data = self.load()
            if data is None:
                raise SandboxError(f"no sandbox state in {self.dir}")
            change(data)
            self.save(data)
            return data


def _records(state: dict[str, Any]) -> dict[str, c.ProcRecord]:
    return {name: c.ProcRecord.from_dict(rec) for name, rec in state.get("procs", {}).items()}


def _alive_pid(state: dict[str, Any]) -> int | None:
    """A pid proving the stack runs: its owner if alive, else any live component."""
    owner = state.get("owner")
    if owner and c.is_alive(c.ProcRecord.from_dict(owner)):
        return int(owner["pid"])  # also while it is still starting the stack
    for rec in _records(state).values():
        if c.is_alive(rec):
            return rec.pid
    return None


def _self_record(name: str) -> dict[str, Any]:
    ticks = c.proc_start_ticks(os.getpid()) or -1
    return c.ProcRecord(name, os.getpid(), ticks, "").to_dict()


# --- layout


#: Longest unix-socket path HAProxy accepts (its ``stats socket`` error says "max 97");
#: PostgreSQL's limit is 107 (``sun_path``, unix(7)). Deeper state dirs (pytest's
#: per-worker tmp dirs are) keep their sockets in the short pg_root instead.
SOCKET_PATH_MAX = 97
_PG_SOCKET_TAIL = "/pg/run/.s.PGSQL.65535"
_HAPROXY_SOCKET_TAIL = "/haproxy/admin.sock"


class Layout:
    """Paths of one stack. PostgreSQL's files live in pg_root, which the service user can reach."""

    def __init__(self, state_dir: Path, pg_root: Path) -> None:
        self.state_dir = state_dir
        self.pg_root = pg_root

    logs = property(lambda self: self.state_dir / "logs")
    pg_data = property(lambda self: self.pg_root / "data")
    pg_run = property(lambda self: self.pg_root / "run")
    wal_archive = property(lambda self: self.pg_root / "wal_archive")
    pgbouncer_ini = property(lambda self: self.pg_run / "pgbouncer.ini")
    prometheus = property(lambda self: self.state_dir / "prometheus")
    alertmanager = property(lambda self: self.state_dir / "alertmanager")
    chrony = property(lambda self: self.state_dir / "chrony")
    sbom = property(lambda self: self.state_dir / "sbom.cdx.json")
    pending = property(lambda self: self.state_dir / "pending_migrations")
    faults = property(lambda self: self.state_dir / "faults")
    loadgen_pause = property(lambda self: self.state_dir / "loadgen.paused")

    @property
    def haproxy_socket(self) -> Path:
        """HAProxy's runtime API socket: in the state dir when its path is short enough."""
        if len(f"{self.state_dir}{_HAPROXY_SOCKET_TAIL}") <= SOCKET_PATH_MAX:
            return self.state_dir / "haproxy" / "admin.sock"
        return self.pg_root / "haproxy.sock"

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def request_log(self, name: str) -> Path:
        """An API instance's JSON-lines request log (method, path, status, User-Agent)."""
        return self.logs / f"{name}.requests.log"


def _pg_root_path(state_dir: Path) -> Path:
    """Where PostgreSQL will live: under the state dir, or a short, new /tmp path.

    As root the state dir may sit below a 0700 directory the postgres user
    cannot traverse (pytest's tmp_path does); /tmp is always reachable. A deep
    state dir would make the unix-socket paths too long (SOCKET_PATH_MAX), so
    it gets /tmp too. The name is chosen before the directory exists so the
    lifeline knows it before anything is created.
    """
    tail = max(len(_PG_SOCKET_TAIL), len(_HAPROXY_SOCKET_TAIL))
    if not c.running_as_root() and len(str(state_dir)) + tail <= SOCKET_PATH_MAX:
        return state_dir / "pg"
    tmp = tempfile.gettempdir()
    if len(f"{tmp}/spark-pg-{'0' * 12}") + tail > SOCKET_PATH_MAX:
        tmp = "/tmp"  # a deep $TMPDIR would make the sockets too long again
    while True:
        path = Path(tmp) / f"spark-pg-{secrets.token_hex(6)}"
        if not path.exists():
            return path


def _make_pg_root(path: Path) -> Path:
    """Create the directory _pg_root_path chose (postgres owns it when we are root)."""
    if not c.running_as_root():
        if path.name == "pg":  # under the state dir, ours: reused by a restart
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
        else:
            path.mkdir(mode=0o700)  # a fresh /tmp name: fails if someone took it meanwhile
        return path
    path.mkdir(mode=0o700)  # fails if someone took the name meanwhile
    c.chown_service(path)
    return path


# --- PostgreSQL set-up


def _template_key() -> str:
    """The cached cluster is valid for one set of migration files and one PostgreSQL."""
    h = hashlib.sha256(TEMPLATE_FORMAT.encode())
    h.update(str(c.PG_BIN).encode())
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


def _socket_conninfo(layout: Layout, port: int, dbname: str = "spark") -> str:
    return f"host={layout.pg_run} port={port} dbname={dbname} user=spark_admin"


def _sql(conninfo: str, *statements: str, params: tuple[Any, ...] = ()) -> None:
    import psycopg

    with psycopg.connect(conninfo, autocommit=True, connect_timeout=10) as conn:
        for stmt in statements:
            conn.execute(stmt, params or None)


GRANTS = (
    "GRANT CONNECT ON DATABASE spark TO spark_app",
    "GRANT USAGE ON SCHEMA public TO spark_app",
    "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO spark_app",
    "GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO spark_app",
)


def _build_template(layout: Layout, port: int, timings: dict[str, float]) -> None:
    """initdb + roles + database + migrations into pg_data, then cache a copy."""
    from .migrate import apply_migrations

    t0 = time.monotonic()
    c.initdb(layout.pg_data, layout.log("initdb"), stack=layout.state_dir)
    timings["pg.initdb"] = time.monotonic() - t0
    _write_pg_conf(layout, port)
    rec = c.start_postgres(
        layout.pg_data, layout.pg_run, layout.log("postgres-template"), stack=layout.state_dir
    )
    try:
        admin = _socket_conninfo(layout, port, "postgres")
        c.wait_until("postgres (template)", lambda: _pg_ready(admin), 30, rec=rec)
        _sql(admin, "CREATE ROLE spark_app LOGIN", "CREATE DATABASE spark OWNER spark_admin")
        t1 = time.monotonic()
        apply_migrations(_socket_conninfo(layout, port), MIGRATIONS_DIR)
        timings["pg.migrate"] = time.monotonic() - t1
        _sql(_socket_conninfo(layout, port), *GRANTS)
        _sql(admin, "CHECKPOINT")
    finally:
        c.stop_postgres(rec)
    cache = sbom_mod.cache_dir() / f"pg-template-{_template_key()}"
    if not cache.exists():
        for old in sbom_mod.stale_cache_entries("pg-template-*"):  # older migration sets
            shutil.rmtree(old, ignore_errors=True)
        tmp = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")
        subprocess.run(["cp", "-a", str(layout.pg_data), str(tmp)], check=True, timeout=60)
        with contextlib.suppress(OSError):  # another process may have won the race
            tmp.rename(cache)
        shutil.rmtree(tmp, ignore_errors=True)


def _prepare_pg_data(layout: Layout, port: int, timings: dict[str, float]) -> None:
    """Copy the cached template, or build (and cache) it on first use."""
    for path in (layout.pg_run, layout.wal_archive):
        path.mkdir(parents=True, exist_ok=True)
        c.chown_service(path)
    cache = sbom_mod.cache_dir() / f"pg-template-{_template_key()}"
    if cache.exists():
        subprocess.run(["cp", "-a", str(cache), str(layout.pg_data)], check=True, timeout=60)
        if c.running_as_root():
            uid, gid = c.service_ids()
            subprocess.run(["chown", "-R", f"{uid}:{gid}", str(layout.pg_data)], check=True)
    else:
        _build_template(layout, port, timings)
    # statistics (e.g. pg_stat_archiver counts) of the template's life are not this stack's
    (layout.pg_data / "pg_stat" / "pgstat.stat").unlink(missing_ok=True)
    _write_pg_conf(layout, port)


def _write_pg_conf(layout: Layout, port: int) -> None:
    settings = c.pg_settings(port=port, socket_dir=layout.pg_run, archive_dir=layout.wal_archive)
    c.write_pg_conf(layout.pg_data, settings)
    # a stale auto.conf from a template must not carry faults over
    auto = layout.pg_data / "postgresql.auto.conf"
    auto.write_text("# Do not edit this file manually!\n")
    c.chown_service(auto)


def _pg_ready(conninfo: str) -> bool:
    import psycopg

    with psycopg.connect(conninfo, connect_timeout=2) as conn:
        conn.execute("SELECT 1")
    return True


# --- the sandbox


class Sandbox:
    """One reference stack in one state directory."""

    def __init__(
        self,
        state_dir: Path | str = DEFAULT_STATE_DIR,
        *,
        version: str = "1.4.0",
        load: bool = True,
    ) -> None:
        self.state_dir = Path(state_dir).resolve()
        self.version = version
        self.load = load
        self.timings: dict[str, float] = {}
        self._state = _State(self.state_dir)
        self._atexit: Callable[[], None] | None = None
        self._lifeline_fd: int | None = None  # write end; closing it (or dying) downs the stack
        self._cancel = threading.Event()

    # ------------------------------------------------------------------ public API

    @classmethod
    def attach(cls, state_dir: Path | str = DEFAULT_STATE_DIR) -> Sandbox:
        """Reconnect to a stack another process started (for `sandbox fault/down/status`)."""
        box = cls(state_dir)
        state = box._state.load()
        if state is None:
            raise SandboxError(f"no sandbox running in {box.state_dir} (no {STATE_FILE})")
        box.version = state["release"]["version"]
        box.load = state.get("load", True)
        return box

    @property
    def endpoints(self) -> Endpoints:
        state = self._require_state()
        return Endpoints.from_dict(state["endpoints"])

    def up(self, timeout: float = 30, *, detach: bool = False) -> Endpoints:
        """Start every component and wait until each answers; undo everything on failure.

        detach=True leaves the stack running after this process exits (CLI
        `sandbox up --detach`); otherwise the load generator doubles as a
        watchdog that stops the stack if this process dies without down().
        """
        t_start = time.monotonic()
        deadline = t_start + timeout
        self._cancel.clear()
        state = self._claim(detach)
        try:
            self._start_all(state, deadline)
        except BaseException as exc:
            with contextlib.suppress(Exception):
                self.down()
            if isinstance(exc, c.ComponentError):
                raise SandboxError(f"sandbox failed to start: {exc}") from exc
            raise
        self.timings["total"] = time.monotonic() - t_start
        if not detach:
            self._atexit = self._down_at_exit
            atexit.register(self._atexit)
        return self.endpoints

    def down(self) -> None:
        """Stop everything recorded in state.json, remove runtime files; safe to repeat."""
        with self._state.locked(timeout=60):
            state = self._state.load()
            if state is not None:
                self._stop_all(_records(state))
                pg_root = Path(state["paths"]["pg_root"])
                if pg_root.is_dir() and not pg_root.is_relative_to(self.state_dir):
                    shutil.rmtree(pg_root, ignore_errors=True)
                for path in (
                    self._state.path,
                    self.state_dir / "loadgen.paused",
                    self.state_dir / "loadgen.rate",
                ):
                    path.unlink(missing_ok=True)
                shutil.rmtree(self.state_dir / "pg", ignore_errors=True)
        # the watchdog was stopped above; if another process downed the stack first, the
        # watchdog finds nothing left to do
        self._cut_lifeline()
        if self._atexit is not None:
            atexit.unregister(self._atexit)
            self._atexit = None

    def status(self) -> dict[str, Any]:
        """Which components run, where, and which faults are active (no secrets)."""
        state = self._state.load()
        if state is None:
            return {"state_dir": str(self.state_dir), "running": False, "components": {}}
        recs = _records(state)
        comps = {
            name: {"pid": rec.pid, "alive": c.is_alive(rec), "log": rec.log}
            for name, rec in recs.items()
        }
        ep = Endpoints.from_dict(state["endpoints"])
        return {
            "state_dir": str(self.state_dir),
            "running": any(comp["alive"] for comp in comps.values()),
            "status": state.get("status"),
            "owner_pid": (state.get("owner") or {}).get("pid"),
            "release": state["release"],
            "components": comps,
            "endpoints": public_endpoints(ep),
            "faults": sorted(state.get("faults", {})),
        }

    def apply_fault(self, name: str, **params: Any) -> None:
        """Inject a named fault (see faults.FAULTS); raises if unknown or already active."""
        from .faults import get_fault

        fault = get_fault(name)
        if name in self.active_faults():
            raise SandboxError(f"fault {name!r} is already active; revert it first")
        try:
            data = fault.apply(self, **params) or {}
        except BaseException:
            with contextlib.suppress(Exception):  # half-applied: undo what we can
                fault.revert(self, {})
            raise
        self._state.update(lambda s: s.setdefault("faults", {}).__setitem__(name, data))

    def revert_fault(self, name: str) -> None:
        """Undo a fault injected by this or another process; no-op if not active."""
        from .faults import get_fault

        fault = get_fault(name)
        data = self.active_faults().get(name)
        if data is None:
            return
        fault.revert(self, data)
        self._state.update(lambda s: s.get("faults", {}).pop(name, None))

    @contextlib.contextmanager
    def inject(self, name: str, **params: Any) -> Iterator[Endpoints]:
        """Context manager: the fault is active inside and ALWAYS reverted after."""
        self.apply_fault(name, **params)
        try:
            yield self.endpoints
        finally:
            self.revert_fault(name)

    def traffic(self) -> Any:
        """The HAProxy runtime API of this stack (canary weight, backend counters)."""
        from ..canary.traffic import HaproxyRuntime

        ep = self.endpoints
        if not ep.haproxy_socket:
            raise SandboxError(f"the stack in {self.state_dir} has no rollout layer (HAProxy)")
        return HaproxyRuntime(ep.haproxy_socket, ep.haproxy_weights_map)

    def active_faults(self) -> dict[str, Any]:
        return dict(self._require_state().get("faults", {}))

    # ------------------------------------------------------------------ helpers for faults

    @property
    def layout(self) -> Layout:
        state = self._require_state()
        return Layout(self.state_dir, Path(state["paths"]["pg_root"]))

    def secret(self, name: str) -> Any:
        """A per-stack secret (passwords, control tokens) from state.json."""
        return self._require_state()["secrets"][name]

    def port(self, name: str) -> int:
        return int(self._require_state()["ports"][name])

    def record(self, name: str) -> c.ProcRecord | None:
        return _records(self._require_state()).get(name)

    def stop_component(self, name: str) -> None:
        """Stop one component (faults: scrape target gone, NTP unreachable)."""
        rec = self.record(name)
        if rec is not None:
            c.stop(rec, timeout=5)

    def start_component(self, name: str, *, env: dict[str, str] | None = None) -> None:
        """(Re)start one component with its recorded configuration and wait until ready."""
        state = self._require_state()
        layout = self.layout
        rec = self.record(name)
        if rec is not None and c.is_alive(rec):
            c.stop(rec, timeout=5)
        starters: dict[str, Callable[[], None]] = {
            "chrony": lambda: self._start_chrony(state, layout, time.monotonic() + 10),
            "api-1": lambda: self._start_api(state, layout, 0, time.monotonic() + 15, env),
            "api-2": lambda: self._start_api(state, layout, 1, time.monotonic() + 15, env),
            "stable-1": lambda: self._start_api(state, layout, 2, time.monotonic() + 15, env),
            "haproxy": lambda: self._start_haproxy(state, layout, time.monotonic() + 10),
            "prometheus": lambda: self._start_prometheus(state, layout, time.monotonic() + 15),
        }
        if name not in starters:
            raise SandboxError(f"cannot restart component {name!r}")
        starters[name]()

    def reset_prometheus(self, timeout: float = 20.0) -> None:
        """Restart Prometheus on an empty TSDB: a reverted 5xx burst must not haunt the SLO."""
        state = self._require_state()
        layout = self.layout
        self.stop_component("prometheus")
        shutil.rmtree(layout.prometheus / "data", ignore_errors=True)
        self._start_prometheus(state, layout, time.monotonic() + timeout)
        self.wait_for_data(timeout)

    def wait_for_data(self, timeout: float = 15.0) -> None:
        """Block until Prometheus has scraped both API instances and the rules produced data."""
        import httpx

        url = self.endpoints.prometheus_url + "/api/v1/query"

        # with traffic, wait for a real ratio: NaN (0/0, no requests yet) fails ">= 0"
        rules = "slo:sli_error:ratio_rate5m >= 0" if self.load else "slo:sli_error:ratio_rate5m"

        def probe() -> bool:
            r = httpx.get(url, params={"query": 'up{job="spark-api"} == 1'}, timeout=2)
            ok = len(r.json()["data"]["result"]) == len(ALL_API_INSTANCES)
            r = httpx.get(url, params={"query": rules}, timeout=2)
            return ok and len(r.json()["data"]["result"]) > 0

        c.wait_until("prometheus data for the API", probe, timeout, interval=0.25)
        self._state.update(lambda s: s.__setitem__("data_ready", True))

    @property
    def data_ready(self) -> bool:
        """Whether some process already saw Prometheus data for this stack (see wait_for_data)."""
        return bool(self._require_state().get("data_ready"))

    def down_components(self) -> list[str]:
        """Components recorded for this stack whose process is gone (a degraded stack)."""
        return sorted(n for n, comp in self.status()["components"].items() if not comp["alive"])

    # ------------------------------------------------------------------ chaos (CHAOS.md)

    def adopt(self, rec: c.ProcRecord) -> None:
        """Record a helper process (a chaos fault proxy): down() and the lifeline stop it."""
        self._state.update(lambda s: s.setdefault("procs", {}).__setitem__(rec.name, rec.to_dict()))

    def forget(self, name: str) -> None:
        """Drop a stopped helper process from the record."""
        self._state.update(lambda s: s.get("procs", {}).pop(name, None))

    def chaos_state(self) -> dict[str, Any]:
        """What chaos runs put in line on this stack (proxies, routed paths)."""
        return dict(self._require_state().get("chaos", {}))

    def update_chaos_state(self, change: Callable[[dict[str, Any]], None]) -> None:
        self._state.update(lambda s: change(s.setdefault("chaos", {})))

    # ------------------------------------------------------------------ start-up

    def _claim(self, detach: bool) -> dict[str, Any]:
        """Refuse if a stack runs here; clean a crashed one; write the initial state."""
        with self._state.locked(timeout=5):
            old = self._state.load()
            if old is not None:
                pid = _alive_pid(old)
                if pid is not None:
                    raise SandboxError(
                        f"sandbox already running in {self.state_dir} (pid {pid}); "
                        f"run `pytest-spark sandbox --state-dir {self.state_dir} down`"
                    )
        if old is not None:  # leftovers of a crash: stop stragglers, then start afresh
            self.down()
        with self._state.locked(timeout=5):
            try:
                state = self._initial_state(detach)
                self._state.save(state)
            except BaseException:
                self._cut_lifeline()
                raise
        return state

    def _cut_lifeline(self) -> None:
        """Let the watchdog clean up now (start-up failed before state.json was written)."""
        if self._lifeline_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._lifeline_fd)
            self._lifeline_fd = None

    def _initial_state(self, detach: bool) -> dict[str, Any]:
        # every up is a new stack: an old TSDB (series of dead instances), old silences or
        # leftover fault material would make a healthy stack look broken
        for stale in ("prometheus/data", "alertmanager", "pending_migrations", "faults", "chrony"):
            shutil.rmtree(self.state_dir / stale, ignore_errors=True)
        for sub in (
            "logs",
            "prometheus",
            "alertmanager",
            "chrony",
            "pending_migrations",
            "haproxy",
        ):
            (self.state_dir / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(self.state_dir, 0o700)
        for old_log in (self.state_dir / "logs").glob("*.log"):  # logs describe the last run
            old_log.unlink()
        pg_root = _pg_root_path(self.state_dir)
        procs: dict[str, Any] = {}
        if not detach:  # from here on, the owner's death stops whatever has been started
            fd, proc = lifeline.spawn(self.state_dir, pg_root, self.state_dir / "logs/lifeline.log")
            self._lifeline_fd = fd
            ticks = c.proc_start_ticks(proc.pid) or -1
            procs["lifeline"] = c.ProcRecord("lifeline", proc.pid, ticks, "").to_dict()
        _make_pg_root(pg_root)
        names = [
            "postgres", "pgbouncer", *ALL_API_INSTANCES, "prometheus", "alertmanager", "ntp",
            "haproxy", "haproxy-stats", "pgbouncer-exporter",
        ]  # fmt: skip
        ports = dict(zip(names, c.free_ports(len(names)), strict=True))
        layout = Layout(self.state_dir, pg_root)
        release = {"version": self.version, "git_sha": _git_sha(), "build_time": _now_iso()}
        secrets_ = {
            "admin_password": _password(),
            "app_password": _password(),
            "control_tokens": [secrets.token_urlsafe(24) for _ in ALL_API_INSTANCES],
        }
        state: dict[str, Any] = {
            "format": 1,
            "status": "starting",
            "owner": None if detach else _self_record("owner"),
            "load": self.load,
            "release": release,
            "ports": ports,
            "secrets": secrets_,
            "paths": {"pg_root": str(pg_root)},
            "procs": procs,
            "faults": {},
        }
        state["endpoints"] = _endpoints(state, layout).to_dict()
        return state

    def _start_all(self, state: dict[str, Any], deadline: float) -> None:
        """Database chain in one thread, the independent servers alongside it."""
        layout = Layout(self.state_dir, Path(state["paths"]["pg_root"]))
        jobs: dict[str, Callable[[], None]] = {
            "database+api": lambda: self._start_db_chain(state, layout, deadline),
            "prometheus": lambda: self._timed(
                "prometheus", lambda: self._start_prometheus(state, layout, deadline)
            ),
            "alertmanager": lambda: self._timed(
                "alertmanager", lambda: self._start_alertmanager(state, layout, deadline)
            ),
            "chrony": lambda: self._timed(
                "chrony", lambda: self._start_chrony(state, layout, deadline)
            ),
            "sbom": lambda: self._timed("sbom", lambda: self._write_sbom(state, layout)),
            "haproxy": lambda: self._timed(
                "haproxy", lambda: self._start_haproxy(state, layout, deadline)
            ),
            "pgbouncer-exporter": lambda: self._timed(
                "pgbouncer-exporter",
                lambda: self._start_pgbouncer_exporter(state, layout, deadline),
            ),
        }
        pool = ThreadPoolExecutor(max_workers=len(jobs))
        try:
            futures: dict[str, Future[None]] = {k: pool.submit(fn) for k, fn in jobs.items()}
            errors = []
            for name, fut in futures.items():
                try:
                    fut.result(timeout=max(0.1, deadline - time.monotonic()) + 5)
                except Exception as exc:
                    errors.append(f"{name}: {exc}")
            if errors:
                raise c.ComponentError("; ".join(errors))
        except BaseException:
            # Interrupted (Ctrl-C, SIGTERM) or failed: stop what runs now, so the threads
            # still starting see their process die and give up; anything they spawn from
            # here on is stopped by _remember. Then sweep what they left on the way out
            # (a pg_root re-created by a copy in flight).
            self._cancel.set()
            with contextlib.suppress(Exception):
                self.down()
            pool.shutdown(wait=True)
            lifeline.sweep(self.state_dir, Path(state["paths"]["pg_root"]))
            raise
        pool.shutdown(wait=True)
        self._timed("loadgen", lambda: self._start_loadgen(state, layout))
        self._state.update(lambda s: s.__setitem__("status", "running"))

    def _timed(self, name: str, fn: Callable[[], None]) -> None:
        t0 = time.monotonic()
        fn()
        self.timings[name] = time.monotonic() - t0

    def _remember(self, rec: c.ProcRecord) -> None:
        """Record a just-spawned process; after a cancelled start-up, stop it instead."""
        with self._state.locked():
            state = self._state.load()
            if state is not None and not self._cancel.is_set():
                state.setdefault("procs", {})[rec.name] = rec.to_dict()
                self._state.save(state)
                return
        _stop_one(rec)
        raise StartCancelled(f"{rec.name}: sandbox start-up was cancelled")

    def _start_db_chain(self, state: dict[str, Any], layout: Layout, deadline: float) -> None:
        """PostgreSQL, then PgBouncer, then the APIs; the APIs are spawned as soon as the
        postmaster is, so their Python start-up overlaps PostgreSQL's and PgBouncer's."""
        left = lambda: max(0.5, deadline - time.monotonic())  # noqa: E731
        apis: list[c.ProcRecord] = []

        def spawn_apis() -> None:
            apis.extend(
                self._spawn_api(state, layout, i, None) for i in range(len(ALL_API_INSTANCES))
            )

        self._timed("postgres", lambda: self._start_postgres(state, layout, left(), spawn_apis))
        t0 = time.monotonic()
        self._timed("pgbouncer", lambda: self._start_pgbouncer(state, layout, left()))
        with ThreadPoolExecutor(max_workers=len(apis)) as pool:
            for fut in [pool.submit(self._wait_api, state, rec, deadline) for rec in apis]:
                fut.result()
        self.timings["api"] = time.monotonic() - t0

    def _start_postgres(
        self,
        state: dict[str, Any],
        layout: Layout,
        timeout: float,
        on_spawned: Callable[[], None] = lambda: None,
    ) -> None:
        port = state["ports"]["postgres"]
        t0 = time.monotonic()
        _prepare_pg_data(layout, port, self.timings)
        self.timings["pg.prepare"] = time.monotonic() - t0
        rec = c.start_postgres(
            layout.pg_data, layout.pg_run, layout.log("postgres"), stack=self.state_dir
        )
        self._remember(rec)
        on_spawned()
        conninfo = _socket_conninfo(layout, port)
        c.wait_until("postgres", lambda: _pg_ready(conninfo), timeout, rec=rec)
        sec = state["secrets"]
        _sql(
            conninfo,
            f"ALTER ROLE spark_admin PASSWORD '{sec['admin_password']}'",
            f"ALTER ROLE spark_app PASSWORD '{sec['app_password']}'",
        )

    def _start_pgbouncer(self, state: dict[str, Any], layout: Layout, timeout: float) -> None:
        ports, sec = state["ports"], state["secrets"]
        userlist = f'"spark_admin" "{sec["admin_password"]}"\n"spark_app" "{sec["app_password"]}"\n'
        c.write_private(layout.pg_run / "userlist.txt", userlist, service=True)
        ini = c.pgbouncer_ini(
            port=ports["pgbouncer"], pg_port=ports["postgres"], run_dir=layout.pg_run
        )
        c.write_private(layout.pgbouncer_ini, ini, service=True)
        rec = c.start_pgbouncer(layout.pgbouncer_ini, layout.log("pgbouncer"), stack=self.state_dir)
        self._remember(rec)
        dsn = state["endpoints"]["pgbouncer_dsn"]
        c.wait_until("pgbouncer", lambda: _pg_ready(dsn), timeout, rec=rec)

    def _start_api(
        self,
        state: dict[str, Any],
        layout: Layout,
        index: int,
        deadline: float,
        env: dict[str, str] | None,
    ) -> None:
        self._wait_api(state, self._spawn_api(state, layout, index, env), deadline)

    def _spawn_api(
        self, state: dict[str, Any], layout: Layout, index: int, env: dict[str, str] | None
    ) -> c.ProcRecord:
        name = ALL_API_INSTANCES[index]
        rel = state["release"]
        stable = name in STABLE_INSTANCES
        argv = c.api_argv(
            port=state["ports"][name],
            instance=name,
            version=STABLE_VERSION if stable else rel["version"],
            git_sha=hashlib.sha1(f"spark-api {STABLE_VERSION}".encode()).hexdigest()
            if stable
            else rel["git_sha"],
            build_time=rel["build_time"],
            request_log=layout.request_log(name),
        )
        secrets_env = {
            "SPARK_API_DSN": state["endpoints"]["pgbouncer_dsn"],
            "SPARK_CONTROL_TOKEN": state["secrets"]["control_tokens"][index],
        }
        _proc, rec = c.spawn(
            name,
            argv,
            layout.log(name),
            env=c.python_env({**secrets_env, **(env or {})}),
            stack=self.state_dir,
        )
        self._remember(rec)
        return rec

    def _wait_api(self, state: dict[str, Any], rec: c.ProcRecord, deadline: float) -> None:
        """Ready = /healthz 200, which the app answers only once its database answers."""
        url = f"http://{c.LOCALHOST}:{state['ports'][rec.name]}/healthz"
        timeout = max(0.5, deadline - time.monotonic())
        c.wait_until(rec.name, lambda: c.http_status(url) == 200, timeout, rec=rec)

    def _start_prometheus(self, state: dict[str, Any], layout: Layout, deadline: float) -> None:
        ports = state["ports"]
        render_prometheus_config(layout.prometheus, ports)
        argv = c.prometheus_argv(
            layout.prometheus / "prometheus.yml", layout.prometheus / "data", ports["prometheus"]
        )
        ready = f"http://{c.LOCALHOST}:{ports['prometheus']}/-/ready"
        self._spawn_until_ready("prometheus", argv, layout, ready, deadline)

    def _start_haproxy(self, state: dict[str, Any], layout: Layout, deadline: float) -> None:
        """The rollout layer: public frontend, stable and canary backends, runtime API."""
        ports = state["ports"]
        weights = Path(state["endpoints"]["haproxy_weights_map"])
        if not weights.exists():  # a restart keeps the weight the stack had
            weights.write_text(f"{c.CANARY_WEIGHT_KEY} {INITIAL_CANARY_WEIGHT}\n")
        cfg = self.state_dir / "haproxy" / "haproxy.cfg"
        cfg.write_text(
            c.haproxy_cfg(
                port=ports["haproxy"],
                stats_port=ports["haproxy-stats"],
                socket_path=Path(state["endpoints"]["haproxy_socket"]),
                weights_map=weights,
                stable={n: ports[n] for n in STABLE_INSTANCES},
                canary={n: ports[n] for n in API_INSTANCES},
            )
        )
        ready = state["endpoints"]["haproxy_metrics_url"]
        self._spawn_until_ready("haproxy", c.haproxy_argv(cfg), layout, ready, deadline)

    def _start_pgbouncer_exporter(
        self, state: dict[str, Any], layout: Layout, deadline: float
    ) -> None:
        port = state["ports"]["pgbouncer-exporter"]
        argv = c.pgbouncer_exporter_argv(port=port, state_dir=self.state_dir)
        _proc, rec = c.spawn(
            "pgbouncer-exporter", argv, layout.log("pgbouncer-exporter"),
            env=c.python_env(), stack=self.state_dir,
        )  # fmt: skip
        self._remember(rec)
        timeout = max(0.5, deadline - time.monotonic())
        ready = f"http://{c.LOCALHOST}:{port}/metrics"
        c.wait_until("pgbouncer-exporter", lambda: c.http_status(ready) == 200, timeout, rec=rec)

    def _start_alertmanager(self, state: dict[str, Any], layout: Layout, deadline: float) -> None:
        port = state["ports"]["alertmanager"]
        conf = layout.alertmanager / "alertmanager.yml"
        conf.write_text(c.ALERTMANAGER_YML)
        argv = c.alertmanager_argv(conf, layout.alertmanager / "data", port)
        ready = f"http://{c.LOCALHOST}:{port}/-/ready"
        self._spawn_until_ready("alertmanager", argv, layout, ready, deadline)

    def _spawn_until_ready(
        self, name: str, argv: list[str], layout: Layout, ready_url: str, deadline: float
    ) -> None:
        """Start a server and wait (until the deadline) for its readiness URL to answer 200."""
        _proc, rec = c.spawn(name, argv, layout.log(name), stack=self.state_dir)
        self._remember(rec)
        timeout = max(0.5, deadline - time.monotonic())
        c.wait_until(name, lambda: c.http_status(ready_url) == 200, timeout, rec=rec)

    def _start_chrony(self, state: dict[str, Any], layout: Layout, deadline: float) -> None:
        port = state["ports"]["ntp"]
        conf = layout.chrony / "chrony.conf"
        conf.write_text(c.chrony_conf(port=port, run_dir=layout.chrony))
        argv = c.chronyd_argv(conf)
        _proc, rec = c.spawn("chrony", argv, layout.log("chrony"), stack=self.state_dir)
        self._remember(rec)
        timeout = max(0.5, deadline - time.monotonic())
        c.wait_until("chrony", lambda: c.ntp_answers(port), timeout, rec=rec, interval=0.05)

    def _write_sbom(self, state: dict[str, Any], layout: Layout) -> None:
        rel = state["release"]
        sbom_mod.write_release_sbom(layout.sbom, rel["version"], rel["git_sha"], rel["build_time"])

    def _start_loadgen(self, state: dict[str, Any], layout: Layout) -> None:
        """Traffic source (the lifeline, not the loadgen, watches the owner)."""
        argv = [
            sys.executable,
            "-m",
            "pytest_spark.sandbox.loadgen",
            "--state-dir",
            str(self.state_dir),
        ]
        if not state.get("load", True):
            argv.append("--no-load")
        _proc, rec = c.spawn(
            "loadgen", argv, layout.log("loadgen"), env=c.python_env(), stack=self.state_dir
        )
        self._remember(rec)

    # ------------------------------------------------------------------ shutdown

    def _stop_all(self, recs: dict[str, c.ProcRecord]) -> None:
        """Clients first, then PgBouncer, then PostgreSQL; never ourselves (watchdog case)."""
        me = os.getpid()
        waves = [
            [n for n in recs if n not in ("pgbouncer", "postgres")],
            ["pgbouncer"],
            ["postgres"],
        ]
        for wave in waves:
            todo = [recs[n] for n in wave if n in recs and recs[n].pid != me]
            with ThreadPoolExecutor(max_workers=max(1, len(todo))) as pool:
                list(pool.map(_stop_one, todo))

    def _down_at_exit(self) -> None:
        with contextlib.suppress(Exception):
            self.down()

    def _require_state(self) -> dict[str, Any]:
        state = self._state.load()
        if state is None:
            raise SandboxError(f"no sandbox running in {self.state_dir}")
        return state


def _stop_one(rec: c.ProcRecord) -> None:
    if rec.name == "postgres":
        c.stop_postgres(rec)
    else:
        c.stop(rec, timeout=5)


def _endpoints(state: dict[str, Any], layout: Layout) -> Endpoints:
    p, sec, rel = state["ports"], state["secrets"], state["release"]
    admin, app = sec["admin_password"], sec["app_password"]
    host = c.LOCALHOST
    return Endpoints(
        api_urls=tuple(f"http://{host}:{p[name]}" for name in API_INSTANCES),
        db_dsn=f"postgresql://spark_admin:{admin}@{host}:{p['postgres']}/spark",
        pgbouncer_dsn=f"postgresql://spark_app:{app}@{host}:{p['pgbouncer']}/spark",
        pgbouncer_admin_dsn=f"postgresql://spark_admin:{admin}@{host}:{p['pgbouncer']}/pgbouncer",
        prometheus_url=f"http://{host}:{p['prometheus']}",
        alertmanager_url=f"http://{host}:{p['alertmanager']}",
        ntp_server=f"{host}:{p['ntp']}",
        state_dir=str(layout.state_dir),
        sbom_path=str(layout.sbom),
        pending_migrations_dir=str(layout.pending),
        migrations_dir=str(MIGRATIONS_DIR),
        wal_archive_dir=str(layout.wal_archive),
        pg_bin_dir=str(c.PG_BIN),
        release_version=rel["version"],
        git_sha=rel["git_sha"],
        build_time=rel["build_time"],
        public_url=f"http://{host}:{p['haproxy']}",
        stable_urls=tuple(f"http://{host}:{p[name]}" for name in STABLE_INSTANCES),
        haproxy_socket=str(layout.haproxy_socket),
        haproxy_weights_map=str(layout.state_dir / "haproxy" / "weights.map"),
        haproxy_metrics_url=f"http://{host}:{p['haproxy-stats']}/metrics",
    )


def public_endpoints(ep: Endpoints) -> dict[str, Any]:
    """Endpoints with DSN passwords masked, for printing."""
    out = ep.to_dict()
    for key in ("db_dsn", "pgbouncer_dsn", "pgbouncer_admin_dsn"):
        user_part, _, rest = out[key].partition("@")
        scheme_user = user_part.rsplit(":", 1)[0]
        out[key] = f"{scheme_user}:***@{rest}"
    return out


def sandbox_triggers() -> tuple[Any, ...]:
    """The trigger catalog as the sandbox's Prometheus loads it (compressed windows).

    SANDBOX_TRIGGER_RANGE is given per trigger, under SANDBOX_TRIGGER_OVERRIDES:
    ``configured(range_=...)`` replaces every window, so T10's own 2m was lost
    and its 30 s deriv fired on a healthy stack (CH-05's steady-state run).
    """
    from ..canary import triggers

    overrides: dict[str, dict[str, Any]] = {
        t.id: {"range": SANDBOX_TRIGGER_RANGE} for t in triggers.TRIGGERS if t.range_
    }
    for tid, change in SANDBOX_TRIGGER_OVERRIDES.items():
        overrides.setdefault(tid, {}).update(change)
    return triggers.configured(overrides, for_=SANDBOX_TRIGGER_FOR)


def render_prometheus_config(directory: Path, ports: dict[str, int]) -> Path:
    """prometheus.yml + rule files for this stack's ports."""
    directory.mkdir(parents=True, exist_ok=True)
    rules = directory / "rules"
    rules.mkdir(exist_ok=True)
    for src in (PROMETHEUS_DIR / "rules").glob("*.yml"):
        shutil.copy(src, rules / src.name)
    from ..canary import rules as trigger_rules

    catalog = sandbox_triggers()
    (rules / "spark-triggers.yml").write_text(
        trigger_rules.to_yaml(trigger_rules.rules_file(catalog, window=SANDBOX_TRIGGER_WINDOW))
    )

    def targets(names: tuple[str, ...]) -> str:
        return ", ".join(f'"{c.LOCALHOST}:{ports[n]}"' for n in names)

    text = string.Template((PROMETHEUS_DIR / "prometheus.yml.tmpl").read_text()).substitute(
        rules_dir=rules,
        alertmanager_port=ports["alertmanager"],
        prometheus_port=ports["prometheus"],
        api_targets=targets(API_INSTANCES),
        stable_targets=targets(STABLE_INSTANCES),
        haproxy_target=f"{c.LOCALHOST}:{ports['haproxy-stats']}",
        pgbouncer_exporter_target=f"{c.LOCALHOST}:{ports['pgbouncer-exporter']}",
    )
    out = directory / "prometheus.yml"
    out.write_text(text)
    return out
