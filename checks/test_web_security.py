"""Web security of the HTTP surface: CSP, security headers, HSTS preload, COEP.

BS-05 CSP, PF-05 headers, RT-04 HSTS preload and RT-05 COEP compatibility.
Each test fetches the configured pages from every API instance
(``pytest_spark.probes.pages``: deadline on every call, TLS verified), records
them as received, hands them to a pure rule in ``pytest_spark.rules`` and
fails naming the header, directive or resource with its value and the URL it
came from. Other origins (report collectors, assets, redirect hops) are asked
through ``clients`` without the API's bearer token.
"""

from __future__ import annotations

import warnings
from typing import Any

import httpx
import pytest

from pytest_spark.config import SparkConfig
from pytest_spark.evidence import Recorder
from pytest_spark.probes import pages
from pytest_spark.probes.pages import Clients, joined, observe_response
from pytest_spark.rules import (
    csp,
    csp_reports,
    headers,
    hsts_response,
    subresource_requests,
    subresources,
)
from pytest_spark.rules.problems import Problem, fail_messages, summary

ALL_PAGES = ("html_paths", "api_paths")


@pytest.mark.spark_check("BS-05")
def test_bs05_csp_enforced_strict_and_reporting(
    clients: Clients, api_urls: list[str], spark_config: SparkConfig, evidence: Recorder
) -> None:
    """An enforcing, strict CSP on HTML and API responses, whose report endpoint accepts reports.

    Read-only by default: the reporting endpoints must be declared and be URLs a
    browser sends to; the synthetic report POST (a write: it moves the target's
    CSP violation metric, a canary input) runs only with --spark-allow-writes.
    Without it, "report_acceptance" records that acceptance was not exercised
    and the run shows a warning saying so (CHECKS.md BS-05, PRODUCT.md safety).
    """
    problems: list[Problem] = []
    targets: dict[tuple[str, str], tuple[str, str]] = {}
    paths = pages.target_paths(spark_config.targets, *ALL_PAGES)
    for page in pages.fetch(clients.api, api_urls, paths):
        observe_response(evidence, page)
        reporting = joined(page, "reporting-endpoints"), joined(page, "report-to")
        analysis = csp.analyze(
            joined(page, "content-security-policy"),
            joined(page, "content-security-policy-report-only"),
            *reporting,
        )
        evidence.observe(
            "csp",
            {
                "url": page.url,
                "mode": analysis.mode,
                "policies": [p.directives for p in analysis.policies],
                "findings": [f.to_dict() for f in analysis.findings],
            },
        )
        problems += fail_messages(analysis.findings, page.url)
        if analysis.mode == "enforcing":
            for kind, url, text in csp_reports.endpoints(page.url, analysis.policies, *reporting):
                targets.setdefault((kind, url), (page.url, text))
    allowed = bool(spark_config.policy["allow_writes"])
    for (kind, url), (page_url, text) in targets.items():
        bad = csp_reports.malformed(kind, url)
        problems += bad
        exercised = allowed and not bad
        evidence.observe(
            "report_acceptance",
            {
                "via": kind,
                "url": url,
                "well_formed": not bad,
                "exercised": exercised,
                "why": "" if exercised or bad else csp_reports.NOT_EXERCISED,
            },
        )
        if exercised:
            resp = pages.post_csp_report(clients.for_url(url), kind, url, page_url, text, evidence)
            problems += csp_reports.rejected(kind, url, resp.status)
    if targets and not allowed:
        warnings.warn(f"BS-05: {csp_reports.NOT_EXERCISED}", UserWarning, stacklevel=1)
    assert not problems, summary(problems)


