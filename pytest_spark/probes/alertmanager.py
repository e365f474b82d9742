"""Alertmanager through its HTTP API v2 (httpx), every request under the run's deadline.

Its own client, not the API's: the API's bearer token must never travel to
Alertmanager. Transport failures and unreadable answers become ``ProbeError``
(could not verify); an answer that *says* something is wrong (``/-/ready``
503) is returned for the check to judge.
"""

from __future__ import annotations

from typing import Any

import httpx

from . import ProbeError
from .http import DEFAULT_MAX_BYTES, HttpResponse, make_client, request

__all__ = ["Alertmanager"]


class Alertmanager:
    """A small client for the endpoints the checks read: readiness, status, silences."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float,
        verify: bool | str = True,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._client: httpx.Client = make_client(
            timeout=timeout, verify=verify, max_bytes=max_bytes
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Alertmanager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def ready(self) -> HttpResponse:
        """GET /-/ready as received (200 when ready, 503 while it is not)."""
        return request(self._client, "GET", f"{self.url}/-/ready")

    def _json(self, path: str) -> Any:
        url = f"{self.url}{path}"
        resp = request(self._client, "GET", url)
        if resp.status != 200:
            snippet = resp.body[:200].decode("utf-8", "replace").strip()
            raise ProbeError(f"Alertmanager {url} answered HTTP {resp.status}: {snippet}")
        return resp.json()

    def status(self) -> dict[str, Any]:
        """GET /api/v2/status: cluster state, version, uptime (and the config, which we drop)."""
        data = self._json("/api/v2/status")
        if not isinstance(data, dict):
            raise ProbeError(f"Alertmanager {self.url}/api/v2/status is not a JSON object")
        return data

    def silences(self) -> list[dict[str, Any]]:
        """GET /api/v2/silences: every silence Alertmanager keeps (active, pending, expired)."""
        data = self._json("/api/v2/silences")
        if not isinstance(data, list) or not all(isinstance(s, dict) for s in data):
            raise ProbeError(f"Alertmanager {self.url}/api/v2/silences is not a list of silences")
        return data
