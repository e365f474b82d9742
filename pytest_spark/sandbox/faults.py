"""Named faults the sandbox can inject and revert: one per "Fault" line of CHECKS.md.

Every check must be proven able to fail; each fault here breaks exactly what
one check exists to catch, in a way that check can observe, and its revert
restores the healthy stack. ``apply`` returns a small JSON-able dict that is
stored in state.json, so a fault applied by one process (e.g. the CLI) can be
reverted by another.
"""

from __future__ import annotations

import json
import math
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import components as c
from . import sbom as sbom_mod

if TYPE_CHECKING:
    from .launcher import Sandbox

INT4_MAX = 2**31 - 1
PENDING_SOURCE = Path(__file__).with_name("migrations_pending")
POSITIONS_INDEX = "positions_one_open_uq"
IDEMPOTENCY_CONSTRAINT = "idempotency_keys_key_uq"
HOLDER_APP_NAME = "spark-fault-holder"
FAST_BURN_ALERT = "SparkErrorBudgetFastBurn"
HTTP_TIMEOUT_S = 5.0

Data = dict[str, Any]
ApplyFn = Callable[..., Data | None]
RevertFn = Callable[["Sandbox", Data], None]


@dataclass(frozen=True)
class Fault:
    """A named, reversible break of the stack, and the checks that must catch it."""

    name: str
    description: str
    targets: tuple[str, ...]
    apply_fn: ApplyFn
    revert_fn: RevertFn
    kind: str = "stack"  # "app": only the API's control endpoint; "mixed": app + stack

    def apply(self, sandbox: Sandbox, **params: Any) -> Data:
        """Break the stack; returns what revert needs."""
        return self.apply_fn(sandbox, **params) or {}

    def revert(self, sandbox: Sandbox, data: Data | None = None) -> None:
        """Restore the healthy stack (data defaults to what apply stored)."""
        if data is None:
            data = sandbox.active_faults().get(self.name, {})
        self.revert_fn(sandbox, data)


def _error(msg: str) -> Exception:
    from .launcher import SandboxError

    return SandboxError(msg)


# --- app control API


def _control(sandbox: Sandbox, index: int, method: str, name: str, value: Any = None) -> None:
    """PUT/DELETE /__sandbox/faults/{name} on one API instance."""
    import httpx

    ep = sandbox.endpoints
    url = f"{[*ep.api_urls, *ep.stable_urls][index]}/__sandbox/faults/{name}"
    token = sandbox.secret("control_tokens")[index]
    body = {"value": value} if value is not None else None
    try:
        resp = httpx.request(
            method, url, headers={"X-Sandbox-Token": token}, json=body, timeout=HTTP_TIMEOUT_S
        )
    except httpx.HTTPError as exc:
        raise _error(f"{method} {url} failed: {exc}") from exc
    if resp.status_code >= 300 and not (method == "DELETE" and resp.status_code == 404):
        raise _error(f"{method} {url} answered {resp.status_code}: {resp.text[:200]}")


def app_fault(name: str, *, instances: tuple[int, ...] = (0, 1)) -> tuple[ApplyFn, RevertFn]:
    """apply/revert pair switching an app-level fault on the given instances."""

    def apply(sandbox: Sandbox, value: Any = None) -> Data:
        for i in instances:
            _control(sandbox, i, "PUT", name, value)
        return {"instances": list(instances), "value": value}

    def revert(sandbox: Sandbox, data: Data) -> None:
        for i in data.get("instances", instances):
            _control(sandbox, i, "DELETE", name)

    return apply, revert


# --- database helpers


def _db(sandbox: Sandbox) -> Any:
    """Superuser connection straight to PostgreSQL, with lock and statement deadlines."""
    import psycopg

    conn = psycopg.connect(sandbox.endpoints.db_dsn, autocommit=True, connect_timeout=5)
    conn.execute("SET lock_timeout = '5s'")
    conn.execute("SET statement_timeout = '30s'")
    return conn


def _exec(sandbox: Sandbox, *statements: str) -> None:
    with _db(sandbox) as conn, conn.transaction():
        for stmt in statements:
            conn.execute(stmt)


def _scalar(sandbox: Sandbox, query: str, params: tuple[Any, ...] = ()) -> Any:
    with _db(sandbox) as conn:
        row = conn.execute(query, params or None).fetchone()
        return row[0] if row else None


# --- BS-01 / PF-02 time


def _faketime_apply(sandbox: Sandbox, offset: str = "+5s") -> Data:
    sandbox.start_component("api-1", env=c.faketime_env(offset))
    return {"offset": offset}


def _faketime_revert(sandbox: Sandbox, data: Data) -> None:
    sandbox.start_component("api-1")


def _ntp_apply(sandbox: Sandbox) -> Data:
    sandbox.stop_component("chrony")
    return {}


def _ntp_revert(sandbox: Sandbox, data: Data) -> None:
    sandbox.start_component("chrony")


# --- BS-02 migrations