@pytest.mark.spark_check("PF-05")
def test_pf05_security_header_grade(
    http: httpx.Client,
    api_urls: list[str],
    spark_config: SparkConfig,
    thresholds: Any,
    evidence: Recorder,
) -> None:
    """Observatory-style score of every endpoint reaches the minimum grade, no baseline gap."""
    minimum = thresholds["header_min_grade"]
    min_age = int(thresholds["hsts_min_age_s"])
    evidence.observe("thresholds", {"header_min_grade": minimum, "hsts_min_age_s": min_age})
    problems: list[Problem] = []
    paths = pages.target_paths(spark_config.targets, *ALL_PAGES)
    for page in pages.fetch(http, api_urls, paths):
        observe_response(evidence, page)
        # The fields as received: each header has its own rule for repeated fields.
        result = headers.score(page.headers, hsts_min_age=min_age)
        blocking = result.blocking(minimum)
        evidence.observe(
            "score",
            {
                "url": page.url,
                "score": result.score,
                "grade": result.grade,
                "penalties": [f.to_dict() for f in result.penalties],
                "bonuses": [f.to_dict() for f in result.bonuses],
                "blocking": [f.to_dict() for f in blocking],
            },
        )
        # Each blocking finding says what failed (the grade only when the grade is why).
        problems += fail_messages(blocking, page.url)
    assert not problems, summary(problems)


@pytest.mark.spark_check("RT-04")
def test_rt04_hsts_preload_eligible(
    clients: Clients,
    api_urls: list[str],
    spark_config: SparkConfig,
    thresholds: Any,
    evidence: Recorder,
) -> None:
    """HSTS meets the preload list's rules everywhere, and http:// redirects carry it."""
    problems: list[Problem] = []
    paths = pages.target_paths(spark_config.targets, *ALL_PAGES)
    for page in pages.fetch(clients.api, api_urls, paths):
        observe_response(evidence, page)
        values = page.header_all("strict-transport-security")
        parsed = hsts_response.describe(values)
        found = hsts_response.response_findings(page.url, values)
        evidence.observe(
            "hsts",
            {
                "url": page.url,
                "values": values,
                "parsed": parsed,
                "findings": [f.to_dict() for f in found],
            },
        )
        problems += fail_messages(found, page.url)
    start = spark_config.targets["http_redirect_url"]
    max_hops = int(thresholds["max_redirects"])
    evidence.observe("redirect", {"http_redirect_url": start or None, "max_redirects": max_hops})
    if start:
        chain = pages.follow(clients, start, max_hops, evidence)
        found = hsts_response.chain_findings(
            [(r.url, r.status, r.headers) for r in chain],
            chain[-1].header_all("strict-transport-security"),
            max_hops,
        )
        evidence.observe("redirect_findings", [f.to_dict() for f in found])
        problems += fail_messages(found, f"redirect chain from {start}")
    assert not problems, summary(problems)


@pytest.mark.spark_check("RT-05")
def test_rt05_coep_subresources_load(
    clients: Clients, api_urls: list[str], spark_config: SparkConfig, evidence: Recorder
) -> None:
    """COEP + COOP on the HTML, and every script, stylesheet and image opts in (CORP or CORS)."""
    problems: list[Problem] = []
    html = pages.target_paths(spark_config.targets, "html_paths")
    for page in pages.fetch(clients.api, api_urls, html):
        observe_response(evidence, page)
        problems += fail_messages(headers.coep_findings(page.headers), page.url)
        coep = headers.header_value(page.headers, "cross-origin-embedder-policy") or ""
        found = subresources.extract(page.body.decode("utf-8", "replace"), page.url)
        evidence.observe("subresources", subresource_requests.describe(page.url, coep, found))
        for res, resp in pages.fetch_subresources(clients, page.url, found, evidence):
            verdict = subresources.evaluate(
                res, resp.status, resp.headers, coep=coep, page_url=page.url
            )
            evidence.observe(
                "subresource_findings",
                {"url": res.url, "findings": [f.to_dict() for f in verdict]},
            )
            problems += fail_messages(verdict, f"page {page.url}")
    assert not problems, summary(problems)
