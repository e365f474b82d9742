"""Every command-line option in one place, and how each maps onto a config key."""

from __future__ import annotations

import pytest

# option dest -> (config section, key); the CLI wins over spark.toml and [env.NAME].
TARGET_FLAGS: dict[str, tuple[str, str, str]] = {
    "--spark-api-url": ("targets", "api_urls", "API base URL(s), comma separated"),
    "--spark-db-dsn": ("targets", "db_dsn", "PostgreSQL DSN"),
    "--spark-pgbouncer-dsn": ("targets", "pgbouncer_dsn", "DSN through PgBouncer"),
    "--spark-pgbouncer-admin-dsn": ("targets", "pgbouncer_admin_dsn", "PgBouncer admin DSN"),
    "--spark-prometheus-url": ("targets", "prometheus_url", "Prometheus base URL"),
    "--spark-alertmanager-url": ("targets", "alertmanager_url", "Alertmanager base URL"),
    "--spark-ntp-server": ("targets", "ntp_servers", "NTP server(s) host[:port], comma separated"),
}


def dest(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("spark", "pytest-spark release verdict")
    group.addoption("--release", default=None, help="release under test, e.g. v1.4.0")
    group.addoption("--spark-config", default=None, metavar="PATH", help="spark.toml path")
    group.addoption("--spark-env", default="", metavar="NAME", help="use [env.NAME] overrides")
    group.addoption(
        "--spark-evidence-dir",
        default="reports",
        metavar="DIR",
        help="where evidence bundles go (default: reports/)",
    )
    group.addoption("--spark-waivers", default=None, metavar="PATH", help="waivers.toml path")
    group.addoption(
        "--spark-allow-writes",
        action="store_true",
        default=None,
        help="allow checks that write to the target (e.g. RT-02, RT-06)",
    )
    group.addoption(
        "--spark-allow-disruptive",
        action="store_true",
        default=None,
        help="allow disruptive checks (restore drills, chaos); refused in production",
    )
    group.addoption(
        "--spark-sandbox",
        action="store_true",
        default=False,
        help="start the reference stack and point every target at it",
    )
    group.addoption(
        "--spark-no-bundle",
        action="store_true",
        default=False,
        help="compute the verdict but write no evidence bundle",
    )
    for flag, (_sec, _key, text) in TARGET_FLAGS.items():
        group.addoption(flag, default=None, dest=dest(flag), help=text)


def overrides(config: pytest.Config) -> dict[str, dict[str, object]]:
    """The CLI's contribution to the config, as a layer over spark.toml."""
    out: dict[str, dict[str, object]] = {"targets": {}, "policy": {}, "release": {}}
    for flag, (sec, key, _text) in TARGET_FLAGS.items():
        out[sec][key] = config.getoption(dest(flag))
    out["policy"]["allow_writes"] = config.getoption("spark_allow_writes")
    out["policy"]["allow_disruptive"] = config.getoption("spark_allow_disruptive")
    release = config.getoption("release")
    out["release"]["version"] = release
    return out