def _migration_behind_apply(sandbox: Sandbox) -> Data:
    """Forget the latest applied migration (its row), as if the deploy never ran it.

    Migrations are forward-only SQL, so the schema objects stay; what BS-02
    reads -- the recorded versions -- is one behind the release.
    """
    with _db(sandbox) as conn, conn.transaction():
        row = conn.execute(
            "SELECT version, name, checksum, applied_at, success, dirty FROM schema_migrations"
            " ORDER BY version DESC LIMIT 1"
        ).fetchone()
        if row is None:
            raise _error("schema_migrations is empty; nothing to roll back")
        conn.execute("DELETE FROM schema_migrations WHERE version = %s", (row[0],))
    version, name, checksum, applied_at, success, dirty = row
    return {
        "row": [version, name, checksum, applied_at.isoformat(), success, dirty],
    }


def _migration_behind_revert(sandbox: Sandbox, data: Data) -> None:
    version, name, checksum, applied_at, success, dirty = data["row"]
    with _db(sandbox) as conn, conn.transaction():
        conn.execute(
            "INSERT INTO schema_migrations (version, name, checksum, applied_at, success, dirty)"
            " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (version) DO NOTHING",
            (version, name, checksum, datetime.fromisoformat(applied_at), success, dirty),
        )


# --- BS-03 PgBouncer


def _pgbouncer_reconfigure(
    sandbox: Sandbox,
    users: dict[str, str] | None = None,
    pg_port: int | None = None,
    **settings: Any,
) -> None:
    """Rewrite pgbouncer.ini (``users``: a ``[users]`` section; ``pg_port``: where server
    connections go, e.g. a chaos fault proxy) and RELOAD it."""
    import psycopg

    layout = sandbox.layout
    ini = c.pgbouncer_ini(
        port=sandbox.port("pgbouncer"),
        pg_port=pg_port or sandbox.port("postgres"),
        run_dir=layout.pg_run,
        **settings,
    )
    if users:
        ini += "\n[users]\n" + "".join(f"{u} = {v}\n" for u, v in users.items())
    c.write_private(layout.pgbouncer_ini, ini, service=True)
    with psycopg.connect(
        sandbox.endpoints.pgbouncer_admin_dsn,
        autocommit=True,
        connect_timeout=5,
        cursor_factory=psycopg.ClientCursor,
    ) as conn:
        conn.execute("RELOAD")


#: public name for the chaos proxy's PgBouncer -> PostgreSQL routing
pgbouncer_reconfigure = _pgbouncer_reconfigure


def _pgb_session_apply(sandbox: Sandbox) -> Data:
    _pgbouncer_reconfigure(sandbox, pool_mode="session")
    return {}


def _pgb_no_wait_apply(sandbox: Sandbox) -> Data:
    _pgbouncer_reconfigure(sandbox, query_wait_timeout=0)
    return {}


def _pgb_revert(sandbox: Sandbox, data: Data) -> None:
    _pgbouncer_reconfigure(sandbox)


def _pgb_user_session_apply(sandbox: Sandbox) -> Data:
    _pgbouncer_reconfigure(sandbox, users={"spark_app": "pool_mode=session"})
    return {}


def _pgb_user_revert(sandbox: Sandbox, data: Data) -> None:
    """PgBouncer 1.18 keeps a user's pool_mode when its [users] line is removed and the
    config reloaded (SHOW USERS still says session). A [users] line without pool_mode
    resets it to inherit (max_user_connections=0 is the default: no per-user cap); then
    the pristine file is reloaded. No restart: that would break the API's pooled
    connections (a burst of 503s in the SLO data)."""
    _pgbouncer_reconfigure(sandbox, users={"spark_app": "max_user_connections=0"})
    _pgbouncer_reconfigure(sandbox)


# --- BS-04 / RT-06 decimals


def _price_double_apply(sandbox: Sandbox) -> Data:
    _exec(sandbox, "ALTER TABLE orders ALTER COLUMN price TYPE double precision")
    return {}


def _price_double_revert(sandbox: Sandbox, data: Data) -> None:
    _exec(
        sandbox,
        "ALTER TABLE orders ALTER COLUMN price TYPE numeric(18,8) USING price::numeric(18,8)",
    )


# --- PF-03 saturation


def _held_apply(sandbox: Sandbox, ratio: float = 0.9, timeout: float = 20.0) -> Data:
    """Hold idle superuser connections until client backends exceed ratio x max_connections."""
    with _db(sandbox) as conn:
        max_conn = int(conn.execute("SHOW max_connections").fetchone()[0])
        used = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"
        ).fetchone()[0]
    want = math.ceil(ratio * max_conn)
    count = max(1, want - int(used) + 1)  # +1: our probe connection above is gone now
    layout = sandbox.layout
    argv = [sys.executable, "-m", "pytest_spark.sandbox.faults", "hold-connections", str(count)]
    env = c.python_env({"SPARK_HOLD_DSN": sandbox.endpoints.db_dsn})
    _proc, rec = c.spawn("conn-holder", argv, layout.log("conn-holder"), env=env)
    holding = "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s"
    c.wait_until(
        "connection holder",
        lambda: _scalar(sandbox, holding, (HOLDER_APP_NAME,)) >= count,
        timeout,
        rec=rec,
        interval=0.1,
    )
    return {"holder": rec.to_dict(), "count": count, "max_connections": max_conn}


def _held_revert(sandbox: Sandbox, data: Data) -> None:
    c.stop(c.ProcRecord.from_dict(data["holder"]), timeout=5)
    query = "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s"
    c.wait_until(
        "held connections to close",
        lambda: _scalar(sandbox, query, (HOLDER_APP_NAME,)) == 0,
        10,
        interval=0.1,
    )


