"""Chaos Toolkit probes: plain functions that read the sandbox (never change it).

Every network call has a deadline (Prometheus through probes.prometheus,
HTTP with httpx timeouts); a probe that cannot read raises, which the runner
turns into ERROR ("could not deviate-check"), never a pass.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from ..canary.triggers import BY_ID
from . import context, timeline

HTTP_TIMEOUT_S = 5.0
PROM_TIMEOUT_S = 10.0
#: the sandbox's Prometheus evaluation interval (prometheus.yml.tmpl)
EVAL_INTERVAL_S = 1.0
POLL_S = 0.5
#: a canary p95 above this is still the tail of a slow window (the SLO is 0.4 s)
SETTLE_P95_S = 0.3


def _prom(configuration: dict[str, Any] | None) -> Any:
    from ..probes.prometheus import Prometheus

    url = context.sandbox(configuration).endpoints.prometheus_url
    return Prometheus(url, timeout=PROM_TIMEOUT_S)


def api_healthy(configuration: dict[str, Any] | None = None) -> bool:
    """Every API instance (canary and stable) answers /healthz 200 within its deadline."""
    ep = context.sandbox(configuration).endpoints
    for url in (*ep.api_urls, *ep.stable_urls):
        try:
            if httpx.get(f"{url}/healthz", timeout=HTTP_TIMEOUT_S).status_code != 200:
                return False
        except httpx.HTTPError:
            return False
    return True


def _selector(trigger: str) -> str:
    """ALERTS selector of a trigger id (T01..T16) or of a plain alert name."""
    if trigger in BY_ID:
        return f'ALERTS{{trigger="{BY_ID[trigger].id}"}}'
    if not trigger.isidentifier():
        raise ValueError(f"not a trigger id nor an alert name: {trigger!r}")
    return f'ALERTS{{alertname="{trigger}"}}'


def trigger_state(trigger: str, configuration: dict[str, Any] | None = None) -> str:
    """'firing', 'pending' or 'inactive', as Prometheus's ALERTS says now (a trigger id, or
    the name of an alert that is not a trigger, e.g. SparkApiInstanceDown)."""
    if not trigger.startswith("Spark"):
        BY_ID[trigger]  # an unknown trigger id is a KeyError, not an alert that never fires
    with _prom(configuration) as prom:
        rows = prom.query(_selector(trigger))
    states = {r["metric"].get("alertstate") for r in rows}
    return "firing" if "firing" in states else "pending" if "pending" in states else "inactive"


def wait_for_trigger(
    trigger: str,
    state: str,
    timeout_s: float,
    quiet_s: float = 10.0,
    hold_s: float = 0.0,
    configuration: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Wait until trigger is in state ('firing' or 'inactive') for hold_s, at most timeout_s.

    Without an injected fault (a steady-state-only run) it watches for quiet_s
    instead: the hypothesis then checks that nothing fired meanwhile.
    """
    marks = context.marks(configuration)
    if "fault_start" not in marks:
        time.sleep(quiet_s)
        return {"trigger": trigger, "watched_s": quiet_s, "fault": False}
    t0 = time.monotonic()
    since: float | None = None
    while True:
        seen = trigger_state(trigger, configuration)
        now = time.monotonic()
        since = (since or now) if seen == state else None
        if since is not None and now - since >= hold_s:
            break
        if now - t0 >= timeout_s:
            break
        time.sleep(POLL_S)
    return {
        "trigger": trigger,
        "wanted": state,
        "reached": seen == state,
        "after_s": round(time.monotonic() - t0, 3),
        "fault": True,
    }


def _alert_rules(prom: Any) -> set[str]:
    groups = prom.api("rules", {"type": "alert"}).get("groups", [])
    return {r.get("name", "") for g in groups for r in g.get("rules", [])}


