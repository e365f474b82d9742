"""BS-03 PgBouncer config and RT-07 pool sampling, on rows shaped like PgBouncer 1.18+."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_spark.rules.findings import codes
from pytest_spark.rules.pgbouncer import (
    PoolSample,
    client_count,
    evaluate_config,
    evaluate_pool_modes,
    evaluate_pools,
    parse_duration_s,
    parse_show_config,
    pool_pressure,
    sample_time,
    server_connection_bound,
)

T0 = datetime(2026, 5, 4, 12, 0, 0, tzinfo=UTC)

# SHOW CONFIG as psycopg returns it from the admin console (every value is text)
SHOW_CONFIG = [
    {"key": "pool_mode", "value": "transaction", "default": "session", "changeable": "yes"},
    {"key": "query_wait_timeout", "value": "120", "default": "120", "changeable": "yes"},
    {"key": "max_client_conn", "value": "500", "default": "100", "changeable": "yes"},
    {"key": "default_pool_size", "value": "20", "default": "20", "changeable": "yes"},
    {"key": "max_db_connections", "value": "0", "default": "0", "changeable": "yes"},
    {"key": "reserve_pool_size", "value": "0", "default": "0", "changeable": "yes"},
]


def cfg(**over: str) -> dict[str, str]:
    out = parse_show_config(SHOW_CONFIG)
    out.update(over)
    return out


def config_codes(c: dict[str, str], **kw: Any) -> list[str]:
    args: dict[str, Any] = {
        "pg_max_connections": 100,
        "reserved": 3,
        "n_databases": 1,
        "expected_app_connections": 200,
    }
    args.update(kw)
    return codes(evaluate_config(c, **args))


def pool(**over: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "database": "spark",
        "user": "spark_app",
        "cl_active": 4,
        "cl_waiting": 0,
        "cl_active_cancel_req": 0,
        "cl_waiting_cancel_req": 0,
        "sv_active": 1,
        "sv_active_cancel": 0,
        "sv_being_canceled": 0,
        "sv_idle": 3,
        "sv_used": 0,
        "sv_tested": 0,
        "sv_login": 0,
        "maxwait": 0,
        "maxwait_us": 0,
        "pool_mode": "transaction",
    }
    row.update(over)
    return row


ADMIN_POOL = pool(database="pgbouncer", user="pgbouncer", cl_active=1, pool_mode="statement")


def server(**over: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "type": "S",
        "user": "spark_app",
        "database": "spark",
        "state": "active",
        "addr": "127.0.0.1",
        "port": 5432,
        "connect_time": "2026-05-04 11:59:00 UTC",
        "request_time": "2026-05-04 11:59:59 UTC",
        "wait": 0,
        "wait_us": 0,
        "close_needed": 0,
        "ptr": "0x55d1a0",
        "link": "0x55c0ff",
        "remote_pid": 4242,
        "tls": "",
        "application_name": "spark-api",
    }
    row.update(over)
    return row


def client(n: int) -> list[dict[str, Any]]:
    rows = [{"type": "C", "database": "spark", "user": "spark_app", "state": "idle"}] * n
    return [*rows, {"type": "C", "database": "pgbouncer", "user": "admin", "state": "active"}]


def samples(counts: list[int], **pool_over: Any) -> list[PoolSample]:
    return [
        PoolSample(at=T0 + timedelta(seconds=i), pools=[ADMIN_POOL, pool(cl_active=c, **pool_over)])
        for i, c in enumerate(counts)
    ]


# --- SHOW CONFIG parsing ----------------------------------------------------------


def test_parse_show_config_dicts_and_tuples() -> None:
    assert parse_show_config(SHOW_CONFIG)["pool_mode"] == "transaction"
    assert parse_show_config([("pool_mode", "session", "session", "yes")]) == {
        "pool_mode": "session"
    }
    assert parse_show_config([{"key": "auth_file", "value": None}]) == {"auth_file": ""}


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("120", 120.0), ("0", 0.0), ("0.5", 0.5), ("500ms", 0.5), ("2min", 120.0), ("1h", 3600.0)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration_s(text) == pytest.approx(seconds)


def test_parse_duration_rejects_garbage() -> None:
    assert parse_duration_s("soon") is None
    assert parse_duration_s(True) is None
    assert parse_duration_s(3) == 3.0


# --- BS-03 -----------------------------------------------------------------------


def test_healthy_config_passes() -> None:
    assert config_codes(cfg()) == []


def test_session_pool_mode_fails() -> None:
    [f] = evaluate_config(
        cfg(pool_mode="session"),
        pg_max_connections=100,
        reserved=3,
        n_databases=1,
        expected_app_connections=200,
    )
    assert f.code == "pgbouncer-pool-mode"
    assert f.message == "pool_mode is session, expected transaction"


def test_expected_pool_mode_is_configurable() -> None:
    assert config_codes(cfg(pool_mode="session"), expected_pool_mode="session") == []


def test_zero_query_wait_timeout_fails() -> None:
    [f] = evaluate_config(
        cfg(query_wait_timeout="0"),
        pg_max_connections=100,
        reserved=3,
        n_databases=1,
        expected_app_connections=10,
    )
    assert f.code == "pgbouncer-query-wait-timeout" and "is 0" in f.message


def test_too_few_client_connections() -> None:
    [f] = evaluate_config(
        cfg(max_client_conn="100"),
        pg_max_connections=100,
        reserved=3,
        n_databases=1,
        expected_app_connections=250,
    )
    assert f.code == "pgbouncer-max-client-conn"
    assert "max_client_conn 100 < expected app connections 250" in f.message


def test_pools_oversubscribe_postgres() -> None:
    [f] = evaluate_config(
        cfg(default_pool_size="50"),
        pg_max_connections=100,
        reserved=3,
        n_databases=2,
        expected_app_connections=10,
    )
    assert f.code == "pgbouncer-pool-oversubscribed"
    assert "each of 2 database(s): (pool_size 50 + reserve 0) x 1 user+database pool(s)" in (
        f.message
    )
    assert "= 100 server connections" in f.message and "- reserved 3 = 97" in f.message


def test_pools_exactly_fit() -> None:
    assert config_codes(cfg(default_pool_size="97")) == []


def test_max_db_connections_caps_each_database() -> None:
    c = cfg(default_pool_size="50", max_db_connections="40")
    assert config_codes(c, n_databases=2) == []
    [f] = evaluate_config(
        c, pg_max_connections=100, reserved=30, n_databases=2, expected_app_connections=1
    )
    assert "capped by max_db_connections 40" in f.message


def test_missing_keys_are_reported() -> None:
    assert config_codes({}) == ["pgbouncer-config-missing"]


def test_every_fault_at_once() -> None:
    bad = cfg(pool_mode="statement", query_wait_timeout="0", max_client_conn="5")
    bad["default_pool_size"] = "x"
    assert config_codes(bad) == [
        "pgbouncer-pool-mode",
        "pgbouncer-query-wait-timeout",
        "pgbouncer-max-client-conn",
        "pgbouncer-pool-oversubscribed",
    ]


# --- BS-03: effective pool sizes (pgbouncer(5)) ------------------------------------


# SHOW DATABASES as PgBouncer 1.18 prints it (effective per-database values)
def db_row(name: str = "spark", **over: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "name": name,
        "host": "127.0.0.1",
        "port": 5432,
        "database": name,
        "force_user": None,
        "pool_size": 20,
        "min_pool_size": 0,
        "reserve_pool": 0,
        "pool_mode": None,
        "max_connections": 0,
        "current_connections": 0,
        "paused": 0,
        "disabled": 0,
    }
    row.update(over)
    return row


ADMIN_DB_ROW = db_row("pgbouncer", pool_size=2, pool_mode="statement", force_user="pgbouncer")


def test_reserve_pool_counts_towards_server_connections() -> None:
    """The issue's input: max_connections 100, 3 reserved, 90 + reserve 10 = 100 > 97."""
    c = cfg(default_pool_size="90", reserve_pool_size="10")
    [f] = evaluate_config(
        c, pg_max_connections=100, reserved=3, n_databases=1, expected_app_connections=10
    )
    assert f.code == "pgbouncer-pool-oversubscribed"
    assert "(pool_size 90 + reserve 10)" in f.message and "= 100 server connections" in f.message
    # the same figures read from SHOW DATABASES
    found = evaluate_config(
        c,
        pg_max_connections=100,
        reserved=3,
        n_databases=1,
        expected_app_connections=10,
        databases=[ADMIN_DB_ROW, db_row(pool_size=90, reserve_pool=10)],
    )
    assert codes(found) == ["pgbouncer-pool-oversubscribed"]
    assert "spark: (pool_size 90 + reserve 10) x 1 user+database pool(s)" in found[0].message


