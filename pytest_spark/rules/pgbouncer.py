"""BS-03 and RT-07: PgBouncer is configured for the app, and the app does not leak.

BS-03 (static): transaction pooling (a session-mode pool pins one server
connection per client and runs out under load), a finite
``query_wait_timeout`` (0 means a client queues forever instead of getting an
error), room for every app connection, and pools that fit in PostgreSQL's
``max_connections`` after the reserved slots.

RT-07 (dynamic, over a short sampling window): a leaking app shows up as
clients queueing (``cl_waiting`` > 0, growing ``maxwait``), server
connections held by an idle transaction, and client connections that only
ever go up. Either PgBouncer's own view (``SHOW SERVERS``: an ``active``
server -- linked to a client -- whose last request is old) or PostgreSQL's
(``pg_stat_activity`` rows ``idle in transaction`` with an old
``xact_start``) is accepted; both when available.

Column names are those of PgBouncer 1.18 - 1.24 (``SHOW POOLS``: cl_active,
cl_waiting, cl_active_cancel_req, cl_waiting_cancel_req, sv_active, ...,
maxwait, maxwait_us, pool_mode; ``SHOW SERVERS`` / ``SHOW CLIENTS``: type,
user, database, state, addr, port, ..., connect_time, request_time, wait,
wait_us, ..., ptr, link, remote_pid, ...; ``SHOW CONFIG``: key, value,
default, changeable). Older cl_cancel_req is read when present.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .archiver import age_s, to_utc
from .findings import Finding
from .limits import exceeds, reaches

__all__ = [
    "PoolSample",
    "client_count",
    "evaluate_config",
    "evaluate_pool_modes",
    "evaluate_pools",
    "parse_duration_s",
    "parse_show_config",
    "pool_pressure",
    "sample_time",
    "server_connection_bound",
]

_ADMIN_DB = "pgbouncer"
_CLIENT_COLUMNS = ("cl_active", "cl_waiting", "cl_active_cancel_req", "cl_waiting_cancel_req")


def parse_show_config(rows: Iterable[Mapping[str, Any] | Sequence[Any]]) -> dict[str, str]:
    """``SHOW CONFIG`` rows (dicts with key/value, or tuples key, value, ...) as a dict."""
    out: dict[str, str] = {}
    for row in rows:
        if isinstance(row, Mapping):
            key, value = row.get("key"), row.get("value")
        else:
            key, value = row[0], row[1]
        if key is not None:
            out[str(key)] = "" if value is None else str(value)
    return out


# matched on stripped text: leading/trailing \s* around optional parts backtracked
# quadratically on a long run of spaces from a hostile SHOW CONFIG
_DURATION = re.compile(r"(-?\d+(?:\.\d+)?)\s*(us|ms|s|min|h|d)?", re.IGNORECASE)
_UNIT_S = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "min": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration_s(value: Any) -> float | None:
    """Seconds from a PgBouncer time setting: ``120``, ``0.5``, ``500ms``, ``2min``.

    SHOW CONFIG prints seconds; config files may carry a unit. None when
    unparseable.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    m = _DURATION.fullmatch(str(value).strip())
    if not m:
        return None
    return float(m.group(1)) * _UNIT_S[(m.group(2) or "s").lower()]


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def evaluate_config(
    cfg: Mapping[str, Any],
    pg_max_connections: int,
    reserved: int,
    n_databases: int,
    expected_app_connections: int,
    expected_pool_mode: str = "transaction",
    *,
    databases: Iterable[Mapping[str, Any]] | None = None,
    pools: Iterable[Mapping[str, Any]] | None = None,
    users: Iterable[Mapping[str, Any]] | None = None,
) -> list[Finding]:
    """BS-03 findings for a ``parse_show_config`` dict.

    ``databases`` / ``pools`` / ``users``: SHOW DATABASES / POOLS / USERS rows, for the
    effective per-database pool sizes and the user+database pairs (see
    :func:`server_connection_bound`); without them the global settings are
    used for ``n_databases`` databases and one user.

    ``reserved``: connections PostgreSQL keeps back (superuser_reserved +
    whatever else must stay free: replication, admin, the migration runner).
    ``n_databases``: how many database pools the app uses. When
    ``max_db_connections`` is set it caps each database's pool.

    Codes: pgbouncer-config-missing, pgbouncer-pool-mode,
    pgbouncer-query-wait-timeout, pgbouncer-max-client-conn,
    pgbouncer-pool-oversubscribed.
    """
    findings: list[Finding] = []
    missing = [
        k
        for k in ("pool_mode", "query_wait_timeout", "max_client_conn", "default_pool_size")
        if k not in cfg
    ]
    if missing:
        findings.append(
            Finding(
                "pgbouncer-config-missing",
                f"SHOW CONFIG lacks {', '.join(missing)}: cannot verify the PgBouncer setup",
            )
        )
    if "pool_mode" in cfg:
        mode = str(cfg["pool_mode"]).strip().lower()
        if mode != expected_pool_mode.lower():
            findings.append(
                Finding(
                    "pgbouncer-pool-mode",
                    f"pool_mode is {mode or 'empty'}, expected {expected_pool_mode}",
                )
            )
    if "query_wait_timeout" in cfg:
        qwt = parse_duration_s(cfg["query_wait_timeout"])
        if qwt is None or qwt <= 0:
            findings.append(
                Finding(
                    "pgbouncer-query-wait-timeout",
                    f"query_wait_timeout is {cfg['query_wait_timeout']!s}: must be > 0, "
                    "otherwise clients queue forever instead of failing fast",
                )
            )
    if "max_client_conn" in cfg:
        mcc = _int(cfg["max_client_conn"])
        if mcc is None or mcc < expected_app_connections:
            findings.append(
                Finding(
                    "pgbouncer-max-client-conn",
                    f"max_client_conn {cfg['max_client_conn']} < expected app connections "
                    f"{expected_app_connections}",
                )
            )
    if "default_pool_size" in cfg:
        bound = server_connection_bound(
            cfg, n_databases=n_databases, databases=databases, pools=pools, users=users
        )
        usable = pg_max_connections - reserved
        if bound is None:
            findings.append(
                Finding(
                    "pgbouncer-pool-oversubscribed",
                    f"default_pool_size {cfg['default_pool_size']!r} is not a number",
                )
            )
        elif bound[0] > usable:
            total, how = bound
            findings.append(
                Finding(
                    "pgbouncer-pool-oversubscribed",
                    f"pools can open {how} = {total} server connections > PostgreSQL "
                    f"max_connections {pg_max_connections} - reserved {reserved} = {usable}",
                )
            )
    return findings


