"""BS-05: where an enforcing CSP sends its violation reports, and a report to send there.

A policy that reports to an endpoint which refuses reports is blind. BS-05
therefore POSTs one recognisable, harmless report to every endpoint the
policies name, in the format a browser uses for that mechanism: the legacy
``report-uri`` body (``application/csp-report``) or the Reporting API's
(``application/reports+json``, for ``report-to`` groups). Pure: header
values and policies in, URLs and bodies out.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import urljoin

from pytest_spark.rules import csp
from pytest_spark.rules.problems import Problem

__all__ = ["SYNTHETIC_SAMPLE", "content_type", "endpoints", "rejected", "synthetic_report"]

SYNTHETIC_SAMPLE = "pytest-spark synthetic report (BS-05)"


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
            out.append(("report-uri", urljoin(page_url, uri), text))
        group = (policy.get("report-to") or (None,))[0]
        if group is not None:
            for url in [named[group]] if group in named else legacy.get(group, []):
                out.append(("report-to", urljoin(page_url, url), text))
    return out


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
