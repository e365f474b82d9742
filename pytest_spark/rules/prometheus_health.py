"""PF-08: are Prometheus' scrape targets and rules healthy, and does Alertmanager answer?

Inputs are the JSON of ``/api/v1/targets`` (``activeTargets``), ``/api/v1/rules``
(``groups``) and Alertmanager's ``/-/ready`` + ``/api/v2/status``. Ages are
measured against Prometheus' own clock (``now``), so clock skew between the
machine running the checks and Prometheus cannot fake a stale or fresh scrape.

Pure: no I/O.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from pytest_spark.rules.findings import WARN, Finding
from pytest_spark.rules.metrics_catalog import duration_seconds

__all__ = ["alertmanager_findings", "parse_rfc3339", "rule_findings", "target_findings"]

_FRACTION = re.compile(r"\.(\d+)")
# Prometheus reports a target that was never scraped with Go's zero time.
_GO_ZERO_YEAR = 1


def parse_rfc3339(text: str) -> float | None:
    """Epoch seconds of a Prometheus/Go RFC 3339 timestamp (nanoseconds allowed), or None."""
    if not isinstance(text, str) or not text:
        return None
    cleaned = _FRACTION.sub(lambda m: "." + m.group(1)[:6].ljust(6, "0"), text, count=1)
    cleaned = cleaned.replace("Z", "+00:00").replace("z", "+00:00")
    try:
        parsed = datetime.fromisoformat(cleaned)
    except ValueError:
        return None
    if parsed.tzinfo is None or parsed.year <= _GO_ZERO_YEAR:
        return None
    return parsed.timestamp()


def _target_name(target: Mapping[str, Any]) -> str:
    labels = target.get("labels") or {}
    job = labels.get("job") or target.get("scrapePool") or "?"
    where = labels.get("instance") or target.get("scrapeUrl") or "?"
    return f"{job}/{where}"


def target_findings(
    active_targets: Iterable[Mapping[str, Any]], *, now: float, factor: float = 2.0
) -> list[Finding]:
    """Every active target is up, has no lastError and was scraped within factor x interval."""
    out: list[Finding] = []
    targets = list(active_targets)
    if not targets:
        out.append(Finding("no-targets", "Prometheus has no active scrape target"))
    for target in targets:
        name = _target_name(target)
        health = target.get("health")
        if health != "up":
            out.append(Finding("target-down", f"scrape target {name} is {health or 'unknown'}"))
        error = target.get("lastError") or ""
        if error:
            out.append(Finding("target-error", f"scrape target {name} lastError: {error}"))
        interval_text = str(target.get("scrapeInterval") or "")
        try:
            interval = duration_seconds(interval_text)
        except ValueError:
            out.append(
                Finding(
                    "target-interval",
                    f"scrape target {name} has no usable scrapeInterval {interval_text!r}",
                    WARN,
                )
            )
            continue
        last = parse_rfc3339(str(target.get("lastScrape") or ""))
        if last is None:
            out.append(Finding("target-never-scraped", f"scrape target {name} was never scraped"))
            continue
        age = now - last
        limit = factor * interval
        if not math.isfinite(age) or age > limit:
            out.append(
                Finding(
                    "target-stale",
                    f"scrape target {name} last scraped {age:.1f} s ago "
                    f"(limit {factor:g} x {interval_text} = {limit:g} s)",
                )
            )
    return out


def rule_findings(groups: Iterable[Mapping[str, Any]]) -> list[Finding]:
    """Every rule of every group evaluates with health ``ok`` (not ``err`` or ``unknown``)."""
    out: list[Finding] = []
    count = 0
    for group in groups:
        gname = group.get("name", "?")
        for rule in group.get("rules") or []:
            count += 1
            health = rule.get("health")
            if health != "ok":
                err = rule.get("lastError") or ""
                detail = f": {err}" if err else ""
                out.append(
                    Finding(
                        "rule-unhealthy",
                        f"rule {rule.get('name', '?')} in group {gname} has health "
                        f"{health or 'missing'}{detail}",
                    )
                )
    if count == 0:
        out.append(Finding("no-rules", "Prometheus has no recording or alerting rules loaded"))
    return out


def alertmanager_findings(ready_status: int, ready_body: str, status: Any) -> list[Finding]:
    """Alertmanager is ready (``/-/ready`` 200) and ``/api/v2/status`` describes a live server."""
    out: list[Finding] = []
    if ready_status != 200:
        out.append(
            Finding(
                "alertmanager-not-ready",
                f"Alertmanager /-/ready answered HTTP {ready_status}: {ready_body.strip()[:120]}",
            )
        )
    if not isinstance(status, Mapping) or not isinstance(status.get("versionInfo"), Mapping):
        out.append(
            Finding(
                "alertmanager-status",
                f"Alertmanager /api/v2/status is not a status document: {str(status)[:120]}",
            )
        )
        return out
    cluster = status.get("cluster") or {}
    state = cluster.get("status") if isinstance(cluster, Mapping) else None
    if state not in ("ready", "disabled"):
        out.append(
            Finding(
                "alertmanager-cluster",
                f"Alertmanager cluster status is {state or 'missing'} (want ready or disabled)",
            )
        )
    return out