def _first_int(row: Mapping[str, Any], *keys: str) -> int | None:
    """The first of ``keys`` the row has, as an int (column names vary by version)."""
    for key in keys:
        if key in row:
            return _int(row[key])
    return None


def server_connection_bound(
    cfg: Mapping[str, Any],
    *,
    n_databases: int = 1,
    databases: Iterable[Mapping[str, Any]] | None = None,
    pools: Iterable[Mapping[str, Any]] | None = None,
    users: Iterable[Mapping[str, Any]] | None = None,
    admin_db: str = _ADMIN_DB,
) -> tuple[int, str] | None:
    """(most server connections the pools can open, how it is computed); None: not a number.

    pgbouncer(5): a pool is one user+database pair, ``default_pool_size`` (or
    the database's ``pool_size``) server connections each, plus
    ``reserve_pool_size`` (or the database's ``reserve_pool``) when clients
    wait; ``max_db_connections`` (database ``max_db_connections``) caps a
    database over all its users, ``max_user_connections`` a user over all
    databases. SHOW DATABASES prints the *effective* per-database values
    (pool_size, reserve_pool -- reserve_pool_size in newer versions --,
    max_connections), so they are read from there when given; newer
    versions' SHOW USERS adds per-user pool_size / reserve_pool_size /
    max_user_connections, used when present. Users per database: 1 with
    ``force_user``, else the users SHOW POOLS has pools for (at least 1) --
    every further user that logs in adds a pool.
    """
    default = _int(cfg.get("default_pool_size"))
    if default is None:
        return None
    reserve = _int(cfg.get("reserve_pool_size", 0)) or 0
    db_cap = _int(cfg.get("max_db_connections", 0)) or 0
    user_cap = _int(cfg.get("max_user_connections", 0)) or 0
    per_user: dict[str, tuple[int | None, int | None, int]] = {}  # size, reserve, cap
    for row in users or ():
        size = _first_int(row, "pool_size")
        spare = _first_int(row, "reserve_pool_size", "reserve_pool")
        cap = _first_int(row, "max_user_connections")
        per_user[str(row.get("name") or "")] = (
            size if size and size > 0 else None,
            spare if spare and spare > 0 else None,
            cap if cap and cap > 0 else user_cap,
        )
    users_by_db: dict[str, list[str]] = {}
    for row in pools or ():
        db = str(row.get("database") or "")
        if db and db != admin_db:
            users_by_db.setdefault(db, []).append(str(row.get("user") or ""))
    # name, pool_size, reserve, cap, users of its pools, how many such databases
    entries: list[tuple[str, int, int, int, list[str], int]] = []
    for row in databases or ():
        name = str(row.get("name") or "")
        if not name or name == admin_db:
            continue
        size = _first_int(row, "pool_size")
        spare = _first_int(row, "reserve_pool", "reserve_pool_size")
        cap = _first_int(row, "max_connections", "max_db_connections")
        forced = row.get("force_user")
        who = [str(forced)] if forced else sorted(set(users_by_db.get(name, ()))) or [""]
        entries.append(
            (
                name,
                default if size is None else size,
                reserve if spare is None else spare,
                db_cap if cap is None else cap,
                who,
                1,
            )
        )
    if not entries:  # no SHOW DATABASES: the global settings, n_databases alike
        who = sorted({u for us in users_by_db.values() for u in us}) or [""]
        entries = [
            (f"each of {n_databases} database(s)", default, reserve, db_cap, who, n_databases)
        ]
    by_db_total = 0
    by_user: dict[str, int] = {}
    parts: list[str] = []
    for name, size, spare, cap, who, copies in entries:
        pools_here = [
            (per_user.get(u, (None, None, 0))[0] or size)
            + (per_user.get(u, (None, None, 0))[1] or spare)
            for u in who
        ]
        raw = sum(pools_here)
        by_db_total += (min(raw, cap) if cap > 0 else raw) * copies
        for u, count in zip(who, pools_here, strict=True):
            by_user[u] = by_user.get(u, 0) + count * copies
        text = f"{name}: (pool_size {size} + reserve {spare}) x {len(who)} user+database pool(s)"
        if raw != (size + spare) * len(who):
            text += f" = {raw} with per-user pool sizes"
        if 0 < cap < raw:
            text += f", capped by max_db_connections {cap}"
        parts.append(text)
    capped_users = [(u, n, per_user.get(u, (None, None, user_cap))[2]) for u, n in by_user.items()]
    by_user_total = sum(min(n, cap) if cap > 0 else n for _, n, cap in capped_users)
    if by_user_total < by_db_total:
        caps = ", ".join(f"{u or '?'} {cap}" for u, n, cap in capped_users if 0 < cap < n)
        parts.append(f"capped by max_user_connections ({caps})")
    return min(by_db_total, by_user_total), "; ".join(parts)