def test_one_pool_per_user_and_database() -> None:
    pools = [pool(user="spark_app"), pool(user="spark_report"), pool(database="pgbouncer")]
    bound = server_connection_bound(cfg(), databases=[db_row(pool_size=40)], pools=pools)
    assert bound is not None and bound[0] == 80
    assert "x 2 user+database pool(s)" in bound[1]
    found = evaluate_config(
        cfg(),
        pg_max_connections=100,
        reserved=3,
        n_databases=1,
        expected_app_connections=10,
        databases=[db_row(pool_size=40)],
        pools=[*pools, pool(user="spark_batch")],
    )
    assert codes(found) == ["pgbouncer-pool-oversubscribed"]  # 3 users x 40 = 120 > 97


def test_force_user_means_one_pool_and_per_database_sizes_add_up() -> None:
    pools = [pool(user="a"), pool(user="b")]
    dbs = [db_row("spark", pool_size=30, force_user="app"), db_row("reports", pool_size=50)]
    assert server_connection_bound(cfg(), databases=dbs, pools=pools)[0] == 80  # type: ignore[index]


@pytest.mark.parametrize(
    ("over", "db", "expected"),
    [
        ({}, {"pool_size": 60, "max_connections": 50}, 50),  # max_db_connections per database
        ({"max_user_connections": "25"}, {"pool_size": 60}, 25),  # one user, capped
        ({"reserve_pool_size": "5"}, {"pool_size": 60, "reserve_pool": 5}, 65),
    ],
)
def test_caps(over: dict[str, str], db: dict[str, Any], expected: int) -> None:
    bound = server_connection_bound(cfg(**over), databases=[db_row(**db)], pools=[pool()])
    assert bound is not None and bound[0] == expected


