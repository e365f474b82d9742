"""PF-05 Observatory-style header scorer and the RT-05 COEP rules."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_spark.rules import headers
from pytest_spark.rules.findings import codes

SANDBOX = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'self'; "
        "frame-ancestors 'none'; form-action 'self'; report-uri /csp-report; report-to csp"
    ),
    "Reporting-Endpoints": 'csp="/csp-report"',
    "Strict-Transport-Security": "max-age=63072000; includeSubDomains; preload",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def without(name: str, **replace: str) -> dict[str, str]:
    out = {k: v for k, v in SANDBOX.items() if k != name}
    out.update({k.replace("_", "-"): v for k, v in replace.items()})
    return out


def with_(name: str, value: str) -> dict[str, str]:
    return {**SANDBOX, name: value}


# --- grading ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("points", "grade"),
    [
        (135, "A+"),
        (100, "A+"),
        (99, "A"),
        (90, "A"),
        (89, "A-"),
        (85, "A-"),
        (84, "B+"),
        (80, "B+"),
        (70, "B"),
        (65, "B-"),
        (60, "C+"),
        (50, "C"),
        (45, "C-"),
        (40, "D+"),
        (30, "D"),
        (25, "D-"),
        (24, "F"),
        (0, "F"),
    ],
)
def test_grade_chart(points, grade):
    assert headers.grade_for(points) == grade


def test_grade_at_least():
    assert headers.grade_at_least("A+", "A-")
    assert headers.grade_at_least("A-", "A-")
    assert headers.grade_at_least("a", "a-")
    assert not headers.grade_at_least("B+", "A-")
    assert not headers.grade_at_least("F", "D-")
    with pytest.raises(ValueError, match="unknown grade"):
        headers.grade_at_least("E", "A")


# --- the healthy sandbox ------------------------------------------------------------


def test_sandbox_defaults_score_a_plus_and_pass():
    result = headers.score(SANDBOX)
    assert result.penalties == ()
    assert result.grade == "A+"
    # +5 CSP without unsafe sources, +5 framing via frame-ancestors, +5 private referrer.
    assert result.score == 115
    assert codes(result.bonuses) == ["csp-no-unsafe", "xfo-via-csp", "referrer-policy-private"]
    assert result.passes("A-") and result.passes("A+")


def test_lookup_is_case_insensitive():
    lowered = {k.lower(): v for k, v in SANDBOX.items()}
    assert headers.score(lowered) == headers.score(SANDBOX)
    assert headers.header_value({"X-A": "1", "x-a": "2"}, "X-A") == "1, 2"


# --- one header removed / broken: each fails with its finding -------------------------


@pytest.mark.parametrize(
    ("hdrs", "code", "penalty"),
    [
        (without("Strict-Transport-Security"), "hsts-missing", -20),
        (with_("Strict-Transport-Security", "max-age=1; max-age=1"), "hsts-invalid", -20),
        (with_("Strict-Transport-Security", "max-age=15551999"), "hsts-max-age-too-low", -10),
        (without("X-Content-Type-Options"), "xcto-missing", -5),
        (with_("X-Content-Type-Options", "sniff, nosniff"), "xcto-invalid", -5),
        (without("Referrer-Policy"), "referrer-policy-missing", 0),
        (with_("Referrer-Policy", "unsafe-url"), "referrer-policy-unsafe", -5),
        (with_("Referrer-Policy", "no-referrer-when-downgrade"), "referrer-policy-unsafe", -5),
        (with_("Referrer-Policy", "bogus"), "referrer-policy-invalid", -5),
        (without("Cross-Origin-Opener-Policy"), "coop-missing", -5),
        (with_("Cross-Origin-Opener-Policy", "same_origin"), "coop-invalid", -5),
        (without("Cross-Origin-Resource-Policy"), "corp-missing", 0),
        (with_("Cross-Origin-Resource-Policy", "nobody"), "corp-invalid", -20),
    ],
)
def test_baseline_violation_blocks(hdrs, code, penalty):
    result = headers.score(hdrs)
    [finding] = result.penalties
    assert (finding.code, finding.penalty, finding.severity) == (code, penalty, "fail")
    assert code in codes(result.blocking("A-"))
    assert not result.passes("A-")


def test_xfo_needed_only_without_frame_ancestors():
    # frame-ancestors covers framing, so XFO may go.
    assert headers.score(without("X-Frame-Options")).passes()
    csp_no_fa = SANDBOX["Content-Security-Policy"].replace("frame-ancestors 'none'; ", "")
    result = headers.score(without("X-Frame-Options", Content_Security_Policy=csp_no_fa))
    [finding] = result.penalties
    assert (finding.code, finding.penalty) == ("xfo-missing", -20)
    assert result.grade == "B+" and not result.passes()
    # HTML: the values are a set; DENY twice is DENY; conflicting values block framing.
    for value in ("SAMEORIGIN", "deny", "DENY, DENY", " sameorigin "):
        hdrs = {**without("Content-Security-Policy"), "Content-Security-Policy": csp_no_fa}
        hdrs["X-Frame-Options"] = value
        assert headers.score(hdrs).penalties == ()
    for value in ("DENY, SAMEORIGIN", "ALLOWALL, nonsense"):
        hdrs = {**SANDBOX, "Content-Security-Policy": csp_no_fa, "X-Frame-Options": value}
        result = headers.score(hdrs)
        assert codes(result.penalties) == ["xfo-conflicting"] and result.passes()
    for value in ("ALLOW-FROM https://a.example", "yes", "ALLOWALL", ""):
        hdrs = {**SANDBOX, "Content-Security-Policy": csp_no_fa, "X-Frame-Options": value}
        assert codes(headers.score(hdrs).penalties) == ["xfo-invalid"]


def test_frame_ancestors_in_report_only_does_not_count():
    hdrs = without("Content-Security-Policy")
    hdrs.pop("X-Frame-Options")
    hdrs["Content-Security-Policy-Report-Only"] = SANDBOX["Content-Security-Policy"]
    result = headers.score(hdrs)
    assert codes(result.penalties) == ["csp-missing", "xfo-missing"]
    assert "Report-Only" in result.penalties[0].message
    assert result.score == 55 and result.grade == "C"


def test_csp_missing_fails_by_grade():
    result = headers.score(without("Content-Security-Policy"))
    [finding] = result.penalties
    assert (finding.code, finding.penalty, finding.severity) == ("csp-missing", -25, "warn")
    assert result.score == 75 and result.grade == "B"
    [blocker] = result.blocking("A-")
    assert blocker.code == "grade-below-minimum"
    assert "B (score 75)" in blocker.message and "csp-missing -25" in blocker.message
    assert result.passes("B")


@pytest.mark.parametrize(
    ("change", "code", "penalty", "points"),
    [
        (("script-src 'self'", "script-src 'self' 'unsafe-inline'"), "csp-unsafe", -20, 80),
        (("script-src 'self'", "script-src https:"), "csp-unsafe", -20, 80),
        (("script-src 'self'", "script-src 'self' data:"), "csp-unsafe", -20, 80),
        (("object-src 'none'", "object-src *"), "csp-unsafe", -20, 80),
        # 90 after the penalty, so the framing and referrer bonuses still apply.
        (("script-src 'self'", "script-src 'self' 'unsafe-eval'"), "csp-unsafe-eval", -10, 100),
    ],
)
def test_csp_tiers(change, code, penalty, points):
    hdrs = with_("Content-Security-Policy", SANDBOX["Content-Security-Policy"].replace(*change))
    result = headers.score(hdrs)
    [finding] = result.penalties
    assert (finding.code, finding.penalty) == (code, penalty)
    assert result.score == points
    # The message names the directive and the offending source.
    directive, *_, source = change[1].split()
    assert directive in finding.message and source in finding.message


def test_unsafe_eval_keeps_bonuses_but_unsafe_inline_loses_them():
    eval_csp = SANDBOX["Content-Security-Policy"].replace(
        "script-src 'self'", "script-src 'self' 'unsafe-eval'"
    )
    result = headers.score(with_("Content-Security-Policy", eval_csp))
    assert result.score == 100 - 10 + 5 + 5  # no csp bonus, framing + referrer bonuses
    inline = SANDBOX["Content-Security-Policy"].replace(
        "script-src 'self'", "script-src 'unsafe-inline'"
    )
    result = headers.score(with_("Content-Security-Policy", inline))
    assert result.score == 80 and result.bonuses == () and result.grade == "B+"


def test_csp_bonus_tiers():
    strict = SANDBOX["Content-Security-Policy"].replace("default-src 'self'", "default-src 'none'")
    assert codes(headers.score(with_("Content-Security-Policy", strict)).bonuses)[0] == (
        "csp-strict-default-none"
    )
    style = SANDBOX["Content-Security-Policy"] + "; style-src 'self' 'unsafe-inline'"
    result = headers.score(with_("Content-Security-Policy", style))
    assert result.penalties == () and "csp-no-unsafe" not in codes(result.bonuses)


def test_nonce_cancels_unsafe_inline_in_score_too():
    nonce = SANDBOX["Content-Security-Policy"].replace(
        "script-src 'self'", "script-src 'self' 'unsafe-inline' 'nonce-abc123'"
    )
    assert headers.score(with_("Content-Security-Policy", nonce)).penalties == ()


def test_warn_findings_do_not_block_on_their_own():
    result = headers.score(with_("Cross-Origin-Opener-Policy", "unsafe-none"))
    [finding] = result.penalties
    assert (finding.code, finding.severity, finding.penalty) == ("coop-unsafe-none", "warn", -5)
    assert result.score == 110 and result.passes()
    result = headers.score(with_("Cross-Origin-Resource-Policy", "cross-origin"))
    assert codes(result.penalties) == ["corp-cross-origin"] and result.grade == "B+"


def test_referrer_last_known_token_wins_and_params_ok():
    assert headers.score(with_("Referrer-Policy", "unsafe-url, no-referrer")).penalties == ()
    assert codes(headers.score(with_("Referrer-Policy", "no-referrer, bogus")).penalties) == []
    hdrs = with_("Cross-Origin-Opener-Policy", 'same-origin; report-to="coop"')
    assert headers.score(hdrs).penalties == ()


def test_everything_missing_floors_at_zero():
    result = headers.score({})
    assert result.score == 25 and result.grade == "D-" and result.bonuses == ()
    assert set(codes(result.penalties)) == {
        "csp-missing",
        "hsts-missing",
        "xcto-missing",
        "xfo-missing",
        "referrer-policy-missing",
        "coop-missing",
        "corp-missing",
    }
    worse = headers.score({"Cross-Origin-Resource-Policy": "?", "Referrer-Policy": "?"})
    assert worse.score == 0 and worse.grade == "F"


# --- issue 14: repeated header fields, each by its own rule -------------------------------


def fields_with(*extra: tuple[str, str], drop: str = "") -> list[tuple[str, str]]:
    return [(k, v) for k, v in SANDBOX.items() if k != drop] + list(extra)


def test_two_nosniff_fields_are_not_penalised():
    hdrs = fields_with(("X-Content-Type-Options", "nosniff"))
    result = headers.score(hdrs)
    assert result == headers.score(SANDBOX)
    assert result.passes()


@pytest.mark.parametrize(
    ("values", "code"),
    [
        (["nosniff", "nosniff"], None),
        (["NoSniff"], None),  # ASCII case-insensitive (Fetch)
        (["nosniff", "sniff"], "xcto-extra-values"),  # only the first value counts
        (["sniff", "nosniff"], "xcto-invalid"),
        (["", "nosniff"], "xcto-invalid"),
        (["nosniff, nosniff"], None),  # one field, comma-joined: same list
    ],
)
def test_xcto_first_value_of_the_combined_list(values, code):
    hdrs = fields_with(
        *[("X-Content-Type-Options", v) for v in values], drop="X-Content-Type-Options"
    )
    found = [f for f in headers.score(hdrs).penalties if f.code.startswith("xcto")]
    assert codes(found) == ([code] if code else [])


def test_hsts_only_the_first_field_counts():
    good = SANDBOX["Strict-Transport-Security"]
    first_good = fields_with(("Strict-Transport-Security", "max-age=0"))
    result = headers.score(first_good)
    assert codes(result.penalties) == ["hsts-multiple-headers"]
    assert result.penalties[0].penalty == 0 and result.passes()
    first_bad = fields_with(
        ("Strict-Transport-Security", "max-age=0"),
        ("Strict-Transport-Security", good),
        drop="Strict-Transport-Security",
    )
    assert codes(headers.score(first_bad).penalties) == [
        "hsts-multiple-headers",
        "hsts-max-age-too-low",
    ]


def test_referrer_policy_fields_are_one_list_last_known_wins():
    def effective(*values: str) -> list[str]:
        hdrs = fields_with(*[("Referrer-Policy", v) for v in values], drop="Referrer-Policy")
        result = headers.score(hdrs)
        return codes([*result.penalties, *result.bonuses])

    assert "referrer-policy-unsafe" in effective("no-referrer", "unsafe-url")
    assert "referrer-policy-private" in effective("unsafe-url", "no-referrer")
    assert "referrer-policy-private" in effective("no-referrer", "made-up-future-value")


def test_repeated_coop_field_is_ignored_by_browsers():
    hdrs = fields_with(("Cross-Origin-Opener-Policy", "same-origin"))
    [finding] = headers.score(hdrs).penalties
    assert finding.code == "coop-invalid" and "list" in finding.message
    assert codes(headers.coep_findings(hdrs)) == ["coop-not-same-origin"]


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("same-origin", True),
        ('same-origin; report-to="coop"', True),  # structured-field parameters are fine
        ("same-origin, same-origin", False),  # a list, not an item
        ('"same-origin"', False),  # a string, not a token
        ("Same-Origin", False),  # tokens are case-sensitive
    ],
)
def test_coop_is_a_structured_field_item(value, ok):
    found = codes(headers.score(with_("Cross-Origin-Opener-Policy", value)).penalties)
    assert found == ([] if ok else ["coop-invalid"])


@pytest.mark.parametrize("value", ["same-origin, same-origin", "same-origin; x", "SAME-ORIGIN"])
def test_corp_must_be_exactly_one_value(value):
    assert codes(headers.score(with_("Cross-Origin-Resource-Policy", value)).penalties) == [
        "corp-invalid"
    ]


# --- issue 14: CSP judged per kind of load in PF-05 too -----------------------------------

STRICT_DYNAMIC = (
    "script-src 'nonce-r4nd0mV4lue' 'strict-dynamic' https: 'unsafe-inline'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'; "
    "report-uri /csp-report; report-to csp"
)


def test_strict_dynamic_policy_keeps_its_points():
    result = headers.score(with_("Content-Security-Policy", STRICT_DYNAMIC))
    assert result.penalties == () and result.passes()
    # Exactly what the same policy with a plain script-src 'self' scores (no style-src, so
    # the Observatory's "unsafe in style-src only": 0, no CSP bonus either way).
    plain = STRICT_DYNAMIC.replace(
        "'nonce-r4nd0mV4lue' 'strict-dynamic' https: 'unsafe-inline'", "'self'"
    )
    assert result == headers.score(with_("Content-Security-Policy", plain))
    # With a style restriction it earns the +5 like any policy without unsafe sources.
    styled = headers.score(with_("Content-Security-Policy", STRICT_DYNAMIC + "; style-src 'self'"))
    assert "csp-no-unsafe" in codes(styled.bonuses)
    assert styled.score == headers.score(SANDBOX).score


@pytest.mark.parametrize(
    "policy",
    [
        "default-src 'self'; script-src 'self' 'unsafe-inline' 'sha256-abc$'; object-src 'none'; "
        "frame-ancestors 'none'",
        "default-src 'self'; script-src 'unsafe-inline'; object-src 'none'; frame-ancestors "
        "'none', script-src 'self'; script-src-elem 'unsafe-inline'",
        "default-src 'self'; script-src 'self'; frame-ancestors 'none'",  # object-src via 'self'
    ],
)
def test_csp_holes_cost_points(policy):
    result = headers.score(with_("Content-Security-Policy", policy))
    expected = [] if "object-src" not in policy else ["csp-unsafe"]
    assert codes(result.penalties) == expected
    if expected:
        assert result.penalties[0].penalty == -20


def test_two_csp_fields_are_two_policies():
    hdrs = fields_with(("Content-Security-Policy", "script-src 'unsafe-inline'"))
    assert headers.score(hdrs).score == headers.score(SANDBOX).score  # the first still blocks


# --- issue 14: frame-ancestors values judged ------------------------------------------------


@pytest.mark.parametrize("value", ["*", "https:", "http: https:", "https://*", "*.com"])
def test_broad_frame_ancestors_protects_nothing_even_with_xfo_deny(value):
    policy = SANDBOX["Content-Security-Policy"].replace(
        "frame-ancestors 'none'", f"frame-ancestors {value}"
    )
    result = headers.score(with_("Content-Security-Policy", policy))  # XFO DENY still sent
    assert "xfo-via-csp" not in codes(result.bonuses)
    [finding] = result.penalties
    assert (finding.code, finding.penalty, finding.severity) == (
        "frame-ancestors-broad",
        -20,
        "fail",
    )
    assert "ignore X-Frame-Options" in finding.message
    assert not result.passes()


@pytest.mark.parametrize(
    "value", ["'self'", "'none'", "https://partner.example", "'self' *.example.com"]
)
def test_narrow_frame_ancestors_earns_the_credit(value):
    policy = SANDBOX["Content-Security-Policy"].replace(
        "frame-ancestors 'none'", f"frame-ancestors {value}"
    )
    result = headers.score(without("X-Frame-Options", Content_Security_Policy=policy))
    assert "xfo-via-csp" in codes(result.bonuses) and result.passes()


def test_one_restricting_policy_is_enough_for_framing():
    broad = SANDBOX["Content-Security-Policy"].replace(
        "frame-ancestors 'none'", "frame-ancestors *"
    )
    hdrs = [(k, v) for k, v in without("Content-Security-Policy").items()]
    hdrs += [
        ("Content-Security-Policy", broad),
        ("Content-Security-Policy", "frame-ancestors 'self'"),
    ]
    assert "xfo-via-csp" in codes(headers.score(hdrs).bonuses)


# --- RT-05 --------------------------------------------------------------------------------


def test_coep_page_rules():
    assert headers.coep_findings(SANDBOX) == []
    assert headers.coep_findings(with_("Cross-Origin-Embedder-Policy", "credentialless")) == []
    assert codes(headers.coep_findings(without("Cross-Origin-Embedder-Policy"))) == ["coep-missing"]
    assert codes(headers.coep_findings(with_("Cross-Origin-Embedder-Policy", "unsafe-none"))) == [
        "coep-invalid"
    ]
    assert codes(
        headers.coep_findings(with_("Cross-Origin-Opener-Policy", "same-origin-allow-popups"))
    ) == ["coop-not-same-origin"]


def test_subresource_rules():
    page = "https://spark.test/"
    asset = "https://spark.test/static/app.js"
    ok_corp = {"Cross-Origin-Resource-Policy": "same-origin"}
    assert headers.subresource_findings(asset, ok_corp, coep="require-corp", page_url=page) == []
    assert (
        headers.subresource_findings(
            asset, {"Access-Control-Allow-Origin": "*"}, coep="require-corp"
        )
        == []
    )
    [finding] = headers.subresource_findings(asset, {}, coep="require-corp", page_url=page)
    assert finding.code == "subresource-no-corp" and asset in finding.message
    # Same-origin: browsers load it; the check is stricter and says so.
    assert "browsers still load it" in finding.message and "will block" not in finding.message
    assert "stricter" in finding.message or "requires the opt-in anyway" in finding.message
    [cross] = headers.subresource_findings(
        "https://cdn.example/a.js", {}, coep="require-corp", page_url=page
    )
    assert "cross-origin to the page, so browsers block it" in cross.message
    # COEP is read as a structured-field item: parameters kept, a repeated field ignored.
    assert codes(
        headers.subresource_findings(asset, {}, coep='require-corp; report-to="e"', page_url=page)
    ) == ["subresource-no-corp"]
    assert headers.subresource_findings(asset, {}, coep="require-corp, require-corp") == []
    assert headers.subresource_findings(asset, {}, coep="credentialless") == []
    cdn = "https://cdn.example/app.js"
    assert codes(
        headers.subresource_findings(cdn, ok_corp, coep="require-corp", page_url=page)
    ) == ["subresource-corp-same-origin-cross-origin"]
    assert codes(
        headers.subresource_findings(
            asset, {"Cross-Origin-Resource-Policy": "x"}, coep="require-corp"
        )
    ) == ["subresource-corp-invalid"]
    # Default ports are the same origin.
    assert (
        headers.subresource_findings(
            "https://spark.test:443/a", ok_corp, coep="require-corp", page_url=page
        )
        == []
    )


# --- properties ------------------------------------------------------------------------------

_HEADER_NAMES = st.sampled_from(
    [*SANDBOX, "Content-Security-Policy-Report-Only", "X-Other", "content-security-policy"]
)


@given(st.dictionaries(_HEADER_NAMES, st.text(max_size=80), max_size=12))
def test_scorer_never_raises_and_stays_consistent(hdrs):
    result = headers.score(hdrs)
    assert 0 <= result.score <= 125
    assert result.grade == headers.grade_for(result.score)
    base = max(0, 100 + sum(f.penalty for f in result.penalties))
    assert result.score == base + sum(b.penalty for b in result.bonuses)
    assert result.bonuses == () or base >= 90
    headers.coep_findings(hdrs)
    headers.subresource_findings("https://a/x", hdrs, coep="require-corp", page_url="https://b/")


@given(st.sampled_from(list(SANDBOX)), st.text(max_size=60))
def test_changing_one_header_never_improves_on_sandbox(name, value):
    assert headers.score(with_(name, value)).score <= headers.score(SANDBOX).score
