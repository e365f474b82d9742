"""Small helpers shared by the sandbox stack and fault tests."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from pytest_spark.sandbox.launcher import Endpoints


def promql(endpoints: Endpoints, query: str) -> list[dict[str, Any]]:
    resp = httpx.get(f"{endpoints.prometheus_url}/api/v1/query", params={"query": query}, timeout=5)
    resp.raise_for_status()
    return list(resp.json()["data"]["result"])


def eventually(probe: Any, timeout: float = 20.0, interval: float = 0.5) -> Any:
    """Retry probe until it returns something truthy; return it or fail with the last value."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"condition not met within {timeout} s; last value: {value!r}")