def test_newer_column_names_are_read() -> None:
    row = db_row(pool_size=10)
    del row["reserve_pool"], row["max_connections"]
    row.update(reserve_pool_size=7, max_db_connections=0)
    assert server_connection_bound(cfg(), databases=[row])[0] == 17  # type: ignore[index]


def test_newer_show_users_per_user_sizes_and_caps() -> None:
    """PgBouncer 1.24's SHOW USERS: a user's pool_size beats the database's; its
    max_user_connections caps it over every database."""
    pools = [pool(user="spark_app"), pool(user="batch")]
    big = [{"name": "batch", "pool_size": 80, "reserve_pool_size": 0, "pool_mode": None,
            "max_user_connections": 0}]  # fmt: skip
    bound = server_connection_bound(cfg(), databases=[db_row(pool_size=20)], pools=pools, users=big)
    assert bound is not None and bound[0] == 100  # 20 (spark_app) + 80 (batch)
    assert "= 100 with per-user pool sizes" in bound[1]
    capped = [{**big[0], "max_user_connections": 30}]
    bound = server_connection_bound(
        cfg(), databases=[db_row(pool_size=20)], pools=pools, users=capped
    )
    assert bound is not None and bound[0] == 50
    assert "capped by max_user_connections (batch 30)" in bound[1]
    # 1.18's SHOW USERS has only name and pool_mode: nothing changes
    plain = [{"name": "batch", "pool_mode": "session"}]
    bound = server_connection_bound(
        cfg(), databases=[db_row(pool_size=20)], pools=pools, users=plain
    )
    assert bound is not None and bound[0] == 40


