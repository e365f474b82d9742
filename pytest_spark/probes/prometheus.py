"""Prometheus through prometheus-api-client, with an explicit deadline on every query."""

from __future__ import annotations

from typing import Any

from . import ProbeError


class Prometheus:
    def __init__(self, url: str, *, timeout: float, verify: bool = True) -> None:
        from prometheus_api_client import PrometheusConnect
        from urllib3.util.retry import Retry

        self.url = url.rstrip("/")
        self.timeout = timeout
        # The client's default (3 retries, exponential backoff) turns a 5 s deadline into
        # ~7 s for a refused port and ~26 s for a hung one: one attempt, one deadline.
        self._api = PrometheusConnect(
            url=self.url,
            disable_ssl=not verify,
            timeout=timeout,
            retry=Retry(total=0, raise_on_status=False),
        )
        self._session = self._api._session

    def query(self, promql: str, *, at: float | None = None) -> list[dict[str, Any]]:
        """Instant query (at unix time ``at``, default now); the raw result list as given."""
        params = {"time": f"{at:.3f}"} if at is not None else None
        try:
            return self._api.custom_query(promql, params=params, timeout=self.timeout)
        except Exception as exc:  # the client raises requests/own errors; all mean "could not ask"
            raise _probe_error(self.url, self.timeout, exc) from None

    def query_range(
        self, promql: str, *, start: float, end: float, step: float
    ) -> list[dict[str, Any]]:
        """Range query (the trigger evaluator's ``for`` windows); the raw result list."""
        params = {
            "query": promql,
            "start": f"{start:.3f}",
            "end": f"{end:.3f}",
            "step": f"{step:g}",
        }
        return list(self.api("query_range", params)["result"])

    def api(self, path: str, params: dict[str, str] | None = None) -> Any:
        """GET /api/v1/<path> (targets, rules, status/...): data of a success response."""
        import requests

        url = f"{self.url}/api/v1/{path}"
        try:
            resp = self._session.get(url, params=params, timeout=self.timeout)
            body = resp.json()
        except (requests.RequestException, ValueError) as exc:
            raise _probe_error(url, self.timeout, exc) from None
        if body.get("status") != "success":
            raise ProbeError(f"{url}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]


def _probe_error(url: str, timeout: float, exc: Exception) -> ProbeError:
    text = str(exc)
    if "timed out" in text.lower() or "timeout" in type(exc).__name__.lower():
        return ProbeError(f"timed out after {timeout} s talking to Prometheus at {url}")
    return ProbeError(f"cannot query Prometheus at {url}: {type(exc).__name__}: {text[:200]}")