def hold_connections(count: int, dsn: str) -> None:
    """Child-process body: open count idle connections and keep them until killed."""
    import signal

    import psycopg

    conns = [
        psycopg.connect(dsn, application_name=HOLDER_APP_NAME, connect_timeout=5)
        for _ in range(count)
    ]
    print(f"holding {len(conns)} connections", flush=True)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})


# --- PF-04 pending migrations


def _pending_apply_for(kind: str) -> ApplyFn:
    def apply(sandbox: Sandbox) -> Data:
        dest = Path(sandbox.endpoints.pending_migrations_dir)
        dest.mkdir(parents=True, exist_ok=True)
        copied = []
        for src in sorted((PENDING_SOURCE / kind).glob("*.sql")):
            shutil.copy(src, dest / src.name)
            copied.append(src.name)
        if not copied:
            raise _error(f"no pending migration material in {PENDING_SOURCE / kind}")
        return {"files": copied}

    return apply


def _pending_revert(sandbox: Sandbox, data: Data) -> None:
    dest = Path(sandbox.endpoints.pending_migrations_dir)
    for name in data.get("files", []):
        (dest / name).unlink(missing_ok=True)


# --- PF-06 sequences


def _sequence_apply(sandbox: Sandbox, ratio: float = 0.9) -> Data:
    with _db(sandbox) as conn:
        before = conn.execute("SELECT last_value, is_called FROM orders_id_seq").fetchone()
        value = math.ceil(ratio * INT4_MAX)
        conn.execute("SELECT setval('orders_id_seq', %s)", (value,))
    return {"before": int(before[0]), "fault_value": value}


TEXT_DEFAULT_TABLE = "spark_fault_tickets"
TEXT_DEFAULT_SEQUENCE = "spark_fault_ticket_seq"


def _text_default_apply(sandbox: Sandbox, ratio: float = 0.9) -> Data:
    """An int4 column fed by a bigint sequence through DEFAULT nextval('s'::text): the
    sequence is named by a text value resolved at insert time, so pg_depend has no link."""
    value = math.ceil(INT4_MAX * ratio)
    _exec(
        sandbox,
        f"CREATE SEQUENCE {TEXT_DEFAULT_SEQUENCE} AS bigint",
        f"CREATE TABLE {TEXT_DEFAULT_TABLE} ("
        f"id integer NOT NULL DEFAULT nextval('{TEXT_DEFAULT_SEQUENCE}'::text), note text)",
        f"SELECT setval('{TEXT_DEFAULT_SEQUENCE}', {value})",
    )
    return {"fault_value": value}


def _text_default_revert(sandbox: Sandbox, data: Data) -> None:
    _exec(
        sandbox,
        f"DROP TABLE IF EXISTS {TEXT_DEFAULT_TABLE}",
        f"DROP SEQUENCE IF EXISTS {TEXT_DEFAULT_SEQUENCE}",
    )


def _sequence_revert(sandbox: Sandbox, data: Data) -> None:
    """Back to the pre-fault value; orders created meanwhile get fresh low ids."""
    floor = int(data["fault_value"])
    with _db(sandbox) as conn, conn.transaction():
        conn.execute("LOCK TABLE orders IN EXCLUSIVE MODE")
        top = conn.execute("SELECT coalesce(max(id), 0) FROM orders WHERE id <= %s", (floor,))
        base = max(int(top.fetchone()[0]), int(data["before"]))
        conn.execute("SELECT setval('orders_id_seq', %s)", (max(base, 1),))
        conn.execute(
            "CREATE TEMP TABLE spark_renumber ON COMMIT DROP AS"
            " SELECT id AS old_id, nextval('orders_id_seq')::int AS new_id"
            " FROM orders WHERE id > %s ORDER BY id",
            (floor,),
        )
        conn.execute(
            "UPDATE orders o SET id = r.new_id FROM spark_renumber r WHERE o.id = r.old_id"
        )
        conn.execute(
            "UPDATE idempotency_keys k SET order_id = r.new_id"
            " FROM spark_renumber r WHERE k.order_id = r.old_id"
        )


# --- RT-01 positions index


def _index_def(sandbox: Sandbox) -> str:
    indexdef = _scalar(
        sandbox, "SELECT indexdef FROM pg_indexes WHERE indexname = %s", (POSITIONS_INDEX,)
    )
    if not indexdef:
        raise _error(f"index {POSITIONS_INDEX} is missing; is another fault active?")
    return str(indexdef)


# The strongest lock first: upgrading a weaker one deadlocks with the app's
# read-then-write transactions on positions.
LOCK_POSITIONS = "LOCK TABLE positions IN ACCESS EXCLUSIVE MODE"


def _index_apply_for(*replacement: str) -> ApplyFn:
    def apply(sandbox: Sandbox) -> Data:
        original = _index_def(sandbox)
        _exec(sandbox, LOCK_POSITIONS, f"DROP INDEX {POSITIONS_INDEX}", *replacement)
        return {"indexdef": original}

    return apply