def evaluate_pool_modes(
    pools: Iterable[Mapping[str, Any]],
    users: Iterable[Mapping[str, Any]],
    expected_pool_mode: str = "transaction",
    *,
    global_mode: str | None = None,
    admin_db: str = _ADMIN_DB,
) -> list[Finding]:
    """BS-03: the pool mode in *effect*, not only the global ``pool_mode``.

    pgbouncer(5): ``pool_mode`` can be set per user (``[users]``) and per
    database, and the user's wins. SHOW USERS lists the per-user overrides
    (also for users with no pool yet); SHOW POOLS has each pool's effective
    ``pool_mode``. A pool already explained by a user override, or by a wrong
    global mode (``global_mode``), is not repeated. PgBouncer 1.18 keeps a
    user's override after its ``[users]`` line is removed and the config
    reloaded, so only SHOW USERS / SHOW POOLS tell what runs.

    Codes: pgbouncer-user-pool-mode, pgbouncer-effective-pool-mode.
    """
    want = expected_pool_mode.strip().lower()
    findings: list[Finding] = []
    overridden: set[str] = set()
    for row in users:
        name = str(row.get("name") or "")
        mode = str(row.get("pool_mode") or "").strip().lower()
        if name and mode and mode != want:
            overridden.add(name)
            findings.append(
                Finding(
                    "pgbouncer-user-pool-mode",
                    f"user {name}: pool_mode override is {mode} (per-user setting, SHOW USERS), "
                    f"expected {expected_pool_mode}: it wins over the global pool_mode",
                )
            )
    if global_mode is not None and global_mode.strip().lower() != want:
        return findings
    for row in pools:
        db = str(row.get("database") or "")
        user = str(row.get("user") or "")
        mode = str(row.get("pool_mode") or "").strip().lower()
        if not db or db == admin_db or not mode or mode == want or user in overridden:
            continue
        findings.append(
            Finding(
                "pgbouncer-effective-pool-mode",
                f"pool {db}/{user} runs in {mode} mode (SHOW POOLS), expected {expected_pool_mode}",
            )
        )
    return findings


