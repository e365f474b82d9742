"""Prometheus through prometheus-api-client, every request through :mod:`.http`'s deadline.

The library talks ``requests``, whose timeouts bound each socket read: a
Prometheus that trickles its answer would hang the run. So the library gets a
session of ours whose transport adapter hands every request to
:func:`.http.request` (total deadline, size cap): one place for both, and the
client's own retries (3, with backoff: ~26 s for a hung port at a 5 s deadline)
never happen.
"""

from __future__ import annotations

import io
from typing import Any

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers

from . import ProbeError, TimedOut, TooLarge, http
from .http import DEFAULT_MAX_BYTES, ProbeClient, make_client

#: Request headers the probe client sets itself (only codings it decodes with a bound).
_OURS = ("accept-encoding", "connection")
#: Headers that described the body on the wire; the body handed back is already decoded.
_WIRE_ONLY = ("content-encoding", "content-length", "transfer-encoding")


class DeadlineAdapter(BaseAdapter):
    """A ``requests`` transport adapter that sends through a :class:`.http.ProbeClient`."""

    def __init__(self, client: ProbeClient) -> None:
        super().__init__()
        self.client = client

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> requests.Response:
        body = request.body.encode() if isinstance(request.body, str) else request.body
        got = http.request(
            self.client,
            request.method or "GET",
            request.url or "",
            headers={k: v for k, v in request.headers.items() if k.lower() not in _OURS},
            content=body,
        )
        resp = requests.Response()
        resp.status_code = got.status
        resp.headers = CaseInsensitiveDict(
            {k: v for k, v in got.header_map().items() if k not in _WIRE_ONLY}
        )
        resp.encoding = get_encoding_from_headers(resp.headers)
        resp.raw = io.BytesIO(got.body)
        resp.url = got.url
        resp.reason = ""
        resp.request = request
        return resp

    def close(self) -> None:
        pass  # the client belongs to the Prometheus probe, which closes it


class Prometheus:
    def __init__(
        self,
        url: str,
        *,
        timeout: float,
        verify: bool | str = True,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        from prometheus_api_client import PrometheusConnect

        self.url = url.rstrip("/")
        self.timeout = timeout
        self._client = make_client(timeout=timeout, verify=verify, max_bytes=max_bytes)
        self._session = requests.Session()
        self._api = PrometheusConnect(url=self.url, session=self._session, timeout=timeout)
        # The library mounts its own HTTPAdapter on its URL; ours replaces it (same prefix),
        # and also serves any other URL the session might be asked for.
        for prefix in ("http://", "https://", self._api.url):
            self._session.mount(prefix, DeadlineAdapter(self._client))

    def close(self) -> None:
        self._session.close()
        self._client.close()

    def __enter__(self) -> Prometheus:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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
        url = f"{self.url}/api/v1/{path}"
        try:
            resp = self._session.get(url, params=params, timeout=self.timeout)
            body = resp.json()
        except (requests.RequestException, ValueError, ProbeError) as exc:
            raise _probe_error(url, self.timeout, exc) from None
        if not isinstance(body, dict):
            raise ProbeError(f"{url}: answer is not a JSON object")
        if body.get("status") != "success":
            raise ProbeError(f"{url}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]


def _probe_error(url: str, timeout: float, exc: Exception) -> ProbeError:
    if isinstance(exc, TimedOut):
        return TimedOut(f"timed out after {timeout} s talking to Prometheus at {url}")
    if isinstance(exc, TooLarge):
        return exc
    text = str(exc)
    return ProbeError(f"cannot query Prometheus at {url}: {type(exc).__name__}: {text[:200]}")