def _index_revert(sandbox: Sandbox, data: Data) -> None:
    """Close duplicate open positions created meanwhile, then restore the exact index."""
    _exec(
        sandbox,
        LOCK_POSITIONS,
        f"DROP INDEX IF EXISTS {POSITIONS_INDEX}",
        "UPDATE positions p SET status = 'closed', closed_at = now() WHERE p.status = 'open'"
        " AND EXISTS (SELECT 1 FROM positions q WHERE q.status = 'open'"
        " AND q.account_id = p.account_id AND q.symbol = p.symbol AND q.id > p.id)",
        data["indexdef"],
    )


NONDETERMINISTIC_INDEX = (
    "CREATE COLLATION IF NOT EXISTS spark_case_insensitive"
    " (provider = icu, locale = 'und-u-ks-level2', deterministic = false)",
    f"CREATE UNIQUE INDEX {POSITIONS_INDEX} ON positions"
    " (account_id, symbol COLLATE spark_case_insensitive) WHERE status = 'open'",
)
PREDICATE_CHANGED_INDEX = (
    f"CREATE UNIQUE INDEX {POSITIONS_INDEX} ON positions (account_id, symbol)"
    " WHERE status <> 'closed'",
)


# --- RT-02 idempotency


def _no_unique_apply(sandbox: Sandbox) -> Data:
    apply, _ = app_fault("no-idempotency-unique")
    apply(sandbox)  # app first: it must stop relying on ON CONFLICT before the drop
    _exec(sandbox, f"ALTER TABLE idempotency_keys DROP CONSTRAINT {IDEMPOTENCY_CONSTRAINT}")
    return {}


def _no_unique_revert(sandbox: Sandbox, data: Data) -> None:
    _exec(
        sandbox,
        "LOCK TABLE idempotency_keys IN ACCESS EXCLUSIVE MODE",  # no upgrade later
        "DELETE FROM idempotency_keys a USING idempotency_keys b"
        " WHERE a.key = b.key AND a.id > b.id",
        f"ALTER TABLE idempotency_keys ADD CONSTRAINT {IDEMPOTENCY_CONSTRAINT} UNIQUE (key)",
    )
    _, revert = app_fault("no-idempotency-unique")
    revert(sandbox, {})


# --- BS-08 5xx burst


def _promql(sandbox: Sandbox, query: str) -> list[dict[str, Any]]:
    import httpx

    resp = httpx.get(
        f"{sandbox.endpoints.prometheus_url}/api/v1/query",
        params={"query": query},
        timeout=HTTP_TIMEOUT_S,
    )
    resp.raise_for_status()
    return list(resp.json()["data"]["result"])


def _set_load_rate(sandbox: Sandbox, rate: float | None) -> None:
    path = sandbox.state_dir / "loadgen.rate"
    if rate is None:
        path.unlink(missing_ok=True)
    else:
        path.write_text(f"{rate}\n")


def _burst_apply(
    sandbox: Sandbox, rate: float = 40.0, wait: bool = True, timeout: float = 30.0
) -> Data:
    """Every API request answers 503 while the load generator speeds up.

    With wait, returns once Prometheus sees the fast-burn condition (1h and 5m
    burn rate over 14.4), so BS-08 run right after observes the burst.
    """
    apply, _ = app_fault("error-burst")
    apply(sandbox)
    _set_load_rate(sandbox, rate)
    if wait:
        cond = "slo:burn_rate:ratio_rate1h > 14.4 and slo:burn_rate:ratio_rate5m > 14.4"
        c.wait_until(
            "fast burn visible in Prometheus",
            lambda: bool(_promql(sandbox, cond)),
            timeout,
            interval=0.5,
        )
    return {}


def _burst_revert(sandbox: Sandbox, data: Data) -> None:
    """Stop the errors and give Prometheus a fresh history: the burst would haunt 30 days."""
    _, revert = app_fault("error-burst")
    revert(sandbox, {})
    _set_load_rate(sandbox, None)
    fresh_history(sandbox)


def fresh_history(sandbox: Sandbox) -> None:
    """Prometheus on an empty TSDB and Alertmanager's alerts resolved: a reverted fault's
    errors and slow requests leave the 5m-30d windows (PF-09's baseline, BS-08's burn)."""
    sandbox.reset_prometheus()
    _resolve_alerts(sandbox)


def _resolve_alerts(sandbox: Sandbox) -> None:
    """Mark the alerts Alertmanager still holds as resolved now (else they linger ~4 min)."""
    import httpx

    url = f"{sandbox.endpoints.alertmanager_url}/api/v2/alerts"
    alerts = httpx.get(url, timeout=HTTP_TIMEOUT_S).json()
    now = datetime.now(UTC).isoformat()
    resolved = [{"labels": a["labels"], "startsAt": a["startsAt"], "endsAt": now} for a in alerts]
    if resolved:
        httpx.post(url, json=resolved, timeout=HTTP_TIMEOUT_S).raise_for_status()


# --- PF-08 / PF-09


def _scrape_stop_apply(sandbox: Sandbox, wait: bool = True) -> Data:
    sandbox.stop_component("api-2")
    if wait:
        down = 'up{job="spark-api"} == 0'
        c.wait_until(
            "target down in Prometheus", lambda: bool(_promql(sandbox, down)), 10, interval=0.25
        )
    return {}


def _scrape_stop_revert(sandbox: Sandbox, data: Data) -> None:
    sandbox.start_component("api-2")
    up = 'count(up{job="spark-api"} == 1)'
    every = float(len(sandbox.endpoints.api_urls) + len(sandbox.endpoints.stable_urls))
    c.wait_until(
        "target up in Prometheus",
        lambda: [float(r["value"][1]) for r in _promql(sandbox, up)] == [every],
        10,
        interval=0.25,
    )


