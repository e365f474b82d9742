"""RT-06: prices stay exact decimals on the tick grid, end to end.

Quotes are read from every API instance and judged by the tick rules; passive
probe orders generated on each quoted grid are POSTed to one instance, read
back from another and from the database (``pytest_spark.probes.orders``), and
must come back exactly as sent; off-grid orders must be refused. Which orders
and what counts as "exactly" is ``pytest_spark.rules.price_grid``.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from pytest_spark.evidence import Recorder
from pytest_spark.probes import ProbeError, orders
from pytest_spark.probes.accounts import probe_account
from pytest_spark.rules import price_grid
from pytest_spark.rules.problems import Problem, fail_messages, summary


@pytest.mark.spark_check("RT-06")
def test_rt06_prices_exact_on_tick_grid(
    http: httpx.Client, api_urls: list[str], db: Any, schema: Any, evidence: Recorder
) -> None:
    """Quotes sit on the grid as strings; on-grid orders round-trip exactly; off-grid is refused.

    Every probe order is passive (a buy at or below the bid, a sell at or above
    the ask) and placed under schema.test_account only.
    """
    account = probe_account(schema, evidence)  # schema.test_account only, never a customer's
    problems: list[Problem] = []
    grids: dict[str, price_grid.Grid] = {}
    for base in api_urls:
        url, quotes = orders.quotes(http, base, evidence)
        found, usable = price_grid.survey(quotes)
        problems += fail_messages(found, url)
        for grid in usable:
            grids.setdefault(grid.symbol, grid)
    if not grids:
        raise ProbeError("no quote with a usable tick/lot grid to build test orders from")
    evidence.observe("grids", {s: g.__dict__ for s, g in grids.items()})

    table = schema["orders_table"]
    trips = orders.round_trips(http, db, api_urls, grids, account=account, orders_table=table)
    evidence.observe("round_trips", [case for _, case in trips])
    for trip, _ in trips:
        problems += price_grid.round_trip_problems(trip, table)

    for order in price_grid.off_grid_orders(grids, account):
        resp, key = orders.post_order(http, api_urls[0], order.body)
        evidence.observe(
            "off_grid",
            {
                "request": order.body,
                "idempotency_key": key,
                "status": resp.status,
                "body": resp.body.decode("utf-8", "replace"),
            },
        )
        problems += order.problems(resp.status, f"{api_urls[0]}/orders")
    assert not problems, summary(problems)
