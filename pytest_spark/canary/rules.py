"""What Prometheus, promtool and Grafana get from the trigger catalog.

- :func:`rules_file`: a Prometheus rules file (recording rules for every signal,
  one alerting rule per trigger), valid for ``promtool check rules``
  (https://prometheus.io/docs/prometheus/latest/configuration/recording_rules/).
- :func:`dashboard`: a Grafana dashboard built with grafana-foundation-sdk,
  Grafana's own maintained builder library (JSON model as Grafana imports it).

Pure functions: the CLI prints them, the sandbox writes the rules file into
its Prometheus, the tests run promtool on them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from . import triggers as triggers_mod
from .triggers import CANARY_METRICS, SIGNALS, STABLE, TRIGGERS, Trigger

GROUP_RECORDING = "spark-triggers-recording"
GROUP_ALERTS = "spark-rollback-triggers"


def recording_rules(*, job: str = "spark-api", window: str = "1m") -> list[dict[str, str]]:
    """One recording rule per signal; ``window`` is the rate() range (1m in production)."""
    return [{"record": s.record, "expr": s.expr.format(job=job, window=window)} for s in SIGNALS]


def alerting_rule(trigger: Trigger) -> dict[str, Any]:
    """The Prometheus alerting rule of one trigger (labels say which trigger fired)."""
    rule: dict[str, Any] = {"alert": trigger.alert, "expr": trigger.expr}
    if trigger.for_s:
        rule["for"] = trigger.for_
    rule["labels"] = {
        "severity": trigger.severity,
        "category": "rollback",
        "trigger": trigger.id,
        "trigger_kind": str(trigger.kind),
    }
    if triggers_mod.CANARY in trigger.value:  # one label set whatever the PromQL keeps
        rule["labels"]["track"] = "canary"
    rule["annotations"] = {
        "summary": f"{trigger.id} {trigger.watches}",
        "description": (
            f"{trigger.id} fires when the value {trigger.comparator} {trigger.threshold:g} "
            f"{trigger.unit} for {trigger.for_}."
        ),
    }
    return rule


def rules_file(
    triggers: Iterable[Trigger] = TRIGGERS, *, job: str = "spark-api", window: str = "1m"
) -> dict[str, Any]:
    """The whole rules file as data (``groups``: recording, then alerting)."""
    return {
        "groups": [
            {"name": GROUP_RECORDING, "rules": recording_rules(job=job, window=window)},
            {"name": GROUP_ALERTS, "rules": [alerting_rule(t) for t in triggers]},
        ]
    }


def to_yaml(doc: Any) -> str:
    """YAML as Prometheus and promtool read it (PyYAML, block style, key order kept)."""
    import yaml

    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=False, width=1000)


def dashboard(triggers: Sequence[Trigger] = TRIGGERS, *, datasource: str = "prometheus") -> Any:
    """A Grafana dashboard: the six canary metrics per track, saturation, outbox lag,
    WebSocket, and the triggers firing (ALERTS). Returns the JSON-ready dict."""
    import json

    from grafana_foundation_sdk.builders.dashboard import Dashboard, Row
    from grafana_foundation_sdk.builders.prometheus import Dataquery
    from grafana_foundation_sdk.builders.stat import Panel as Stat
    from grafana_foundation_sdk.builders.timeseries import Panel as Timeseries
    from grafana_foundation_sdk.cog.encoder import JSONEncoder

    def series(title: str, unit: str, *queries: tuple[str, str]) -> Timeseries:
        panel = Timeseries().title(title).unit(unit).height(8).span(12)
        for expr, legend in queries:
            panel = panel.with_target(Dataquery().expr(expr).legend_format(legend))
        return panel

    units = {"s": "s", "ratio": "percentunit", "/min": "short", "B": "bytes", "cores": "short"}
    by_record = {s.record: s for s in SIGNALS}
    board = (
        Dashboard("Spark canary: rollout and rollback triggers")
        .uid("spark-canary-triggers")
        .tags(["spark", "canary", "pytest-spark"])
        .refresh("30s")
        .time("now-1h", "now")
        .with_row(Row("The six canary metrics, canary vs stable"))
    )
    for name, record in CANARY_METRICS.items():
        sig = by_record[record]
        board = board.with_panel(
            series(
                f"{sig.help} ({name})",
                units.get(sig.unit, "short"),
                (f'{record}{{track="canary"}}', "canary"),
                (f"{record}{{{STABLE}}}", "stable"),
            )
        )
    board = board.with_row(Row("Saturation, outbox, WebSocket"))
    board = (
        board.with_panel(
            series(
                "CPU and memory per track",
                "short",
                ("track:process_cpu:cores", "cpu cores {{track}}"),
            )
        )
        .with_panel(
            series("Resident memory per track", "bytes", ("track:process_rss:bytes", "{{track}}"))
        )
        .with_panel(
            series(
                "PgBouncer pool utilisation and server connections",
                "short",
                ("pgbouncer:pool_utilisation:ratio", "utilisation"),
                ("pgbouncer:server_active_connections:count", "server connections in use"),
            )
        )
        .with_panel(
            series(
                "Outbox lag",
                "s",
                ("spark:outbox_oldest_unpublished_age:seconds", "oldest unpublished row age"),
            )
        )
        .with_panel(
            series(
                "WebSocket disconnects per minute",
                "short",
                ("track:ws_disconnects:per_minute", "{{track}}"),
            )
        )
        .with_panel(
            series(
                "Requests per second per track", "reqps", ("track:http_requests:rate", "{{track}}")
            )
        )
        .with_row(Row("Rollback triggers"))
        .with_panel(
            Stat()
            .title("Triggers firing")
            .height(6)
            .span(6)
            .with_target(
                Dataquery()
                .expr('count(ALERTS{category="rollback",alertstate="firing"}) or vector(0)')
                .legend_format("firing")
            )
        )
        .with_panel(
            series(
                "Rollback triggers (1 = firing)",
                "short",
                ('ALERTS{category="rollback",alertstate="firing"}', "{{trigger}} {{alertname}}"),
            )
        )
    )
    encoded = JSONEncoder(sort_keys=True, indent=2).encode(board.build())
    doc: dict[str, Any] = json.loads(encoded)
    for panel in doc.get("panels", []):
        if panel.get("type") != "row":
            panel["datasource"] = {"type": "prometheus", "uid": datasource}
    return doc