# ---------------------------------------------------------------------------
# RT-07: sampled pools
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PoolSample:
    """One snapshot of the pooler, taken at ``at`` (the probe's clock).

    ``pools``: SHOW POOLS rows. Optional: ``clients`` (SHOW CLIENTS rows),
    ``servers`` (SHOW SERVERS rows), ``activity`` (IDLE_IN_TRANSACTION_SQL or
    pg_stat_activity rows). Plain mappings with these keys are accepted too.
    """

    at: datetime | float | str
    pools: Sequence[Mapping[str, Any]] = field(default_factory=tuple)
    clients: Sequence[Mapping[str, Any]] | None = None
    servers: Sequence[Mapping[str, Any]] | None = None
    activity: Sequence[Mapping[str, Any]] | None = None


def _as_sample(sample: PoolSample | Mapping[str, Any]) -> PoolSample:
    if isinstance(sample, PoolSample):
        return sample
    return PoolSample(
        at=sample["at"],
        pools=sample.get("pools") or (),
        clients=sample.get("clients"),
        servers=sample.get("servers"),
        activity=sample.get("activity"),
    )


def _num(row: Mapping[str, Any], key: str) -> float:
    try:
        return float(row.get(key) or 0)
    except (TypeError, ValueError):
        return 0.0


def _is_app_row(row: Mapping[str, Any], admin_db: str, databases: Iterable[str] | None) -> bool:
    db = str(row.get("database") or "")
    if db == admin_db:
        return False
    return databases is None or db in databases


def pool_pressure(
    pools: Iterable[Mapping[str, Any]],
    *,
    admin_db: str = _ADMIN_DB,
    databases: Iterable[str] | None = None,
) -> tuple[int, float]:
    """(total cl_waiting, worst maxwait in seconds) over the app's pools.

    ``maxwait_us`` is the microsecond *part* of the wait, so the wait is
    ``maxwait + maxwait_us / 1e6``. The admin console's pool is ignored.
    """
    dbs = None if databases is None else set(databases)
    waiting, worst = 0, 0.0
    for row in pools:
        if not _is_app_row(row, admin_db, dbs):
            continue
        waiting += int(_num(row, "cl_waiting"))
        worst = max(worst, _num(row, "maxwait") + _num(row, "maxwait_us") / 1e6)
    return waiting, worst


