"""Each fault injects (observable) and reverts (observably healthy again)."""

from __future__ import annotations

import json
import time
import uuid
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx
import ntplib
import psycopg
import pytest
from _sandbox_helpers import eventually, promql

from pytest_spark import catalog
from pytest_spark.sandbox.faults import CANARY_APP_FAULTS, FAULTS, get_fault
from pytest_spark.sandbox.launcher import Endpoints, Sandbox, SandboxError
from pytest_spark.sandbox.migrate import latest_version
from pytest_spark.sandbox.sbom import build_sha

INT4_MAX = 2**31 - 1


def sql(endpoints: Endpoints, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(endpoints.db_dsn, autocommit=True, connect_timeout=5) as conn:
        return conn.execute(query, params or None).fetchall()


def one(endpoints: Endpoints, query: str, params: tuple[Any, ...] = ()) -> Any:
    return sql(endpoints, query, params)[0][0]


# --- the registry ---------------------------------------------------------------------


def test_every_check_has_a_fault() -> None:
    """Every check id and every canary-fault trigger has a fault; the canary gates are proven
    with the canary faults (they target the triggers the gates evaluate: T01, T02, ...)."""
    targeted = {t for f in FAULTS.values() for t in f.targets}
    gates = {c.id for c in catalog.CHECKS if c.suite == catalog.Suite.CANARY}
    ids = {c.id for c in catalog.CHECKS} - gates | {"T01", "T02", "T09", "T13", "T14"}
    assert ids - targeted == set()
    assert targeted - ids == set()


def test_unknown_fault_is_a_clear_error(sandbox: Sandbox) -> None:
    with pytest.raises(SandboxError, match="unknown fault 'nope'; known faults: "):
        sandbox.apply_fault("nope")


def test_inject_reverts_even_when_the_body_raises(sandbox: Sandbox) -> None:
    with pytest.raises(RuntimeError), sandbox.inject("pending-migration-failing"):
        assert "pending-migration-failing" in sandbox.active_faults()
        raise RuntimeError("test body failed")
    assert sandbox.active_faults() == {}
    assert list(Path(sandbox.endpoints.pending_migrations_dir).iterdir()) == []


def test_double_apply_is_refused(sandbox: Sandbox) -> None:
    with (
        sandbox.inject("pending-migration-dangerous"),
        pytest.raises(SandboxError, match="already active"),
    ):
        sandbox.apply_fault("pending-migration-dangerous")


def test_fault_applied_by_another_process_can_be_reverted(sandbox: Sandbox) -> None:
    other = Sandbox.attach(sandbox.state_dir)
    other.apply_fault("no-traffic")
    assert "no-traffic" in sandbox.active_faults()
    sandbox.revert_fault("no-traffic")
    assert not sandbox.layout.loadgen_pause.exists()


# --- time ----------------------------------------------------------------------------


def _date_skew(url: str) -> float:
    """API Date header minus local time; the header has 1 s resolution and uvicorn
    refreshes it once a second, so a healthy clock reads between about -2 s and 0 s."""
    before = time.time()
    resp = httpx.get(f"{url}/version", timeout=5)
    after = time.time()
    return parsedate_to_datetime(resp.headers["date"]).timestamp() - (before + after) / 2


def test_api_faketime(sandbox: Sandbox, endpoints: Endpoints) -> None:
    api1 = endpoints.api_urls[0]
    assert -2.5 < _date_skew(api1) < 0.5
    with sandbox.inject("api-faketime"):
        assert _date_skew(api1) > 2.5
        assert -2.5 < _date_skew(endpoints.api_urls[1]) < 0.5
    assert -2.5 < _date_skew(api1) < 0.5


def test_ntp_unreachable(sandbox: Sandbox, endpoints: Endpoints) -> None:
    host, port = endpoints.ntp_server.rsplit(":", 1)

    def query() -> ntplib.NTPStats:
        return ntplib.NTPClient().request(host, port=int(port), version=4, timeout=1)

    assert query().stratum == 8
    with sandbox.inject("ntp-unreachable"), pytest.raises(ntplib.NTPException):
        query()
    assert query().stratum == 8


# --- database ------------------------------------------------------------------------


def test_migration_behind(sandbox: Sandbox, endpoints: Endpoints) -> None:
    latest = latest_version(endpoints.migrations_dir)
    query = "SELECT max(version) FROM schema_migrations WHERE success"
    assert one(endpoints, query) == latest
    with sandbox.inject("migration-behind"):
        assert one(endpoints, query) == latest - 1
    assert one(endpoints, query) == latest


def test_price_column_double(sandbox: Sandbox, endpoints: Endpoints) -> None:
    query = (
        "SELECT data_type, numeric_scale FROM information_schema.columns"
        " WHERE table_name = 'orders' AND column_name = 'price'"
    )
    assert sql(endpoints, query) == [("numeric", 8)]
    with sandbox.inject("price-column-double"):
        assert sql(endpoints, query)[0][0] == "double precision"
    assert sql(endpoints, query) == [("numeric", 8)]


def _pgbouncer_config(endpoints: Endpoints) -> dict[str, str]:
    with psycopg.connect(
        endpoints.pgbouncer_admin_dsn,
        autocommit=True,
        connect_timeout=5,
        cursor_factory=psycopg.ClientCursor,
    ) as conn:
        return {r[0]: r[1] for r in conn.execute("SHOW CONFIG").fetchall()}


@pytest.mark.parametrize(
    ("fault", "key", "bad"),
    [
        ("pgbouncer-session-mode", "pool_mode", "session"),
        ("pgbouncer-no-query-wait-timeout", "query_wait_timeout", "0"),
    ],
)
def test_pgbouncer_faults(
    sandbox: Sandbox, endpoints: Endpoints, fault: str, key: str, bad: str
) -> None:
    healthy = _pgbouncer_config(endpoints)[key]
    assert healthy != bad
    with sandbox.inject(fault):
        assert _pgbouncer_config(endpoints)[key] == bad
        with psycopg.connect(endpoints.pgbouncer_dsn, connect_timeout=5) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    assert _pgbouncer_config(endpoints)[key] == healthy


def _show_users(endpoints: Endpoints) -> dict[str, str | None]:
    with psycopg.connect(
        endpoints.pgbouncer_admin_dsn,
        autocommit=True,
        connect_timeout=5,
        cursor_factory=psycopg.ClientCursor,
    ) as conn:
        cur = conn.execute("SHOW USERS")
        cols = [d.name for d in cur.description or ()]
        return {r[0]: r[cols.index("pool_mode")] for r in cur.fetchall()}


def test_pgbouncer_user_session_mode(sandbox: Sandbox, endpoints: Endpoints) -> None:
    """A per-user override; the global pool_mode stays transaction. PgBouncer 1.18 keeps
    the override when the [users] line goes and the config reloads: the revert resets it
    (without a restart, so the API's pooled connections survive)."""
    assert not _show_users(endpoints).get("spark_app")
    pid = sandbox.record("pgbouncer").pid
    with sandbox.inject("pgbouncer-user-session-mode"):
        assert _show_users(endpoints)["spark_app"] == "session"
        assert _pgbouncer_config(endpoints)["pool_mode"] == "transaction"
        with psycopg.connect(endpoints.pgbouncer_dsn, connect_timeout=5) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    assert not _show_users(endpoints).get("spark_app")
    assert sandbox.record("pgbouncer").pid == pid  # not restarted: app connections kept
    with psycopg.connect(endpoints.pgbouncer_dsn, connect_timeout=5) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def _connection_usage(endpoints: Endpoints) -> float:
    used = one(
        endpoints, "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"
    )
    return used / int(one(endpoints, "SHOW max_connections"))


def test_db_connections_held(sandbox: Sandbox, endpoints: Endpoints) -> None:
    assert _connection_usage(endpoints) < 0.8
    with sandbox.inject("db-connections-held"):
        assert _connection_usage(endpoints) > 0.8
    assert _connection_usage(endpoints) < 0.8


@pytest.mark.parametrize("kind", ["failing", "dangerous"])
def test_pending_migrations(sandbox: Sandbox, endpoints: Endpoints, kind: str) -> None:
    pending = Path(endpoints.pending_migrations_dir)
    assert list(pending.iterdir()) == []
    with sandbox.inject(f"pending-migration-{kind}"):
        files = [p.name for p in pending.iterdir()]
        assert files and all(f.endswith(".sql") for f in files)
        versions = {int(f.split("_")[0]) for f in files}
        assert versions == {latest_version(endpoints.migrations_dir) + 1}
    assert list(pending.iterdir()) == []


def _order(endpoints: Endpoints) -> int:
    body = {"account": "ACC-2", "symbol": "AAPL", "side": "buy", "price": "190.01", "quantity": "3"}
    resp = httpx.post(
        f"{endpoints.api_urls[0]}/orders",
        json=body,
        headers={"Idempotency-Key": str(uuid.uuid4())},
        timeout=5,
    )
    assert resp.status_code == 201, resp.text
    return int(resp.json()["id"])


def test_sequence_near_int4_limit(sandbox: Sandbox, endpoints: Endpoints) -> None:
    query = "SELECT last_value FROM orders_id_seq"
    assert one(endpoints, query) / INT4_MAX < 0.7
    with sandbox.inject("sequence-near-int4-limit"):
        assert one(endpoints, query) / INT4_MAX >= 0.9
        during = _order(endpoints)
        assert during / INT4_MAX >= 0.9
    assert one(endpoints, query) / INT4_MAX < 0.7
    assert one(endpoints, "SELECT max(id) FROM orders") / INT4_MAX < 0.7
    # the order made during the fault survived, renumbered, and its key follows it
    assert one(endpoints, "SELECT count(*) FROM orders WHERE id = %s", (during,)) == 0
    assert _order(endpoints) / INT4_MAX < 0.7


def test_sequence_text_default_near_int4_limit(sandbox: Sandbox, endpoints: Endpoints) -> None:
    links = """SELECT count(*) FROM pg_depend d JOIN pg_attrdef ad ON ad.oid = d.objid
        WHERE d.classid = 'pg_attrdef'::regclass AND ad.adrelid = 'spark_fault_tickets'::regclass
          AND d.refclassid = 'pg_class'::regclass AND d.refobjsubid = 0"""
    with sandbox.inject("sequence-text-default-near-int4-limit"):
        assert one(endpoints, links) == 0  # the point of the fault: no dependency row
        seq = one(endpoints, "SELECT last_value FROM spark_fault_ticket_seq")
        assert seq / INT4_MAX >= 0.9
    assert one(endpoints, "SELECT to_regclass('spark_fault_tickets')") is None
    assert one(endpoints, "SELECT to_regclass('spark_fault_ticket_seq')") is None


INDEX_QUERY = """
SELECT i.indisunique, i.indisvalid, pg_get_expr(i.indpred, i.indrelid),
       bool_and(coalesce(col.collisdeterministic, true))
FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
LEFT JOIN LATERAL unnest(i.indcollation) AS k(coll) ON true
LEFT JOIN pg_collation col ON col.oid = k.coll
WHERE c.relname = 'positions_one_open_uq'
GROUP BY 1, 2, 3
"""
HEALTHY_INDEX = [(True, True, "(status = 'open'::text)", True)]


@pytest.mark.parametrize(
    ("fault", "broken"),
    [
        ("positions-index-dropped", []),
        ("positions-index-nondeterministic", [(True, True, "(status = 'open'::text)", False)]),
        ("positions-index-predicate-changed", [(True, True, "(status <> 'closed'::text)", True)]),
    ],
)
def test_positions_index_faults(
    sandbox: Sandbox, endpoints: Endpoints, fault: str, broken: list[Any]
) -> None:
    assert sql(endpoints, INDEX_QUERY) == HEALTHY_INDEX
    with sandbox.inject(fault):
        assert sql(endpoints, INDEX_QUERY) == broken
    assert sql(endpoints, INDEX_QUERY) == HEALTHY_INDEX


def test_no_idempotency_unique(sandbox: Sandbox, endpoints: Endpoints) -> None:
    query = "SELECT count(*) FROM pg_constraint WHERE conname = 'idempotency_keys_key_uq'"
    assert one(endpoints, query) == 1
    with sandbox.inject("no-idempotency-unique"):
        assert one(endpoints, query) == 0
        _order(endpoints)  # the API keeps working without the constraint
    assert one(endpoints, query) == 1
    _order(endpoints)


def _archiver_healthy(endpoints: Endpoints) -> bool:
    ok, failed = sql(
        endpoints, "SELECT last_archived_time, last_failed_time FROM pg_stat_archiver"
    )[0]
    return ok is not None and (failed is None or ok > failed)


def test_archive_command_failing(sandbox: Sandbox, endpoints: Endpoints) -> None:
    eventually(lambda: _archiver_healthy(endpoints), timeout=15)
    with sandbox.inject("archive-command-failing"):
        assert not _archiver_healthy(endpoints)
        assert one(endpoints, "SHOW archive_command") == "false"
    assert _archiver_healthy(endpoints)
    assert one(endpoints, "SHOW archive_command").startswith("test ! -f")


# --- monitoring ----------------------------------------------------------------------


def test_scrape_target_stopped(sandbox: Sandbox, endpoints: Endpoints) -> None:
    def up_values() -> list[str]:
        return sorted(r["value"][1] for r in promql(endpoints, 'up{job="spark-api"}'))

    assert up_values() == ["1", "1", "1"]
    with sandbox.inject("scrape-target-stopped"):
        assert up_values() == ["0", "1", "1"]
    assert up_values() == ["1", "1", "1"]


def _requests_served(url: str) -> float:
    """Sum of the API's request counter, scrapes and health checks excluded."""
    total = 0.0
    for line in httpx.get(f"{url}/metrics", timeout=5).text.splitlines():
        internal = 'route="/metrics"' in line or 'route="/healthz"' in line
        if line.startswith("spark_http_requests_total{") and not internal:
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_no_traffic(sandbox: Sandbox, endpoints: Endpoints) -> None:
    def served() -> float:
        return sum(_requests_served(u) for u in endpoints.api_urls)

    start = served()
    eventually(lambda: served() > start, timeout=10, interval=0.3)
    with sandbox.inject("no-traffic", wait_s=0.5):
        paused = served()
        time.sleep(1.5)
        assert served() == paused
    eventually(lambda: served() > paused, timeout=10, interval=0.3)


def test_slo_silence(sandbox: Sandbox, endpoints: Endpoints) -> None:
    def active_silences() -> list[dict[str, Any]]:
        resp = httpx.get(f"{endpoints.alertmanager_url}/api/v2/silences", timeout=5)
        return [s for s in resp.json() if s["status"]["state"] == "active"]

    assert active_silences() == []
    with sandbox.inject("slo-silence"):
        (silence,) = active_silences()
        assert {"name": "alertname", "value": "SparkErrorBudgetFastBurn"}.items() <= silence[
            "matchers"
        ][0].items()
    assert active_silences() == []


def test_error_burst_fires_the_fast_burn_alert(sandbox: Sandbox, endpoints: Endpoints) -> None:
    fast = "slo:burn_rate:ratio_rate5m"
    assert float(promql(endpoints, fast)[0]["value"][1]) < 14.4
    with sandbox.inject("error-burst"):
        resp = httpx.get(f"{endpoints.api_urls[0]}/quotes", timeout=5)
        assert resp.status_code == 503
        firing = 'ALERTS{alertname="SparkErrorBudgetFastBurn", alertstate="firing"}'
        eventually(lambda: promql(endpoints, firing), timeout=15)

        def in_alertmanager() -> bool:
            alerts = httpx.get(f"{endpoints.alertmanager_url}/api/v2/alerts", timeout=5).json()
            return any(a["labels"]["alertname"] == "SparkErrorBudgetFastBurn" for a in alerts)

        eventually(in_alertmanager, timeout=15)
    assert httpx.get(f"{endpoints.api_urls[0]}/quotes", timeout=5).status_code == 200
    eventually(lambda: promql(endpoints, fast), timeout=15)
    assert float(promql(endpoints, fast)[0]["value"][1]) < 14.4
    assert float(promql(endpoints, "slo:error_budget_remaining:ratio30d")[0]["value"][1]) > 0
    active = httpx.get(
        f"{endpoints.alertmanager_url}/api/v2/alerts", params={"active": "true"}, timeout=5
    ).json()
    assert [a["labels"]["alertname"] for a in active] == []


# --- SBOM ----------------------------------------------------------------------------


def _sbom(endpoints: Endpoints) -> dict[str, Any] | None:
    path = Path(endpoints.sbom_path)
    return json.loads(path.read_text()) if path.exists() else None


@pytest.mark.parametrize(
    ("fault", "broken"),
    [
        ("sbom-missing", lambda bom, ep: bom is None),
        ("sbom-invalid", lambda bom, ep: not isinstance(bom["version"], int)),
        (
            "sbom-wrong-version",
            lambda bom, ep: bom["metadata"]["component"]["version"] == "1.3.1",
        ),
        ("sbom-other-build", lambda bom, ep: build_sha(bom) not in (None, ep.git_sha)),
        (
            "sbom-duplicate-bom-ref",
            lambda bom, ep: (
                bom["components"][0]["bom-ref"] == bom["metadata"]["component"]["bom-ref"]
            ),
        ),
    ],
)
def test_sbom_faults(sandbox: Sandbox, endpoints: Endpoints, fault: str, broken: Any) -> None:
    original = Path(endpoints.sbom_path).read_bytes()
    assert build_sha(_sbom(endpoints) or {}) == endpoints.git_sha
    with sandbox.inject(fault):
        assert broken(_sbom(endpoints), endpoints)
    assert Path(endpoints.sbom_path).read_bytes() == original


# --- app-level faults through the control endpoint -------------------------------------


def test_csp_unsafe_inline(sandbox: Sandbox, endpoints: Endpoints) -> None:
    def script_src(url: str) -> str:
        csp = httpx.get(f"{url}/", timeout=5).headers["content-security-policy"]
        return next(d for d in csp.split(";") if d.strip().startswith("script-src"))

    assert all("'unsafe-inline'" not in script_src(u) for u in endpoints.api_urls)
    with sandbox.inject("csp-unsafe-inline"):
        assert all("'unsafe-inline'" in script_src(u) for u in endpoints.api_urls)
    assert all("'unsafe-inline'" not in script_src(u) for u in endpoints.api_urls)


def test_version_old_hits_instance_two_only(sandbox: Sandbox, endpoints: Endpoints) -> None:
    def versions() -> list[str]:
        return [httpx.get(f"{u}/version", timeout=5).json()["version"] for u in endpoints.api_urls]

    assert versions() == ["1.4.0", "1.4.0"]
    with sandbox.inject("version-old"):
        assert versions() == ["1.4.0", "1.3.1"]
    assert versions() == ["1.4.0", "1.4.0"]


def test_header_removed(sandbox: Sandbox, endpoints: Endpoints) -> None:
    url = endpoints.api_urls[0]
    assert httpx.get(url, timeout=5).headers.get("x-content-type-options") == "nosniff"
    with sandbox.inject("header-removed"):
        assert "x-content-type-options" not in httpx.get(url, timeout=5).headers
    assert httpx.get(url, timeout=5).headers.get("x-content-type-options") == "nosniff"


APP_FAULTS = sorted(name for name, fault in FAULTS.items() if fault.kind == "app")


def _active_app_faults(sandbox: Sandbox) -> list[set[str]]:
    out = []
    urls = sandbox.endpoints.api_urls
    for url, token in zip(urls, sandbox.secret("control_tokens")[: len(urls)], strict=True):
        resp = httpx.get(f"{url}/__sandbox/faults", headers={"X-Sandbox-Token": token}, timeout=5)
        out.append(set(resp.json()["active"]))
    return out


@pytest.mark.parametrize("name", APP_FAULTS)
def test_app_fault_switches_through_the_control_endpoint(sandbox: Sandbox, name: str) -> None:
    assert _active_app_faults(sandbox) == [set(), set()]
    with sandbox.inject(name):
        active = _active_app_faults(sandbox)
        expected_on = [False, True] if name in ("version-old", "flags-stale") else [True, True]
        app_name = CANARY_APP_FAULTS.get(name, name)
        assert [app_name in a for a in active] == expected_on
    assert _active_app_faults(sandbox) == [set(), set()]


def test_fault_descriptions_name_their_checks() -> None:
    for name, fault in FAULTS.items():
        assert get_fault(name) is fault
        assert fault.description and fault.targets
        assert fault.kind in ("app", "stack", "mixed")
    assert len(APP_FAULTS) == 22 + len(CANARY_APP_FAULTS)  # 17 + 5 contract breaks + canary