def _no_traffic_apply(sandbox: Sandbox, wait_s: float = 0.0) -> Data:
    """Pause the load generator; wait_s lets a window of that length drain of requests."""
    sandbox.layout.loadgen_pause.write_text("paused by fault no-traffic\n")
    if wait_s > 0:
        time.sleep(wait_s)
    return {}


def _no_traffic_revert(sandbox: Sandbox, data: Data) -> None:
    sandbox.layout.loadgen_pause.unlink(missing_ok=True)


# --- RT-08 archiving


def _archiver(sandbox: Sandbox) -> tuple[int, int, Any, Any]:
    with _db(sandbox) as conn:
        row = conn.execute(
            "SELECT archived_count, failed_count, last_archived_time, last_failed_time"
            " FROM pg_stat_archiver"
        ).fetchone()
    return int(row[0]), int(row[1]), row[2], row[3]


def _switch_wal(sandbox: Sandbox) -> None:
    """Write a little WAL and close the segment so the archiver has work now."""
    with _db(sandbox) as conn:
        conn.execute("SELECT pg_logical_emit_message(false, 'spark-sandbox', 'switch')")
        conn.execute("SELECT pg_switch_wal()")


def _archive_fail_apply(sandbox: Sandbox, timeout: float = 15.0) -> Data:
    _, failed_before, _, _ = _archiver(sandbox)
    with _db(sandbox) as conn:
        conn.execute("ALTER SYSTEM SET archive_command = 'false'")
        conn.execute("SELECT pg_reload_conf()")
    time.sleep(0.2)  # let the archiver read the new setting before it has work
    _switch_wal(sandbox)
    c.wait_until(
        "archive failure recorded",
        lambda: _archiver(sandbox)[1] > failed_before,
        timeout,
        interval=0.2,
    )
    return {}


def _archive_noop_apply(sandbox: Sandbox, timeout: float = 15.0) -> Data:
    """archive_command '/bin/true': every segment 'archived' (exit 0), none copied."""
    archived_before, _, _, _ = _archiver(sandbox)
    with _db(sandbox) as conn:
        conn.execute("ALTER SYSTEM SET archive_command = '/bin/true'")
        conn.execute("SELECT pg_reload_conf()")
    time.sleep(0.2)  # let the archiver read the new setting before it has work
    _switch_wal(sandbox)
    c.wait_until(
        "a segment counted as archived by /bin/true",
        lambda: _archiver(sandbox)[0] > archived_before,
        timeout,
        interval=0.2,
    )
    return {}


def _archive_fail_revert(sandbox: Sandbox, data: Data, timeout: float = 15.0) -> None:
    with _db(sandbox) as conn:
        conn.execute("ALTER SYSTEM RESET archive_command")
        conn.execute("SELECT pg_reload_conf()")
    time.sleep(0.2)
    _switch_wal(sandbox)

    def healthy() -> bool:
        _, _, last_ok, last_failed = _archiver(sandbox)
        return last_ok is not None and (last_failed is None or last_ok > last_failed)

    c.wait_until("archiving healthy again", healthy, timeout, interval=0.2)


# --- RT-09 silence


def _silence_apply(sandbox: Sandbox, alertname: str = FAST_BURN_ALERT, hours: float = 2.0) -> Data:
    import httpx

    now = datetime.now(UTC)
    body = {
        "matchers": [{"name": "alertname", "value": alertname, "isRegex": False, "isEqual": True}],
        "startsAt": now.isoformat(),
        "endsAt": (now + timedelta(hours=hours)).isoformat(),
        "createdBy": "pytest-spark sandbox",
        "comment": "fault slo-silence: deploying with the SLO alert muted",
    }
    url = f"{sandbox.endpoints.alertmanager_url}/api/v2/silences"
    resp = httpx.post(url, json=body, timeout=HTTP_TIMEOUT_S)
    if resp.status_code != 200:
        raise _error(f"POST {url} answered {resp.status_code}: {resp.text[:200]}")
    return {"silence_id": resp.json()["silenceID"]}


def _silence_revert(sandbox: Sandbox, data: Data) -> None:
    import httpx

    url = f"{sandbox.endpoints.alertmanager_url}/api/v2/silence/{data['silence_id']}"
    resp = httpx.delete(url, timeout=HTTP_TIMEOUT_S)
    if resp.status_code not in (200, 404):
        raise _error(f"DELETE {url} answered {resp.status_code}: {resp.text[:200]}")


# --- BS-09 / RT-10 SBOM


def _sbom_apply_for(variant: str) -> ApplyFn:
    def apply(sandbox: Sandbox, version: str = "1.3.1") -> Data:
        path = Path(sandbox.endpoints.sbom_path)
        backup = sandbox.layout.faults / "sbom.orig.json"
        backup.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, backup)
        original = json.loads(path.read_text())
        if variant == "missing":
            path.unlink()
        elif variant == "invalid":
            path.write_text(json.dumps(sbom_mod.invalid_variant()))
        elif variant == "wrong-version":
            path.write_text(json.dumps(sbom_mod.other_version_variant(original, version)))
        elif variant == "duplicate-bom-ref":  # schema-valid; CycloneDX: bom-refs are unique
            dup = json.loads(json.dumps(original))
            dup["components"][0]["bom-ref"] = dup["metadata"]["component"]["bom-ref"]
            path.write_text(json.dumps(dup))
        else:
            path.write_text(json.dumps(sbom_mod.other_build_variant(original)))
        return {"backup": str(backup)}

    return apply