def triggers_as_expected(
    expect: list[dict[str, Any]], configuration: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The run's trigger timeline against the scenario's expectations.

    ``expect``: ``[{"trigger": "T01", "fire": true, "fire_within_s": 30,
    "resolve_within_s": 60}, {"trigger": "T02", "fire": false}]``; an alert
    that is not a trigger is named by ``"alert"`` with its ``"for_s"``
    (``{"alert": "SparkApiInstanceDown", "for_s": 3}``). Returns
    ``{"ok": bool, "findings": [...], "episodes": [...]}``; a missing alert
    rule is named (an alert that cannot fire is the blind spot CHAOS.md hunts).
    """
    marks = context.marks(configuration)
    start = marks.get("run_start", time.time() - 60)
    end = time.time()
    fault_start, fault_end = marks.get("fault_start"), marks.get("fault_end")
    ids = "|".join(BY_ID[e["trigger"]].id for e in expect if "trigger" in e) or "none"
    names = "|".join(e["alert"] for e in expect if "alert" in e) or "none"
    query = f'ALERTS{{trigger=~"{ids}"}} or ALERTS{{alertname=~"{names}",trigger=""}}'
    with _prom(configuration) as prom:
        data = prom.api(
            "query_range",
            {"query": query, "start": str(start), "end": str(end), "step": str(EVAL_INTERVAL_S)},
        )
        rules = _alert_rules(prom)
        now = prom.query(query)
    series = [_as_trigger(s) for s in data.get("result", [])]
    active = {_as_trigger(r)["metric"]["trigger"] for r in now}
    eps = [  # an episode that ended as the run began belongs to the stack's past
        ep
        for ep in timeline.episodes(series, EVAL_INTERVAL_S, end, active)
        if ep.resolved_at is None or ep.resolved_at > start + EVAL_INTERVAL_S
    ]
    findings, ok = [], True
    for e in expect:
        trig = _configured(e["trigger"]) if "trigger" in e else _plain_alert(e)
        exp = timeline.Expectation(
            trig.id,
            bool(e.get("fire", True)),
            for_s=trig.for_s,
            eval_interval_s=EVAL_INTERVAL_S,
            fire_within_s=float(e.get("fire_within_s", 60)),
            resolve_within_s=float(e.get("resolve_within_s", 60)),
        )
        good, msg, figures = timeline.judge(exp, eps, fault_start, fault_end)
        if not good and trig.alert not in rules:
            msg += f" (alert rule {trig.alert} is not loaded in Prometheus)"
        ok = ok and good
        findings.append({"trigger": trig.id, "ok": good, "message": msg, **figures})
    return {
        "ok": ok,
        "findings": findings,
        "episodes": [ep.to_dict() for ep in eps],
        "fault_start": fault_start,
        "fault_end": fault_end,
    }


def _as_trigger(series: dict[str, Any]) -> dict[str, Any]:
    """A plain alert's series named like a trigger's (its alertname as the trigger)."""
    metric = dict(series.get("metric", {}))
    metric.setdefault("trigger", metric.get("alertname", "?"))
    return {**series, "metric": metric}


def _plain_alert(e: dict[str, Any]) -> Any:
    from types import SimpleNamespace

    return SimpleNamespace(id=e["alert"], alert=e["alert"], for_s=float(e.get("for_s", 0)))


def _configured(trigger_id: str) -> Any:
    """The trigger as the sandbox's Prometheus has it (compressed `for`)."""
    from ..sandbox.launcher import sandbox_triggers

    return next(t for t in sandbox_triggers() if t.id == BY_ID[trigger_id].id)


def load_summary(configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """The load the run saw (server side, canary track, user traffic): requests, rate, 5xx,
    and the errors clients got from HAProxy's frontend."""
    marks = context.marks(configuration)
    span = max(1, round(time.time() - marks.get("run_start", time.time() - 60)))
    user = 'track="canary",route!~"/metrics|/healthz"'
    queries = {
        "requests": f"sum(increase(spark_http_requests_total{{{user}}}[{span}s]))",
        "requests_5xx": f'sum(increase(spark_http_requests_total{{{user},code=~"5.."}}[{span}s]))',
        "client_5xx": (
            f'sum(increase(haproxy_frontend_http_responses_total{{code="5xx"}}[{span}s]))'
        ),
        "client_requests": f"sum(increase(haproxy_frontend_http_requests_total[{span}s]))",
    }
    out: dict[str, Any] = {"window_s": span}
    with _prom(configuration) as prom:
        for name, q in queries.items():
            rows = prom.query(q)
            out[name] = round(float(rows[0]["value"][1]), 1) if rows else 0.0
    out["rate_per_s"] = round(out["requests"] / span, 2)
    return out


def wait_api_steady(within_s: float, configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """After the fault: how long until every instance is healthy (marked 'recovered')."""
    t0 = time.monotonic()
    while not api_healthy(configuration) and time.monotonic() - t0 < within_s + 10:
        time.sleep(POLL_S)
    healthy = api_healthy(configuration)
    if healthy:
        context.mark(configuration, "recovered")
    return {"healthy": healthy, "after_s": round(time.monotonic() - t0, 3)}


def recovered_within(seconds: float, configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """The API was back to steady state within ``seconds`` of the fault's end."""
    marks = context.marks(configuration)
    if "fault_end" not in marks:
        return {"ok": True, "note": "no fault in this run"}
    took = marks.get("recovered", float("inf")) - marks["fault_end"]
    return {"ok": took <= seconds, "recovered_after_s": round(took, 3), "budget_s": seconds}


def orders_reconciled(configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every Idempotency-Key the run sent exists exactly once in the database; no hangs."""
    import psycopg

    from . import orders, reconcile

    sent = orders.load_sent(context.run_dir(configuration))
    if sent is None:
        return {"ok": True, "note": "no load sent yet (before the method)"}
    if not sent:
        return {"ok": False, "findings": [{"ok": False, "message": "no order was sent"}]}
    dsn = context.sandbox(configuration).endpoints.db_dsn
    with psycopg.connect(dsn, connect_timeout=5, autocommit=True) as conn:
        conn.execute("SET default_transaction_read_only = on")
        conn.execute("SET statement_timeout = '10s'")
        rows = conn.execute(
            "SELECT idempotency_key, count(*) FROM orders WHERE idempotency_key = ANY(%s)"
            " GROUP BY idempotency_key",
            (list(sent),),
        ).fetchall()
    counts = {k: int(n) for k, n in rows}
    problems = reconcile.orders_exactly_once(sent, counts) + reconcile.hangs(sent)
    return {
        "ok": not problems,
        "keys": len(sent),
        "orders_found": sum(counts.values()),
        "findings": [{"ok": False, "message": m} for m in problems[:20]],
        "problems": len(problems),
    }


def t02_consistent_with_5xx(configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """T02 fired iff the canary 5xx share held above 3 % (CH-01: says which)."""
    from . import reconcile

    marks = context.marks(configuration)
    start, end = marks.get("run_start", time.time() - 60), time.time()
    trig = _configured("T02")
    params = {"start": str(start), "end": str(end), "step": str(EVAL_INTERVAL_S)}
    with _prom(configuration) as prom:
        ratio = prom.api(
            "query_range", {"query": 'track:http_5xx:ratio{track="canary"}', **params}
        )["result"]
        alerts = prom.api(
            "query_range", {"query": 'ALERTS{trigger="T02",alertstate="firing"}', **params}
        )["result"]
    values = [(float(t), float(v)) for s in ratio for t, v in s["values"] if v != "NaN"]
    fired = any(s["values"] for s in alerts)
    above = reconcile.longest_above(sorted(values), 0.03)
    peak = max((v for _, v in values), default=0.0)
    ok, msg = reconcile.t02_consistent(fired, above, peak, trig.for_s, EVAL_INTERVAL_S)
    return {"ok": ok, "findings": [{"ok": ok, "message": msg}], "max_5xx_ratio": peak}


#: the triggers the scenarios judge; the others may legitimately hold on a healthy stack
SETTLE_TRIGGERS = ("T01", "T02")


def steady(configuration: dict[str, Any] | None = None) -> bool:
    """None of SETTLE_TRIGGERS firing or pending, and the canary p95 under the SLO."""
    ids = "|".join(SETTLE_TRIGGERS)
    with _prom(configuration) as prom:
        if prom.query(f'ALERTS{{trigger=~"{ids}"}}'):
            return False
        return not prom.query(f'track:api_latency_p95:seconds{{track="canary"}} > {SETTLE_P95_S}')


def settle(
    configuration: dict[str, Any] | None = None, hold_s: float = 3.0, timeout_s: float = 90.0
) -> dict[str, Any]:
    """Wait (bounded) until the stack is steady for hold_s: the tail of an earlier fault
    (a trigger still pending, a p95 window still holding slow requests) must not be
    judged as this scenario's. Returns how long it took and whether it settled."""
    t0, since = time.monotonic(), None
    while True:
        now = time.monotonic()
        since = (since or now) if steady(configuration) else None
        if since is not None and now - since >= hold_s:
            return {"settled": True, "after_s": round(now - t0, 1)}
        if now - t0 >= timeout_s:
            return {"settled": False, "after_s": round(now - t0, 1)}
        time.sleep(POLL_S)


def lb_removed_within(
    seconds: float, configuration: dict[str, Any] | None = None
) -> dict[str, Any]:
    """HAProxy took the killed instance out within ``seconds`` of the kill (its health-check
    budget: ``inter`` x ``fall`` plus a check's own time)."""
    marks = context.marks(configuration)
    if "fault_start" not in marks:
        return {"ok": True, "note": "no fault in this run"}
    if "lb_out" not in marks:
        msg = f"HAProxy never took the killed instance out (watched {seconds:g} s+)"
        return {"ok": False, "findings": [{"ok": False, "message": msg}]}
    took = round(marks["lb_out"] - marks["fault_start"], 3)
    ok = took <= seconds
    msg = f"HAProxy took the instance out {took} s after the kill (budget {seconds:g} s)"
    return {"ok": ok, "lb_out_after_s": took, "findings": [{"ok": ok, "message": msg}]}


def client_errors_below(
    share: float, configuration: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The share of the run's own attempts that got a 5xx or no answer stayed below share."""
    from . import orders

    sent = orders.load_sent(context.run_dir(configuration))
    if sent is None:
        return {"ok": True, "note": "no load sent yet (before the method)"}
    statuses = [s for rec in sent.values() for s in rec["statuses"]]
    if not statuses:
        return {"ok": False, "findings": [{"ok": False, "message": "no request was sent"}]}
    bad = sum(1 for s in statuses if s is None or s >= 500)
    ratio = bad / len(statuses)
    ok = ratio < share
    msg = (
        f"clients got a 5xx or no answer on {bad} of {len(statuses)} attempts "
        f"({ratio:.1%}; budget below {share:.0%})"
    )
    return {"ok": ok, "errors": bad, "attempts": len(statuses), "ratio": round(ratio, 4),
            "findings": [{"ok": ok, "message": msg}]}  # fmt: skip


def events_reconciled(configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every event published during the run reached the consumer exactly once, by id."""
    from . import consumer, reconcile

    heard = consumer.load(context.run_dir(configuration))
    if heard is None:
        return {"ok": True, "note": "no consumer ran yet (before the method)"}
    published = heard["published"]
    if not published:
        msg = "no event was published during the run: nothing to reconcile"
        return {"ok": False, "findings": [{"ok": False, "message": msg}]}
    problems = reconcile.events_exactly_once(
        published, heard["deliveries"], heard["unpublished_older_than_5s"]
    )
    return {
        "ok": not problems,
        "events": len(published),
        "deliveries": sum(heard["deliveries"].values()),
        "findings": [{"ok": False, "message": m} for m in problems[:20]],
        "problems": len(problems),
    }


def outbox_lag_s(configuration: dict[str, Any] | None = None) -> float:
    """Age (s) of the oldest unpublished outbox row, as PostgreSQL says now (0: none)."""
    import psycopg

    dsn = context.sandbox(configuration).endpoints.db_dsn
    with psycopg.connect(dsn, connect_timeout=5, autocommit=True) as conn:
        conn.execute("SET statement_timeout = '5s'")
        row = conn.execute(
            "SELECT COALESCE(EXTRACT(EPOCH FROM clock_timestamp() - min(created_at)), 0)"
            " FROM outbox WHERE published_at IS NULL"
        ).fetchone()
    return float(row[0]) if row else 0.0


def wait_backlog_drained(
    within_s: float, max_lag_s: float = 2.0, configuration: dict[str, Any] | None = None
) -> dict[str, Any]:
    """After the resume: until no outbox row is older than max_lag_s (marked 'drained')."""
    t0 = time.monotonic()
    lag = outbox_lag_s(configuration)
    while lag > max_lag_s and time.monotonic() - t0 < within_s + 10:
        time.sleep(POLL_S)
        lag = outbox_lag_s(configuration)
    drained = lag <= max_lag_s
    if drained and "fault_end" in context.marks(configuration):
        context.mark(configuration, "drained")
    return {"drained": drained, "after_s": round(time.monotonic() - t0, 3), "lag_s": lag}


def drained_within(seconds: float, configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """The backlog drained within ``seconds`` of the resume."""
    marks = context.marks(configuration)
    if "fault_end" not in marks:
        return {"ok": True, "note": "no stall in this run"}
    took = marks.get("drained", float("inf")) - marks["fault_end"]
    ok = took <= seconds
    msg = f"backlog drained {took:.1f} s after the resume (budget {seconds:g} s)"
    return {"ok": ok, "drained_after_s": round(took, 3), "findings": [{"ok": ok, "message": msg}]}


def pool_exhaustion_handled(
    max_s: float, configuration: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The reads during and after the exhaustion: 503 problems in time, never 500/hang."""
    from . import pool, reconcile

    reqs = pool.load_requests(context.run_dir(configuration))
    if reqs is None:
        return {"ok": True, "note": "no reads sent yet (before the method)"}
    if not reqs:
        return {"ok": False, "findings": [{"ok": False, "message": "no read was sent"}]}
    marks = context.marks(configuration)
    problems = reconcile.pool_exhaustion_answers(
        reqs, marks.get("fault_start"), marks.get("recovered"), max_s
    )
    statuses = [r["status"] for r in reqs]
    return {
        "ok": not problems,
        "reads": len(reqs),
        "503": statuses.count(503),
        "200": statuses.count(200),
        "max_s": max(r["s"] for r in reqs),
        "findings": [{"ok": False, "message": m} for m in problems[:20]],
    }


def wait_evaluable(
    query: str, timeout_s: float, configuration: dict[str, Any] | None = None
) -> dict:
    """Wait (bounded) until a PromQL expression has a value: after a Prometheus reset a
    trigger whose inputs need a window of history (T10's deriv over a subquery) cannot
    fire until that history exists, and a scenario must not blame the system for it."""
    t0 = time.monotonic()
    while True:
        with _prom(configuration) as prom:
            if prom.query(query):
                return {"evaluable": True, "after_s": round(time.monotonic() - t0, 1)}
        if time.monotonic() - t0 >= timeout_s:
            return {"evaluable": False, "after_s": round(time.monotonic() - t0, 1)}
        time.sleep(POLL_S)


def feed_recovered(
    max_reconnects_per_s: float,
    fresh_within_s: float,
    stale_after_s: float,
    configuration: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The feed clients' record: reconnect rate bounded, staleness recovered (feed.judge)."""
    from . import feed

    rec = feed.load(context.run_dir(configuration))
    if rec is None:
        return {"ok": True, "note": "no feed clients ran yet (before the method)"}
    clients = rec["clients"]
    problems = feed.judge(
        clients,
        context.marks(configuration).get("fault_end"),
        max_reconnects_per_s,
        fresh_within_s,
        stale_after_s,
        end=rec.get("end"),
    )
    return {
        "ok": not problems,
        "clients": len(clients),
        "connects": sum(len(c["connects"]) for c in clients),
        "max_reconnects_per_s": max(
            (feed.max_rate(c["connects"], 5.0) for c in clients), default=0
        ),
        "findings": [{"ok": False, "message": m} for m in problems[:20]],
    }
