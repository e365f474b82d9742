"""Which account a writing check (RT-02, RT-06) may place its probe orders under."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from ..evidence import Recorder
from . import ProbeError
from .db import rows
from .http import get_json
from .sql_tools import latest_ids_sql


def probe_account(
    http: httpx.Client, base: str, conn: Any, schema: Mapping[str, Any], evidence: Recorder
) -> str:
    """``schema.test_account`` when configured, else the account of the newest order.

    The fallback needs no name hard-coded: it is an account the API already trades for.
    """
    if schema["test_account"]:
        evidence.observe("account_source", {"configured": "schema.test_account"})
        return str(schema["test_account"])
    sql = latest_ids_sql(schema["orders_table"])
    latest = rows(conn, sql)
    evidence.observe("account_source", {"sql": sql, "rows": latest})
    if not latest:
        raise ProbeError(
            f"no order in {schema['orders_table']} to take a test account from; "
            "set schema.test_account"
        )
    url = f"{base}/orders/{quote(latest[0]['id'], safe='')}"
    existing = get_json(http, url)
    account = existing.get("account") if isinstance(existing, Mapping) else None
    if not isinstance(account, str) or not account:
        raise ProbeError(f"{url} names no account")
    return account