# --- BS-03: effective pool mode ------------------------------------------------------

USERS = [{"name": "spark_admin", "pool_mode": None}, {"name": "pgbouncer", "pool_mode": ""}]


def test_user_pool_mode_override_fails() -> None:
    """The issue's input: [users] spark_app = pool_mode=session (SHOW USERS, PgBouncer 1.18)."""
    users = [*USERS, {"name": "spark_app", "pool_mode": "session"}]
    found = evaluate_pool_modes([pool(pool_mode="session")], users, "transaction")
    assert codes(found) == ["pgbouncer-user-pool-mode"]  # the pool is explained by it
    assert "user spark_app: pool_mode override is session" in found[0].message


def test_effective_mode_in_show_pools_fails() -> None:
    found = evaluate_pool_modes([pool(pool_mode="statement"), pool(user="ok")], USERS)
    assert codes(found) == ["pgbouncer-effective-pool-mode"]
    assert found[0].message == (
        "pool spark/spark_app runs in statement mode (SHOW POOLS), expected transaction"
    )


def test_healthy_pool_modes_pass() -> None:
    admin = pool(database="pgbouncer", user="pgbouncer", pool_mode="statement")
    assert evaluate_pool_modes([pool(pool_mode="transaction"), admin], USERS) == []
    # a wrong global mode is reported by evaluate_config, not again per pool
    assert evaluate_pool_modes([pool(pool_mode="session")], USERS, global_mode="session") == []


# --- pool pressure and client counts ---------------------------------------------


def test_pool_pressure_ignores_admin_pool_and_adds_microseconds() -> None:
    rows = [
        pool(cl_waiting=2, maxwait=0, maxwait_us=400000),
        pool(user="report", cl_waiting=1, maxwait=1, maxwait_us=250000),
        dict(ADMIN_POOL, cl_waiting=9, maxwait=99),
    ]
    assert pool_pressure(rows) == (3, pytest.approx(1.25))
    assert pool_pressure(rows, databases=["other"]) == (0, 0.0)


def test_client_count_prefers_show_clients() -> None:
    s = PoolSample(at=T0, pools=[pool(cl_active=4, cl_waiting=2)], clients=client(3))
    assert client_count(s) == 3
    assert client_count(PoolSample(at=T0, pools=[pool(cl_active=4, cl_waiting=2)])) == 6


def test_client_count_reads_pre_118_cancel_column() -> None:
    row = pool(cl_active=4)
    del row["cl_active_cancel_req"], row["cl_waiting_cancel_req"]
    row["cl_cancel_req"] = 1
    assert client_count({"at": T0, "pools": [row]}) == 5


def test_sample_time_parses_text() -> None:
    assert sample_time({"at": "2026-05-04 12:00:00 UTC", "pools": []}) == T0


# --- RT-07 -----------------------------------------------------------------------


def test_healthy_window_passes() -> None:
    assert evaluate_pools(samples([4, 5, 4, 6, 5])) == []


def test_no_samples_cannot_pass() -> None:
    assert codes(evaluate_pools([])) == ["pgbouncer-no-samples"]


