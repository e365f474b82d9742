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
    assert finding.message == (
        "script-src allows 'unsafe-inline' (no valid nonce or hash, no 'strict-dynamic'): "
        "inline <script> elements and inline event handlers run"
    )


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
    found = failures(csp.analyze(header).findings)
    # Nothing restricts scripts: every kind of script load is open.
    assert codes(found) == [
        "script-src-unsafe-inline",
        "script-src-unsafe-eval",
        "script-src-data",
        "script-src-broad-source",
    ]
    assert all("not set, and no default-src" in f.message for f in found)


def test_script_src_elem_is_checked_when_it_overrides():
    header = SANDBOX_CSP + "; script-src-elem 'self' 'unsafe-inline'"
    [finding] = failures(csp.analyze(header, None, SANDBOX_ENDPOINTS).findings)
    assert finding.code == "script-src-unsafe-inline"
    assert finding.message.startswith("script-src-elem allows 'unsafe-inline'")
    assert "inline <script> elements run" in finding.message


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("object-src 'none'; ", ""), ["object-src-not-none"]),  # falls back to default-src 'self'
        (("object-src 'none'", "object-src 'self'"), ["object-src-not-none"]),
        (("object-src 'none'", "object-src 'none' https:"), ["object-src-not-none"]),
        (("object-src 'none'", "object-src"), []),  # empty source list matches nothing
        (("object-src 'none'", "object-src 'NONE'"), []),
        (("object-src 'none'", "object-src 'unsafe-inline'"), []),  # matches no URL
        (("object-src 'none'", "object-src 'sha256-abc$'"), []),  # invalid: matches nothing
        (("object-src 'none'", "object-src data:"), ["object-src-not-none"]),
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


# --- issue 14: source expressions by the CSP3 grammar ------------------------------

REST = (
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'; report-uri /r"
)


@pytest.mark.parametrize(
    ("source", "kind"),
    [
        ("'sha256-B2yPHKaXnvFWtRChIbabYmUBFZdVfKKXHbWtWidDVF8='", "hash"),
        ("'SHA384-abc_-+/=='", "hash"),  # algorithm is case-insensitive, base64url allowed
        ("'sha256-abc$'", "invalid"),  # '$' is not base64
        ("'sha256-abc==='", "invalid"),  # at most two '='
        ("'sha1-abc'", "invalid"),  # only sha256/384/512
        ("'sha256-'", "invalid"),
        ("'sha256-abc", "invalid"),  # unterminated quote
        ("'nonce-r4nd0mV4lue'", "nonce"),
        ("'NONCE-abc'", "nonce"),
        ("'nonce-'", "invalid"),
        ("'nonce-a b'", "invalid"),
        ("'nonce-abc!'", "invalid"),
        ("'self'", "keyword"),
        ("'STRICT-DYNAMIC'", "keyword"),
        ("'none'", "none"),
        ("self", "host"),  # unquoted: a host called "self"
        ("https:", "scheme"),
        ("https://cdn.example.com:443/js/", "host"),
        ("*.example.com", "host"),
        ("https://exa mple.com", "invalid"),
        ("https://cdn.example.com//x", "invalid"),  # path-absolute never starts with //
        ("'unsafe-inlin'", "invalid"),
    ],
)
def test_classify_follows_the_csp3_grammar(source, kind):
    assert csp.classify(source) == kind


@pytest.mark.parametrize(
    "fake",
    [
        "'sha256-abc$'",  # the input
        "'nonce-'",
        "'sha1-B2yPHKaXnvFWtRChIbabYmUBFZdVfKKXHbWtWidDVF8='",  # unknown algorithm
        "'nonce-abc%3D'",  # percent-encoding is not base64
        "sha256-B2yPHKaXnvFWtRChIbabYmUBFZdVfKKXHbWtWidDVF8=",  # unquoted: a host, not a hash
    ],
)
def test_malformed_hash_or_nonce_does_not_cancel_unsafe_inline(fake):
    header = f"script-src 'self' 'unsafe-inline' {fake}; {REST}"
    found = csp.analyze(header).findings
    assert "script-src-unsafe-inline" in codes(failures(found))


def test_invalid_source_is_reported_as_ignored():
    header = f"script-src 'self' 'sha256-abc$'; {REST}"
    found = csp.analyze(header).findings
    assert codes(found) == ["csp-invalid-source"]
    assert "'sha256-abc$'" in found[0].message and found[0].severity == "warn"


# --- issue 14: keywords that change how the list is read ------------------------------


def test_strict_dynamic_with_nonce_ignores_hosts_schemes_and_unsafe_inline():
    header = (
        "script-src 'nonce-r4nd0mV4lue' 'strict-dynamic' https: 'unsafe-inline'; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'; "
        "report-uri /r"
    )
    assert csp.analyze(header).findings == ()


@pytest.mark.parametrize(
    ("sources", "expected"),
    [
        # the hash keeps 'unsafe-inline' off; strict-dynamic drops *, http: and data:
        ("'sha256-B2yPHKaXnvFWtRChIbabYmUBFZdVfKKXHbWtWidDVF8=' 'strict-dynamic' * data:", []),
        # 'strict-dynamic' alone: no host list, no inline (only trusted scripts' children)
        ("'strict-dynamic' 'unsafe-inline' http:", []),
        # a nonce without 'strict-dynamic' cancels 'unsafe-inline' but not the broad host
        ("'nonce-abc' 'unsafe-inline' https:", ["script-src-broad-source"]),
        # 'strict-dynamic' does not make eval safe
        ("'nonce-abc' 'strict-dynamic' 'unsafe-eval'", ["script-src-unsafe-eval"]),
        # a malformed nonce is no nonce: strict-dynamic still drops the rest, so nothing
        # loads, yet 'unsafe-inline' is ignored too (strict-dynamic, CSP3 8.2)
        ("'nonce-' 'strict-dynamic' 'unsafe-inline'", []),
    ],
)
def test_list_modifying_keywords(sources, expected):
    assert fail_codes(f"script-src {sources}; {REST}") == expected


