"""Settings from spark.toml + [env.NAME] + ${ENV} secrets + CLI flags, validated into one object.

Every key has a type, a default and a one-line doc in ``SCHEMA``; the README's
config reference is generated from it, and unknown keys are rejected so a typo
never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from .contracts.selectors import parse_selectors
from .redact import Redactor
from .rules.decimal_columns import DEFAULT_MONEY_PATTERNS
from .rules.headers import GRADES


class ConfigError(Exception):
    """A one-line, user-facing configuration problem (turned into a usage error)."""


@dataclass(frozen=True)
class Bounds:
    """The sane range of a numeric setting: ``lo < v`` (or ``lo <= v``) and ``v <= hi``."""

    lo: float
    hi: float
    lo_open: bool = False  # True: the value must be strictly above lo
    unit: str = ""

    def check(self, value: float, where: str) -> None:
        if not math.isfinite(value):
            raise ConfigError(f"{where} must be a finite number, got {value}")
        low_ok = value > self.lo if self.lo_open else value >= self.lo
        if not (low_ok and value <= self.hi):
            raise ConfigError(f"{where} must be in {self}, got {value}")

    def __str__(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        return f"{'(' if self.lo_open else '['}{_num(self.lo)}, {_num(self.hi)}]{unit}"


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else str(v)


@dataclass(frozen=True)
class Key:
    type: type | tuple[type, ...]
    default: Any
    doc: str
    secret: bool = False
    bounds: Bounds | None = None


def _k(t: type | tuple[type, ...], default: Any, doc: str, secret: bool = False) -> Key:
    return Key(t, default, doc, secret)


# section -> key -> spec.  "list" means list[str].
SCHEMA: dict[str, dict[str, Key]] = {
    "targets": {
        "api_urls": _k(list, [], "Base URLs of every API instance (PF-01/PF-07 compare them)"),
        "html_paths": _k(list, ["/"], "Paths of HTML pages to inspect (CSP, COEP subresources)"),
        "api_paths": _k(list, ["/version"], "Paths of API responses to inspect for headers"),
        "http_redirect_url": _k(
            str, "", "Optional http:// URL that must redirect to https (RT-04)"
        ),
        "db_dsn": _k(str, "", "PostgreSQL DSN (read-only sessions unless writes allowed)", True),
        "pgbouncer_dsn": _k(str, "", "DSN through PgBouncer to the app database", True),
        "pgbouncer_admin_dsn": _k(str, "", "PgBouncer admin console DSN (dbname=pgbouncer)", True),
        "prometheus_url": _k(str, "", "Prometheus base URL"),
        "alertmanager_url": _k(str, "", "Alertmanager base URL (API v2)"),
        "ntp_servers": _k(list, [], "NTP servers as host or host:port"),
        "api_job": _k(str, "spark-api", "Prometheus job label of the API"),
        "verify_tls": _k(bool, True, "Verify TLS certificates on HTTPS targets"),
        "ca_bundle": _k(str, "", "CA bundle path for private CAs"),
        "auth_token": _k(str, "", "Bearer token sent to the API, if it needs one", True),
        "relay_heartbeat_metric": _k(
            str,
            "spark_outbox_relay_heartbeat_timestamp_seconds",
            "RT-03 gauge with the outbox relay's last heartbeat (unix time)",
        ),
        "slo_alert_patterns": _k(
            list,
            [],
            "RT-09 regexes for SLO/rollback alert names (empty: slo, error budget, burn, "
            "rollback, canary)",
        ),
        "pg_bin_dir": _k(str, "", "PostgreSQL client tools dir (default: by server version)"),
        "rehearsal_dsn": _k(
            str,
            "",
            "PF-04 rehearsal server (writable; a scratch DB is made there). Empty: a throwaway "
            "local PostgreSQL of the target's major version",
            True,
        ),
        "wal_archive_dir": _k(str, "", "RT-08 WAL archive dir (default: from archive_command)"),
    },
    "release": {
        "version": _k(str, "", "Release under test (also --release)"),
        "git_sha": _k(str, "", "Build git sha every instance must report (empty: must agree)"),
        "migration": _k(
            int, 0, "Migration version the release expects (0: unset, BS-02 cannot verify)"
        ),
        "sbom": _k(str, "", "Path to the release's CycloneDX JSON SBOM"),
        "service": _k(str, "spark-api", "Service name expected in SBOM metadata.component"),
        "artifact_digest": _k(
            str, "", "sha256:<hex> of the release artifact (attestation subject)"
        ),
        "new_flags": _k(list, [], "Flags new in this release (must default OFF)"),
        "kill_switches": _k(list, [], "Kill-switch flags that must exist"),
        "pending_migrations_dir": _k(str, "", "Directory of migrations PF-04 rehearses"),
    },
    "policy": {
        "allow_writes": _k(bool, False, "Allow checks that write to the target"),
        "allow_disruptive": _k(bool, False, "Allow disruptive checks (restore drills, chaos)"),
        "production": _k(bool, False, "Target is production: disruptive checks are refused"),
        "exempt": _k(list, [], "Blocker ids whose policy skip does not block the verdict"),
        "timeout_s": _k(float, 5.0, "Deadline for every network call, seconds"),
        "max_response_mib": _k(
            float,
            16.0,
            "Size cap of every response body and SBOM a check reads, MiB (larger: ERROR)",
        ),
        "allow_literal_secrets": _k(
            bool,
            False,
            "Accept a secret written out in spark.toml instead of ${ENV} (still redacted)",
        ),
    },
    "thresholds": {
        "clock_skew_s": _k(float, 1.0, "BS-01 max pairwise clock skew"),
        "ntp_max_offset_s": _k(float, 0.1, "PF-02 max |offset| (1 ms for MiFID II RTS 25)"),
        "ntp_max_root_distance_s": _k(
            float, 1.0, "PF-02 max root distance a server may report (RFC 5905 MAXDIST)"
        ),
        "saturation_ratio": _k(float, 0.8, "PF-03 max utilisation of CPU, memory, connections"),
        "pgbouncer_max_wait_s": _k(float, 1.0, "PF-03/RT-07 max PgBouncer maxwait"),
        "header_min_grade": _k(str, "A-", "PF-05 minimum Observatory-style grade"),
        "hsts_min_age_s": _k(int, 15552000, "PF-05 minimum HSTS max-age"),
        "sequence_fail_ratio": _k(float, 0.85, "PF-06 fail at this share of the range"),
        "sequence_warn_ratio": _k(float, 0.70, "PF-06 warn at this share of the range"),
        "flag_snapshot_max_age_s": _k(float, 60.0, "PF-07 max flag snapshot age"),
        "baseline_window": _k(str, "5m", "PF-09 PromQL range of the baseline"),
        "slo_availability": _k(float, 0.99, "SLO: share of non-5xx responses"),
        "slo_latency_p95_s": _k(float, 0.2, "SLO: API p95 latency"),
        "burn_fast": _k(float, 14.4, "BS-08 fast burn factor (1h and 5m)"),
        "burn_slow": _k(float, 6.0, "BS-08 slow burn factor (6h and 30m)"),
        "metric_max_age_s": _k(float, 60.0, "BS-06 max age of a metric's newest sample"),
        "idempotency_concurrency": _k(int, 8, "RT-02 concurrent same-key POSTs"),
        "idempotency_ttl_min_s": _k(int, 86400, "RT-02 minimum key TTL"),
        "idempotency_grace_s": _k(int, 3600, "RT-02 purge grace beyond TTL"),
        "outbox_max_age_s": _k(float, 30.0, "RT-03 max age of the oldest unpublished row"),
        "outbox_max_backlog": _k(int, 1000, "RT-03 max unpublished rows"),
        "heartbeat_max_age_s": _k(float, 10.0, "RT-03 max relay heartbeat age"),
        "pool_sample_window_s": _k(float, 2.0, "RT-07 sampling window"),
        "idle_in_tx_max_s": _k(float, 5.0, "RT-07 max idle-in-transaction age"),
        "archive_max_age_s": _k(float, 300.0, "RT-08 max age of the last archived WAL"),
        "max_redirects": _k(int, 3, "RT-04 max hops from http:// to https"),
        "pgbouncer_pool_mode": _k(str, "transaction", "BS-03 expected PgBouncer pool_mode"),
        "pgbouncer_min_client_conn": _k(int, 100, "BS-03 minimum max_client_conn"),
        "api_cpu_limit_cores": _k(float, 1.0, "PF-03 CPU the API may use (cores)"),
        "api_memory_limit_bytes": _k(int, 0, "PF-03 API memory limit (0: host memory)"),
        "pool_samples": _k(int, 5, "RT-07 samples across the window"),
        "pitr_drill_timeout_s": _k(float, 60.0, "RT-08 deadline of the whole restore drill"),
    },
    "schema": {
        "money_tables": _k(list, ["orders", "positions", "instruments"], "BS-04 tables"),
        "money_patterns": _k(
            list,
            list(DEFAULT_MONEY_PATTERNS),
            "BS-04 column/field name fragments that mean money",
        ),
        "positions_table": _k(str, "positions", "RT-01 table"),
        "positions_key": _k(list, ["account_id", "symbol"], "RT-01 unique key columns"),
        "positions_predicate": _k(str, "status = 'open'", "RT-01 expected partial predicate"),
        "migrations_table": _k(str, "schema_migrations", "BS-02 migrations table"),
        "idempotency_table": _k(str, "idempotency_keys", "RT-02 table"),
        "orders_table": _k(str, "orders", "RT-02/RT-06 orders table"),
        "outbox_table": _k(str, "outbox", "RT-03 table"),
        "test_account": _k(
            str, "", "RT-02/RT-06 account for probe orders; required when writes are allowed"
        ),
        "pitr_sentinel_table": _k(str, "spark_pitr_sentinel", "RT-08 drill's sentinel table"),
    },
    "evidence": {
        "signing_key": _k(
            str,
            "",
            "Ed25519 private key (PEM file path, or PEM text via ${ENV}) that signs the "
            "attestation as a DSSE envelope (also --spark-signing-key); empty: unsigned",
            True,
        ),
    },
    "contracts": {
        "pact_dir": _k(str, "pacts", "CT-01..03 pact files: the suite writes its consumers' here"),
        "provider": _k(str, "spark-api", "Pact name of the HTTP provider under test"),
        "message_provider": _k(str, "spark-outbox", "Pact name of the message provider"),
        "provider_url": _k(str, "", "Base URL to verify HTTP pacts against (empty: api_urls[0])"),
        "provider_states_url": _k(
            str, "", "POST endpoint that sets provider states (the sandbox sets its own)"
        ),
        "provider_states_token": _k(
            str, "", "X-Sandbox-Token / bearer token for provider_states_url", True
        ),
        "broker_url": _k(str, "", "Pact Broker base URL (empty: local pact_dir only)"),
        "broker_token": _k(str, "", "Pact Broker bearer token, as ${ENV}", True),
        "consumer_version_selectors": _k(
            list,
            ["mainBranch", "deployedOrReleased"],
            "Broker selectors: mainBranch, deployedOrReleased, matchingBranch, branch=X, "
            "tag=X, environment=X, deployed=X, released=X",
        ),
        "publish_results": _k(bool, False, "Publish verification results to the broker"),
        "provider_version": _k(str, "", "Provider version published (empty: release.version)"),
        "message_timeout_s": _k(float, 10.0, "CT-02 wait for the relay to publish a probe event"),
        "verify_timeout_s": _k(float, 120.0, "Deadline of the whole provider verification"),
    },
    "canary": {
        "stage_window_s": _k(float, 0.0, "Stage gate window (0: 300 s, 10 s on --spark-sandbox)"),
        "max_window_s": _k(
            float,
            0.0,
            "Longest a stage waits for min_requests per track (0: 4x the window, 240 s sandbox)",
        ),
        "min_requests": _k(int, 0, "Requests per track a gate needs (0: 200, 10 on the sandbox)"),
        "alpha": _k(
            float, 0.01, "False NO-GO rate of a stage's 5 canary-vs-baseline tests (Bonferroni)"
        ),
        "weight_z": _k(float, 4.0, "Traffic check: binomial sigmas allowed around the weight"),
        "weight_tolerance": _k(float, 0.02, "Traffic check: absolute share margin on top"),
        "traffic_driver": _k(
            str, "", "haproxy, command or empty (sandbox: haproxy; else observe only)"
        ),
        "haproxy_socket": _k(str, "", "HAProxy runtime API socket (level admin)"),
        "haproxy_weights_map": _k(str, "", "HAProxy map file holding the canary weight"),
        "weight_command": _k(list, [], "argv setting the weight, {weight} replaced (no shell)"),
        "share_query": _k(str, "", "PromQL of the canary share over $window (other routers)"),
        "rollback_command": _k(list, [], "argv of the rollback run on a NO-GO stage (no shell)"),
        "command_timeout_s": _k(float, 60.0, "Deadline of weight/rollback commands"),
        "confirm_window_s": _k(
            float, 0.0, "No canary traffic for this long confirms a rollback (0: 30 s, 3 s sandbox)"
        ),
        "rollback_budget_s": _k(float, 300.0, "RB-01: detection to confirmed within this"),
        "evaluation_interval_s": _k(
            float, 0.0, "Prometheus evaluation_interval (0: read from Prometheus)"
        ),
        "scrape_lag_s": _k(float, 0.0, "Wait after a window for its last scrape (0: 2 s / 30 s)"),
        "triggers": _k(list, [], "Trigger overrides, e.g. T01.threshold=0.5, T02.for=2m"),
        "baseline_json": _k(
            str, "", "PF-09 baseline.json (empty: newest in the evidence dir for the release)"
        ),
        "blast_duration_s": _k(float, 0.0, "CN-00 load duration (0: 30 s, 5 s on the sandbox)"),
        "blast_rate": _k(float, 20.0, "CN-00 requests per second (open model, constant)"),
        "blast_path": _k(str, "/quotes", "CN-00 path requested on every canary instance (GET)"),
        "blast_max_error_ratio": _k(float, 0.01, "CN-00 error budget"),
        "blast_max_inflight": _k(int, 64, "CN-00 bound on requests in flight (more: omitted)"),
        "sandbox_load_rate": _k(
            float, 0.0, "Load generator req/s during sandbox gates (0: unchanged; a step fires T10)"
        ),
    },
}

_HOUR, _DAY = 3600.0, 86400.0


def _secs(hi: float, lo: float = 0.0, lo_open: bool = True) -> Bounds:
    return Bounds(lo, hi, lo_open, "s")


def _count(lo: int, hi: int) -> Bounds:
    return Bounds(lo, hi)


_RATIO = Bounds(0, 1, lo_open=True)

# section -> key -> the range a value can sensibly take. Every int/float setting has one
# (tests/unit/test_config.py proves it), so nan, inf, 1e9 s timeouts and negative
# durations are refused at start with one line, whatever the key (issue 8).
BOUNDS: dict[str, dict[str, Bounds]] = {
    "release": {"migration": _count(0, 2**63 - 1)},
    "contracts": {"message_timeout_s": _secs(300), "verify_timeout_s": _secs(_HOUR)},
    "canary": {  # 0 means "the default" for the windows and counts below
        "stage_window_s": Bounds(0, _HOUR, unit="s"),
        "max_window_s": Bounds(0, 4 * _HOUR, unit="s"),
        "min_requests": _count(0, 10**7),
        "alpha": Bounds(0, 0.5, lo_open=True),
        "weight_z": Bounds(0, 20, lo_open=True),
        "weight_tolerance": Bounds(0, 0.5),
        "command_timeout_s": _secs(_HOUR),
        "confirm_window_s": Bounds(0, _HOUR, unit="s"),
        "rollback_budget_s": _secs(_DAY),
        "evaluation_interval_s": Bounds(0, _HOUR, unit="s"),
        "scrape_lag_s": Bounds(0, 600, unit="s"),
        "blast_duration_s": Bounds(0, _HOUR, unit="s"),
        "blast_rate": Bounds(0, 10_000, lo_open=True, unit="req/s"),
        "blast_max_error_ratio": Bounds(0, 1),
        "blast_max_inflight": _count(1, 10_000),
        "sandbox_load_rate": Bounds(0, 200, unit="req/s"),
    },
    "policy": {
        "timeout_s": _secs(300),
        "max_response_mib": Bounds(0, 4096, lo_open=True, unit="MiB"),
    },
    "thresholds": {
        "clock_skew_s": _secs(60),
        "ntp_max_offset_s": _secs(10),
        "ntp_max_root_distance_s": _secs(16),
        "saturation_ratio": _RATIO,
        "pgbouncer_max_wait_s": _secs(300),
        "hsts_min_age_s": Bounds(1, 2 * 365 * _DAY, unit="s"),
        "sequence_fail_ratio": _RATIO,
        "sequence_warn_ratio": _RATIO,
        "flag_snapshot_max_age_s": _secs(_DAY),
        "slo_availability": Bounds(0, 0.99999, lo_open=True),  # 1.0 leaves no error budget
        "slo_latency_p95_s": _secs(60),
        "burn_fast": Bounds(1, 1000),
        "burn_slow": Bounds(1, 1000),
        "metric_max_age_s": _secs(_DAY),
        "idempotency_concurrency": _count(2, 64),
        "idempotency_ttl_min_s": Bounds(1, 30 * _DAY, unit="s"),
        "idempotency_grace_s": Bounds(0, 7 * _DAY, unit="s"),
        "outbox_max_age_s": _secs(_DAY),
        "outbox_max_backlog": _count(0, 10**9),
        "heartbeat_max_age_s": _secs(_HOUR),
        "pool_sample_window_s": _secs(60),
        "idle_in_tx_max_s": _secs(_DAY),
        "archive_max_age_s": _secs(_DAY),
        "max_redirects": _count(1, 20),
        "pgbouncer_min_client_conn": _count(1, 10**6),
        "api_cpu_limit_cores": Bounds(0, 4096, lo_open=True, unit="cores"),
        "api_memory_limit_bytes": Bounds(0, 2**50, unit="bytes"),
        "pool_samples": _count(2, 1000),
        "pitr_drill_timeout_s": _secs(_HOUR),
    },
}
# A numeric setting added without an entry above still gets "finite and >= 0" (the
# unit test then asks for a real range).
_FALLBACK = Bounds(0, float(2**63 - 1))
for _sec, _keys in SCHEMA.items():
    for _key, _spec in _keys.items():
        if _spec.type in (int, float):
            _keys[_key] = dataclasses.replace(
                _spec, bounds=BOUNDS.get(_sec, {}).get(_key, _FALLBACK)
            )

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
DEFAULT_FILE = "spark.toml"


@dataclass(frozen=True)
class SparkConfig:
    """The validated settings of one run. Sections are plain dicts keyed as in SCHEMA."""

    targets: Mapping[str, Any]
    release: Mapping[str, Any]
    policy: Mapping[str, Any]
    thresholds: Mapping[str, Any]
    schema: Mapping[str, Any]
    evidence: Mapping[str, Any] = field(default_factory=lambda: {"signing_key": ""})
    contracts: Mapping[str, Any] = field(default_factory=lambda: defaults()["contracts"])
    canary: Mapping[str, Any] = field(default_factory=dict)
    env: str = ""
    source: str = ""
    redactor: Redactor = field(default_factory=Redactor, compare=False)

    def section(self, name: str) -> Mapping[str, Any]:
        return getattr(self, name)

    def __repr__(self) -> str:
        """Short and secret-free: tracebacks (-l) show it, truncated mid-value by pytest,
        where a cut secret could no longer be recognised."""
        return f"SparkConfig(source={self.source!r}, env={self.env!r})"

    def redacted(self) -> dict[str, Any]:
        """The whole config as data safe to store in a bundle (secrets masked)."""
        out: dict[str, Any] = {"env": self.env, "source": self.source}
        for sec, keys in SCHEMA.items():
            values = self.section(sec)
            out[sec] = {
                k: ("***" if spec.secret and values[k] else self.redactor.value(values[k]))
                for k, spec in keys.items()
            }
        return out


def defaults() -> dict[str, dict[str, Any]]:
    return {
        sec: {k: _copy(spec.default) for k, spec in keys.items()} for sec, keys in SCHEMA.items()
    }


def _copy(v: Any) -> Any:
    return list(v) if isinstance(v, list) else v


def load_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text (TOML files are UTF-8)") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None


def expand_env(value: Any, where: str, environ: Mapping[str, str], redactor: Redactor) -> Any:
    """Replace ``${NAME}`` with the environment's value and remember it as a secret."""
    if isinstance(value, list):
        return [expand_env(v, where, environ, redactor) for v in value]
    if not isinstance(value, str):
        return value

    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in environ:
            raise ConfigError(
                f"{where} references ${{{name}}}, which is not set in the environment"
            )
        redactor.add(environ[name])
        return environ[name]

    return _ENV_REF.sub(sub, value)