def _sbom_revert(sandbox: Sandbox, data: Data) -> None:
    backup = Path(data["backup"])
    shutil.copy(backup, sandbox.endpoints.sbom_path)
    backup.unlink(missing_ok=True)


# --- chaos resilience switches (CHAOS.md): remove what a scenario relies on


def _write_trigger_rules(sandbox: Sandbox, without: str | None) -> str:
    """Rewrite the Prometheus trigger rules (optionally without one trigger); SIGHUP reload."""
    from ..canary import rules as trigger_rules
    from .launcher import SANDBOX_TRIGGER_WINDOW, sandbox_triggers

    catalog = [t for t in sandbox_triggers() if t.id != without]
    alert = next((t.alert for t in sandbox_triggers() if t.id == without), "")
    if without and not alert:
        raise _error(f"unknown trigger {without!r}")
    path = sandbox.layout.state_dir / "prometheus" / "rules" / "spark-triggers.yml"
    doc = trigger_rules.rules_file(catalog, window=SANDBOX_TRIGGER_WINDOW)
    path.write_text(trigger_rules.to_yaml(doc))
    _reload_prometheus(sandbox)
    return alert


def _alert_rules_loaded(sandbox: Sandbox) -> set[str]:
    import httpx

    url = f"{sandbox.endpoints.prometheus_url}/api/v1/rules"
    groups = httpx.get(url, params={"type": "alert"}, timeout=HTTP_TIMEOUT_S).json()["data"]
    return {r["name"] for g in groups["groups"] for r in g["rules"]}


def _reload_prometheus(sandbox: Sandbox) -> None:
    import os
    import signal

    rec = sandbox.record("prometheus")
    if rec is None or not c.is_alive(rec):
        raise _error("prometheus is not running: cannot reload its rules")
    os.kill(rec.pid, signal.SIGHUP)  # Prometheus reloads config and rules on SIGHUP


def _static_rule_file(sandbox: Sandbox, alert: str) -> Path:
    """The sandbox's own rules file (not the generated trigger rules) holding alert."""
    import yaml

    for path in sorted((sandbox.layout.state_dir / "prometheus" / "rules").glob("*.yml")):
        if path.name == "spark-triggers.yml":
            continue
        doc = yaml.safe_load(path.read_text()) or {}
        for group in doc.get("groups", []):
            if any(r.get("alert") == alert for r in group.get("rules", [])):
                return path
    raise _error(f"no trigger and no alert rule named {alert!r}")


def _without_alert(sandbox: Sandbox, alert: str) -> None:
    import yaml

    path = _static_rule_file(sandbox, alert)
    doc = yaml.safe_load(path.read_text())
    for group in doc["groups"]:
        group["rules"] = [r for r in group["rules"] if r.get("alert") != alert]
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    _reload_prometheus(sandbox)


def _rule_removed_apply(sandbox: Sandbox, value: str = "T01", timeout: float = 15.0) -> Data:
    """value: a trigger id (its generated rule goes) or the name of one of the sandbox's
    own alerts (e.g. SparkApiInstanceDown, CH-03)."""
    if value.startswith("T"):
        alert = _write_trigger_rules(sandbox, value)
        data = {"trigger": value, "alert": alert}
    else:
        alert, data = value, {"alert": value, "file": _static_rule_file(sandbox, value).name}
        _without_alert(sandbox, value)
    c.wait_until(
        f"alert rule {alert} unloaded",
        lambda: alert not in _alert_rules_loaded(sandbox),
        timeout,
        interval=0.2,
    )
    return data


def _rule_removed_revert(sandbox: Sandbox, data: Data, timeout: float = 15.0) -> None:
    from .launcher import PROMETHEUS_DIR

    if data.get("file"):
        rules = sandbox.layout.state_dir / "prometheus" / "rules"
        shutil.copy(PROMETHEUS_DIR / "rules" / data["file"], rules / data["file"])
        _reload_prometheus(sandbox)
    else:
        _write_trigger_rules(sandbox, None)
    alert = data.get("alert")
    if alert:
        c.wait_until(
            f"alert rule {alert} reloaded",
            lambda: alert in _alert_rules_loaded(sandbox),
            timeout,
            interval=0.2,
        )


CHAOS_SWITCHES: list[Fault] = [
    Fault(
        "alert-rule-removed",
        "an alerting rule removed from Prometheus (value: trigger id, T01, or alert name)",
        ("CH-02", "CH-03", "CH-05", "CH-06"),
        _rule_removed_apply,
        _rule_removed_revert,
    ),
]


# --- the registry


def _app(name: str, description: str, targets: tuple[str, ...], **kw: Any) -> Fault:
    apply, revert = app_fault(name, **kw)
    return Fault(name, description, targets, apply, revert, kind="app")


_INSTANCE_2 = (1,)
#: API_INSTANCES of the launcher: the release under test, HAProxy's canary backend.
_CANARY_TRACK = (0, 1)
#: ...and stable-1 (index 2): faults of the platform, not of one release's instances.
_EVERY_INSTANCE = (0, 1, 2)


