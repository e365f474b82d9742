"""RT-05: subresources found in HTML, and whether COEP lets each one load."""

from __future__ import annotations

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
