"""HTTP through httpx: per-request deadline, TLS verification on, headers kept as received."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from . import ProbeError


@dataclass(frozen=True)
class HttpResponse:
    url: str
    status: int
    headers: list[tuple[str, str]]  # as received: order and duplicates kept
    body: bytes
    elapsed_s: float

    def header(self, name: str) -> str | None:
        """The first value of a header (case-insensitive), like a browser reads most headers."""
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def header_all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def header_map(self) -> dict[str, str]:
        """Lower-cased names; repeated headers joined with ', ' as HTTP allows."""
        out: dict[str, str] = {}
        for key, value in self.headers:
            k = key.lower()
            out[k] = f"{out[k]}, {value}" if k in out else value
        return out

    def json(self) -> Any:
        import json

        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise ProbeError(f"{self.url} did not return JSON ({exc})") from None


def make_client(
    *, timeout: float, verify: bool | str = True, token: str = "", follow_redirects: bool = False
) -> httpx.Client:
    headers = {"User-Agent": "pytest-spark/0.1"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.Client(
        timeout=httpx.Timeout(timeout),
        verify=verify,
        headers=headers,
        follow_redirects=follow_redirects,
    )


def request(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    json: Any = None,
    content: bytes | str | None = None,
) -> HttpResponse:
    """One request; any transport failure becomes a ProbeError naming the URL and deadline."""
    try:
        resp = client.request(method, url, headers=headers, json=json, content=content)
    except httpx.TimeoutException:
        deadline = client.timeout.read or client.timeout.connect
        raise ProbeError(f"timed out after {deadline} s talking to {url}") from None
    except httpx.HTTPError as exc:
        raise ProbeError(f"cannot reach {url}: {type(exc).__name__}: {exc}") from None
    return HttpResponse(
        url=str(resp.url),
        status=resp.status_code,
        headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in resp.headers.raw],
        body=resp.content,
        elapsed_s=resp.elapsed.total_seconds(),
    )


def get(client: httpx.Client, url: str, **kw: Any) -> HttpResponse:
    return request(client, "GET", url, **kw)


def get_json(client: httpx.Client, url: str, expect: int = 200) -> Any:
    resp = get(client, url)
    if resp.status != expect:
        raise ProbeError(f"{url} answered HTTP {resp.status}, expected {expect}")
    return resp.json()