#: canary fault -> the app fault it switches on the canary track
CANARY_APP_FAULTS = {
    "canary-latency": "latency",
    "canary-5xx": "error-ratio",
    "canary-float-prices": "price-through-float",
    "canary-memory-leak": "memory-leak",
    "canary-ws-storm": "ws-storm",
}


def _canary(name: str, description: str, targets: tuple[str, ...]) -> Fault:
    """A canary fault: an app fault on the canary track, aimed at rollback triggers."""
    apply, revert = app_fault(CANARY_APP_FAULTS[name], instances=_CANARY_TRACK)
    return Fault(name, description, targets, apply, revert, kind="app")


# Contract breaks (CONTRACTS.md "Proven both ways"): each breaks what a consumer's pact
# relies on; a pact not honoured is also a release that cannot be deployed (CT-03).
_CONTRACT_FAULTS: list[Fault] = [
    _app("contract-field-renamed", "order responses rename status to state", ("CT-01", "CT-03")),
    _app("order-created-200", "POST /orders answers 200 instead of 201", ("CT-01", "CT-03")),
    _app(
        "idempotency-error-changed",
        "a missing Idempotency-Key gets 422 {error} instead of a 400 problem+json",
        ("CT-01", "CT-03"),
    ),
    _app("event-field-missing", "OrderAccepted events lack quantity", ("CT-02", "CT-03")),
    _app("event-type-renamed", "the order event type is OrderCreated", ("CT-02", "CT-03")),
]