def client_count(
    sample: PoolSample | Mapping[str, Any],
    *,
    admin_db: str = _ADMIN_DB,
    databases: Iterable[str] | None = None,
) -> int:
    """App client connections in one sample: SHOW CLIENTS rows when given
    (exact), else the cl_* counters of SHOW POOLS."""
    s = _as_sample(sample)
    dbs = None if databases is None else set(databases)
    if s.clients is not None:
        return sum(1 for r in s.clients if _is_app_row(r, admin_db, dbs))
    total = 0
    for row in s.pools:
        if _is_app_row(row, admin_db, dbs):
            total += int(sum(_num(row, c) for c in (*_CLIENT_COLUMNS, "cl_cancel_req")))
    return total


def _pool_name(row: Mapping[str, Any]) -> str:
    return f"{row.get('database', '?')}/{row.get('user', '?')}"


def _rising_runs(values: Sequence[int]) -> list[tuple[int, int]]:
    """(start, end) indexes of every maximal strictly increasing consecutive run."""
    runs: list[tuple[int, int]] = []
    start = 0
    for i in range(1, len(values) + 1):
        if i == len(values) or values[i] <= values[i - 1]:
            if i - 1 > start:
                runs.append((start, i - 1))
            start = i
    return runs


def evaluate_pools(
    samples: Sequence[PoolSample | Mapping[str, Any]],
    *,
    max_wait_s: float = 1.0,
    idle_in_transaction_s: float = 5.0,
    growth_threshold: int = 5,
    min_growth_samples: int = 3,
    admin_db: str = _ADMIN_DB,
    databases: Iterable[str] | None = None,
) -> list[Finding]:
    """RT-07 findings over a time series of pool snapshots.

    Codes: pgbouncer-no-samples, pgbouncer-clients-waiting (cl_waiting > 0
    in any sample), pgbouncer-maxwait (>= ``max_wait_s``),
    pgbouncer-idle-in-transaction (a server held by an idle client, or a
    backend idle in transaction, longer than ``idle_in_transaction_s``),
    pgbouncer-client-growth (client connections strictly increasing over at
    least ``min_growth_samples`` consecutive samples, rising by more than
    ``growth_threshold``).
    """
    snaps = [_as_sample(s) for s in samples]
    if not snaps:
        return [Finding("pgbouncer-no-samples", "no PgBouncer samples taken: cannot verify")]
    dbs = None if databases is None else set(databases)
    findings: list[Finding] = []
    n = len(snaps)

    waiting: dict[str, tuple[int, int]] = {}  # pool -> (max cl_waiting, sample no.)
    maxwait: dict[str, tuple[float, int]] = {}
    for idx, snap in enumerate(snaps, 1):
        for row in snap.pools:
            if not _is_app_row(row, admin_db, dbs):
                continue
            name = _pool_name(row)
            cw = int(_num(row, "cl_waiting"))
            if cw > 0 and cw > waiting.get(name, (0, 0))[0]:
                waiting[name] = (cw, idx)
            mw = _num(row, "maxwait") + _num(row, "maxwait_us") / 1e6
            if reaches(mw, max_wait_s) and not mw <= maxwait.get(name, (-math.inf, 0))[0]:
                maxwait[name] = (mw, idx)
    for name, (cw, idx) in sorted(waiting.items()):
        findings.append(
            Finding(
                "pgbouncer-clients-waiting",
                f"pool {name}: {cw} client(s) waiting for a server connection (cl_waiting) "
                f"in sample {idx} of {n}; must stay 0",
            )
        )
    for name, (mw, idx) in sorted(maxwait.items()):
        findings.append(
            Finding(
                "pgbouncer-maxwait",
                f"pool {name}: maxwait {mw:.3f} s in sample {idx} of {n} (limit {max_wait_s:g} s)",
            )
        )

    findings.extend(_held_connections(snaps, idle_in_transaction_s, admin_db, dbs))

    counts = [client_count(s, admin_db=admin_db, databases=dbs) for s in snaps]
    leaks = [
        (counts[hi] - counts[lo], lo, hi)
        for lo, hi in _rising_runs(counts)
        if hi - lo + 1 >= min_growth_samples and counts[hi] - counts[lo] > growth_threshold
    ]
    if leaks:
        rise, lo, hi = max(leaks)
        path = " -> ".join(str(c) for c in counts[lo : hi + 1])
        findings.append(
            Finding(
                "pgbouncer-client-growth",
                f"client connections grew monotonically {path} over {hi - lo + 1} samples "
                f"(+{rise}, limit +{growth_threshold}): connections are leaking",
            )
        )
    return findings


