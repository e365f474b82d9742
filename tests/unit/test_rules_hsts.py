"""HSTS parser, PF-05 baseline, RT-04 preload rules and the http->https redirect chain."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_spark.rules import hsts
from pytest_spark.rules.findings import codes, failures

SANDBOX_HSTS = "max-age=63072000; includeSubDomains; preload"
HSTS_HDR = {"Strict-Transport-Security": SANDBOX_HSTS}


def test_parse_sandbox_header():
    h = hsts.parse(SANDBOX_HSTS)
    assert (h.max_age, h.include_subdomains, h.preload, h.valid) == (63072000, True, True, True)
    assert h.issues == ()


def test_directive_names_case_insensitive_and_whitespace():
    h = hsts.parse("  MAX-AGE = 31536000 ;INCLUDESUBDOMAINS;   Preload  ")
    assert (h.max_age, h.include_subdomains, h.preload, h.valid) == (31536000, True, True, True)


def test_quoted_max_age_is_rfc_valid_but_not_preloadable():
    h = hsts.parse('max-age="31536000"; includeSubDomains; preload')
    assert h.valid and h.max_age == 31536000 and h.max_age_quoted
    found = hsts.preload_findings(h)
    assert codes(found) == [
        "header.parse.max_age.non_digit_characters",
        "header.preloadable.max_age.missing",
    ]
    assert "quoted" in found[0].message
    assert hsts.baseline(h) == []


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("max-age=abc", "hsts-max-age-not-digits"),
        ("max-age=-1", "hsts-max-age-not-digits"),
        ("max-age=1.5", "hsts-max-age-not-digits"),
        ("max-age=", "hsts-invalid"),
        ("max-age", "hsts-max-age-no-value"),
        ("includeSubDomains", "hsts-max-age-missing"),
        ("", "hsts-empty"),
        ("max-age=1; max-age=2", "hsts-repeated-directive"),
        ("max-age=1; includesubdomains; IncludeSubDomains", "hsts-repeated-directive"),
        ('max-age="1', "hsts-invalid"),
        ("max-age=1; preload=yes", "hsts-directive-has-value"),
        ("max-age 1", "hsts-invalid"),
    ],
)
def test_invalid_headers(value, code):
    h = hsts.parse(value)
    assert not h.valid
    assert code in codes(h.issues)


def test_repeated_directive_message_names_directive_and_value():
    h = hsts.parse("max-age=31536000; preload; preload")
    [issue] = h.issues
    assert "preload" in issue.message and "'max-age=31536000; preload; preload'" in issue.message


def test_leading_zero_is_rfc_valid_but_preload_failure():
    h = hsts.parse("max-age=031536000; includeSubDomains; preload")
    assert h.valid and h.max_age == 31536000
    assert [(i.code, i.severity) for i in h.issues] == [("hsts-max-age-leading-zero", "warn")]
    [finding] = hsts.preload_findings(h)
    assert (finding.code, finding.severity) == ("header.parse.max_age.leading_zero", "fail")
    assert "hstspreload only warns" in finding.message


def test_unknown_and_empty_directives_are_warnings():
    h = hsts.parse("max-age=31536000;; includeSubDomains; preload; foo=bar")
    assert h.valid
    assert codes(h.issues) == ["hsts-empty-directive", "hsts-unknown-directive"]
    assert failures(hsts.preload_findings(h)) == []


def test_huge_max_age_saturates():
    h = hsts.parse("max-age=" + "9" * 5000)
    assert h.valid and h.max_age == 10**18


# --- preload rules (RT-04) -----------------------------------------------------------


def test_sandbox_header_is_preloadable():
    assert hsts.preload_findings(SANDBOX_HSTS) == []


def test_fault_max_age_one_second_short():
    [finding] = hsts.preload_findings("max-age=31535999; includeSubDomains; preload")
    assert finding.code == "header.preloadable.max_age.below_1_year"
    assert "max-age=31535999" in finding.message and "preload minimum 31536000" in finding.message


def test_fault_preload_missing():
    [finding] = hsts.preload_findings("max-age=63072000; includeSubDomains")
    assert finding.code == "header.preloadable.preload.missing"
    assert "lacks preload" in finding.message


def test_include_subdomains_missing_and_exact_minimum():
    assert codes(hsts.preload_findings("max-age=31536000; preload")) == [
        "header.preloadable.include_sub_domains.missing"
    ]
    assert hsts.preload_findings("max-age=31536000; includeSubDomains; preload") == []


def test_over_ten_years_is_only_a_warning():
    findings = hsts.preload_findings("max-age=999999999; includeSubDomains; preload")
    assert codes(findings) == ["header.preloadable.max_age.over_10_years"]
    assert failures(findings) == []


def test_missing_header():
    assert codes(hsts.preload_findings(None)) == ["hsts-missing"]
    assert codes(hsts.baseline(None)) == ["hsts-missing"]


# --- PF-05 baseline ----------------------------------------------------------------------


def test_baseline():
    assert hsts.baseline(SANDBOX_HSTS) == []
    assert hsts.baseline("max-age=15552000") == []
    [low] = hsts.baseline("max-age=15551999")
    assert low.code == "hsts-max-age-too-low" and "15551999" in low.message
    assert codes(hsts.baseline("max-age=31536000; max-age=31536000")) == ["hsts-repeated-directive"]
    assert hsts.baseline("max-age=100", min_age=50) == []


# --- redirect chain ------------------------------------------------------------------------


def test_redirect_chain_good():
    chain = [
        ("http://spark.test/", 301, {"Location": "https://spark.test/"}),
        ("https://spark.test/", 200, HSTS_HDR),
    ]
    assert hsts.redirect_chain_findings(chain) == []


def test_redirect_chain_ports_ignored_relative_location_and_https_hops_with_hsts():
    chain = [
        ("http://127.0.0.1:8080/", 308, {"location": "https://127.0.0.1:8443/"}),
        ("https://127.0.0.1:8443/", 302, {"Location": "/app", **HSTS_HDR}),
        ("https://127.0.0.1:8443/app", 200, HSTS_HDR),
    ]
    assert hsts.redirect_chain_findings(chain) == []


def test_no_redirect_from_http():
    chain = [("http://spark.test/", 200, {})]
    [finding] = hsts.redirect_chain_findings(chain)
    assert finding.code == "redirects.http.no_redirect" and "200" in finding.message


def test_first_redirect_off_host_or_insecure():
    off_host = [
        ("http://spark.test/", 301, {"Location": "https://www.spark.test/"}),
        ("https://www.spark.test/", 200, HSTS_HDR),
    ]
    assert codes(hsts.redirect_chain_findings(off_host)) == ["redirects.http.www_first"]
    other_host = [
        ("http://spark.test/", 301, {"Location": "https://spark.example/"}),
        ("https://spark.example/", 200, HSTS_HDR),
    ]
    assert codes(hsts.redirect_chain_findings(other_host)) == [
        "redirects.http.first_redirect.insecure"
    ]
    insecure = [
        ("http://spark.test/", 301, {"Location": "http://spark.test/home"}),
        ("http://spark.test/home", 301, {"Location": "https://spark.test/home"}),
        ("https://spark.test/home", 200, HSTS_HDR),
    ]
    assert codes(hsts.redirect_chain_findings(insecure)) == [
        "redirects.http.first_redirect.insecure"
    ]


def test_https_redirect_without_hsts():
    chain = [
        ("http://spark.test/", 301, {"Location": "https://spark.test/"}),
        ("https://spark.test/", 302, {"Location": "https://spark.test/app"}),
        ("https://spark.test/app", 200, HSTS_HDR),
    ]
    # hstspreload: the response at the first redirect's target must itself be preloadable.
    [finding] = hsts.redirect_chain_findings(chain)
    assert finding.code == "redirects.http.first_redirect.no_hsts"
    assert "https://spark.test/" in finding.message and "no Strict-Transport" in finding.message
    # The catalog asks the same of every later https redirect (a valid header).
    later = [
        ("http://spark.test/", 301, {"Location": "https://spark.test/"}),
        ("https://spark.test/", 302, {"Location": "/a", **HSTS_HDR}),
        ("https://spark.test/a", 302, {"Location": "/b"}),
        ("https://spark.test/b", 200, HSTS_HDR),
    ]
    [finding] = hsts.redirect_chain_findings(later)
    assert finding.code == "https-redirect-without-hsts" and "spark.test/a" in finding.message


def test_https_redirect_with_invalid_hsts():
    chain = [
        ("http://spark.test/", 301, {"Location": "https://spark.test/"}),
        ("https://spark.test/", 302, {"Location": "/a", "Strict-Transport-Security": "max-age=x"}),
        ("https://spark.test/a", 200, HSTS_HDR),
    ]
    assert codes(hsts.redirect_chain_findings(chain)) == ["redirects.http.first_redirect.no_hsts"]
    later = [
        ("http://spark.test/", 301, {"Location": "https://spark.test/"}),
        ("https://spark.test/", 302, {"Location": "/a", **HSTS_HDR}),
        ("https://spark.test/a", 302, {"Location": "/b", "Strict-Transport-Security": "max-age=x"}),
        ("https://spark.test/b", 200, HSTS_HDR),
    ]
    assert codes(hsts.redirect_chain_findings(later)) == ["https-redirect-invalid-hsts"]


def test_too_many_hops_and_downgrade():
    chain = [("http://spark.test/", 301, {"Location": "https://spark.test/1"})]
    chain += [
        (f"https://spark.test/{i}", 302, {"Location": f"/{i + 1}", **HSTS_HDR}) for i in range(1, 4)
    ]
    chain += [("https://spark.test/4", 200, HSTS_HDR)]
    assert codes(hsts.redirect_chain_findings(chain)) == ["redirects.too_many"]
    assert hsts.redirect_chain_findings(chain, max_hops=4) == []
    downgrade = [
        ("http://spark.test/", 301, {"Location": "https://spark.test/"}),
        ("https://spark.test/", 302, {"Location": "http://spark.test/x", **HSTS_HDR}),
        ("http://spark.test/x", 200, {}),
    ]
    assert codes(hsts.redirect_chain_findings(downgrade)) == ["redirects.insecure.subsequent"]


def test_chain_edge_cases():
    assert codes(hsts.redirect_chain_findings([])) == ["redirect-chain-empty"]
    assert codes(hsts.redirect_chain_findings([("https://a/", 200, {})])) == [
        "redirect-start-not-http"
    ]
    # Go's client does not follow a redirect without Location: no redirect at all.
    assert codes(hsts.redirect_chain_findings([("http://a/", 301, {})])) == [
        "redirects.http.no_redirect"
    ]
    partial = hsts.redirect_chain_findings([("http://a/", 301, {"Location": "https://a/"})])
    assert codes(partial) == ["redirect-chain-incomplete"] and failures(partial) == []
    over_http = [
        ("http://a/", 301, {"Location": "https://a/", **HSTS_HDR}),
        ("https://a/", 200, HSTS_HDR),
    ]
    assert codes(hsts.redirect_chain_findings(over_http)) == ["redirects.http.useless_header"]


# --- issue 14: the hstspreload checker, mirrored ------------------------------------------
# Inputs and expected issue codes from chromium/hstspreload header.go / header_test.go.

ELIGIBLE = "max-age=31536000; includeSubDomains; preload"


def test_spaces_around_equals_is_no_max_age_for_hstspreload():
    value = "max-age = 31536000; includeSubDomains; preload"
    assert hsts.parse(value).valid  # RFC 6797 allows OWS around '='
    found = hsts.preload_findings(value)
    assert codes(failures(found)) == [
        "header.parse.invalid.max_age.no_value",
        "header.preloadable.max_age.missing",
    ]
    assert "exactly 'max-age=<seconds>'" in found[0].message


@pytest.mark.parametrize(
    ("value", "errors", "warnings"),
    [
        (ELIGIBLE, [], []),
        ("   max-age=31536000  ;     includeSubDomains    ;     preload      ", [], []),
        ("MAX-AGE=31536000; INCLUDESUBDOMAINS; PRELOAD", [], []),  # EqualFold / ToLower
        ("max-age=31536000;includeSubDomains;preload;", [], ["header.parse.empty_directive"]),
        ("; max-age=31536000; includeSubDomains; preload", [], ["header.parse.empty_directive"]),
        (ELIGIBLE + "; extraDirective", [], ["header.parse.unknown_directive"]),
        (ELIGIBLE + "; preload=yes", [], ["header.parse.invalid.preload"]),
        (ELIGIBLE + "; includeSubDomains2", [], ["header.parse.invalid.include_sub_domains"]),
        ("max-age=", ["header.parse.max_age.parse_int_error"], []),
        ("max-age", ["header.parse.invalid.max_age.no_value"], []),
        ("max-age;", ["header.parse.invalid.max_age.no_value"], ["header.parse.empty_directive"]),
        ("max-age=-101", ["header.parse.max_age.non_digit_characters"], []),
        ("max-age=+101", ["header.parse.max_age.non_digit_characters"], []),
        ('max-age="31536000"', ["header.parse.max_age.non_digit_characters"], []),
        ("max-age=31536000 ", [], []),  # trailing space is trimmed
        ("max-age=3153 6000", ["header.parse.max_age.non_digit_characters"], []),
        ("max-age=18446744073709551615", [], []),  # uint64 max
        ("max-age=18446744073709551616", ["header.parse.max_age.parse_int_error"], []),
        ("max-age=01234", [], ["header.parse.max_age.leading_zero"]),
        ("", [], ["header.parse.empty"]),
        (
            "preload; includeSubDomains; preload; max-age=12345678; preload",
            [],
            ["header.parse.repeated.preload"],  # unique: reported once
        ),
        ("max-age=1; max-age=2", [], ["header.parse.repeated.max_age"]),
        ("max-age=x; max-age=2", ["header.parse.max_age.non_digit_characters"], []),
        ("max-age=31536000\u00a0; preload", [], []),  # Go trims Unicode spaces
        ("include\u017fubDomains; max-age=31536000; preload", [], []),  # EqualFold: U+017F ~ s
    ],
)
def test_parse_header_string_mirrors_hstspreload(value, errors, warnings):
    parsed = hsts.preload_parse(value)
    assert codes(parsed.errors) == errors
    assert codes(parsed.warnings) == warnings


def test_preload_parse_values():
    p = hsts.preload_parse("max-age=1; max-age=2; includeSubDomains")
    assert (p.max_age, p.include_subdomains, p.preload) == (1, True, False)  # first wins
    assert hsts.preload_parse("include\u017fubDomains").include_subdomains
    assert not hsts.preload_parse("\u0130ncludeSubDomains").include_subdomains


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("max-age=0; includeSubDomains; preload", ["header.preloadable.max_age.zero"]),
        (
            "max-age=00; includeSubDomains; preload",
            ["header.parse.max_age.leading_zero", "header.preloadable.max_age.zero"],
        ),
        (
            "includeSubDomains; preload; max-age=10886400",
            ["header.preloadable.max_age.below_1_year"],
        ),
        ("includeSubDomains; max-age=31536000", ["header.preloadable.preload.missing"]),
        ("preload; max-age=31536000", ["header.preloadable.include_sub_domains.missing"]),
        ("includeSubDomains; preload", ["header.preloadable.max_age.missing"]),
        # the catalog is stricter than hstspreload's warnings here (CHECKS.md RT-04)
        (ELIGIBLE + "; preload", ["header.parse.repeated.preload"]),
        (ELIGIBLE + "; max-age=31536000", ["header.parse.repeated.max_age"]),
        ("max-age=031536000; includeSubDomains; preload", ["header.parse.max_age.leading_zero"]),
        # hstspreload accepts it, browsers ignore it (RFC 6797: U+017F is no token character)
        ("max-age=31536000; include\u017fubDomains; preload", ["catalog.hsts.not_honoured"]),
        (ELIGIBLE + '; foo="bar', ["catalog.hsts.not_honoured"]),
    ],
)
def test_preload_verdict(value, expected):
    assert codes(failures(hsts.preload_findings(value))) == expected


def test_first_redirect_target_must_be_preloadable_not_just_valid():
    chain = [
        ("http://spark.test/", 301, {"Location": "https://spark.test/"}),
        ("https://spark.test/", 200, {"Strict-Transport-Security": "max-age=300"}),
    ]
    [finding] = hsts.redirect_chain_findings(chain)
    assert finding.code == "redirects.http.first_redirect.no_hsts"
    assert "max-age=300" in finding.message


def test_redirect_rules_follow_gos_client():
    # 300 and 304 are not redirects Go follows: the http URL "does not redirect".
    for status in (300, 304):
        chain = [("http://spark.test/", status, {"Location": "https://spark.test/"})]
        assert codes(hsts.redirect_chain_findings(chain)) == ["redirects.http.no_redirect"]
    # Host compared as written (Go's URL.Hostname() keeps case).
    upper = [
        ("http://spark.test/", 301, {"Location": "https://SPARK.test/"}),
        ("https://SPARK.test/", 200, HSTS_HDR),
    ]
    assert codes(hsts.redirect_chain_findings(upper)) == ["redirects.http.first_redirect.insecure"]
    # Two HSTS fields at the first redirect's target: hstspreload rejects the response.
    two = [
        ("http://spark.test/", 301, {"Location": "https://spark.test/"}),
        ("https://spark.test/", 200, [("Strict-Transport-Security", SANDBOX_HSTS)] * 2),
    ]
    assert codes(hsts.redirect_chain_findings(two)) == ["redirects.http.first_redirect.no_hsts"]
    # Exactly max_hops redirects is fine, one more is too many.
    hops = [("http://spark.test/", 301, {"Location": "https://spark.test/1"})]
    hops += [
        (f"https://spark.test/{i}", 302, {"Location": f"/{i + 1}", **HSTS_HDR}) for i in (1, 2)
    ]
    hops += [("https://spark.test/3", 200, HSTS_HDR)]
    assert hsts.redirect_chain_findings(hops, max_hops=3) == []
    assert codes(hsts.redirect_chain_findings(hops, max_hops=2)) == ["redirects.too_many"]


# --- properties ----------------------------------------------------------------------------------


@given(st.text())
def test_parser_never_raises(text):
    h = hsts.parse(text)
    hsts.preload_findings(h)
    hsts.baseline(h)
    hsts.parse(h.serialize())


_TOKEN = st.text(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+.^_`|~-",
    min_size=1,
    max_size=12,
)


@given(
    st.integers(0, 10**12),
    st.booleans(),
    st.booleans(),
    st.lists(st.tuples(_TOKEN, st.one_of(st.none(), _TOKEN, st.text(max_size=8))), max_size=3),
)
def test_serialize_round_trip(max_age, sub, pre, extra):
    parts = [f"max-age={max_age}"] + ["includeSubDomains"] * sub + ["preload"] * pre
    names = {"max-age", "includesubdomains", "preload"}
    extras = []
    for name, value in extra:
        if name.lower() in names:
            continue
        names.add(name.lower())
        extras.append((name, value))
    h = hsts.Hsts(
        raw="",
        directives=(("max-age", str(max_age)),)
        + (("includeSubDomains", None),) * sub
        + (("preload", None),) * pre
        + tuple(extras),
        max_age=max_age,
        max_age_raw=str(max_age),
        max_age_quoted=False,
        include_subdomains=sub,
        preload=pre,
        issues=(),
    )
    again = hsts.parse(h.serialize())
    assert again.directives == h.directives
    assert (again.max_age, again.include_subdomains, again.preload) == (max_age, sub, pre)
    assert again.valid
    assert hsts.parse("; ".join(parts)).max_age == max_age


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["http", "https"]),
            st.sampled_from(["a.test", "b.test"]),
            st.sampled_from([200, 301, 302, 307, 308, 404]),
            st.booleans(),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_redirect_rules_never_raise(steps):
    chain = []
    for scheme, host, status, with_hsts in steps:
        headers = {"Location": f"{scheme}://{host}/next"} if status != 200 else {}
        if with_hsts:
            headers["Strict-Transport-Security"] = SANDBOX_HSTS
        chain.append((f"{scheme}://{host}/", status, headers))
    hsts.redirect_chain_findings(chain)


@given(st.text())
def test_hstspreload_mirror_never_raises(text):
    parsed = hsts.preload_parse(text)
    assert parsed.max_age is None or 0 <= parsed.max_age < 2**64
    hsts.preload_findings(text)


@given(st.integers(0, 2**64 - 1), st.permutations(["includeSubDomains", "preload", "max-age"]))
def test_any_directive_order_with_an_exact_max_age_parses(seconds, order):
    value = "; ".join(f"max-age={seconds}" if d == "max-age" else d for d in order)
    parsed = hsts.preload_parse(value)
    assert (parsed.max_age, parsed.include_subdomains, parsed.preload) == (seconds, True, True)
    assert parsed.errors == () and parsed.warnings == ()