def test_waiting_clients_fail_once_per_pool_with_worst_value() -> None:
    window = [
        PoolSample(at=T0, pools=[pool(cl_waiting=1)]),
        PoolSample(at=T0, pools=[pool(cl_waiting=3)]),
        PoolSample(at=T0, pools=[pool(cl_waiting=0)]),
    ]
    [f] = evaluate_pools(window)
    assert f.code == "pgbouncer-clients-waiting"
    assert f.message.startswith("pool spark/spark_app: 3 client(s) waiting")
    assert "sample 2 of 3" in f.message


def test_maxwait_over_a_second_fails() -> None:
    [f] = evaluate_pools([PoolSample(at=T0, pools=[pool(maxwait=1, maxwait_us=500000)])])
    assert f.code == "pgbouncer-maxwait" and "maxwait 1.500 s" in f.message
    assert evaluate_pools([PoolSample(at=T0, pools=[pool(maxwait=0, maxwait_us=999999)])]) == []


def test_admin_console_pool_is_ignored() -> None:
    busy_admin = dict(ADMIN_POOL, cl_waiting=5, maxwait=30)
    assert evaluate_pools([PoolSample(at=T0, pools=[busy_admin, pool()])]) == []


def test_server_held_by_idle_client_fails() -> None:
    stuck = server(request_time="2026-05-04 11:59:30 UTC")
    fresh = server(ptr="0x1", remote_pid=1, request_time="2026-05-04 11:59:59 UTC")
    idle = server(ptr="0x2", state="idle", link="", request_time="2026-05-04 10:00:00 UTC")
    window = [PoolSample(at=T0, pools=[pool()], servers=[stuck, fresh, idle])]
    [f] = evaluate_pools(window, idle_in_transaction_s=5)
    assert f.code == "pgbouncer-idle-in-transaction"
    # whole-second timestamps: 30 s measured, 29 s is the certain lower bound
    assert "backend pid 4242" in f.message and "29.0 s (limit 5 s)" in f.message


def test_one_second_resolution_never_causes_a_false_alarm() -> None:
    edge = server(request_time="2026-05-04 11:59:54 UTC")  # 6 s by the text, >= 5 s for sure
    assert evaluate_pools([PoolSample(at=T0, pools=[pool()], servers=[edge])]) == []


def test_backend_seen_through_pgbouncer_is_not_reported_twice() -> None:
    stuck = server(request_time="2026-05-04 11:59:00 UTC", remote_pid=4242)
    backend = {"pid": 4242, "datname": "spark", "state": "idle in transaction"}
    backend["xact_age_s"] = 61.0
    other = dict(backend, pid=4343)
    window = [PoolSample(at=T0, pools=[pool()], servers=[stuck], activity=[backend, other])]
    found = evaluate_pools(window)
    assert codes(found) == ["pgbouncer-idle-in-transaction"] * 2
    assert "backend pid 4242" in found[0].message and "backend pid 4343" in found[1].message


def test_server_request_time_as_datetime_is_accepted() -> None:
    stuck = server(request_time=T0 - timedelta(seconds=12))
    assert codes(evaluate_pools([PoolSample(at=T0, pools=[pool()], servers=[stuck])])) == [
        "pgbouncer-idle-in-transaction"
    ]


def test_idle_in_transaction_backend_from_pg_stat_activity() -> None:
    row = {
        "pid": 777,
        "datname": "spark",
        "usename": "spark_app",
        "application_name": "spark-api",
        "state": "idle in transaction",
        "xact_start": T0 - timedelta(seconds=40),
        "state_change": T0 - timedelta(seconds=39),
    }
    window = [
        PoolSample(at=T0 - timedelta(seconds=1), pools=[pool()], activity=[row]),
        PoolSample(at=T0, pools=[pool()], activity=[row]),
    ]
    [f] = evaluate_pools(window)
    assert f.code == "pgbouncer-idle-in-transaction"
    assert "backend pid 777" in f.message and "40.0 s" in f.message


