"""BS-05: where an enforcing CSP sends its violation reports, and a report to send there.

A policy that reports to an endpoint which refuses reports is blind. BS-05
therefore checks that every endpoint the policies name is a URL a browser
would send to (:func:`malformed`) and, only when the run allows writes,
POSTs one recognisable, harmless report there, in the format a browser uses
for that mechanism: the legacy ``report-uri`` body (``application/csp-report``)
or the Reporting API's (``application/reports+json``, for ``report-to``
groups). The POST is a write: it moves the target's CSP violation counter,
which canary analysis reads. Pure: header values and policies in, URLs and
bodies out.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import urljoin, urlsplit

from pytest_spark.rules import csp
from pytest_spark.rules.problems import Problem

__all__ = [
    "NOT_EXERCISED",
    "SYNTHETIC_SAMPLE",
    "content_type",
    "endpoints",
    "malformed",
    "rejected",
    "synthetic_report",
]

SYNTHETIC_SAMPLE = "pytest-spark synthetic report (BS-05)"
#: Why report acceptance was not tested, in evidence and in the run's warnings.
NOT_EXERCISED = (
    "report endpoint acceptance not exercised: POSTing a synthetic report is a write "
    "(it counts as a CSP violation on the target); pass --spark-allow-writes to test it"
)


def endpoints(
    page_url: str,
    policies: Sequence[csp.Policy],
    reporting_endpoints: str | None,
    report_to: str | None,
) -> list[tuple[str, str, str]]:
    """(kind, absolute URL, policy text) of every reporting target the policies name.

    ``reporting_endpoints`` and ``report_to`` are the page's header values
    (repeated headers joined with ", "); relative URLs resolve against the page.
    """
    out: list[tuple[str, str, str]] = []
    named = csp.parse_reporting_endpoints(reporting_endpoints)
    legacy = csp.parse_report_to(report_to)
    for policy in policies:
        text = policy.serialize()
        for uri in policy.get("report-uri") or ():
            out.append(("report-uri", _resolve(page_url, uri), text))
        group = (policy.get("report-to") or (None,))[0]
        if group is not None:
            for url in [named[group]] if group in named else legacy.get(group, []):
                out.append(("report-to", _resolve(page_url, url), text))
    return out


def _resolve(base: str, ref: str) -> str:
    """``ref`` against ``base``; a reference that cannot be parsed stays as written."""
    try:
        return urljoin(base, ref)
    except ValueError:
        return ref


def malformed(kind: str, url: str) -> list[Problem]:
    """The problem when a browser would never send a report to ``url``.

    CSP 3 ("Report a violation", report-uri) fetches each URL that parses;
    only http(s) can take a POST. The Reporting API ("Process reporting
    endpoints", report-to) also drops an endpoint whose origin is not
    potentially trustworthy (Secure Contexts 3.1: https, loopback, localhost).
    """
    try:
        parts = urlsplit(url)
        host, _port = parts.hostname, parts.port  # .port raises on a bad port
    except ValueError as exc:
        return [(f"CSP {kind} endpoint {url!r} is not a valid URL ({exc})", "")]
    if parts.scheme not in ("http", "https") or not host:
        return [(f"CSP {kind} endpoint {url!r} is not an http(s) URL with a host", "")]
    if kind == "report-to" and parts.scheme != "https" and not _loopback(host):
        return [
            (
                f"CSP report-to endpoint {url} is not potentially trustworthy (plain http to "
                "a non-loopback host): browsers drop it (Reporting API, Secure Contexts 3.1)",
                "",
            )
        ]
    return []


def _loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def content_type(kind: str) -> str:
    """The media type a browser POSTs reports of ``kind`` ("report-uri" or "report-to") as."""
    return "application/csp-report" if kind == "report-uri" else "application/reports+json"


def synthetic_report(kind: str, document_url: str, policy: str) -> tuple[str, bytes]:
    """(content type, body) of a recognisable, harmless violation report for ``kind``."""
    if kind == "report-uri":
        body: Any = {
            "csp-report": {
                "document-uri": document_url,
                "referrer": "",
                "violated-directive": "script-src-elem",
                "effective-directive": "script-src-elem",
                "original-policy": policy,
                "disposition": "report",
                "blocked-uri": "inline",
                "status-code": 200,
                "script-sample": SYNTHETIC_SAMPLE,
            }
        }
        return content_type(kind), json.dumps(body).encode()
    body = [
        {
            "type": "csp-violation",
            "age": 0,
            "url": document_url,
            "user_agent": "pytest-spark",
            "body": {
                "documentURL": document_url,
                "effectiveDirective": "script-src-elem",
                "originalPolicy": policy,
                "disposition": "report",
                "blockedURL": "inline",
                "statusCode": 200,
                "sample": SYNTHETIC_SAMPLE,
            },
        }
    ]
    return content_type(kind), json.dumps(body).encode()


def rejected(kind: str, url: str, status: int) -> list[Problem]:
    """The problem when a report endpoint did not accept the synthetic report (non-2xx)."""
    if 200 <= status < 300:
        return []
    return [
        (
            f"CSP {kind} endpoint {url} answered HTTP {status} to a synthetic "
            f"{content_type(kind)} POST (expected 2xx)",
            "",
        )
    ]
