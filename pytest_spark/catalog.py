"""The check catalog: the one source of truth for ids, titles, suites and severities.

Everything else (markers, reports, the README table, waivers) reads from here, so
a check id can never mean two different things in two places.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Suite(StrEnum):
    BLINDSPOTS = "blindspots"
    PREFLIGHT = "preflight"
    REDTEAM = "redteam"
    CONTRACT = "contract"
    CANARY = "canary"
    CHAOS = "chaos"


class Severity(StrEnum):
    BLOCKER = "blocker"
    WARNING = "warning"


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    suite: Suite
    severity: Severity
    summary: str
    writes: bool = False
    disruptive: bool = False

    @property
    def policy_gate(self) -> str | None:
        """The permission this check needs beyond read-only access, if any."""
        if self.disruptive:
            return "disruptive"
        if self.writes:
            return "writes"
        return None


_B, _P, _R, _C, _K = (
    Suite.BLINDSPOTS,
    Suite.PREFLIGHT,
    Suite.REDTEAM,
    Suite.CONTRACT,
    Suite.CANARY,
)
_BLOCK = Severity.BLOCKER

CHECKS: tuple[Check, ...] = (
    Check("BS-01", "Time", _B, _BLOCK, "Clocks agree across API, DB, Prometheus and local UTC"),
    Check("BS-02", "Migrate", _B, _BLOCK, "Schema is at the release's migration, none failed"),
    Check("BS-03", "pgBouncer", _B, _BLOCK, "PgBouncer pool mode, queue timeout and sizes fit"),
    Check("BS-04", "Decimal", _B, _BLOCK, "Money is decimal in DB columns and API JSON"),
    Check("BS-05", "CSP", _B, _BLOCK, "Enforcing, strict Content-Security-Policy with reporting"),
    Check("BS-06", "Prometheus", _B, _BLOCK, "Every canary and SLO metric family has fresh data"),
    Check("BS-07", "Flags", _B, _BLOCK, "New flags default OFF, kill switches exist"),
    Check("BS-08", "SLO", _B, _BLOCK, "Error budget left and no fast or slow burn"),
    Check("BS-09", "SBOM", _B, _BLOCK, "CycloneDX 1.6 SBOM for this release, valid, with purls"),
    Check("PF-01", "Identity", _P, _BLOCK, "Every API instance reports the release under test"),
    Check("PF-02", "NTP", _P, _BLOCK, "NTP offset, stratum and leap status within limits"),
    Check("PF-03", "Saturation", _P, _BLOCK, "CPU, memory, DB and pool headroom below 80 %"),
    Check("PF-04", "Migration", _P, _BLOCK, "Pending migrations rehearse cleanly and lint safe"),
    Check("PF-05", "Headers", _P, _BLOCK, "Security header baseline scores at least A-"),
    Check("PF-06", "Sequences", _P, _BLOCK, "No sequence near exhaustion of its column"),
    Check("PF-07", "Flags", _P, _BLOCK, "All instances share a fresh flag snapshot"),
    Check("PF-08", "Targets", _P, _BLOCK, "Scrape targets up, rules healthy, Alertmanager ready"),
    Check("PF-09", "Baseline", _P, _BLOCK, "Pre-deploy canary baseline captured and within SLO"),
    Check(
        "RT-01",
        "UNIQUE collation",
        _R,
        _BLOCK,
        "One-open-position index is valid and deterministic",
    ),
    Check(
        "RT-02",
        "Idempotency TTL",
        _R,
        _BLOCK,
        "Concurrent same-key POSTs create one order; keys expire and are purged",
        writes=True,
    ),
    Check(
        "RT-03", "Outbox lag", _R, _BLOCK, "Outbox drains: oldest row young, relay heartbeat fresh"
    ),
    Check("RT-04", "HSTS preload", _R, _BLOCK, "HSTS is preload-eligible and redirects carry it"),
    Check(
        "RT-05", "COEP compat", _R, _BLOCK, "COEP/COOP set and every subresource loads under them"
    ),
    Check(
        "RT-06",
        "Decimal tick",
        _R,
        _BLOCK,
        "Prices on tick/lot grid, exact round-trip, off-grid rejected",
        writes=True,
    ),
    Check(
        "RT-07", "pgBouncer leak", _R, _BLOCK, "No waiting clients, idle-in-tx or connection growth"
    ),
    Check(
        "RT-08",
        "PITR test",
        _R,
        _BLOCK,
        "WAL archiving healthy and a restore drill recovers a sentinel row",
        disruptive=True,
    ),
    Check("RT-09", "SLO silence", _R, _BLOCK, "No active silence mutes SLO or rollback alerts"),
    Check("RT-10", "SBOM attach", _R, _BLOCK, "SBOM attached with digest and matches what runs"),
    # Contract tests (CONTRACTS.md). Verifying a pact replays its requests, POST /orders
    # included, and message pacts need a probe order: all three write (test account only).
    Check(
        "CT-01",
        "HTTP pacts",
        _C,
        _BLOCK,
        "Every interaction of every HTTP consumer's pact verified against the release",
        writes=True,
    ),
    Check(
        "CT-02",
        "Message pacts",
        _C,
        _BLOCK,
        "Every message pact verified against what the outbox relay really publishes",
        writes=True,
    ),
    Check(
        "CT-03",
        "can-i-deploy",
        _C,
        _BLOCK,
        "Every selected pact (consumer version) has a successful verification of this release",
        writes=True,
    ),
    # canary (CANARY.md): blast radius, the five stage gates, the rollback drill
    Check("CN-00", "Blast radius", _K, _BLOCK, "Constant-rate load on the canary alone keeps SLO"),
    *(
        Check(f"CN-{p:02d}", f"Stage {p} %", _K, _BLOCK, f"Canary at {p} % traffic passes its gate")
        for p in (1, 5, 25, 50, 100)
    ),
    Check(
        "RB-01",
        "Rollback drill",
        _K,
        _BLOCK,
        "A canary fault gives NO-GO; rollback runs and is confirmed in budget",
        disruptive=True,
    ),
    # chaos scenarios (CHAOS.md): Chaos Toolkit experiments in checks/chaos/
    Check(
        "CH-01",
        "DB connections killed",
        Suite.CHAOS,
        _BLOCK,
        "App DB connections killed twice in 10 s under load: orders exactly once, back in 15 s",
        disruptive=True,
    ),
    Check(
        "CH-02",
        "DB latency",
        Suite.CHAOS,
        _BLOCK,
        "+500 ms on the DB path: T01 fires within for + 2 evaluations, recovers after revert",
        disruptive=True,
    ),
    Check(
        "CH-03",
        "Canary instance killed",
        Suite.CHAOS,
        _BLOCK,
        "Canary API SIGKILLed under load: out of HAProxy in budget, <3 % client 5xx, alert fires",
        disruptive=True,
    ),
    Check(
        "CH-04",
        "Outbox relay stalled",
        Suite.CHAOS,
        _BLOCK,
        "Outbox relay stalled: T11 fires, backlog drains after resume, events exactly once by id",
        disruptive=True,
    ),
    Check(
        "CH-05",
        "PgBouncer pool exhausted",
        Suite.CHAOS,
        _BLOCK,
        "PgBouncer pool held idle in transaction: API 503 in time, never 500/hang; T06, T10 fire",
        disruptive=True,
    ),
    Check(
        "CH-06",
        "WebSocket disconnect storm",
        Suite.CHAOS,
        _BLOCK,
        "Canary drops every price feed: clients back off, staleness recovers, T13 fires",
        disruptive=True,
    ),
)

BY_ID: dict[str, Check] = {check.id: check for check in CHECKS}
SUITES: tuple[str, ...] = tuple(s.value for s in Suite)
OTHER_MARKERS: dict[str, str] = {}


def get(check_id: str) -> Check:
    """Look a check up by id, with an error that lists what exists."""
    try:
        return BY_ID[check_id]
    except KeyError:
        raise KeyError(f"unknown check id {check_id!r}; known ids: {', '.join(BY_ID)}") from None


def markdown_table() -> str:
    """The README catalog table, generated so docs cannot drift from the code."""
    lines = [
        "| id | title | suite | severity | gate | what it checks |",
        "|---|---|---|---|---|---|",
    ]
    for c in CHECKS:
        gate = c.policy_gate or "read-only"
        lines.append(f"| {c.id} | {c.title} | {c.suite} | {c.severity} | {gate} | {c.summary} |")
    return "\n".join(lines)


@dataclass(frozen=True)
class Detail:
    """README material for one check: what it verifies, its settings, what it records."""

    checks: str
    config: tuple[str, ...]
    evidence: str


_T, _R2, _TH, _S, _CT, _CN = (
    "targets.",
    "release.",
    "thresholds.",
    "schema.",
    "contracts.",
    "canary.",
)

DETAILS: dict[str, Detail] = {
    "BS-01": Detail(
        "Local UTC, each API instance's `Date` header, PostgreSQL `clock_timestamp()` and "
        "Prometheus `time()` agree within the skew limit, allowing for round-trip time and the "
        "Date header's one-second resolution.",
        (_T + "api_urls", _T + "db_dsn", _T + "prometheus_url", _TH + "clock_skew_s"),
        "each clock reading with its request/response times and RTT; the worst pair",
    ),
    "BS-02": Detail(
        "The migrations table records the release's migration version, with no failed or dirty "
        "row.",
        (_T + "db_dsn", _R2 + "migration", _S + "migrations_table"),
        "the SQL, the applied rows, the expected version, findings",
    ),
    "BS-03": Detail(
        "PgBouncer's effective configuration: pool_mode including per-user and per-database "
        "overrides (SHOW USERS, SHOW POOLS), query_wait_timeout > 0, max_client_conn, and every "
        "server connection the pools can open (pool_size + reserve per user+database pool, "
        "max_db/max_user caps) against PostgreSQL max_connections minus reserved.",
        (
            _T + "pgbouncer_admin_dsn",
            _T + "db_dsn",
            _TH + "pgbouncer_pool_mode",
            _TH + "pgbouncer_min_client_conn",
        ),
        "SHOW CONFIG/DATABASES/USERS/POOLS as returned (raw and parsed), max_connections, findings",
    ),
    "BS-04": Detail(
        "No money-like column in the configured tables is real/double/money/unconstrained "
        "numeric; money fields in API JSON (quotes, positions, orders) are strings.",
        (_T + "db_dsn", _T + "api_urls", _S + "money_tables", _S + "money_patterns"),
        "column metadata rows, JSON bodies as received, each finding with its JSON path",
    ),
    "BS-05": Detail(
        "An enforcing CSP on HTML and API responses: strict script-src (no unsafe-inline "
        "without nonce/hash, no unsafe-eval, data: or broad sources), object-src 'none', "
        "base-uri, frame-ancestors, form-action, reporting configured to well-formed endpoints; "
        "with `--spark-allow-writes` the report endpoint accepting a synthetic report (a POST: "
        "it counts as a violation), without it a warning that acceptance was not exercised.",
        (_T + "api_urls", _T + "html_paths", _T + "api_paths", "policy.allow_writes"),
        "headers as received per URL, the parsed policy, each finding, each report endpoint "
        "(exercised or why not), the report POST status",
    ),
    "BS-06": Detail(
        "Every metric family the six canary metrics and the SLO rules need has a fresh series "
        "for the API job.",
        (_T + "prometheus_url", _T + "api_job", _TH + "metric_max_age_s"),
        "each PromQL query and its raw response, the age of every family",
    ),
    "BS-07": Detail(
        "Flags new in this release default OFF; every declared kill switch exists.",
        (_T + "api_urls", _R2 + "new_flags", _R2 + "kill_switches"),
        "the /flags document per instance, findings",
    ),
    "BS-08": Detail(
        "30-day error budget left and multi-window burn rates below the paging thresholds "
        "(14.4x over 1h and 5m, 6x over 6h and 30m); says how much of the 30 days the "
        "Prometheus data really covers.",
        (
            _T + "prometheus_url",
            _TH + "slo_availability",
            _TH + "burn_fast",
            _TH + "burn_slow",
        ),
        "PromQL per window with raw responses, error ratios, burn rates, budget remaining",
    ),
    "BS-09": Detail(
        "The release's CycloneDX SBOM exists, validates offline against the 1.6 schema, names "
        "the service at the release version, gives components purls, keeps bom-refs unique "
        "and every reference pointing at one.",
        (_R2 + "sbom", _R2 + "service", _R2 + "version"),
        "the SBOM's digest, validation errors, metadata.component, components without purl",
    ),
    "PF-01": Detail(
        "Every API instance's /version reports the release (and the git sha when configured); "
        "all instances agree.",
        (_T + "api_urls", _R2 + "version", _R2 + "git_sha"),
        "each /version document as received, the comparison",
    ),
    "PF-02": Detail(
        "SNTP v4 to each NTP server: |offset| within the limit, stratum 1..15, no leap alarm; "
        "no server answering is an ERROR (could not verify).",
        (_T + "ntp_servers", _TH + "ntp_max_offset_s"),
        "t1..t4, offset, delay, stratum and leap per server",
    ),
    "PF-03": Detail(
        "Headroom before the deploy: API CPU and memory, PostgreSQL connections, PgBouncer "
        "waiting clients and maxwait, each below the saturation limit.",
        (
            _T + "prometheus_url",
            _T + "db_dsn",
            _T + "pgbouncer_admin_dsn",
            _TH + "saturation_ratio",
            _TH + "api_cpu_limit_cores",
            _TH + "api_memory_limit_bytes",
            _TH + "pgbouncer_max_wait_s",
        ),
        "PromQL and SQL/SHOW sent with rows received, each utilisation figure",
    ),
    "PF-04": Detail(
        "Pending migrations apply cleanly on a throwaway PostgreSQL of the target's major "
        "version (or targets.rehearsal_dsn) built from a read-only schema-only dump of the "
        "target (never the target's server), with lock/statement timeouts; lint (PostgreSQL's "
        "parser, default volatility from pg_proc) free of long-lock operations, confirmed or "
        "refuted per statement by the rehearsal's relfilenodes and locks.",
        (_T + "db_dsn", _R2 + "pending_migrations_dir", _T + "pg_bin_dir", _T + "rehearsal_dsn"),
        "files with digests, tool commands and exit codes, per-statement status, duration, "
        "rewritten tables and locks taken, lint findings and lint vs rehearsal",
    ),
    "PF-05": Detail(
        "Security headers scored like the Mozilla Observatory (start at 100, penalties, grade); "
        "passes at the minimum grade with no failing finding.",
        (_T + "api_urls", _T + "html_paths", _T + "api_paths", _TH + "header_min_grade"),
        "headers as received, score, grade, each penalty",
    ),
    "PF-06": Detail(
        "No sequence near exhaustion, measured against the type of every int2/int4 column it "
        "feeds (owned-by, identity, or a nextval() column default parsed with pglast).",
        (_T + "db_dsn", _TH + "sequence_fail_ratio", _TH + "sequence_warn_ratio"),
        "the SQL, every sequence with usage and limiting type, findings",
    ),
    "PF-07": Detail(
        "All API instances serve the same flag snapshot version, and it is fresh.",
        (_T + "api_urls", _TH + "flag_snapshot_max_age_s"),
        "each instance's snapshot version and time, ages",
    ),
    "PF-08": Detail(
        "Every active Prometheus target up, scraped within 2x its interval, no lastError; every "
        "rule group healthy; Alertmanager ready.",
        (_T + "prometheus_url", _T + "alertmanager_url"),
        "targets and rules API responses, Alertmanager status",
    ),
    "PF-09": Detail(
        "Captures the canary metrics' pre-deploy baseline (baseline.json) and fails when it has "
        "no data or already breaks the SLO.",
        (_T + "prometheus_url", _TH + "baseline_window", _TH + "slo_latency_p95_s"),
        "baseline.json artifact, each PromQL query and response",
    ),
    "RT-01": Detail(
        "A unique, valid partial index enforces one open position per account and symbol with "
        "the expected predicate, over deterministic collations.",
        (_T + "db_dsn", _S + "positions_table", _S + "positions_key", _S + "positions_predicate"),
        "every index on the table with predicate and key collations, findings",
    ),
    "RT-02": Detail(
        "Concurrent same-key POSTs create exactly one order; a different body gets 422, a "
        "missing key 400; keys expire after >= 24 h and the purge removes old ones. Writes.",
        (
            _T + "api_urls",
            _T + "db_dsn",
            _TH + "idempotency_concurrency",
            _TH + "idempotency_ttl_min_s",
            _TH + "idempotency_grace_s",
            _S + "test_account",
        ),
        "every response of the race, orders counted in the DB, key TTL rows",
    ),
    "RT-03": Detail(
        "The oldest unpublished outbox row is young, the backlog small and the relay heartbeat "
        "fresh.",
        (
            _T + "db_dsn",
            _T + "prometheus_url",
            _TH + "outbox_max_age_s",
            _TH + "outbox_max_backlog",
            _TH + "heartbeat_max_age_s",
            _T + "relay_heartbeat_metric",
            _S + "outbox_table",
        ),
        "outbox lag row, heartbeat reading, findings",
    ),
    "RT-04": Detail(
        "HSTS is preload-eligible (max-age >= 1 year, includeSubDomains, preload, no repeats or "
        "leading zeros) and an http:// URL redirects to https carrying HSTS.",
        (_T + "api_urls", _T + "http_redirect_url", _TH + "max_redirects"),
        "HSTS as received, the parsed directives, the redirect chain",
    ),
    "RT-05": Detail(
        "COEP (require-corp or credentialless) with COOP same-origin, and every subresource of "
        "the HTML served with CORP or CORS so COEP does not block it.",
        (_T + "api_urls", _T + "html_paths"),
        "the HTML's headers, each subresource URL with its headers, findings",
    ),
    "RT-06": Detail(
        "Quotes sit on tick/lot grids as decimal strings; hypothesis-generated on-grid orders "
        "round-trip byte-identical through the API and the numeric column; off-grid prices get "
        "a 4xx. Writes.",
        (_T + "api_urls", _T + "db_dsn", _S + "test_account"),
        "quotes as received, each generated order with API and DB values, the rejection",
    ),
    "RT-07": Detail(
        "Sampled over a window: no waiting clients, maxwait below the limit, no long idle-in-"
        "transaction server connection, no monotonic client growth.",
        (
            _T + "pgbouncer_admin_dsn",
            _TH + "pool_sample_window_s",
            _TH + "pool_samples",
            _TH + "idle_in_tx_max_s",
            _TH + "pgbouncer_max_wait_s",
        ),
        "every SHOW POOLS/CLIENTS/SERVERS sample (raw), findings",
    ),
    "RT-08": Detail(
        "WAL archiving healthy, then a real restore drill: base backup, sentinel row after it, "
        "restore to a scratch directory with recovery_target_time, sentinel present. "
        "Disruptive.",
        (
            _T + "db_dsn",
            _TH + "archive_max_age_s",
            _TH + "pitr_drill_timeout_s",
            _T + "wal_archive_dir",
            _T + "pg_bin_dir",
            _S + "pitr_sentinel_table",
        ),
        "archiver settings and stats, drill timings (backup, restore, recovery, RTO), the "
        "sentinel comparison",
    ),
    "RT-09": Detail(
        "No active Alertmanager silence matches an SLO or rollback alert (RE2 matchers "
        "anchored as Alertmanager does; templated rule labels by what they can expand to).",
        (_T + "alertmanager_url", _T + "prometheus_url", _T + "slo_alert_patterns"),
        "silences returned, alert names considered, matches",
    ),
    "RT-10": Detail(
        "The SBOM is attached to the evidence with its digest, and its build id and version "
        "match what the API reports.",
        (_R2 + "sbom", _T + "api_urls"),
        "the SBOM file itself, its sha256, the comparison with /version",
    ),
    "CT-01": Detail(
        "The suite's consumer tests (spark-web, spark-mobile) write their pacts with Pact's "
        "mock server; every HTTP pact in the pact dir (and the broker's selection) is replayed "
        "against the target with its provider states set; a mismatch fails, a state that cannot "
        "be set or an unreachable provider is an ERROR. Writes (POST /orders, test account).",
        (
            _CT + "pact_dir",
            _CT + "provider_url",
            _CT + "provider_states_url",
            _CT + "broker_url",
            _S + "test_account",
        ),
        "each pact file with its sha256, the verifier's result per interaction (expected and "
        "actual on a mismatch), the provider states called and what they answered",
    ),
    "CT-02": Detail(
        "Every message pact (risk-engine, ledger) is verified against the event the outbox relay "
        "really published for a probe order placed under the test account, read back read-only "
        "from the outbox table with its metadata (content type, event type, key). Writes.",
        (
            _CT + "pact_dir",
            _CT + "message_provider",
            _CT + "message_timeout_s",
            _T + "db_dsn",
            _S + "outbox_table",
            _S + "test_account",
        ),
        "each pact file with its sha256, the probe order, the outbox row as published, the "
        "verifier's result per interaction",
    ),
    "CT-03": Detail(
        "can-i-deploy: every pact selected for the target (each consumer version in the pact "
        "dir, and the broker's consumer version selectors when configured) has a successful "
        "verification against this release in this run.",
        (
            _CT + "pact_dir",
            _CT + "broker_url",
            _CT + "consumer_version_selectors",
            _CT + "publish_results",
        ),
        "the pacts considered (consumer, version, sha256) and each one's verification result",
    ),
    "CN-00": Detail(
        "Before stage 1: constant-rate open-model GETs against the canary instances alone "
        "(bounded; loopback, or with --spark-allow-disruptive), latency from each request's "
        "intended send time into an HDR histogram; fails when p95 exceeds the SLO or errors "
        "the budget, errors when the generator could not hold its rate.",
        (
            _T + "api_urls",
            _CN + "blast_duration_s",
            _CN + "blast_rate",
            _CN + "blast_path",
            _CN + "blast_max_error_ratio",
            _TH + "slo_latency_p95_s",
        ),
        "requested vs achieved rate, p50/p95/p99/max, errors by kind, late and omitted sends",
    ),
    **{
        f"CN-{p:02d}": Detail(
            f"Stage {p} %: traffic is at {p} % (HAProxy counters or canary.share_query, within "
            "a binomial tolerance); the six canary metrics over the window within T01..T06; "
            "canary vs stable (Mann-Whitney U + Cliff's delta on latency, exact tests on sparse "
            "counts) and PF-09's baseline.json; T07..T16 not firing; enough requests per track "
            "(else ERROR inconclusive). --spark-stage observes, --spark-rollout drives.",
            (
                _T + "prometheus_url",
                _CN + "stage_window_s",
                _CN + "min_requests",
                _CN + "alpha",
                _CN + "weight_z",
                _CN + "triggers",
                _CN + "traffic_driver",
                _CN + "rollback_command",
            ),
            "rollout_stage snapshot: every query and raw response, value, threshold, statistic, "
            "p-value, trigger state and the decision trace; rollback times when it ran",
        )
        for p in (1, 5, 25, 50, 100)
    },
    "RB-01": Detail(
        "On the sandbox: injects a canary fault at a stage, the gate must say NO-GO naming it, "
        "the rollback runs and no canary traffic is confirmed within the budget. Disruptive.",
        (_CN + "confirm_window_s", _CN + "rollback_budget_s", _CN + "rollback_command"),
        "the stage snapshot, detection / rollback start / end / confirmed times",
    ),
    "CH-01": Detail(
        "Chaos Toolkit experiment `checks/chaos/ch01_db_connections_killed.json` on the "
        "sandbox: while the run's own order load (Idempotency-Keys, hedged first attempts, "
        "retries with the same key) goes through HAProxy, PgBouncer KILLs every client and "
        "server connection of the app database twice, 5 s apart. Every key must exist exactly "
        "once in the orders table (reconciled against the database), no attempt may hang past "
        "the client deadline, the API must be healthy within 15 s, and T02 fires only if the "
        "canary 5xx share held above its 3 % budget (the evidence says which). Rollbacks "
        "always run.",
        ("targets.prometheus_url", "targets.db_dsn", "policy.allow_disruptive"),
        "the Chaos Toolkit journal, the load (keys, attempts, rate, 5xx, 409, timeouts, "
        "slowest attempt), the reconciliation per key, the T02 verdict with the peak 5xx share",
    ),
    "CH-02": Detail(
        "Chaos Toolkit experiment `checks/chaos/ch02_db_latency.json` on the sandbox: the canary "
        "API reaches PgBouncer through the project's fault proxy, which adds 500 ms per answer "
        "for a bounded window; T01 must fire within its `for` + 2 evaluation intervals of p95 "
        "crossing the SLO, and resolve after the revert; nothing fires on the steady-state-only "
        "run. Rollbacks always run (failure, exception, Ctrl-C, SIGTERM); the fault expires by "
        "itself.",
        ("targets.prometheus_url", "policy.allow_disruptive"),
        "the Chaos Toolkit journal, the trigger timeline (pending, firing, resolved), fire "
        "delay, the load (requests, rate, 5xx server- and client-side)",
    ),
    "CH-03": Detail(
        "Chaos Toolkit experiment `checks/chaos/ch03_canary_instance_killed.json` on the "
        "sandbox: while the run's own order load goes through HAProxy, canary instance api-1 "
        "is SIGKILLed. HAProxy must take it out within its health-check budget (3 s), the "
        "clients' 5xx-or-unanswered share stays below 3 %, every Idempotency-Key exists "
        "exactly once in the orders table, the instance-down alert (SparkApiInstanceDown) "
        "fires and T02 does not. The instance is restarted by the method, the rollback, and "
        "a reviver process after 30 s in any case.",
        ("targets.prometheus_url", "targets.db_dsn", "policy.allow_disruptive"),
        "the Chaos Toolkit journal, the load (keys, attempts, rate, 5xx, unanswered), when "
        "HAProxy took the instance out, the reconciliation, the alert timeline with fire delay",
    ),
    "CH-04": Detail(
        "Chaos Toolkit experiment `checks/chaos/ch04_outbox_relay_stalled.json` on the "
        "sandbox: a consumer LISTENs on the relay's delivery channel (NOTIFY `spark_outbox`, "
        "sent in the publishing transaction) while the run's order load creates outbox "
        "events; the relay stops on every instance (and resumes by itself after 40 s at the "
        "latest). T11 must fire within its `for` + 2 evaluations; after the resume the "
        "backlog must drain within 10 s and T11 resolve; every event published during the "
        "run must reach the consumer exactly once by event id.",
        ("targets.prometheus_url", "targets.db_dsn", "policy.allow_disruptive"),
        "the Chaos Toolkit journal, the load, the consumer's deliveries per event id against "
        "the outbox, the drain time, the T11 timeline with fire delay",
    ),
    "CH-05": Detail(
        "Chaos Toolkit experiment `checks/chaos/ch05_pgbouncer_pool_exhausted.json` on the "
        "sandbox: every server connection of the app database's PgBouncer pool is held idle "
        "in a transaction (released after 40 s at the latest). Database reads sent to a "
        "canary instance directly must be answered 200 or with a 503 problem within 9.5 s "
        "(the app's 5 s deadline plus PgBouncer's 3 s query_wait_timeout): no hang, no 500, "
        "no stack trace, and at least one 503. T06 and T10 must fire within their `for` + 2 "
        "evaluations; after the release the API is healthy within 15 s and both resolve.",
        ("targets.prometheus_url", "targets.db_dsn", "policy.allow_disruptive"),
        "the Chaos Toolkit journal, every read (status, duration, problem+json, stack trace), "
        "the pool size held, the T06 and T10 timeline with fire delays",
    ),
    "CH-06": Detail(
        "Chaos Toolkit experiment `checks/chaos/ch06_ws_disconnect_storm.json` on the "
        "sandbox: eight price-feed clients subscribe to /ws/prices through HAProxy and "
        "reconnect with capped exponential backoff and full jitter; the canary drops every "
        "feed connection right after its first message (the storm ends by itself after 30 s "
        "at the latest). T13 must fire within its `for` + 2 evaluations and resolve after "
        "the storm; no client reconnects faster than 2/s over any 5 s; within 10 s of the "
        "storm's end every client has a price newer than 2 s.",
        ("targets.prometheus_url", "policy.allow_disruptive"),
        "the Chaos Toolkit journal, the clients' connects and messages, the highest "
        "reconnect rate, the T13 timeline with fire delay",
    ),
}


def details_markdown() -> str:
    """The README's per-check reference, generated from DETAILS."""
    lines = []
    for c in CHECKS:
        d = DETAILS[c.id]
        gate = f", {c.policy_gate}" if c.policy_gate else ""
        lines += [
            f"**{c.id} {c.title}** ({c.suite}, {c.severity}{gate}): {d.checks}",
            f"Settings: {', '.join(f'`{k}`' for k in d.config)}. Evidence: {d.evidence}.",
            "",
        ]
    return "\n".join(lines).rstrip()
