"""RFC 3987 IRI syntax: agrees with an RFC 3986 validator on ASCII, accepts ucschar, is linear."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_spark.rules.iri import is_iri, is_iri_reference

validate_rfc3986 = pytest.importorskip("rfc3986_validator").validate_rfc3986

URI_ALPHABET = "abcAZ09-._~:/?#[]@!$&'()*+,;=% v\"<>\\^`{|}"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "https://github.com/pallets/jinja/",
        "http://[::1]/x",
        "http://[v1.fe]/",
        "//user:pw@host:8080/p/a;b?q=1&r#frag",
        "mailto:x@y.example",
        "urn:uuid:6f1e0b2c-8b8e-4c1a-9d2e-3f4a5b6c7d8e",
        "../up/./here?x",
        "%41%42",
        "http://ex.com/ä?ü#ö",
        "http://bücher.example/",
        "pkg:pypi/jinja2@3.1.6",
        "http://[::1]:",
    ],
)
def test_valid_references(text: str) -> None:
    assert is_iri_reference(text)


@pytest.mark.parametrize(
    "text",
    [
        "http://exa mple.com",
        "1a:b",
        "%4",
        "%zz",
        "http://h:port",
        "#a#b",
        "http://[::1%25eth0]/",
        "http://[::1]x",
        "http://a@b@c/",
        "a[b]",
        "http://x/\n",
        "http://x/\u0000",
        "http://x/\ufffe",  # a noncharacter is not ucschar
        "http://x/#\ue000",  # iprivate is allowed in the query only
    ],
)
def test_invalid_references(text: str) -> None:
    assert not is_iri_reference(text)


def test_private_use_allowed_in_query() -> None:
    assert is_iri_reference("http://x/?\ue000")


def test_iri_needs_a_scheme() -> None:
    assert is_iri("https://example.com/")
    assert not is_iri("//example.com/")
    assert not is_iri("relative/path")
    assert not is_iri(42)  # type: ignore[arg-type]


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=URI_ALPHABET, max_size=40))
def test_ascii_agrees_with_rfc3986(text: str) -> None:
    # For ASCII strings an IRI-reference is exactly a URI-reference.
    assert is_iri_reference(text) == bool(validate_rfc3986(text, rule="URI_reference"))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_never_raises_on_arbitrary_text(text: str) -> None:
    assert isinstance(is_iri_reference(text), bool)
    assert isinstance(is_iri(text), bool)


def test_linear_time_on_long_input() -> None:
    long = "https://example.com/" + "a/" * 50_000 + "?" + "q=1&" * 20_000
    started = time.perf_counter()
    assert is_iri_reference(long)
    assert time.perf_counter() - started < 1.0


PIECES = st.sampled_from(
    [
        "http:",
        "//",
        "[::1]",
        "[v1.a]",
        "[1::2::3]",
        "@",
        ":",
        "80",
        "/",
        "a",
        "%41",
        "%g1",
        "?",
        "#",
        "[",
        "]",
        "x:y",
        "..",
        "1.2.3.4",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(PIECES, max_size=8).map("".join))
def test_structured_ascii_agrees_with_rfc3986(text: str) -> None:
    assert is_iri_reference(text) == bool(validate_rfc3986(text, rule="URI_reference"))
    assert is_iri(text) == bool(validate_rfc3986(text, rule="URI"))
