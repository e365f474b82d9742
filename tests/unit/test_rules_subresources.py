"""RT-05: subresources found in HTML, and whether COEP lets each one load."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_spark.rules import subresources as sr
from pytest_spark.rules.findings import codes

PAGE = "http://127.0.0.1:8000/"
SANDBOX_HTML = """<!doctype html><html><head>
<link rel="stylesheet" href="/static/app.css">
<script src="/static/app.js" defer></script>
<link rel="icon" href="/favicon.ico">
</head><body><img src="/static/logo.svg" alt="x"><img src="data:image/png;base64,AA==">
<script>inline()</script><img src="/static/logo.svg#again"></body></html>"""


def test_extract_sandbox_page() -> None:
    found = sr.extract(SANDBOX_HTML, PAGE)
    assert [(r.kind, r.url) for r in found] == [
        ("stylesheet", "http://127.0.0.1:8000/static/app.css"),
        ("script", "http://127.0.0.1:8000/static/app.js"),
        ("img", "http://127.0.0.1:8000/static/logo.svg"),
        ("img", "data:image/png;base64,AA=="),
    ]
    assert [r.fetchable for r in found] == [True, True, True, False]


def test_base_href_rel_tokens_and_crossorigin() -> None:
    html = (
        '<base href="https://cdn.example/v1/"><link rel="Preload StyleSheet" href="a.css">'
        '<script src="//other.example/x.js" crossorigin></script><img src=" pic.png ">'
    )
    found = sr.extract(html, PAGE)
    assert [r.url for r in found] == [
        "https://cdn.example/v1/a.css",
        "https://other.example/x.js",
        "https://cdn.example/v1/pic.png",
    ]
    assert [r.crossorigin for r in found] == [None, "", None]


CORP = {"Cross-Origin-Resource-Policy": "same-origin"}


def res(url: str = PAGE + "static/a.js", cors: str | None = None) -> sr.Subresource:
    return sr.Subresource("script", url, cors, url)


def test_same_origin_with_corp_loads() -> None:
    assert sr.evaluate(res(), 200, CORP, coep="require-corp", page_url=PAGE) == []


def test_missing_corp_is_blocked_and_named() -> None:
    found = sr.evaluate(res(), 200, {}, coep="require-corp", page_url=PAGE)
    assert codes(found) == ["subresource-no-corp"]
    assert "static/a.js has no Cross-Origin-Resource-Policy" in found[0].message


def test_credentialless_needs_no_opt_in() -> None:
    assert sr.evaluate(res(), 200, {}, coep="credentialless", page_url=PAGE) == []


def test_broken_asset_fails() -> None:
    assert codes(sr.evaluate(res(), 404, CORP, coep="require-corp", page_url=PAGE)) == [
        "subresource-not-loaded"
    ]


def test_cross_origin_same_origin_corp_is_blocked() -> None:
    found = sr.evaluate(
        res("https://cdn.example/a.js"), 200, CORP, coep="require-corp", page_url=PAGE
    )
    assert codes(found) == ["subresource-corp-same-origin-cross-origin"]


def test_cross_origin_cors_needs_crossorigin_attribute_and_matching_origin() -> None:
    url = "https://cdn.example/a.js"
    star = {"Access-Control-Allow-Origin": "*"}
    assert codes(sr.evaluate(res(url), 200, star, coep="require-corp", page_url=PAGE)) == [
        "subresource-cors-not-requested"
    ]
    assert sr.evaluate(res(url, ""), 200, star, coep="require-corp", page_url=PAGE) == []
    mine = {"Access-Control-Allow-Origin": "http://127.0.0.1:8000"}
    assert sr.evaluate(res(url, "anonymous"), 200, mine, coep="require-corp", page_url=PAGE) == []
    other = {"Access-Control-Allow-Origin": "https://evil.example"}
    assert codes(
        sr.evaluate(res(url, "anonymous"), 200, other, coep="require-corp", page_url=PAGE)
    ) == ["subresource-cors-origin"]


def test_origin_default_ports() -> None:
    assert sr.origin("https://A.example/x") == sr.origin("https://a.example:443/y")
    assert sr.origin("http://a:8080/") == ("http", "a", 8080)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300))
def test_extract_never_crashes(html: str) -> None:
    for r in sr.extract(html, PAGE):
        assert r.kind in ("script", "stylesheet", "img")


# --- the parser: HTML5 tokenizing on ordinary pages, linear on hostile ones --------------


def test_ordinary_markup_variants() -> None:
    """What matters to RT-05 on real pages: tag/attribute case, unquoted and
    self-closing forms, character references, first <base>, first of a repeated
    attribute (HTML5 13.2.5.33), no markup inside script text or comments."""
    html = (
        "<!DOCTYPE html><HTML><HEAD><BASE HREF='/v2/'><base href='/ignored/'>"
        "<LINK REL=STYLESHEET HREF=site.css CROSSORIGIN=anonymous />"
        '<link rel="alternate stylesheet" href="alt.css"><link rel=preload href=font.woff2>'
        "<script src='app.js?a=1&amp;b=2' src='second.js'></script>"
        "<script>document.write('<img src=written.png>')</script>"
        "<!-- <img src=commented.png> --><!--[if IE]><script src=ie.js></script><![endif]-->"
        "</HEAD><BODY><IMG SRC=logo.svg /><img alt='no source'><img src=''>"
        "<textarea><img src=text.png></textarea><p><img src=//cdn.example/p.png#frag>"
        "</BODY></HTML>"
    )
    found = sr.extract(html, PAGE)
    assert [(r.kind, r.url, r.crossorigin) for r in found] == [
        ("stylesheet", "http://127.0.0.1:8000/v2/site.css", "anonymous"),
        ("stylesheet", "http://127.0.0.1:8000/v2/alt.css", None),
        ("script", "http://127.0.0.1:8000/v2/app.js?a=1&b=2", None),
        ("img", "http://127.0.0.1:8000/v2/logo.svg", None),
        ("img", "http://cdn.example/p.png", None),
    ]


def test_non_utf8_and_control_characters_do_not_stop_extraction() -> None:
    html = "\x00<img src=/a.png>\ud800<script src=/b.js></script>\x01<img src=/c.png>"
    assert [r.url for r in sr.extract(html, PAGE)] == [
        PAGE + "a.png",
        PAGE + "b.js",
        PAGE + "c.png",
    ]


MIB = 1_000_000
AFTER = "<img src=/after.png>"


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "hostile",
    [
        "<a" * (MIB // 2) + ">",  # gh-135462's "<a" * n, closed so parsing goes on
        "</" * (MIB // 2) + ">",
        "<!" * (MIB // 2) + ">",
        "<?" * (MIB // 2) + ">",
        "&#" * (MIB // 2) + " ",
        "<img src=x " * (MIB // 12) + ">",
        "<div>" * (MIB // 5),  # deep nesting: no depth limit drops what follows
        "<b><i><span>" * (MIB // 15),
    ],
    ids=["a-tags", "end-tags", "bang", "pi", "charrefs", "attrs", "div-nest", "mixed-nest"],
)
def test_megabyte_hostile_prefix_parses_and_later_elements_are_seen(hostile: str) -> None:
    found = sr.extract("<script src=/before.js></script>" + hostile + AFTER, PAGE)
    urls = [r.url for r in found]
    assert urls[0] == PAGE + "before.js"
    assert urls[-1] == PAGE + "after.png"


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "tail",
    [
        "<!--" + "x" * MIB,  # unclosed comment: the rest is comment text (HTML5 EOF in comment)
        "<img src='" + "x" * MIB,  # unclosed attribute value: the tag is dropped at EOF
        "<" + "a" * MIB,  # unclosed start tag
        "<script>" + "<a" * (MIB // 2),  # unclosed script: raw text to EOF
        "<![CDATA[" + "<a" * (MIB // 2),
    ],
    ids=["comment", "attr-value", "start-tag", "script", "cdata"],
)
def test_megabyte_unclosed_constructs_end_with_what_came_before(tail: str) -> None:
    found = sr.extract("<img src=/before.png>" + tail, PAGE)
    assert [r.url for r in found] == [PAGE + "before.png"]
