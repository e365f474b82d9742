"""RT-05: the Origin a browser sends for a subresource, and what is recorded of it."""

from __future__ import annotations

from pytest_spark.rules.subresource_requests import describe, request_headers
from pytest_spark.rules.subresources import Subresource

PAGE = "https://app.example/"


def res(url: str, crossorigin: str | None = None) -> Subresource:
    return Subresource("script", url, crossorigin, url)


def test_same_origin_or_no_cors_mode_sends_no_origin() -> None:
    assert request_headers(res("https://app.example/a.js", ""), PAGE) is None
    assert request_headers(res("https://APP.example:443/a.js", "anonymous"), PAGE) is None
    assert request_headers(res("https://cdn.example/a.js"), PAGE) is None


def test_cross_origin_cors_mode_sends_the_page_origin() -> None:
    assert request_headers(
        res("https://cdn.example/a.js", "anonymous"), "http://127.0.0.1:8000/x"
    ) == {"Origin": "http://127.0.0.1:8000"}


def test_describe_keeps_each_reference_as_written() -> None:
    found = [Subresource("img", "https://app.example/l.svg", None, "/l.svg")]
    assert describe(PAGE, "", found) == {
        "page": PAGE,
        "coep": None,
        "found": [
            {
                "kind": "img",
                "url": "https://app.example/l.svg",
                "as_written": "/l.svg",
                "crossorigin": None,
            }
        ],
    }
    assert describe(PAGE, "require-corp", [])["coep"] == "require-corp"


def test_origin_header_leaves_the_default_port_out_like_a_browser():
    from pytest_spark.rules.subresources import Subresource

    res = Subresource(
        "script", "https://cdn.example/app.js", "anonymous", "https://cdn.example/app.js"
    )
    assert request_headers(res, "https://app.example:443/") == {"Origin": "https://app.example"}
    assert request_headers(res, "https://app.example:8443/") == {
        "Origin": "https://app.example:8443"
    }
