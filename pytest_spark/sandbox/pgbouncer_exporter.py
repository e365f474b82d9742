"""The sandbox's PgBouncer exporter: SHOW POOLS / SHOW DATABASES as Prometheus gauges.

It stands in for prometheus-community/pgbouncer_exporter (a Go binary packaged
neither for Debian nor on PyPI) and exports the same metric names and labels,
so the trigger catalog's PromQL (T06 pool utilisation, T10 connection leak)
runs unchanged against a real platform's exporter. Debian's
prometheus-pgbouncer-exporter exports no server-side pool columns, and the
PyPI one pins psycopg2 2.8 and prometheus-client 0.8. Loopback only; reads
the admin DSN from the stack's state.json (0600).

    python -m pytest_spark.sandbox.pgbouncer_exporter --port N --state-dir DIR
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_POOLS = "pgbouncer_pools_"
POOL_COLUMNS = {
    "cl_active": (_POOLS + "client_active_connections", "Clients linked to a server connection"),
    "cl_waiting": (_POOLS + "client_waiting_connections", "Clients waiting for a server"),
    "sv_active": (_POOLS + "server_active_connections", "Server connections linked to a client"),
    "sv_idle": (_POOLS + "server_idle_connections", "Server connections ready for clients"),
    "sv_used": (_POOLS + "server_used_connections", "Server connections idle > check delay"),
    "maxwait": (_POOLS + "client_maxwait_seconds", "Age of the oldest waiting client, seconds"),
}
_DBS = "pgbouncer_databases_"
DATABASE_COLUMNS = {
    "pool_size": (_DBS + "pool_size", "Maximum number of server connections"),
    "reserve_pool": (_DBS + "reserve_pool", "Extra connections for this database"),
    "current_connections": (_DBS + "current_connections", "Current server connections"),
}
TIMEOUT_S = 2.0


class PgBouncerCollector:
    """A prometheus_client collector that asks PgBouncer's admin console at each scrape."""

    def __init__(self, admin_dsn: str) -> None:
        self.admin_dsn = admin_dsn

    def _show(self, what: str) -> list[dict[str, Any]]:
        import psycopg
        from psycopg.rows import dict_row

        with psycopg.connect(
            self.admin_dsn, autocommit=True, connect_timeout=int(TIMEOUT_S), row_factory=dict_row
        ) as conn:
            return list(conn.execute(f"SHOW {what}").fetchall())

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        up = GaugeMetricFamily("pgbouncer_up", "The last scrape of PgBouncer worked")
        try:
            pools, databases = self._show("POOLS"), self._show("DATABASES")
        except Exception:  # PgBouncer down: say so, export nothing stale
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        for column, (name, doc) in POOL_COLUMNS.items():
            family = GaugeMetricFamily(name, doc, labels=["database", "user"])
            for row in pools:
                if row.get(column) is not None:
                    family.add_metric([row["database"], row["user"]], float(row[column]))
            yield family
        for column, (name, doc) in DATABASE_COLUMNS.items():
            family = GaugeMetricFamily(name, doc, labels=["name", "database"])
            for row in databases:
                if row.get(column) is not None:
                    family.add_metric([row["name"], row["database"]], float(row[column]))
            yield family


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="pytest_spark.sandbox.pgbouncer_exporter")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--state-dir", type=Path, required=True)
    args = p.parse_args(argv)
    from prometheus_client import CollectorRegistry, start_http_server

    state = json.loads((args.state_dir / "state.json").read_text())
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PgBouncerCollector(state["endpoints"]["pgbouncer_admin_dsn"]))
    server, _thread = start_http_server(args.port, addr="127.0.0.1", registry=registry)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