# --- issue 14: several policies: each load judged against each policy -----------------


def test_inline_script_allowed_by_every_policy_through_different_directives():
    header = (
        f"script-src 'unsafe-inline'; {REST}, script-src 'self'; script-src-elem 'unsafe-inline'"
    )
    found = failures(csp.analyze(header).findings)
    assert codes(found) == ["script-src-unsafe-inline"]
    assert "policy 1: script-src allows" in found[0].message
    assert "policy 2: script-src-elem allows" in found[0].message


def test_separate_headers_are_separate_policies_too():
    # Two header fields joined with ", " are the same policy list.
    one = f"script-src 'unsafe-inline'; {REST}"
    two = "default-src 'self' 'unsafe-inline'"
    assert fail_codes(f"{one}, {two}") == ["script-src-unsafe-inline"]


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        # event handlers: script-src-attr in one, default-src in the other
        (
            "script-src-attr 'unsafe-inline'; script-src 'self'",
            "default-src 'unsafe-inline'",
            ["script-src-attr-unsafe-inline"],
        ),
        # eval uses script-src then default-src, never script-src-elem
        (
            "script-src-elem 'self'; script-src 'unsafe-eval'",
            "default-src 'unsafe-eval'",
            ["script-src-unsafe-eval"],
        ),
        # one policy blocking plugins is enough
        ("object-src *", "default-src 'none'", []),
        ("object-src *", "default-src 'self'", ["object-src-not-none"]),
        # one policy restricting framing is enough
        ("frame-ancestors *", "frame-ancestors 'self'", []),
        ("frame-ancestors https:", "script-src 'self'", ["frame-ancestors-broad"]),
        # base-uri / form-action: unset in one, broad in the other
        ("base-uri *", "script-src 'self'", ["base-uri-broad"]),
        ("form-action http:", "form-action 'self'", []),
    ],
)
def test_each_kind_of_load_across_policies(first, second, expected):
    base = (
        "script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
        "form-action 'self'; report-uri /r"
    )
    # the first policy replaces the matching directives of an otherwise strict policy
    p1 = csp.parse_policy(base)
    override = csp.parse_policy(first)
    merged = dict(p1.directives)
    merged.update(override.directives)
    header = "; ".join(" ".join((n, *v)) for n, v in merged.items()) + ", " + second
    assert [c for c in fail_codes(header) if c != "csp-reporting-missing"] == expected


# --- issue 14: base-uri, frame-ancestors and form-action values are judged ----------


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("frame-ancestors 'none'", "frame-ancestors *"), ["frame-ancestors-broad"]),
        (("frame-ancestors 'none'", "frame-ancestors https:"), ["frame-ancestors-broad"]),
        (("frame-ancestors 'none'", "frame-ancestors https://*"), ["frame-ancestors-broad"]),
        (("frame-ancestors 'none'", "frame-ancestors 'self' https://a.example"), []),
        (("base-uri 'self'", "base-uri *"), ["base-uri-broad"]),
        (("base-uri 'self'", "base-uri http:"), ["base-uri-broad"]),
        (("base-uri 'self'", "base-uri 'none'"), []),
        (("form-action 'self'", "form-action *"), ["form-action-broad"]),
        (("form-action 'self'", "form-action https://*.com"), ["form-action-broad"]),
        (("form-action 'self'", "form-action https://pay.example.com"), []),
    ],
)
def test_navigation_directive_values_are_judged(change, expected):
    assert fail_codes(SANDBOX_CSP.replace(*change)) == expected


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


_B64_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_"


@given(
    st.sampled_from(["sha256", "SHA384", "sha512", "nonce"]),
    st.text(_B64_CHARS, min_size=1, max_size=60),
    st.integers(0, 2),
)
def test_grammar_valid_hash_and_nonce_always_cancel_unsafe_inline(prefix, value, pad):
    source = f"'{prefix}-{value}{'=' * pad}'"
    assert csp.classify(source) == ("nonce" if prefix == "nonce" else "hash")
    assert fail_codes(f"script-src 'unsafe-inline' {source}; {REST}") == []


@given(
    st.sampled_from(["sha256", "sha384", "sha512", "nonce"]),
    st.text(_B64_CHARS, max_size=20),
    st.characters(exclude_characters=_B64_CHARS + "'=;,", exclude_categories=("Cs",)),
    st.text(_B64_CHARS, max_size=20),
)
def test_a_character_outside_base64_makes_it_no_hash_or_nonce(prefix, head, bad, tail):
    source = f"'{prefix}-{head}{bad}{tail}'"
    assert csp.classify(source) == "invalid"
    assert "script-src-unsafe-inline" in fail_codes(f"script-src 'unsafe-inline' {source}; {REST}")


@pytest.mark.parametrize("char", ["\u0130", "\u212a", "\u017f"])
def test_non_ascii_letters_that_case_fold_to_ascii_are_no_base64(char: str) -> None:
    """Found by hypothesis: Unicode case folding made 'sha256-a\u212ab' a hash-source."""
    assert csp.classify(f"'sha256-a{char}b'") == "invalid"
    assert csp.classify(f"'nonce-a{char}b'") == "invalid"
