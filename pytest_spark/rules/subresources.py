"""RT-05: which subresources an HTML page loads, and whether COEP lets them load.

Extraction uses libxml2's HTML parser through lxml's parser-target (SAX)
interface: linear in the page size (the stdlib ``html.parser`` is quadratic on
inputs like ``"<a" * n``, CPython gh-135462 / CVE-2025-6069) and with no tree
built, so no nesting-depth limit silently drops elements after a deep nest. It
tokenizes as HTML5 does (script/textarea text is not markup, the first of a
repeated attribute wins, character references decoded) and never touches the
network. Collected: ``<script src>``, ``<link rel~=stylesheet href>`` and
``<img src>``, resolved against the page URL or its first ``<base href>`` as a
browser does. Only http(s) URLs are fetchable subresources; ``data:``/``blob:``
ones are reported as skipped.

Per resource, :func:`evaluate` combines the header rule of
:mod:`pytest_spark.rules.headers` (CORP or CORS under ``require-corp``) with
what a browser additionally needs: the resource must actually load (2xx), and a
cross-origin resource that relies on CORS instead of CORP must be requested in
CORS mode (a ``crossorigin`` attribute) and allow the page's origin.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from pytest_spark.rules.findings import Finding
from pytest_spark.rules.headers import (
    Headers,
    corp_value,
    embedder_policy,
    header_value,
    origin,
    subresource_findings,
)

__all__ = ["Subresource", "evaluate", "extract", "origin"]

FETCHABLE = ("http", "https")


@dataclass(frozen=True, slots=True)
class Subresource:
    """One reference found in the page."""

    kind: str  # "script" | "stylesheet" | "img"
    url: str  # absolute, fragment removed
    crossorigin: str | None  # the attribute as written ("" when bare), None when absent
    raw: str  # the attribute value as written

    @property
    def fetchable(self) -> bool:
        return urlsplit(self.url).scheme.lower() in FETCHABLE


class _Collector:
    """lxml parser target: sees every start tag (names and attributes lower-cased)."""

    def __init__(self) -> None:
        self.base: str | None = None
        self.found: list[tuple[str, str, str | None]] = []

    def start(self, tag: str, attrib: Mapping[str, str]) -> None:
        a = {str(k).lower(): (v if v is not None else "") for k, v in attrib.items()}
        tag = str(tag).lower()
        if tag == "base" and self.base is None and a.get("href", "").strip():
            self.base = a["href"].strip()
        elif tag == "script" and a.get("src", "").strip():
            self.found.append(("script", a["src"], a.get("crossorigin")))
        elif tag == "img" and a.get("src", "").strip():
            self.found.append(("img", a["src"], a.get("crossorigin")))
        elif tag == "link" and a.get("href", "").strip():
            rels = {r.lower() for r in a.get("rel", "").split()}
            if "stylesheet" in rels:
                self.found.append(("stylesheet", a["href"], a.get("crossorigin")))

    def close(self) -> None:
        return None


def _collect(html: str) -> _Collector:
    from lxml import etree  # only RT-05 parses pages; a run without it skips libxml2

    collector = _Collector()
    parser = etree.HTMLParser(target=collector, encoding="utf-8", no_network=True)
    parser.feed(html.encode("utf-8", "replace"))  # lone surrogates become "?"
    parser.close()
    return collector


def extract(html: str, page_url: str) -> list[Subresource]:
    """Subresources referenced by ``html`` (document order, duplicates removed)."""
    parser = _collect(html)
    base = urljoin(page_url, parser.base) if parser.base else page_url
    out: list[Subresource] = []
    seen: set[tuple[str, str]] = set()
    for kind, raw, cors in parser.found:
        url = urljoin(base, raw.strip()).split("#", 1)[0]
        if (kind, url) in seen:
            continue
        seen.add((kind, url))
        out.append(Subresource(kind, url, cors, raw))
    return out


def serialize_origin(o: tuple[str, str, int | None]) -> str:
    """An origin as browsers write it in Origin / ACAO: default ports left out."""
    scheme, host, port = o
    default = {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{host}" + ("" if port in (None, default) else f":{port}")


def evaluate(
    res: Subresource,
    status: int,
    headers: Headers,
    *,
    coep: str,
    page_url: str,
) -> list[Finding]:
    """Would ``res`` load on ``page_url`` under its COEP value ``coep``?"""
    if not 200 <= status < 300:
        return [
            Finding(
                "subresource-not-loaded",
                f"{res.kind} {res.url} answered HTTP {status}: the page is broken",
            )
        ]
    out = subresource_findings(res.url, headers, coep=coep, page_url=page_url)
    if out or embedder_policy(coep) != "require-corp":
        return out
    cross = origin(res.url) != origin(page_url)
    _, corp = corp_value(headers)
    acao = header_value(headers, "access-control-allow-origin")
    if cross and corp is None and acao is not None:
        page_origin = serialize_origin(origin(page_url))
        if res.crossorigin is None:
            out.append(
                Finding(
                    "subresource-cors-not-requested",
                    f"{res.kind} {res.url} is cross-origin and has only CORS headers, but the "
                    "element has no crossorigin attribute: it loads no-cors and COEP "
                    "require-corp blocks it",
                )
            )
        elif acao.strip() not in ("*", page_origin):
            out.append(
                Finding(
                    "subresource-cors-origin",
                    f"{res.kind} {res.url} sends Access-Control-Allow-Origin {acao.strip()!r}, "
                    f"which does not allow {page_origin}",
                )
            )
    return out
