"""RT-04 per response: the HSTS fields one response carried, and where a redirect chain ends."""

from __future__ import annotations

from pytest_spark.rules import hsts_response
from pytest_spark.rules.findings import WARN, codes

GOOD = "max-age=63072000; includeSubDomains; preload"


def test_one_preloadable_field_over_https_is_clean() -> None:
    assert hsts_response.response_findings("https://a.example/", [GOOD]) == []


def test_missing_field_fails_with_the_preload_rules() -> None:
    assert codes(hsts_response.response_findings("https://a.example/", [])) == [
        "response.no_header"
    ]


def test_several_fields_fail_as_in_hstspreload() -> None:
    # hstspreload checkSingleHeader: more than one field is an error, even two good ones.
    for values in ([GOOD, "max-age=0"], [GOOD, GOOD]):
        found = hsts_response.response_findings("https://a.example/", values)
        assert codes(found) == ["response.multiple_headers"]
        assert found[0].message == (
            f"2 Strict-Transport-Security headers {values!r}; the preload list accepts exactly "
            "one (browsers use only the first)"
        )


def test_hsts_over_plain_http_is_a_warning() -> None:
    [finding] = hsts_response.response_findings("HTTP://a.example/", [GOOD])
    assert finding.code == "hsts-over-http" and finding.severity == WARN
    assert "HTTP://a.example/ is plain http" in finding.message


def test_describe_parses_the_first_field_only() -> None:
    assert hsts_response.describe([]) is None
    described = hsts_response.describe(["max-age=31536000; preload", GOOD])
    assert described is not None
    assert (described["max_age"], described["include_subdomains"], described["preload"]) == (
        31536000,
        False,
        True,
    )
    assert described["directives"] == (("max-age", "31536000"), ("preload", None))
    spaced = hsts_response.describe(["max-age = 31536000; includeSubDomains; preload"])
    assert spaced is not None and spaced["max_age"] == 31536000  # browsers read it
    assert spaced["hstspreload"]["max_age"] is None  # the preload checker does not


def test_chain_ending_on_https_is_judged_like_a_page() -> None:
    chain = [
        ("http://a.example/", 301, {"location": "https://a.example/"}),
        ("https://a.example/", 200, {"strict-transport-security": "max-age=60"}),
    ]
    found = hsts_response.chain_findings(chain, ["max-age=60"], max_hops=3)
    # hstspreload's first-redirect rule, then the page's own verdict.
    assert codes(found) == [
        "redirects.http.first_redirect.no_hsts",
        *codes(hsts_response.response_findings("https://a.example/", ["max-age=60"])),
    ]


def test_chain_that_never_reaches_https_gets_only_the_redirect_rules() -> None:
    chain = [("http://a.example/", 200, {})]
    found = hsts_response.chain_findings(chain, [], max_hops=3)
    assert "hsts-missing" not in codes(found)
    assert found