_ALL: list[Fault] = [
    # app-level, through the control endpoint
    _app("csp-unsafe-inline", "API adds 'unsafe-inline' to script-src", ("BS-05",)),
    _app("csp-removed", "API sends no Content-Security-Policy header", ("BS-05",)),
    _app("csp-report-only", "API sends the CSP only as Report-Only", ("BS-05",)),
    _app("header-removed", "API drops one security header (X-Content-Type-Options)", ("PF-05",)),
    _app("hsts-short", "HSTS max-age=31535999", ("RT-04",)),
    _app("hsts-no-preload", "HSTS without preload", ("RT-04",)),
    _app("asset-without-corp", "a static asset lacks CORP under COEP require-corp", ("RT-05",)),
    _app("api-floats", "API returns money as JSON numbers", ("BS-04", "CT-01", "CT-03")),
    _app("price-through-float", "API passes prices through a float", ("RT-06",)),
    # platform-wide: every instance (the stable track's relay, purge and metrics too)
    _app(
        "metric-family-missing",
        "API stops exporting one metric family",
        ("BS-06",),
        instances=_EVERY_INSTANCE,
    ),
    _app("new-flag-on", "a flag new in this release defaults ON", ("BS-07",)),
    _app("version-old", "instance 2 reports version 1.3.1", ("PF-01",), instances=_INSTANCE_2),
    _app(
        "flags-stale", "instance 2 serves a stale flag snapshot", ("PF-07",), instances=_INSTANCE_2
    ),
    _app("relay-stopped", "the outbox relay stops", ("RT-03",), instances=_EVERY_INSTANCE),
    _app(
        "relay-dedupe-off",
        "a relay resumed after a stall re-delivers events it had already delivered",
        ("CH-04",),
        instances=_EVERY_INSTANCE,
    ),
    _app(
        "purge-stopped",
        "the idempotency-key purge stops (expired keys remain)",
        ("RT-02",),
        instances=_EVERY_INSTANCE,
    ),
    _app("leak-connections", "API holds DB transactions open (connection leak)", ("RT-07",)),
    # canary faults: the release's instances (the canary track) only; they target triggers
    _canary("canary-latency", "canary answers 0.5 s slower", ("T01",)),
    _canary("canary-5xx", "canary answers 10 % of requests 503", ("T02",)),
    _canary("canary-float-prices", "canary stores prices via a float", ("T14",)),
    _canary("canary-memory-leak", "canary RSS grows 4 MiB/s", ("T09",)),
    _canary("canary-ws-storm", "canary drops every price-feed socket", ("T13",)),
    Fault(
        "no-idempotency-unique",
        "UNIQUE constraint on idempotency_keys.key dropped; API does check-then-insert",
        ("RT-02", "CH-01"),
        _no_unique_apply,
        _no_unique_revert,
        kind="mixed",
    ),
    Fault(
        "error-burst",
        "every API request answers 503 while load continues (a 5xx burst)",
        ("BS-08",),
        _burst_apply,
        _burst_revert,
        kind="mixed",
    ),
    # stack-level
    Fault(
        "api-faketime",
        "API instance 1 restarted under libfaketime +5 s",
        ("BS-01",),
        _faketime_apply,
        _faketime_revert,
    ),
    Fault("ntp-unreachable", "chronyd stopped", ("PF-02",), _ntp_apply, _ntp_revert),
    Fault(
        "migration-behind",
        "the latest migration's record removed: database one migration behind",
        ("BS-02",),
        _migration_behind_apply,
        _migration_behind_revert,
    ),
    Fault(
        "price-column-double",
        "orders.price altered to double precision",
        ("BS-04",),
        _price_double_apply,
        _price_double_revert,
    ),
    Fault(
        "pgbouncer-session-mode",
        "PgBouncer pool_mode=session",
        ("BS-03",),
        _pgb_session_apply,
        _pgb_revert,
    ),
    Fault(
        "pgbouncer-user-session-mode",
        "PgBouncer [users] spark_app = pool_mode=session (global pool_mode stays transaction)",
        ("BS-03",),
        _pgb_user_session_apply,
        _pgb_user_revert,
    ),
    Fault(
        "pgbouncer-no-query-wait-timeout",
        "PgBouncer query_wait_timeout=0 (clients queue forever)",
        ("BS-03",),
        _pgb_no_wait_apply,
        _pgb_revert,
    ),
    Fault(
        "db-connections-held",
        "idle connections held until PostgreSQL is over 80 % of max_connections",
        ("PF-03",),
        _held_apply,
        _held_revert,
    ),
    Fault(
        "pending-migration-failing",
        "a pending migration that fails when applied",
        ("PF-04",),
        _pending_apply_for("failing"),
        _pending_revert,
    ),
    Fault(
        "pending-migration-dangerous",
        "a pending migration with long exclusive locks (lint)",
        ("PF-04",),
        _pending_apply_for("dangerous"),
        _pending_revert,
    ),
    Fault(
        "sequence-near-int4-limit",
        "orders_id_seq set to 90 % of the int4 column's range",
        ("PF-06",),
        _sequence_apply,
        _sequence_revert,
    ),
    Fault(
        "sequence-text-default-near-int4-limit",
        "an int4 column fed by DEFAULT nextval('s'::text) (no pg_depend row) "
        "from a bigint sequence at 90 % of int4",
        ("PF-06",),
        _text_default_apply,
        _text_default_revert,
    ),
    Fault(
        "positions-index-dropped",
        "the partial unique index on open positions dropped",
        ("RT-01",),
        _index_apply_for(),
        _index_revert,
    ),
    Fault(
        "positions-index-nondeterministic",
        "the open-position index rebuilt with a case-insensitive ICU collation",
        ("RT-01",),
        _index_apply_for(*NONDETERMINISTIC_INDEX),
        _index_revert,
    ),
    Fault(
        "positions-index-predicate-changed",
        "the open-position index predicate changed to status <> 'closed'",
        ("RT-01",),
        _index_apply_for(*PREDICATE_CHANGED_INDEX),
        _index_revert,
    ),
    Fault(
        "scrape-target-stopped",
        "API instance 2 stopped: its Prometheus target is down",
        ("PF-08",),
        _scrape_stop_apply,
        _scrape_stop_revert,
    ),
    Fault(
        "no-traffic",
        "load generator paused: no requests, no canary data",
        ("PF-09",),
        _no_traffic_apply,
        _no_traffic_revert,
    ),
    Fault(
        "archive-command-failing",
        "archive_command set to 'false': WAL archiving fails",
        ("RT-08",),
        _archive_fail_apply,
        _archive_fail_revert,
    ),
    Fault(
        "archive-command-noop",
        "archive_command set to '/bin/true': segments count as archived, none is copied",
        ("RT-08",),
        _archive_noop_apply,
        _archive_fail_revert,
    ),
    Fault(
        "slo-silence",
        "an active Alertmanager silence on SparkErrorBudgetFastBurn",
        ("RT-09",),
        _silence_apply,
        _silence_revert,
    ),
    Fault(
        "sbom-missing",
        "the SBOM file is missing",
        ("BS-09",),
        _sbom_apply_for("missing"),
        _sbom_revert,
    ),
    Fault(
        "sbom-invalid",
        "the SBOM is not valid CycloneDX 1.6",
        ("BS-09",),
        _sbom_apply_for("invalid"),
        _sbom_revert,
    ),
    Fault(
        "sbom-wrong-version",
        "the SBOM describes release 1.3.1",
        ("BS-09",),
        _sbom_apply_for("wrong-version"),
        _sbom_revert,
    ),
    Fault(
        "sbom-duplicate-bom-ref",
        "the SBOM's first component reuses metadata.component's bom-ref (schema-valid)",
        ("BS-09",),
        _sbom_apply_for("duplicate-bom-ref"),
        _sbom_revert,
    ),
    Fault(
        "sbom-other-build",
        "the SBOM comes from another build (other git sha and package pins)",
        ("RT-10",),
        _sbom_apply_for("other-build"),
        _sbom_revert,
    ),
]

FAULTS: dict[str, Fault] = {f.name: f for f in (*_ALL, *_CONTRACT_FAULTS, *CHAOS_SWITCHES)}


def get_fault(name: str) -> Fault:
    """The fault called name, or a SandboxError listing the known ones."""
    try:
        return FAULTS[name]
    except KeyError:
        known = ", ".join(sorted(FAULTS))
        raise _error(f"unknown fault {name!r}; known faults: {known}") from None


def faults_for(check_id: str) -> list[Fault]:
    """Faults that check_id must catch."""
    return [f for f in FAULTS.values() if check_id in f.targets]


def _main(argv: list[str]) -> int:
    """Helper-process entry points (the connection holder)."""
    import os

    if len(argv) == 2 and argv[0] == "hold-connections":
        hold_connections(int(argv[1]), os.environ["SPARK_HOLD_DSN"])
        return 0
    print("usage: python -m pytest_spark.sandbox.faults hold-connections N", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