def coerce(value: Any, spec: Key, where: str) -> Any:
    """Check one value against its spec; ints are accepted where floats are expected.

    Numbers are checked against the setting's bounds before anything else: a NaN
    compares false with every limit, so a NaN threshold would pass every check.
    """
    if spec.secret and not isinstance(value, str):  # never echo a secret in the message
        raise ConfigError(f"{where} must be a string, got {type(value).__name__}")
    expected = spec.type
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if spec.bounds is not None:
            spec.bounds.check(value, where)
        elif not math.isfinite(value) or value < 0:
            raise ConfigError(f"{where} must be a finite number >= 0, got {value}")
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if expected is list:
        if isinstance(value, str):  # a CLI flag or a single value: comma separated
            return [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list) or not all(isinstance(v, (str, int)) for v in value):
            raise ConfigError(f"{where} must be a list of strings, got {_show(value)}")
        return [str(v) for v in value]
    if expected is bool and not isinstance(value, bool):
        raise ConfigError(f"{where} must be true or false, got {_show(value)}")
    if expected is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError(f"{where} must be an integer, got {_show(value)}")
    if expected is float and not isinstance(value, float):
        raise ConfigError(f"{where} must be a number, got {_show(value)}")
    if expected is str and not isinstance(value, str):
        raise ConfigError(f"{where} must be a string, got {_show(value)}")
    return value


