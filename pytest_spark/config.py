"""Settings from spark.toml + [env.NAME] + ${ENV} secrets + CLI flags, validated into one object.

Every key has a type, a default and a one-line doc in ``SCHEMA``; the README's
config reference is generated from it, and unknown keys are rejected so a typo
never silently falls back to a default.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .redact import Redactor
from .rules.decimal_columns import DEFAULT_MONEY_PATTERNS


class ConfigError(Exception):
    """A one-line, user-facing configuration problem (turned into a usage error)."""


@dataclass(frozen=True)
class Key:
    type: type | tuple[type, ...]
    default: Any
    doc: str
    secret: bool = False


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
    },
    "thresholds": {
        "clock_skew_s": _k(float, 1.0, "BS-01 max pairwise clock skew"),
        "ntp_max_offset_s": _k(float, 0.1, "PF-02 max |offset| (1 ms for MiFID II RTS 25)"),
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
    "canary": {
        "stage_window_s": _k(float, 0.0, "Stage gate window (0: 300 s, 10 s on --spark-sandbox)"),
        "max_window_s": _k(
            float,
            0.0,
            "Longest a stage waits for min_requests per track (0: 4x the window, 100 s sandbox)",
        ),
        "min_requests": _k(int, 0, "Requests per track a gate needs (0: 200, 10 on the sandbox)"),
        "alpha": _k(float, 0.01, "Significance level of the canary-vs-baseline tests"),
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
    canary: Mapping[str, Any] = field(default_factory=dict)
    env: str = ""
    source: str = ""
    redactor: Redactor = field(default_factory=Redactor, compare=False)

    def section(self, name: str) -> Mapping[str, Any]:
        return getattr(self, name)

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
    """Check one value against its spec; ints are accepted where floats are expected."""
    expected = spec.type
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
        raise ConfigError(f"{where} must not be negative, got {value}")
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
) -> None:
    """Validate one layer (a file body or an env table) and merge it over ``base``."""
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
                raise ConfigError(
                    f"{where} is not a known setting; see the README config reference"
                )
            spec = SCHEMA[sec][key]
            value = coerce(expand_env(raw, where, environ, redactor), spec, where)
            if spec.secret and isinstance(value, str):
                remember_dsn_secret(value, redactor)
            base[sec][key] = value


def remember_dsn_secret(value: str, redactor: Redactor) -> None:
    """Register the password inside a DSN so it is masked even in free text."""
    from .dsn import dsn_password

    redactor.add(dsn_password(value))


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
        merge_layer(values, body, str(path), environ, redactor)
    if env_name:
        envs = body.get("env", {})
        if env_name not in envs:
            known = ", ".join(envs) or "none defined"
            raise ConfigError(
                f"--spark-env {env_name!r} is not defined in {source or 'any config'} "
                f"(environments: {known})"
            )
        merge_layer(values, envs[env_name], f"{source} [env.{env_name}]", environ, redactor)
    for sec, body_over in (overrides or {}).items():
        for key, raw in body_over.items():
            if raw is None:
                continue
            spec = SCHEMA[sec][key]
            where = f"--spark option for {sec}.{key}"
            value = coerce(raw, spec, where)
            if spec.secret and isinstance(value, str):
                remember_dsn_secret(value, redactor)
            values[sec][key] = value
    validate(values)
    return SparkConfig(**values, env=env_name, source=source, redactor=redactor)


def validate(values: Mapping[str, Mapping[str, Any]]) -> None:
    """Cross-field rules that a single key's type cannot express."""
    from .dsn import parse_dsn

    version = values["release"]["version"] or ""
    if version and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}", version):
        raise ConfigError(
            f"release {version!r} is not a version label (letters, digits, . _ + -; it names "
            "the bundle folder)"
        )
    digest = values["release"]["artifact_digest"]
    if digest and not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
        raise ConfigError(f"release.artifact_digest must be sha256:<64 hex digits>, got {digest!r}")
    th = values["thresholds"]
    for key in (
        "saturation_ratio",
        "sequence_fail_ratio",
        "sequence_warn_ratio",
        "slo_availability",
    ):
        if not 0 < th[key] <= 1:
            raise ConfigError(f"thresholds.{key} must be in (0, 1], got {th[key]}")
    if th["sequence_warn_ratio"] > th["sequence_fail_ratio"]:
        raise ConfigError("thresholds.sequence_warn_ratio must not exceed sequence_fail_ratio")
    from .catalog import BY_ID

    for cid in values["policy"]["exempt"]:
        if cid not in BY_ID:
            raise ConfigError(f"policy.exempt names unknown check id {cid!r}")
    if values["policy"]["timeout_s"] <= 0:
        raise ConfigError("policy.timeout_s must be > 0")
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
    for key in ("prometheus_url", "alertmanager_url", "http_redirect_url"):
        url = values["targets"][key]
        if url and not re.match(r"^https?://[^/\s]+", url):
            raise ConfigError(f"targets.{key}: {url!r} is not an http(s) URL")
    for key in ("db_dsn", "pgbouncer_dsn", "pgbouncer_admin_dsn"):
        if values["targets"][key]:
            try:
                parse_dsn(values["targets"][key])
            except ValueError as exc:
                raise ConfigError(f"targets.{key}: {exc}") from None
    if values["policy"]["production"] and values["policy"]["allow_disruptive"]:
        raise ConfigError("policy.allow_disruptive is refused when policy.production = true")
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
