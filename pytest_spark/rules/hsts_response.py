"""RT-04 per response: the preload rules applied to the HSTS fields one response carried.

:mod:`pytest_spark.rules.hsts` judges one header value and a redirect chain;
here the response as received: every ``Strict-Transport-Security`` field in
order and the URL it came from (HSTS over plain http is ignored). As in
hstspreload's ``checkSingleHeader`` (response.go), a response must carry
exactly one field: two fail (browsers would use the first, RFC 6797 8.1, but
the preload list does not take the site). Pure: header values in, findings out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pytest_spark.rules import hsts
from pytest_spark.rules.findings import WARN, Finding

__all__ = ["chain_findings", "describe", "response_findings"]


def response_findings(url: str, values: Sequence[str]) -> list[Finding]:
    """hstspreload's response rules for one response, plus HSTS-over-http (ignored by browsers)."""
    if not values:
        found = [Finding("response.no_header", "no Strict-Transport-Security header")]
    elif len(values) > 1:
        found = [
            Finding(
                "response.multiple_headers",
                f"{len(values)} Strict-Transport-Security headers {list(values)!r}; the preload "
                "list accepts exactly one (browsers use only the first)",
            )
        ]
    else:
        found = hsts.preload_findings(values[0])
    if values and url.lower().startswith("http://"):
        found.append(
            Finding(
                "hsts-over-http",
                f"{url} is plain http: browsers ignore HSTS received over it",
                WARN,
            )
        )
    return found


def describe(values: Sequence[str]) -> dict[str, Any] | None:
    """The first HSTS field as a browser parses it (evidence), or None without one."""
    if not values:
        return None
    parsed = hsts.parse(values[0])
    preload = hsts.preload_parse(values[0])
    return {
        "max_age": parsed.max_age,
        "include_subdomains": parsed.include_subdomains,
        "preload": parsed.preload,
        "directives": parsed.directives,
        "hstspreload": {
            "max_age": preload.max_age,
            "include_subdomains": preload.include_subdomains,
            "preload": preload.preload,
        },
    }


def chain_findings(chain: hsts.Chain, last_values: Sequence[str], max_hops: int) -> list[Finding]:
    """Redirect rules for the chain, plus the response rules where it ends on https.

    ``chain`` is every response followed from the ``http://`` URL as ``(url,
    status, headers)``; ``last_values`` the last response's HSTS fields as
    received (not joined: only the first counts).
    """
    found = hsts.redirect_chain_findings(chain, max_hops)
    url, status, _ = chain[-1]
    if url.lower().startswith("https://") and not 300 <= status < 400:
        found += response_findings(url, last_values)
    return found
