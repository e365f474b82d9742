"""Settings of one API instance: everything the launcher decides, in one frozen object."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path


@dataclass(frozen=True)
class AppSettings:
    """Configuration of one trading API instance.

    Only ``dsn`` is required; defaults suit the sandbox. Intervals are seconds.
    """

    dsn: str
    instance: str = "api-1"
    service: str = "spark-api"
    version: str = "1.4.0"
    git_sha: str = "0000000000000000000000000000000000000000"
    build_time: str = "1970-01-01T00:00:00Z"
    # Empty token disables the fault control API entirely.
    control_token: str = ""
    flags_file: Path | None = None
    # JSON-lines log of every HTTP request (method, path, status, User-Agent); None = off.
    request_log: Path | None = None
    flags_snapshot_version: int = 1
    # Idempotency keys live this long; purge-stopped plants keys older than ttl + grace.
    idempotency_ttl_s: float = 86_400.0
    idempotency_grace_s: float = 3_600.0
    max_order_notional: Decimal = Decimal("1000000")
    # Database access: every call is bounded by these.
    db_connect_timeout_s: int = 3
    db_statement_timeout_ms: int = 3_000
    db_operation_timeout_s: float = 5.0
    db_pool_min: int = 1
    db_pool_max: int = 4
    startup_db_wait_s: float = 10.0
    # Background jobs.
    relay_interval_s: float = 0.5
    purge_interval_s: float = 2.0
    tick_interval_s: float = 0.2
    flags_refresh_s: float = 3.0
    # leak-connections fault: at most this many held connections, one per interval.
    leak_max_connections: int = 8
    leak_interval_s: float = 0.5
    # no-idempotency-unique fault: window between the check and the insert.
    racy_check_delay_s: float = 0.05