def _show(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"[:80]


def merge_layer(
    base: dict[str, dict[str, Any]],
    layer: Mapping[str, Any],
    origin: str,
    environ: Mapping[str, str],
    redactor: Redactor,
    literals: list[str] | None = None,
) -> None:
    """Validate one layer (a file body or an env table) and merge it over ``base``;
    secret settings written out literally are appended to ``literals``."""
    for sec, body in layer.items():
        if sec == "env":
            continue
        if sec not in SCHEMA:
            raise ConfigError(f"{origin}: unknown section [{sec}]; known: {', '.join(SCHEMA)}")
        if not isinstance(body, Mapping):
            raise ConfigError(f"{origin}: [{sec}] must be a table")
        for key, raw in body.items():
            where = f"{origin}: {sec}.{key}"
            if key not in SCHEMA[sec]:
                from .options import did_you_mean

                raise ConfigError(
                    f"{where} is not a known setting{did_you_mean(key, SCHEMA[sec])}; "
                    "see `pytest-spark config-reference`"
                )
            spec = SCHEMA[sec][key]
            value = coerce(expand_env(raw, where, environ, redactor), spec, where)
            register_secret(key, value, spec, redactor)
            if literals is not None and is_literal_secret(key, raw, spec):
                literals.append(f"{origin}: {sec}.{key}")
            base[sec][key] = value


def secrets_in(key: str, value: Any, spec: Key) -> list[str]:
    """The credentials a setting's value carries: a DSN's (password, sslpassword), any other
    secret setting's whole value, the password of a URL's userinfo (RFC 3986 3.2.1)."""
    if spec.secret and isinstance(value, str):
        if value.lstrip().startswith("-----BEGIN"):  # PEM key text: the lines leak alone too
            return [value, *(ln.strip() for ln in value.splitlines() if len(ln.strip()) >= 16)]
        if key == "signing_key":  # a path to the key: the file's content is the secret
            return []
        if not key.endswith("dsn"):
            return [value]
        from .dsn import dsn_secrets  # psycopg: imported only when a DSN is configured

        return dsn_secrets(value) if value else []
    out = []
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, str) and "://" in item:
            try:
                password = urlsplit(item).password
            except ValueError:
                continue
            if password:
                out.append(unquote(password))
    return out


