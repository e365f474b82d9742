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
        "--spark-sandbox-dir",
        default=".sandbox",
        metavar="DIR",
        help="state dir of the sandbox; a stack already running there is reused (default .sandbox)",
    )
    group.addoption(
        "--spark-check",
        action="append",
        default=[],
        metavar="IDS",
        help="run only these check ids (comma separated, repeatable), e.g. PF-05,RT-04",
    )
    group.addoption(
        "--spark-set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="set any spark.toml setting, e.g. thresholds.ntp_max_offset_s=0.001 (repeatable)",
    )
    group.addoption(
        "--spark-signing-key",
        default=None,
        metavar="PATH",
        help="Ed25519 private key (PEM) that signs the bundle's attestation (evidence.signing_key)",
    )
    group.addoption(
        "--spark-no-bundle",
        action="store_true",
        default=False,
        help="compute the verdict but write no evidence bundle",
    )
    group.addoption(
        "--spark-stage",
        type=int,
        default=None,
        metavar="PERCENT",
        help="canary: judge this stage (1, 5, 25, 50 or 100) at the weight your tooling set",
    )
    group.addoption(
        "--spark-rollout",
        action="store_true",
        default=False,
        help="canary: drive every stage in order (needs --spark-allow-disruptive)",
    )
    group.addoption(
        "--spark-rollback",
        action="store_true",
        default=False,
        help="canary: roll back on a NO-GO stage (or set canary.rollback_command)",
    )
    for flag, (_sec, _key, text) in TARGET_FLAGS.items():
        group.addoption(flag, default=None, dest=dest(flag), help=text)


def selected_ids(config: pytest.Config) -> set[str]:
    return {i.strip() for v in config.getoption("spark_check") for i in v.split(",") if i.strip()}


def overrides(
    config: pytest.Config, base: dict[str, dict[str, object]] | None = None
) -> dict[str, dict[str, object]]:
    """The CLI's contribution to the config (over ``base``, e.g. the sandbox's targets)."""
    out: dict[str, dict[str, object]] = {
        "targets": {},
        "policy": {},
        "release": {},
        "schema": {},
        "evidence": {},
        "contracts": {},
    }
    for sec, values in (base or {}).items():
        if sec in out:
            out[sec].update(values)
    for sec, values in settings_from_flags(config.getoption("spark_set")).items():
        out.setdefault(sec, {}).update(values)
    cli = {sec: {} for sec in out}
    for flag, (sec, key, _text) in TARGET_FLAGS.items():
        cli[sec][key] = config.getoption(dest(flag))
    cli["policy"]["allow_writes"] = config.getoption("spark_allow_writes")
    cli["policy"]["allow_disruptive"] = config.getoption("spark_allow_disruptive")
    cli["release"]["version"] = config.getoption("release")
    cli["evidence"]["signing_key"] = config.getoption("spark_signing_key")
    for sec, values in cli.items():
        out[sec].update({k: v for k, v in values.items() if v is not None})
    return out


def settings_from_flags(items: list[str]) -> dict[str, dict[str, object]]:
    """Parse --spark-set SECTION.KEY=VALUE; VALUE is read as TOML, else taken as a string."""
    import tomllib

    from .config import SCHEMA, ConfigError

    out: dict[str, dict[str, object]] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        section, _, key = name.strip().partition(".")
        if not sep or section not in SCHEMA or key not in SCHEMA[section]:
            raise ConfigError(  # the value is not echoed: it may be a secret
                f"--spark-set {name.strip()!r}: expected SECTION.KEY=VALUE with a known setting "
                "(see `pytest-spark config-reference`)"
            )
        try:
            value: object = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw
        out.setdefault(section, {})[key] = value
    return out
