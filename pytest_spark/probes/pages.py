"""Pages and documents from every API instance, redirects followed by hand, CSP reports posted.

Everything here is GET, except :func:`post_csp_report` (a write, allowed writes only).

Requests to origins other than the configured API instances (CSP report
collectors, CDN assets, redirect hops) go through a second client without the
API's bearer token (:class:`Clients`), so a token is never sent to a third
party. Responses are kept as received (:class:`~.http.HttpResponse`); a page
that does not answer 2xx cannot be judged, which is a ProbeError (could not
verify), never a pass.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import httpx

from ..evidence import Recorder
from ..rules import csp_reports, subresource_requests
from ..rules.subresources import Subresource, origin
from . import ProbeError
from .http import HttpResponse, get, get_json, request

__all__ = [
    "Clients",
    "fetch",
    "fetch_subresources",
    "follow",
    "joined",
    "json_docs",
    "observe_response",
    "post_csp_report",
    "target_paths",
]


@dataclass
class Clients:
    """Pick the client for a URL: the API's own origins get the token, others do not."""

    api: httpx.Client
    anonymous: httpx.Client
    api_urls: Sequence[str]

    def for_url(self, url: str) -> httpx.Client:
        mine = {origin(u) for u in self.api_urls}
        return self.api if origin(url) in mine else self.anonymous


def target_paths(targets: Mapping[str, Any], *keys: str) -> list[str]:
    """Configured target paths (html_paths, api_paths), each once, with a leading '/'."""
    out: list[str] = []
    for key in keys:
        for path in targets[key]:
            p = path if path.startswith("/") else f"/{path}"
            if p not in out:
                out.append(p)
    return out


def fetch(http: httpx.Client, api_urls: Sequence[str], paths: Sequence[str]) -> list[HttpResponse]:
    """GET every path on every instance; a non-2xx page cannot be judged (could not verify)."""
    out = []
    for base in api_urls:
        for path in paths:
            resp = get(http, base + path)
            if not 200 <= resp.status < 300:
                raise ProbeError(f"{resp.url} answered HTTP {resp.status}, expected 2xx")
            out.append(resp)
    return out


def json_docs(http: httpx.Client, api_urls: Sequence[str], path: str) -> dict[str, Any]:
    """Each instance's JSON document at ``path`` (HTTP 200 expected), by base URL."""
    return {base: get_json(http, base + path) for base in api_urls}


def observe_response(evidence: Recorder, resp: HttpResponse, what: str = "response") -> None:
    """Status and headers exactly as received (order and duplicates kept)."""
    evidence.observe(what, {"url": resp.url, "status": resp.status, "headers": resp.headers})


def joined(resp: HttpResponse, name: str) -> str | None:
    """Every value of a header joined with ", " (as HTTP allows), None when absent."""
    values = resp.header_all(name)
    return ", ".join(values) if values else None


def follow(clients: Clients, start: str, max_hops: int, evidence: Recorder) -> list[HttpResponse]:
    """Follow redirects by hand (max_hops + 1 requests at most), keeping every response.

    Each hop is recorded as "redirect_hop" as soon as it answers.
    """
    chain: list[HttpResponse] = []
    url = start
    for _ in range(max_hops + 1):
        resp = get(clients.for_url(url), url)
        chain.append(resp)
        observe_response(evidence, resp, "redirect_hop")
        location = resp.header("location")
        if not (300 <= resp.status < 400 and location):
            break
        url = urljoin(url, location.strip())
    return chain


def fetch_subresources(
    clients: Clients, page_url: str, found: Sequence[Subresource], evidence: Recorder
) -> Iterator[tuple[Subresource, HttpResponse]]:
    """GET each http(s) subresource as the page's browser would, one at a time.

    A skipped one is recorded as "subresource_skipped", each response as
    "subresource_response" before it is handed back.
    """
    for res in found:
        if not res.fetchable:
            evidence.observe("subresource_skipped", {"url": res.url, "why": "not http(s)"})
            continue
        send = subresource_requests.request_headers(res, page_url)
        resp = get(clients.for_url(res.url), res.url, headers=send)
        observe_response(evidence, resp, "subresource_response")
        yield res, resp


def post_csp_report(
    client: httpx.Client, kind: str, url: str, document_url: str, policy: str, evidence: Recorder
) -> HttpResponse:
    """POST one synthetic violation report to a CSP report endpoint, recorded as "report_post".

    A write: the target counts it as a CSP violation (a canary metric). Call it
    only when the run allows writes (BS-05 gates it on policy.allow_writes).
    """
    content_type, body = csp_reports.synthetic_report(kind, document_url, policy)
    resp = request(client, "POST", url, headers={"Content-Type": content_type}, content=body)
    evidence.observe(
        "report_post",
        {
            "via": kind,
            "url": url,
            "content_type": content_type,
            "body": body.decode(),
            "status": resp.status,
            "headers": resp.headers,
        },
    )
    return resp
