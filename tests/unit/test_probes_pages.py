"""Pages per instance and path, redirects followed by hand, the token kept to the API's origins."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from pytest_spark.probes import ProbeError, pages
from pytest_spark.probes.http import HttpResponse
from pytest_spark.rules.subresources import Subresource


class Observed:
    """Stands in for the evidence recorder: keeps (name, data) in order."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, Any]] = []

    def observe(self, name: str, data: Any) -> None:
        self.seen.append((name, data))


@pytest.fixture
def serve() -> Iterator[Callable[[Callable[[httpx.Request], httpx.Response]], httpx.Client]]:
    made: list[httpx.Client] = []

    def client(handler: Callable[[httpx.Request], httpx.Response]) -> httpx.Client:
        def streamed(request: httpx.Request) -> httpx.Response:
            # a streamed body, as from a real server: httpx times it only then (.elapsed)
            resp = handler(request)
            body = httpx.ByteStream(resp.content)
            return httpx.Response(resp.status_code, headers=resp.headers, stream=body)

        made.append(httpx.Client(transport=httpx.MockTransport(streamed)))
        return made[-1]

    yield client
    for c in made:
        c.close()


def test_target_paths_once_each_with_a_leading_slash() -> None:
    targets = {"html_paths": ["/", "app"], "api_paths": ["/version", "/app", "/"]}
    assert pages.target_paths(targets, "html_paths", "api_paths") == ["/", "/app", "/version"]
    assert pages.target_paths(targets, "api_paths") == ["/version", "/app", "/"]


def test_clients_give_the_token_only_to_the_api_origins(serve: Any) -> None:
    api, anonymous = serve(lambda r: httpx.Response(200)), serve(lambda r: httpx.Response(200))
    clients = pages.Clients(api, anonymous, ["http://127.0.0.1:8000", "https://api.example"])
    assert clients.for_url("http://127.0.0.1:8000/csp-report") is api
    assert clients.for_url("https://API.example:443/x") is api
    assert clients.for_url("http://127.0.0.1:8001/x") is anonymous
    assert clients.for_url("https://cdn.example/app.js") is anonymous


def test_fetch_every_path_on_every_instance_and_refuse_non_2xx(serve: Any) -> None:
    http = serve(lambda r: httpx.Response(404 if r.url.path == "/gone" else 200))
    got = pages.fetch(http, ["http://a", "http://b"], ["/", "/version"])
    assert [r.url for r in got] == [
        "http://a/",
        "http://a/version",
        "http://b/",
        "http://b/version",
    ]
    with pytest.raises(ProbeError, match=r"http://b/gone answered HTTP 404, expected 2xx"):
        pages.fetch(http, ["http://b"], ["/", "/gone"])


def test_joined_header_values() -> None:
    resp = HttpResponse(
        "http://a/", 200, [("Report-To", "{}"), ("x", "1"), ("report-to", "[]")], b"", 0
    )
    assert pages.joined(resp, "report-to") == "{}, []"
    assert pages.joined(resp, "reporting-endpoints") is None


def test_follow_stops_after_max_hops_plus_one_and_records_each_hop(serve: Any) -> None:
    def redirect(request: httpx.Request) -> httpx.Response:
        step = int(request.url.path.strip("/") or 0)
        return httpx.Response(301, headers={"Location": f"/{step + 1}"})

    http = serve(redirect)
    evidence = Observed()
    chain = pages.follow(pages.Clients(http, http, []), "http://a/", 2, evidence)  # type: ignore[arg-type]
    assert [r.url for r in chain] == ["http://a/", "http://a/1", "http://a/2"]
    assert [name for name, _ in evidence.seen] == ["redirect_hop"] * 3


def test_follow_ends_at_the_first_answer_that_is_not_a_redirect(serve: Any) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.scheme == "http":
            return httpx.Response(308, headers={"Location": "https://a/"})
        return httpx.Response(200)

    http = serve(handler)
    chain = pages.follow(pages.Clients(http, http, []), "http://a/", 5, Observed())  # type: ignore[arg-type]
    assert [(r.url, r.status) for r in chain] == [("http://a/", 308), ("https://a/", 200)]


def test_subresources_skip_non_http_and_send_origin_in_cors_mode(serve: Any) -> None:
    origins: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        origins.append(request.headers.get("origin"))
        return httpx.Response(200)

    http = serve(handler)
    found = [
        Subresource("img", "data:image/png;base64,AA==", None, "data:image/png;base64,AA=="),
        Subresource("script", "http://cdn:9000/a.js", "anonymous", "http://cdn:9000/a.js"),
        Subresource("img", "http://app:8000/l.svg", None, "/l.svg"),
    ]
    evidence = Observed()
    clients = pages.Clients(http, http, ["http://app:8000"])
    got = list(pages.fetch_subresources(clients, "http://app:8000/", found, evidence))  # type: ignore[arg-type]
    assert [res.url for res, _ in got] == ["http://cdn:9000/a.js", "http://app:8000/l.svg"]
    assert origins == ["http://app:8000", None]
    assert [name for name, _ in evidence.seen] == [
        "subresource_skipped",
        "subresource_response",
        "subresource_response",
    ]


def test_post_csp_report_sends_the_synthetic_report_and_records_it(serve: Any) -> None:
    received: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        received.append(request)
        return httpx.Response(204)

    evidence = Observed()
    resp = pages.post_csp_report(
        serve(handler),
        "report-uri",
        "http://a/csp",
        "http://a/",
        "script-src 'self'",
        evidence,  # type: ignore[arg-type]
    )
    assert resp.status == 204
    assert received[0].method == "POST"
    assert received[0].headers["content-type"] == "application/csp-report"
    [(name, data)] = evidence.seen
    assert name == "report_post"
    assert (data["via"], data["url"], data["status"]) == ("report-uri", "http://a/csp", 204)
    assert data["body"] == received[0].content.decode()