def test_activity_rows_with_precomputed_age_and_database_filter() -> None:
    row = {"pid": 1, "datname": "other", "state": "idle in transaction (aborted)"}
    row["xact_age_s"] = 60.0
    window = [PoolSample(at=T0, pools=[pool()], activity=[row])]
    assert codes(evaluate_pools(window)) == ["pgbouncer-idle-in-transaction"]
    assert evaluate_pools(window, databases=["spark"]) == []
    short = dict(row, xact_age_s=1.0)
    assert evaluate_pools([PoolSample(at=T0, pools=[pool()], activity=[short])]) == []


def test_monotonic_client_growth_fails() -> None:
    [f] = evaluate_pools(samples([10, 14, 19, 25]))
    assert f.code == "pgbouncer-client-growth"
    assert "10 -> 14 -> 19 -> 25 over 4 samples (+15, limit +5)" in f.message


def test_growth_needs_three_samples_and_enough_rise() -> None:
    assert evaluate_pools(samples([10, 30])) == []
    assert evaluate_pools(samples([10, 11, 12, 13])) == []
    assert evaluate_pools(samples([10, 20, 15, 25])) == []


def test_growth_reports_the_steepest_qualifying_run() -> None:
    [f] = evaluate_pools(samples([30, 5, 8, 12, 20, 3]))
    assert "5 -> 8 -> 12 -> 20" in f.message
    [g] = evaluate_pools(samples([0, 1, 2, 3, 4, 5, 0, 50, 100]))
    assert "0 -> 50 -> 100 over 3 samples (+100" in g.message


def test_growth_counts_show_clients_rows_when_sampled() -> None:
    window = [
        PoolSample(at=T0 + timedelta(seconds=i), pools=[pool()], clients=client(n))
        for i, n in enumerate([2, 5, 9])
    ]
    assert codes(evaluate_pools(window)) == ["pgbouncer-client-growth"]


def test_mapping_samples_are_accepted() -> None:
    window = [{"at": T0, "pools": [pool(cl_waiting=1)]}]
    assert codes(evaluate_pools(window)) == ["pgbouncer-clients-waiting"]


@given(st.lists(st.integers(0, 200), min_size=0, max_size=12))
def test_growth_finding_iff_a_long_enough_rising_run(counts: list[int]) -> None:
    found = "pgbouncer-client-growth" in codes(evaluate_pools(samples(counts)))
    expected = False
    for i in range(len(counts)):
        j = i
        while j + 1 < len(counts) and counts[j + 1] > counts[j]:
            j += 1
            if j - i + 1 >= 3 and counts[j] - counts[i] > 5:
                expected = True
    assert found == expected


@given(
    st.lists(
        st.tuples(
            st.integers(0, 200),  # pool_size
            st.integers(0, 50),  # reserve_pool
            st.integers(0, 300),  # max_db_connections (0: none)
            st.sets(st.sampled_from(["a", "b", "c"]), max_size=3),  # users with pools
        ),
        min_size=1,
        max_size=4,
    ),
    st.integers(0, 300),
)
def test_bound_is_every_pool_full_unless_capped(dbs: list[Any], user_cap: int) -> None:
    rows = [
        db_row(f"db{i}", pool_size=s, reserve_pool=r, max_connections=c)
        for i, (s, r, c, _) in enumerate(dbs)
    ]
    pools = [pool(database=f"db{i}", user=u) for i, (*_, us) in enumerate(dbs) for u in us]
    full = sum((s + r) * max(1, len(us)) for s, r, _, us in dbs)
    uncapped = [db_row(f"db{i}", pool_size=s, reserve_pool=r) for i, (s, r, _, _) in enumerate(dbs)]
    assert server_connection_bound(cfg(), databases=uncapped, pools=pools)[0] == full  # type: ignore[index]
    capped = server_connection_bound(
        cfg(max_user_connections=str(user_cap)), databases=rows, pools=pools
    )
    assert capped is not None and 0 <= capped[0] <= full
