"""Command line: serve one API instance under uvicorn on a loopback address.

The DSN may come from ``--dsn`` or, to keep the password out of the process
list, from the environment variable named by ``--dsn-env`` (default
SPARK_API_DSN). The same holds for the control token (SPARK_CONTROL_TOKEN).
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import sys
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

import uvicorn

from .factory import create_app
from .settings import AppSettings


def _loopback(host: str) -> str:
    if host == "localhost":
        return host
    try:
        if ipaddress.ip_address(host).is_loopback:
            return host
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"{host!r} is not a loopback address")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line (see --help)."""
    p = argparse.ArgumentParser(prog="python -m pytest_spark.sandbox.app", description=__doc__)
    p.add_argument("--host", type=_loopback, default="127.0.0.1", help="loopback address")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--dsn", help="PostgreSQL/PgBouncer conninfo or URL")
    p.add_argument("--dsn-env", default="SPARK_API_DSN", help="env var read when --dsn is absent")
    p.add_argument("--instance", default="api-1")
    p.add_argument("--version", default="1.4.0", help="release version to report")
    p.add_argument("--git-sha", default=AppSettings.git_sha)
    p.add_argument("--build-time", default=AppSettings.build_time)
    p.add_argument("--control-token", default=os.environ.get("SPARK_CONTROL_TOKEN", ""))
    p.add_argument("--flags-file", type=Path)
    p.add_argument("--request-log", type=Path, help="append one JSON line per HTTP request")
    p.add_argument("--flags-snapshot-version", type=int, default=1)
    p.add_argument("--idempotency-ttl", type=float, default=AppSettings.idempotency_ttl_s)
    p.add_argument("--max-order-notional", type=Decimal, default=AppSettings.max_order_notional)
    p.add_argument("--pool-max", type=int, default=AppSettings.db_pool_max)
    p.add_argument("--log-level", default="warning")
    return p.parse_args(argv)


def settings_from(args: argparse.Namespace) -> AppSettings:
    """Build AppSettings from parsed arguments; exits when no DSN is given."""
    dsn = args.dsn or os.environ.get(args.dsn_env, "")
    if not dsn:
        sys.exit(f"no DSN: pass --dsn or set {args.dsn_env}")
    return AppSettings(
        dsn=dsn,
        instance=args.instance,
        version=args.version,
        git_sha=args.git_sha,
        build_time=args.build_time,
        control_token=args.control_token,
        flags_file=args.flags_file,
        request_log=args.request_log,
        flags_snapshot_version=args.flags_snapshot_version,
        idempotency_ttl_s=args.idempotency_ttl,
        max_order_notional=args.max_order_notional,
        db_pool_max=args.pool_max,
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Serve until SIGINT/SIGTERM, then stop background jobs and close the pool."""
    args = parse_args(argv)
    settings = settings_from(args)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    uvicorn.run(
        create_app(settings),
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=5,
        server_header=False,
    )


if __name__ == "__main__":
    main()