def register_secret(key: str, value: Any, spec: Key, redactor: Redactor) -> None:
    """Every credential joins the run's registry, however it was given (file, ${ENV},
    --spark-set, a flag, the sandbox layer)."""
    for secret in secrets_in(key, value, spec):
        redactor.add(secret)


_ENV_MARK = "SPARKENVREF"


def is_literal_secret(key: str, raw: Any, spec: Key) -> bool:
    """True when a credential in a file value is written out, not taken from ${ENV}
    (the README's rule: secrets only as ${ENV}). A DSN without a password is fine."""
    if isinstance(raw, list):
        return any(is_literal_secret(key, item, spec) for item in raw)
    if not isinstance(raw, str) or not raw:
        return False
    marked = _ENV_REF.sub(_ENV_MARK, raw)
    return any(_ENV_MARK not in secret for secret in secrets_in(key, marked, spec))


def build(
    *,
    path: Path | None,
    env_name: str = "",
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> SparkConfig:
    """Assemble the run's settings: defaults < file < [env.NAME] < CLI overrides."""
    environ = os.environ if environ is None else environ
    redactor = Redactor()
    try:
        return _build(path, env_name, overrides, environ, cwd, redactor)
    except ConfigError as exc:  # a message may quote a value: never a registered secret
        raise ConfigError(redactor.known(str(exc))) from None


def _build(
    path: Path | None,
    env_name: str,
    overrides: Mapping[str, Mapping[str, Any]] | None,
    environ: Mapping[str, str],
    cwd: Path | None,
    redactor: Redactor,
) -> SparkConfig:
    literals: list[str] = []
    values = defaults()
    source = ""
    body: dict[str, Any] = {}
    if path is None:
        candidate = (cwd or Path.cwd()) / DEFAULT_FILE
        if candidate.is_file():
            path = candidate
    if path is not None:
        body = load_file(path)
        source = str(path)
        merge_layer(values, body, str(path), environ, redactor, literals)
    if env_name:
        envs = body.get("env", {})
        if env_name not in envs:
            known = ", ".join(envs) or "none defined"
            raise ConfigError(
                f"--spark-env {env_name!r} is not defined in {source or 'any config'} "
                f"(environments: {known})"
            )
        merge_layer(
            values, envs[env_name], f"{source} [env.{env_name}]", environ, redactor, literals
        )
    for sec, body_over in (overrides or {}).items():
        for key, raw in body_over.items():
            if raw is None:
                continue
            spec = SCHEMA[sec][key]
            where = f"--spark option for {sec}.{key}"
            value = coerce(raw, spec, where)
            register_secret(key, value, spec, redactor)
            values[sec][key] = value
    if literals and not values["policy"]["allow_literal_secrets"]:
        raise ConfigError(
            f"{literals[0]} is a secret written out in the file; use ${{ENV_VAR}} "
            '(e.g. postgresql://user:${PGPASSWORD}@host/db, auth_token = "${SPARK_TOKEN}") '
            "or set policy.allow_literal_secrets = true"
        )
    validate(values)
    return SparkConfig(**values, env=env_name, source=source, redactor=redactor)


def validate(values: Mapping[str, Mapping[str, Any]]) -> None:
    """Cross-field rules that a single key's type cannot express."""
    version = values["release"]["version"] or ""
    if version:
        from .releases import canonical

        try:  # one release, one folder: 1.4.0 and v1.4.0 are both v1.4.0
            values["release"]["version"] = canonical(version)  # type: ignore[index]
        except ValueError as exc:
            raise ConfigError(f"{exc} (it names the bundle folder)") from None
    digest = values["release"]["artifact_digest"]
    if digest and not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
        raise ConfigError(f"release.artifact_digest must be sha256:<64 hex digits>, got {digest!r}")
    th = values["thresholds"]
    if not re.fullmatch(r"[1-9][0-9]{0,4}[smhd]", th["baseline_window"]):
        raise ConfigError(
            f"thresholds.baseline_window must be a PromQL duration like 5m (s, m, h, d), "
            f"got {th['baseline_window']!r}"
        )
    grades = [g for _, g in GRADES]  # the grades PF-05's rule can give (rules/headers.py)
    grade = th["header_min_grade"].strip().upper()
    if grade not in grades:
        raise ConfigError(
            f"thresholds.header_min_grade must be one of {', '.join(grades)}, "
            f"got {th['header_min_grade']!r}"
        )
    th["header_min_grade"] = grade  # type: ignore[index]
    if th["sequence_warn_ratio"] > th["sequence_fail_ratio"]:
        raise ConfigError("thresholds.sequence_warn_ratio must not exceed sequence_fail_ratio")
    from .catalog import BY_ID

    for cid in values["policy"]["exempt"]:
        if cid not in BY_ID:
            raise ConfigError(f"policy.exempt names unknown check id {cid!r}")
    for key in ("html_paths", "api_paths"):
        if not values["targets"][key]:
            raise ConfigError(f"targets.{key} must name at least one path (else nothing is judged)")
        for path in values["targets"][key]:
            if not path.startswith("/"):
                raise ConfigError(f"targets.{key}: {path!r} must start with /")
    for key in ("api_urls",):
        for url in values["targets"][key]:
            if not re.match(r"^https?://[^/\s]+", url):
                raise ConfigError(f"targets.{key}: {url!r} is not an http(s) URL")
    for sec, key in (
        ("targets", "prometheus_url"),
        ("targets", "alertmanager_url"),
        ("targets", "http_redirect_url"),
        ("contracts", "provider_url"),
        ("contracts", "provider_states_url"),
        ("contracts", "broker_url"),
    ):
        url = values[sec][key]
        if url and not re.match(r"^https?://[^/\s]+", url):
            raise ConfigError(f"{sec}.{key}: {url!r} is not an http(s) URL")
    for key in ("db_dsn", "pgbouncer_dsn", "pgbouncer_admin_dsn", "rehearsal_dsn"):
        if values["targets"][key]:
            from .dsn import parse_dsn  # psycopg: imported only when a DSN is configured

            try:
                parse_dsn(values["targets"][key])
            except ValueError as exc:
                raise ConfigError(f"targets.{key}: {exc}") from None
    try:
        parse_selectors(values["contracts"]["consumer_version_selectors"])
    except ValueError as exc:
        raise ConfigError(f"contracts.consumer_version_selectors: {exc}") from None
    if values["policy"]["production"] and values["policy"]["allow_disruptive"]:
        raise ConfigError("policy.allow_disruptive is refused when policy.production = true")
    if values["evidence"]["signing_key"]:
        from .signing import SigningError, load_private_key

        try:  # found out now, not after every check has run
            load_private_key(values["evidence"]["signing_key"])
        except SigningError as exc:
            raise ConfigError(f"evidence.signing_key: {exc}") from None
    validate_canary(values["canary"])


def validate_canary(cn: Mapping[str, Any]) -> None:
    """[canary]: the settings whose mistakes would only show mid-rollout."""
    if not 0 < cn["alpha"] < 1:
        raise ConfigError(f"canary.alpha must be in (0, 1), got {cn['alpha']}")
    if cn["traffic_driver"] not in ("", "haproxy", "command"):
        raise ConfigError(
            f"canary.traffic_driver {cn['traffic_driver']!r}: use haproxy, command or leave empty"
        )
    if cn["traffic_driver"] == "command" and not any("{weight}" in a for a in cn["weight_command"]):
        raise ConfigError("canary.weight_command must be an argv with a {weight} placeholder")
    for item in cn["triggers"]:
        if not re.fullmatch(r"[Tt]\d\d\.(threshold|for|severity|range)=\S+", item.strip()):
            raise ConfigError(f"canary.triggers: {item!r} is not ID.KEY=VALUE (T01.threshold=0.5)")
    if cn["blast_path"] and not cn["blast_path"].startswith("/"):
        raise ConfigError(f"canary.blast_path {cn['blast_path']!r} must start with /")


def reference_markdown() -> str:
    """The README config reference, generated from SCHEMA."""
    lines = ["| setting | default | meaning |", "|---|---|---|"]
    for sec, keys in SCHEMA.items():
        for key, spec in keys.items():
            default = spec.default if spec.default not in ("", []) else "(unset)"
            lines.append(f"| `{sec}.{key}` | `{default}` | {spec.doc} |")
    return "\n".join(lines)


# Example values for secret settings in `pytest-spark init`'s file: always ${ENV} references.
_SECRET_EXAMPLES = {
    "db_dsn": "postgresql://spark_ro:${SPARK_DB_PASSWORD}@db.example:5432/spark",
    "pgbouncer_dsn": "postgresql://spark_ro:${SPARK_DB_PASSWORD}@pgbouncer.example:6432/spark",
    "pgbouncer_admin_dsn": (
        "postgresql://pgbouncer_stats:${SPARK_PGBOUNCER_PASSWORD}@pgbouncer.example:6432/pgbouncer"
    ),
    "rehearsal_dsn": "postgresql://rehearsal:${SPARK_REHEARSAL_PASSWORD}@scratch.example/postgres",
    "auth_token": "${SPARK_API_TOKEN}",
    "signing_key": "${SPARK_SIGNING_KEY}",
}


def toml_value(value: Any) -> str:
    """A default as TOML (strings as JSON strings: a subset of TOML basic strings)."""
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(str(value))


def sample_toml() -> str:
    """`pytest-spark init`: every setting with its doc, range, flag and default, generated
    from SCHEMA. Loads as the defaults; every ``# key = value`` line below a doc comment is
    the default, valid TOML once uncommented; secrets appear only as ${ENV} examples."""
    from .options import TARGET_FLAGS

    flags = {(sec, key): flag for flag, (sec, key, _) in TARGET_FLAGS.items()}
    out = [
        "# spark.toml -- pytest-spark settings, written by `pytest-spark init`.",
        "# Every setting is listed with its default (commented out: uncomment what you change).",
        "# Precedence: defaults < this file < [env.NAME] (--spark-env NAME) < command line",
        "# (--spark-set SECTION.KEY=VALUE works for any setting). Secrets only as ${ENV_VAR}.",
        "# The checks need at least the [targets] of the platform under test; to try the",
        "# suite without one: pytest -m preflight --release v1.4.0 --spark-sandbox",
    ]
    for sec, keys in SCHEMA.items():
        out += ["", f"[{sec}]"]
        for key, spec in keys.items():
            note = [spec.doc]
            if spec.bounds is not None:
                note.append(f"range {spec.bounds}")
            if (sec, key) in flags:
                note.append(f"flag {flags[sec, key]}")
            out.append("# " + "; ".join(note))
            if spec.secret:
                example = _SECRET_EXAMPLES.get(key, f"${{SPARK_{sec.upper()}_{key.upper()}}}")
                out.append(f"#   (secret: only as ${{ENV}}) e.g. {key} = {toml_value(example)}")
            out.append(f"# {key} = {toml_value(spec.default)}")
    out += [
        "",
        "# Per-environment overrides, chosen with --spark-env staging:",
        "#   [env.staging.targets]",
        '#   api_urls = ["https://api.staging.example"]',
    ]
    return "\n".join(out) + "\n"
