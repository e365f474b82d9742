"""CSP parser and BS-05 evaluator: healthy sandbox policy, each fault, edge cases."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_spark.rules import csp
from pytest_spark.rules.findings import codes, failures

SANDBOX_CSP = (
    "default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'self'; "
    "frame-ancestors 'none'; form-action 'self'; report-uri /csp-report; report-to csp"
)
SANDBOX_ENDPOINTS = 'csp="/csp-report"'


def fail_codes(header: str, endpoints: str | None = SANDBOX_ENDPOINTS) -> list[str]:
    return codes(failures(csp.analyze(header, None, endpoints).findings))


# --- parsing -----------------------------------------------------------------


def test_parse_sandbox_policy():
    [policy] = csp.parse(SANDBOX_CSP)
    assert policy.get("script-src") == ("'self'",)
    assert policy.get("report-to") == ("csp",)
    assert list(policy.directives)[:3] == ["default-src", "script-src", "object-src"]
    assert policy.parse_findings() == []


def test_directive_names_are_case_insensitive_values_kept():
    [policy] = csp.parse("Script-SRC 'SELF' https://CDN.example.com; DEFAULT-src 'none'")
    assert policy.get("script-src") == ("'SELF'", "https://CDN.example.com")
    assert "default-src" in policy and "DEFAULT-SRC" in policy


def test_duplicate_directive_first_wins_and_is_reported():
    [policy] = csp.parse("script-src 'self'; script-src 'unsafe-inline'; object-src 'none'")
    assert policy.get("script-src") == ("'self'",)
    [dup] = policy.parse_findings()
    assert dup.code == "csp-duplicate-directive"
    assert "script-src" in dup.message and "'unsafe-inline'" in dup.message


def test_duplicate_tightening_is_ignored_like_browsers():
    # The second, stricter script-src does nothing: the hole stays.
    header = SANDBOX_CSP.replace("script-src 'self'", "script-src 'self' 'unsafe-inline'")
    header += "; script-src 'self'"
    assert "script-src-unsafe-inline" in fail_codes(header)
    assert "csp-duplicate-directive" in codes(csp.analyze(header, None, SANDBOX_ENDPOINTS).findings)


def test_comma_separates_policies_and_empty_ones_drop():
    policies = csp.parse("script-src 'self', , object-src 'none' ;;")
    assert [p.serialize() for p in policies] == ["script-src 'self'", "object-src 'none'"]
    assert csp.parse("") == [] and csp.parse(None) == [] and csp.parse(" ; ;") == []


def test_only_ascii_whitespace_splits_values():
    [policy] = csp.parse("script-src 'self'\t https://a.example\x0chttps://b.example")
    assert policy.get("script-src") == ("'self'", "https://a.example", "https://b.example")


def test_invalid_directive_tokens_are_reported_not_kept():
    [policy] = csp.parse("scrïpt-src *; script_src *; object-src 'none'")
    assert policy.directives == {"object-src": ("'none'",)}
    assert codes(policy.parse_findings()) == ["csp-invalid-directive", "csp-invalid-directive"]


# --- fallback ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "directive", "expected", "via"),
    [
        ("default-src 'self'", "script-src", ("'self'",), "default-src"),
        ("default-src 'self'; script-src 'none'", "script-src-elem", ("'none'",), "script-src"),
        (
            "script-src-elem 'self'; script-src 'none'",
            "script-src-elem",
            ("'self'",),
            "script-src-elem",
        ),
        ("default-src 'self'", "object-src", ("'self'",), "default-src"),
        ("child-src a.example; script-src b.example", "worker-src", ("a.example",), "child-src"),
        ("script-src b.example", "worker-src", ("b.example",), "script-src"),
        ("child-src a.example", "frame-src", ("a.example",), "child-src"),
        ("img-src 'self'", "script-src", ("*",), None),
        ("default-src 'self'", "base-uri", ("*",), None),  # no fallback for base-uri
        ("default-src 'self'", "frame-ancestors", ("*",), None),
    ],
)
def test_effective_sources_fallback(header, directive, expected, via):
    [policy] = csp.parse(header)
    assert csp.effective_sources(policy, directive) == expected
    assert csp.effective_directive(policy, directive) == via


# --- the healthy sandbox and each fault ----------------------------------------


def test_sandbox_default_passes():
    result = csp.analyze(SANDBOX_CSP, None, SANDBOX_ENDPOINTS)
    assert result.mode == "enforcing"
    assert result.findings == ()
    assert result.ok


def test_fault_unsafe_inline_added():
    header = SANDBOX_CSP.replace("script-src 'self'", "script-src 'self' 'unsafe-inline'")
    result = csp.analyze(header, None, SANDBOX_ENDPOINTS)
    assert not result.ok
    [finding] = result.findings
    assert finding.code == "script-src-unsafe-inline"
    assert finding.message == "script-src allows 'unsafe-inline' (no nonce or hash)"


def test_fault_header_removed():
    result = csp.analyze(None, None, SANDBOX_ENDPOINTS)
    assert result.mode == "missing"
    assert codes(result.findings) == ["csp-missing"]


def test_report_only_is_not_enforcing():
    result = csp.analyze(None, SANDBOX_CSP, SANDBOX_ENDPOINTS)
    assert result.mode == "report-only"
    assert codes(result.findings) == ["csp-report-only"]
    assert csp.enforcement(SANDBOX_CSP, SANDBOX_CSP) == "enforcing"
    assert csp.enforcement("  ;  ", SANDBOX_CSP) == "report-only"
    assert csp.enforcement("", "") == "missing"


def test_empty_enforcing_header_is_missing_with_value_named():
    result = csp.analyze(" ; ", None)
    assert codes(result.findings) == ["csp-missing"]
    assert "' ; '" in result.findings[0].message


@pytest.mark.parametrize(
    "sources",
    [
        "'self' 'unsafe-inline' 'nonce-r4nd0m'",
        "'self' 'unsafe-inline' 'sha256-B2yPHKaXnvFWtRChIbabYmUBFZdVfKKXHbWtWidDVF8='",
        "'self' 'UNSAFE-INLINE' 'NONCE-abc'",
    ],
)
def test_nonce_or_hash_cancels_unsafe_inline(sources):
    header = SANDBOX_CSP.replace("script-src 'self'", f"script-src {sources}")
    assert fail_codes(header) == []


def test_empty_nonce_does_not_cancel_unsafe_inline():
    header = SANDBOX_CSP.replace("script-src 'self'", "script-src 'unsafe-inline' 'nonce-'")
    assert fail_codes(header) == ["script-src-unsafe-inline"]


def test_unsafe_eval_and_data():
    header = SANDBOX_CSP.replace("script-src 'self'", "script-src 'self' 'unsafe-eval' data:")
    assert fail_codes(header) == ["script-src-unsafe-eval", "script-src-data"]


@pytest.mark.parametrize(
    "source",
    [
        "*",
        "http:",
        "https:",
        "HTTPS:",
        "wss:",
        "http://*",
        "https://*",
        "https://*:443",
        "*.com",
        "https://*.io",
    ],
)
def test_broad_sources(source):
    header = SANDBOX_CSP.replace("script-src 'self'", f"script-src 'self' {source}")
    result = csp.analyze(header, None, SANDBOX_ENDPOINTS)
    [finding] = result.findings
    assert finding.code == "script-src-broad-source"
    assert source in finding.message


@pytest.mark.parametrize(
    "source",
    [
        "'self'",
        "https://cdn.example.com",
        "*.example.com",
        "https://*.example.com",
        "blob:",
        "'strict-dynamic'",
    ],
)
def test_narrow_sources_are_fine(source):
    assert csp.broad_reason(source) is None
    header = SANDBOX_CSP.replace("script-src 'self'", f"script-src 'self' {source}")
    assert fail_codes(header) == []


def test_unsafe_inline_inherited_from_default_src_names_the_chain():
    header = (
        "default-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'none'; "
        "frame-ancestors 'none'; form-action 'self'; report-uri /r"
    )
    [finding] = failures(csp.analyze(header).findings)
    assert finding.code == "script-src-unsafe-inline"
    assert finding.message.startswith("script-src (via default-src) allows 'unsafe-inline'")


def test_no_script_src_and_no_default_src_is_allow_all():
    header = (
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'; "
        "report-uri /r"
    )
    [finding] = failures(csp.analyze(header).findings)
    assert finding.code == "script-src-broad-source"
    assert "not set, and no default-src" in finding.message


def test_script_src_elem_is_checked_when_it_overrides():
    header = SANDBOX_CSP + "; script-src-elem 'self' 'unsafe-inline'"
    assert fail_codes(header) == ["script-src-elem-unsafe-inline"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("object-src 'none'; ", ""), ["object-src-not-none"]),  # falls back to default-src 'self'
        (("object-src 'none'", "object-src 'self'"), ["object-src-not-none"]),
        (("object-src 'none'", "object-src 'none' https:"), ["object-src-not-none"]),
        (("object-src 'none'", "object-src"), []),  # empty source list matches nothing
        (("object-src 'none'", "object-src 'NONE'"), []),
        (("base-uri 'self'; ", ""), ["base-uri-missing"]),
        (("frame-ancestors 'none'; ", ""), ["frame-ancestors-missing"]),
        (("form-action 'self'; ", ""), ["form-action-missing"]),
    ],
)
def test_object_src_and_standalone_directives(change, expected):
    header = SANDBOX_CSP.replace(*change)
    assert fail_codes(header) == expected


def test_object_src_message_names_default_src_value():
    header = SANDBOX_CSP.replace("object-src 'none'; ", "")
    [finding] = csp.analyze(header, None, SANDBOX_ENDPOINTS).findings
    assert finding.message == "object-src (via default-src) resolves to 'self' (expected 'none')"


def test_standalone_missing_message():
    header = SANDBOX_CSP.replace("base-uri 'self'; ", "")
    [finding] = csp.analyze(header, None, SANDBOX_ENDPOINTS).findings
    assert finding.message == "base-uri is not set (it does not fall back to default-src)"


# --- reporting -----------------------------------------------------------------


def test_reporting_missing():
    header = SANDBOX_CSP.replace("; report-uri /csp-report; report-to csp", "")
    assert fail_codes(header) == ["csp-reporting-missing"]


def test_report_uri_alone_is_enough():
    header = SANDBOX_CSP.replace("; report-to csp", "")
    assert fail_codes(header, endpoints=None) == []


def test_report_to_needs_the_endpoint():
    assert fail_codes(SANDBOX_CSP, endpoints=None) == ["csp-report-to-unresolved"]
    [finding] = csp.analyze(SANDBOX_CSP, None, 'other="/x"').findings
    assert "'csp'" in finding.message and "other" in finding.message
    # A non-string member or a broken dictionary does not define the endpoint.
    assert fail_codes(SANDBOX_CSP, endpoints="csp=/csp-report") == ["csp-report-to-unresolved"]
    assert fail_codes(SANDBOX_CSP, endpoints='csp="/csp-report",') == ["csp-report-to-unresolved"]


def test_report_to_resolved_through_legacy_report_to_header():
    legacy = '{"group":"csp","max_age":10886400,"endpoints":[{"url":"https://r.example/csp"}]}'
    result = csp.analyze(SANDBOX_CSP, None, None, legacy)
    assert result.findings == ()


def test_parse_reporting_endpoints():
    assert csp.parse_reporting_endpoints(SANDBOX_ENDPOINTS) == {"csp": "/csp-report"}
    value = 'csp="https://r.example/csp";p=1, default="https://r.example/d", n=5, t=?1, x=(1 2)'
    assert csp.parse_reporting_endpoints(value) == {
        "csp": "https://r.example/csp",
        "default": "https://r.example/d",
    }
    assert csp.parse_reporting_endpoints('a="x\\"y"') == {"a": 'x"y'}
    assert csp.parse_reporting_endpoints('Csp="/x"') == {}  # keys are lowercase only
    assert csp.parse_reporting_endpoints('a="/x", a="/y"') == {"a": "/y"}  # last wins
    assert csp.parse_reporting_endpoints(None) == {}


def test_parse_report_to_legacy():
    value = (
        '{"group":"csp","max_age":1,"endpoints":[{"url":"https://a/1"}]}, '
        '{"max_age":1,"endpoints":[{"url":"https://a/2"}]}'
    )
    assert csp.parse_report_to(value) == {"csp": ["https://a/1"], "default": ["https://a/2"]}
    assert csp.parse_report_to("not json") == {}


# --- multiple policies -----------------------------------------------------------


def test_multiple_policies_a_hole_needs_every_policy_to_have_it():
    weak = SANDBOX_CSP.replace("script-src 'self'", "script-src 'self' 'unsafe-inline'")
    # The second policy blocks inline script, so the first policy's hole is closed.
    assert fail_codes(f"{weak}, script-src 'self'") == []
    assert fail_codes(f"{weak}, script-src 'unsafe-inline'") == ["script-src-unsafe-inline"]


# --- properties --------------------------------------------------------------------

_NAME_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789-"
_SOURCE_CHARS = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in ",;")
_NAMES = st.text(_NAME_CHARS, min_size=1, max_size=15)
_SOURCES = st.text(_SOURCE_CHARS, min_size=1, max_size=20)


@given(st.text())
def test_parser_and_evaluator_never_raise(text):
    for policy in csp.parse(text):
        csp.evaluate(policy, text, text)
    csp.analyze(text, text, text, text)
    csp.parse_reporting_endpoints(text)
    csp.parse_report_to(text)


@given(st.lists(st.tuples(_NAMES, st.lists(_SOURCES, max_size=4)), min_size=1, max_size=8))
def test_serialize_parse_round_trip(pairs):
    [policy] = csp.parse("; ".join(" ".join((n, *v)) for n, v in pairs))
    # Duplicates are dropped by parsing, so the canonical form round-trips exactly.
    [again] = csp.parse(policy.serialize())
    assert again.items == policy.items and again.duplicates == ()
    assert csp.parse(again.serialize()) == [again]
    # First occurrence wins: each name maps to its first value list.
    first: dict[str, tuple[str, ...]] = {}
    for name, values in pairs:
        first.setdefault(name, tuple(values))
    assert policy.directives == first


@given(
    st.lists(st.tuples(_NAMES, st.lists(_SOURCES, max_size=3)), min_size=1, max_size=4),
    st.integers(1, 3),
)
def test_policy_list_round_trip(pairs, copies):
    [policy] = csp.parse("; ".join(" ".join((n, *v)) for n, v in pairs))
    header = csp.serialize([policy] * copies)
    assert [p.items for p in csp.parse(header)] == [policy.items] * copies


_SF_KEY = st.builds(
    str.__add__,
    st.sampled_from("abcdefghijklmnopqrstuvwxyz*"),
    st.text("abcdefghijklmnopqrstuvwxyz0123456789_-.*", max_size=10),
)
_SF_STRING = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30)


@given(st.dictionaries(_SF_KEY, _SF_STRING, max_size=5))
def test_reporting_endpoints_round_trip(endpoints):
    assert csp.parse_reporting_endpoints(csp.serialize_reporting_endpoints(endpoints)) == endpoints


@given(st.text(max_size=30))
def test_broad_reason_never_raises(source):
    csp.broad_reason(source)
    csp.has_nonce_or_hash([source])