def _held_connections(
    snaps: Sequence[PoolSample],
    limit_s: float,
    admin_db: str,
    dbs: set[str] | None,
) -> list[Finding]:
    """Worst age per server connection (SHOW SERVERS) and per backend pid
    (pg_stat_activity) across all samples, reported once each (a backend
    already named through its PgBouncer server connection is not repeated).
    SHOW SERVERS times have one-second resolution, so their ages are taken
    one second shorter (never a false alarm from rounding)."""
    servers: dict[str, tuple[float, Mapping[str, Any]]] = {}
    backends: dict[str, tuple[float, Mapping[str, Any]]] = {}
    for snap in snaps:
        for row in snap.servers or ():
            if str(row.get("state") or "") != "active" or not row.get("link"):
                continue
            if not _is_app_row(row, admin_db, dbs):
                continue
            stamp = row.get("request_time")
            age = age_s(stamp, snap.at)
            if age is not None and isinstance(stamp, str) and "." not in stamp:
                age -= 1.0  # PgBouncer prints whole seconds: use the lower bound
            key = str(row.get("ptr") or row.get("remote_pid") or id(row))
            worst = servers.get(key, (-math.inf, row))[0]
            if age is not None and exceeds(age, limit_s) and not age <= worst:
                servers[key] = (age, row)
        for row in snap.activity or ():
            state = str(row.get("state") or "")
            if not state.startswith("idle in transaction"):
                continue
            if dbs is not None and row.get("datname") not in dbs:
                continue
            age = row.get("xact_age_s")
            if age is None:
                age = age_s(row.get("xact_start"), row.get("observed_at") or snap.at)
            key = str(row.get("pid"))
            worst = backends.get(key, (-math.inf, row))[0]
            if age is not None and exceeds(age, limit_s) and not age <= worst:
                backends[key] = (float(age), row)
    out: list[Finding] = []
    for age, row in sorted(servers.values(), key=lambda item: -item[0]):
        out.append(
            Finding(
                "pgbouncer-idle-in-transaction",
                f"server connection to {row.get('database')} (user {row.get('user')}, backend "
                f"pid {row.get('remote_pid')}) held by a client with no new request for "
                f"{age:.1f} s (limit {limit_s:g} s): an open transaction left idle",
            )
        )
    seen = {str(row.get("remote_pid")) for _, row in servers.values()}
    for age, row in sorted(backends.values(), key=lambda item: -item[0]):
        if str(row.get("pid")) in seen:  # already named through PgBouncer
            continue
        app = row.get("application_name") or "?"
        out.append(
            Finding(
                "pgbouncer-idle-in-transaction",
                f"backend pid {row.get('pid')} ({row.get('usename')}@{row.get('datname')}, "
                f"application {app}) {row.get('state')} for {age:.1f} s "
                f"(limit {limit_s:g} s)",
            )
        )
    return out


def sample_time(sample: PoolSample | Mapping[str, Any]) -> datetime | None:
    """The UTC time of a sample (for evidence)."""
    return to_utc(_as_sample(sample).at)
