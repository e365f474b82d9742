"""BS-05: where an enforcing CSP reports to, and the synthetic report sent there."""

from __future__ import annotations

import json

from pytest_spark.rules import csp, csp_reports

PAGE = "https://app.example/account/"


def test_report_uri_and_report_to_group_resolve_against_the_page() -> None:
    policies = csp.parse(
        "default-src 'self'; report-uri /csp-report https://r.example/x; report-to g"
    )
    found = csp_reports.endpoints(PAGE, policies, 'g="reports"', None)
    text = policies[0].serialize()
    assert found == [
        ("report-uri", "https://app.example/csp-report", text),
        ("report-uri", "https://r.example/x", text),
        ("report-to", "https://app.example/account/reports", text),
    ]


def test_legacy_report_to_is_used_when_reporting_endpoints_lacks_the_group() -> None:
    policies = csp.parse("default-src 'self'; report-to legacy")
    report_to = json.dumps(
        {"group": "legacy", "max_age": 60, "endpoints": [{"url": "/a"}, {"url": "/b"}]}
    )
    found = csp_reports.endpoints(PAGE, policies, 'other="/x"', report_to)
    assert [url for _, url, _ in found] == ["https://app.example/a", "https://app.example/b"]


def test_a_group_named_nowhere_and_a_policy_without_reporting_have_no_endpoint() -> None:
    assert (
        csp_reports.endpoints(PAGE, csp.parse("default-src 'self'; report-to g"), None, None) == []
    )
    assert csp_reports.endpoints(PAGE, csp.parse("default-src 'self'"), 'g="/r"', None) == []


def test_report_uri_report_is_the_legacy_csp_report_body() -> None:
    content_type, body = csp_reports.synthetic_report("report-uri", PAGE, "script-src 'self'")
    assert content_type == "application/csp-report" == csp_reports.content_type("report-uri")
    report = json.loads(body)["csp-report"]
    assert report["document-uri"] == PAGE
    assert report["original-policy"] == "script-src 'self'"
    assert report["script-sample"] == csp_reports.SYNTHETIC_SAMPLE


def test_report_to_report_is_a_reporting_api_list() -> None:
    content_type, body = csp_reports.synthetic_report("report-to", PAGE, "script-src 'self'")
    assert content_type == "application/reports+json" == csp_reports.content_type("report-to")
    [report] = json.loads(body)
    assert (report["type"], report["url"]) == ("csp-violation", PAGE)
    assert report["body"]["documentURL"] == PAGE
    assert report["body"]["sample"] == csp_reports.SYNTHETIC_SAMPLE


def test_only_a_non_2xx_answer_is_a_problem() -> None:
    assert csp_reports.rejected("report-uri", "https://r.example/x", 204) == []
    assert csp_reports.rejected("report-to", "https://r.example/x", 404) == [
        (
            "CSP report-to endpoint https://r.example/x answered HTTP 404 to a synthetic "
            "application/reports+json POST (expected 2xx)",
            "",
        )
    ]


# --- well-formed endpoints (checked without writing; the POST needs --spark-allow-writes)


def test_http_and_https_report_uri_endpoints_are_well_formed() -> None:
    for url in ("https://r.example/x", "http://r.example:8080/csp", "http://127.0.0.1:9/r"):
        assert csp_reports.malformed("report-uri", url) == [], url


def test_a_report_uri_that_no_browser_can_post_to_is_a_problem() -> None:
    for url in ("javascript:alert(1)", "data:,x", "mailto:sec@example", "http://[::1/x"):
        [(message, _)] = csp_reports.malformed("report-uri", url)
        assert "report-uri endpoint" in message and url in message, message


def test_a_bad_port_is_not_a_valid_url() -> None:
    [(message, _)] = csp_reports.malformed("report-to", "https://r.example:99999/x")
    assert "not a valid URL" in message


def test_report_to_needs_a_potentially_trustworthy_origin() -> None:
    """Reporting API "process reporting endpoints": non-trustworthy origins are dropped."""
    [(message, _)] = csp_reports.malformed("report-to", "http://r.example/x")
    assert "not potentially trustworthy" in message and "http://r.example/x" in message
    for url in (
        "https://r.example/x",
        "http://localhost:8000/r",
        "http://a.localhost/r",
        "http://127.0.0.2/r",
        "http://[::1]:80/r",
    ):
        assert csp_reports.malformed("report-to", url) == [], url
    # report-uri has no such rule: a plain http collector still receives reports
    assert csp_reports.malformed("report-uri", "http://r.example/x") == []


def test_an_unparseable_reference_is_kept_and_reported_not_raised() -> None:
    policies = csp.parse("default-src 'self'; report-uri http://[::1")
    [(kind, url, _)] = csp_reports.endpoints(PAGE, policies, None, None)
    assert (kind, url) == ("report-uri", "http://[::1")
    assert csp_reports.malformed(kind, url)


def test_the_not_exercised_note_names_the_flag() -> None:
    assert "--spark-allow-writes" in csp_reports.NOT_EXERCISED
