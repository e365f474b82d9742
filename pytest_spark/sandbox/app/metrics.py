"""Prometheus metrics of one app instance, on a private registry.

Names are a contract with the launcher's recording and alerting rules. Every
family gets at least one sample at start so Prometheus sees it before traffic.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import Metric

# Includes 0.2 s so "p95 < 200 ms" can be read straight off the buckets.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_SUFFIXES = ("", "_total", "_bucket", "_count", "_sum", "_created", "_info")


class AppMetrics:
    """All metric families of the trading API."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        ProcessCollector(registry=r)
        self.http_duration = Histogram(
            "spark_http_request_duration_seconds",
            "HTTP request duration by route template, method and status code.",
            ("route", "method", "code"),
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.http_requests = Counter(
            "spark_http_requests_total",
            "HTTP requests by route template, method and status code.",
            ("route", "method", "code"),
            registry=r,
        )
        self.ws_age = Gauge(
            "spark_ws_last_update_age_seconds",
            "Seconds since the last price update was published, per symbol.",
            ("symbol",),
            registry=r,
        )
        self.ws_disconnects = Counter(
            "spark_ws_disconnects_total", "WebSocket price-stream disconnects.", registry=r
        )
        self.risk_blocks = Counter(
            "spark_risk_blocks_total", "Orders blocked by the risk check.", registry=r
        )
        self.idem_requests = Counter(
            "spark_idempotency_requests_total",
            "Order requests carrying an Idempotency-Key.",
            registry=r,
        )
        self.idem_conflicts = Counter(
            "spark_idempotency_conflicts_total",
            "Idempotency conflicts: 409 in flight plus 422 key reused with another body.",
            registry=r,
        )
        self.csp_violations = Counter(
            "spark_csp_violations_total", "CSP violation reports received.", registry=r
        )
        self.outbox_oldest_age = Gauge(
            "spark_outbox_oldest_unpublished_age_seconds",
            "Age of the oldest unpublished outbox row (0 when none), read from the DB.",
            registry=r,
        )
        self.outbox_backlog = Gauge("spark_outbox_backlog", "Unpublished outbox rows.", registry=r)
        self.relay_heartbeat = Gauge(
            "spark_outbox_relay_heartbeat_timestamp_seconds",
            "Unix time of the outbox relay's last completed publishing cycle.",
            registry=r,
        )
        self.idem_keys_stored = Gauge(
            "spark_idempotency_keys_stored", "Idempotency keys currently stored.", registry=r
        )
        self.idem_expired_age = Gauge(
            "spark_idempotency_oldest_expired_key_age_seconds",
            "Seconds since the oldest still-stored idempotency key expired (0: none expired).",
            registry=r,
        )
        self.decimal_errors = Counter(
            "spark_decimal_precision_errors_total",
            "Money values that changed between the request and storage.",
            registry=r,
        )
        self.build_info = Gauge(
            "spark_build_info",
            "Build of this instance (value 1).",
            ("version", "git_sha", "instance"),
            registry=r,
        )

    def initialise(self, routes: Iterable[tuple[str, str, str]], symbols: Iterable[str]) -> None:
        """Create zero-valued series so every family is visible before traffic."""
        for route, method, ok_code in routes:
            for code in (ok_code, "500", "503"):
                self.http_duration.labels(route, method, code)
                self.http_requests.labels(route, method, code)
        self.add_symbols(symbols)

    def add_symbols(self, symbols: Iterable[str]) -> None:
        """Give each symbol its ws-age series (value set by the ticker)."""
        for symbol in symbols:
            self.ws_age.labels(symbol)

    def set_build(self, version: str, git_sha: str, instance: str) -> None:
        """Export exactly one build_info series for the reported version."""
        self.build_info.clear()
        self.build_info.labels(version, git_sha, instance).set(1)

    def exposition(self, hidden: Iterable[str] = ()) -> bytes:
        """Text exposition, leaving out the named families (metric-family-missing)."""
        return generate_latest(_Filtered(self.registry, frozenset(hidden)))  # type: ignore[arg-type]


class _Filtered:
    """A collector view of a registry without some families."""

    def __init__(self, registry: CollectorRegistry, hidden: frozenset[str]) -> None:
        self._registry = registry
        self._hidden = hidden

    def collect(self) -> Iterator[Metric]:
        for metric in self._registry.collect():
            if not any(metric.name + s in self._hidden for s in _SUFFIXES):
                yield metric
