"""RT-04 per response: the preload rules applied to the HSTS fields one response carried.

:mod:`pytest_spark.rules.hsts` judges one header value and a redirect chain;
here the response as received: every ``Strict-Transport-Security`` field in
order (a browser honours only the first) and the URL it came from (HSTS over
plain http is ignored). Pure: header values in, findings out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pytest_spark.rules import hsts
from pytest_spark.rules.findings import WARN, Finding

__all__ = ["chain_findings", "describe", "response_findings"]


def response_findings(url: str, values: Sequence[str]) -> list[Finding]:
    """Preload rules for one response; a second HSTS field is ignored by browsers (RFC 6797)."""
    found = hsts.preload_findings(values[0] if values else None)
    if len(values) > 1:
        found.append(
            Finding(
                "hsts-multiple-headers",
                f"{len(values)} Strict-Transport-Security headers {list(values)!r}; browsers use "
                "only the first",
            )
        )
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
    return {
        "max_age": parsed.max_age,
        "include_subdomains": parsed.include_subdomains,
        "preload": parsed.preload,
        "directives": parsed.directives,
    }


def chain_findings(
    chain: Sequence[tuple[str, int, Mapping[str, str]]], last_values: Sequence[str], max_hops: int
) -> list[Finding]:
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
