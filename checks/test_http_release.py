"""HTTP surface, release identity and supply-chain checks.

BS-05 CSP, PF-05 headers, RT-04 HSTS preload, RT-05 COEP compatibility, RT-06
decimal tick grid, BS-07 / PF-07 flags, PF-01 identity, BS-09 SBOM and RT-10
SBOM attach. Each test gathers raw responses through the run's httpx client
(deadline on every call, TLS verified), records them as received, hands them to
a pure rule in ``pytest_spark.rules`` and fails naming the header, directive,
flag or field with its value and the URL it came from.

Requests to origins other than the configured API instances (CSP report
collectors, CDN assets, redirect hops) go through a second client without the
API's bearer token, so a token is never sent to a third party.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
import pytest

from pytest_spark.config import SparkConfig
from pytest_spark.evidence import Recorder
from pytest_spark.probes import ProbeError
from pytest_spark.probes import sbom as sbom_probe
from pytest_spark.probes.accounts import probe_account
from pytest_spark.probes.db import rows
from pytest_spark.probes.http import HttpResponse, get, get_json, make_client, request
from pytest_spark.rules import csp, flags, headers, hsts, identity, subresources, ticks
from pytest_spark.rules import sbom as sbom_rules
from pytest_spark.rules.dbsql import quote_qualified
from pytest_spark.rules.findings import FAIL, WARN, Finding

SHOW_MAX = 6
SYNTHETIC_SAMPLE = "pytest-spark synthetic report (BS-05)"
# RT-06: orders are passive (buys at or below the bid, sells at or above the ask) and
# priced within this share of the quote, one lot each, so they never trade and stay
# clear of price bands and risk limits while varying the digits.
PRICE_BAND = Decimal("0.10")
RT06_EXAMPLES = 10


# --------------------------------------------------------------------- helpers


@pytest.fixture(scope="session")
def anonymous_http(spark_config: SparkConfig, timeout: float) -> Iterator[httpx.Client]:
    """Same deadline and TLS settings as ``http``, but never the API's bearer token."""
    targets = spark_config.targets
    verify: bool | str = targets["ca_bundle"] or targets["verify_tls"]
    with make_client(timeout=timeout, verify=verify) as client:
        yield client


@dataclass
class Clients:
    """Pick the client for a URL: the API's own origins get the token, others do not."""

    api: httpx.Client
    anonymous: httpx.Client
    api_urls: Sequence[str]

    def for_url(self, url: str) -> httpx.Client:
        mine = {subresources.origin(u) for u in self.api_urls}
        return self.api if subresources.origin(url) in mine else self.anonymous


@pytest.fixture
def clients(http: httpx.Client, anonymous_http: httpx.Client, api_urls: list[str]) -> Clients:
    return Clients(http, anonymous_http, api_urls)


def _paths(spark_config: SparkConfig, *keys: str) -> list[str]:
    """Configured target paths (html_paths, api_paths), each once, with a leading '/'."""
    out: list[str] = []
    for key in keys:
        for path in spark_config.targets[key]:
            p = path if path.startswith("/") else f"/{path}"
            if p not in out:
                out.append(p)
    return out


def _pages(http: httpx.Client, api_urls: Sequence[str], paths: Sequence[str]) -> list[HttpResponse]:
    """GET every path on every instance; a non-2xx page cannot be judged (could not verify)."""
    out = []
    for base in api_urls:
        for path in paths:
            resp = get(http, base + path)
            if not 200 <= resp.status < 300:
                raise ProbeError(f"{resp.url} answered HTTP {resp.status}, expected 2xx")
            out.append(resp)
    return out


def _observe_response(evidence: Recorder, resp: HttpResponse, what: str = "response") -> None:
    """Status and headers exactly as received (order and duplicates kept)."""
    evidence.observe(what, {"url": resp.url, "status": resp.status, "headers": resp.headers})


def _joined(resp: HttpResponse, name: str) -> str | None:
    values = resp.header_all(name)
    return ", ".join(values) if values else None


Problem = tuple[str, str]  # (what is wrong, where it was seen; "" when nowhere in particular)


def _summary(problems: Sequence[Problem]) -> str:
    """One line (the verdict keeps the first line): each problem once, with every place seen."""
    places: dict[str, list[str]] = {}
    for message, where in problems:
        seen = places.setdefault(message, [])
        if where and where not in seen:
            seen.append(where)
    parts = [f"{m} on {', '.join(w)}" if w else m for m, w in places.items()]
    shown = "; ".join(parts[:SHOW_MAX])
    more = len(parts) - SHOW_MAX
    return shown + (f"; ... and {more} more" if more > 0 else "")


def _fail_messages(findings: Sequence[Finding], where: str = "") -> list[Problem]:
    return [(f.message, where) for f in findings if f.severity == FAIL]


def _json_docs(http: httpx.Client, api_urls: Sequence[str], path: str) -> dict[str, Any]:
    return {base: get_json(http, base + path) for base in api_urls}


# --------------------------------------------------------------------- BS-05


def _synthetic_report(kind: str, page: HttpResponse, policy: str) -> tuple[str, bytes]:
    """A recognisable, harmless violation report in the browser's format for ``kind``."""
    if kind == "report-uri":
        body: Any = {
            "csp-report": {
                "document-uri": page.url,
                "referrer": "",
                "violated-directive": "script-src-elem",
                "effective-directive": "script-src-elem",
                "original-policy": policy,
                "disposition": "report",
                "blocked-uri": "inline",
                "status-code": 200,
                "script-sample": SYNTHETIC_SAMPLE,
            }
        }
        return "application/csp-report", json.dumps(body).encode()
    body = [
        {
            "type": "csp-violation",
            "age": 0,
            "url": page.url,
            "user_agent": "pytest-spark",
            "body": {
                "documentURL": page.url,
                "effectiveDirective": "script-src-elem",
                "originalPolicy": policy,
                "disposition": "report",
                "blockedURL": "inline",
                "statusCode": 200,
                "sample": SYNTHETIC_SAMPLE,
            },
        }
    ]
    return "application/reports+json", json.dumps(body).encode()


def _report_endpoints(
    page: HttpResponse, policies: Sequence[csp.Policy]
) -> list[tuple[str, str, str]]:
    """(kind, absolute URL, policy text) of every reporting target the policies name."""
    out: list[tuple[str, str, str]] = []
    endpoints = csp.parse_reporting_endpoints(_joined(page, "reporting-endpoints"))
    legacy = csp.parse_report_to(_joined(page, "report-to"))
    for policy in policies:
        text = policy.serialize()
        for uri in policy.get("report-uri") or ():
            out.append(("report-uri", urljoin(page.url, uri), text))
        group = (policy.get("report-to") or (None,))[0]
        if group is not None:
            for url in [endpoints[group]] if group in endpoints else legacy.get(group, []):
                out.append(("report-to", urljoin(page.url, url), text))
    return out


@pytest.mark.spark_check("BS-05")
def test_bs05_csp_enforced_strict_and_reporting(
    clients: Clients, api_urls: list[str], spark_config: SparkConfig, evidence: Recorder
) -> None:
    """An enforcing, strict CSP on HTML and API responses, whose report endpoint accepts reports."""
    problems: list[Problem] = []
    targets: dict[tuple[str, str], tuple[HttpResponse, str]] = {}
    for page in _pages(clients.api, api_urls, _paths(spark_config, "html_paths", "api_paths")):
        _observe_response(evidence, page)
        analysis = csp.analyze(
            _joined(page, "content-security-policy"),
            _joined(page, "content-security-policy-report-only"),
            _joined(page, "reporting-endpoints"),
            _joined(page, "report-to"),
        )
        evidence.observe(
            "csp",
            {
                "url": page.url,
                "mode": analysis.mode,
                "policies": [p.directives for p in analysis.policies],
                "findings": [f.to_dict() for f in analysis.findings],
            },
        )
        problems += _fail_messages(analysis.findings, page.url)
        if analysis.mode == "enforcing":
            for kind, url, text in _report_endpoints(page, analysis.policies):
                targets.setdefault((kind, url), (page, text))
    for (kind, url), (page, text) in targets.items():
        content_type, body = _synthetic_report(kind, page, text)
        resp = request(
            clients.for_url(url),
            "POST",
            url,
            headers={"Content-Type": content_type},
            content=body,
        )
        evidence.observe(
            "report_post",
            {
                "via": kind,
                "url": url,
                "content_type": content_type,
                "body": body.decode(),
                "status": resp.status,
                "headers": resp.headers,
            },
        )
        if not 200 <= resp.status < 300:
            problems.append(
                (
                    f"CSP {kind} endpoint {url} answered HTTP {resp.status} to a synthetic "
                    f"{content_type} POST (expected 2xx)",
                    "",
                )
            )
    assert not problems, _summary(problems)


# --------------------------------------------------------------------- PF-05


@pytest.mark.spark_check("PF-05")
def test_pf05_security_header_grade(
    http: httpx.Client,
    api_urls: list[str],
    spark_config: SparkConfig,
    thresholds: Any,
    evidence: Recorder,
) -> None:
    """Observatory-style score of every endpoint reaches the minimum grade, no baseline gap."""
    minimum = thresholds["header_min_grade"]
    min_age = int(thresholds["hsts_min_age_s"])
    evidence.observe("thresholds", {"header_min_grade": minimum, "hsts_min_age_s": min_age})
    problems: list[Problem] = []
    for page in _pages(http, api_urls, _paths(spark_config, "html_paths", "api_paths")):
        _observe_response(evidence, page)
        result = headers.score(page.header_map(), hsts_min_age=min_age)
        blocking = result.blocking(minimum)
        evidence.observe(
            "score",
            {
                "url": page.url,
                "score": result.score,
                "grade": result.grade,
                "penalties": [f.to_dict() for f in result.penalties],
                "bonuses": [f.to_dict() for f in result.bonuses],
                "blocking": [f.to_dict() for f in blocking],
            },
        )
        where = f"{page.url} (grade {result.grade}, score {result.score})"
        problems += _fail_messages(blocking, where)
    assert not problems, _summary(problems)


# --------------------------------------------------------------------- RT-04


def _hsts_findings(resp: HttpResponse) -> list[Finding]:
    """Preload rules for one response; a second HSTS field is ignored by browsers (RFC 6797)."""
    values = resp.header_all("strict-transport-security")
    found = hsts.preload_findings(values[0] if values else None)
    if len(values) > 1:
        found.append(
            Finding(
                "hsts-multiple-headers",
                f"{len(values)} Strict-Transport-Security headers {values!r}; browsers use "
                "only the first",
            )
        )
    if values and resp.url.lower().startswith("http://"):
        found.append(
            Finding(
                "hsts-over-http",
                f"{resp.url} is plain http: browsers ignore HSTS received over it",
                WARN,
            )
        )
    return found


def _follow(clients: Clients, start: str, max_hops: int, evidence: Recorder) -> list[HttpResponse]:
    """Follow redirects by hand (max_hops + 1 requests at most), keeping every response."""
    chain: list[HttpResponse] = []
    url = start
    for _ in range(max_hops + 1):
        resp = get(clients.for_url(url), url)
        chain.append(resp)
        _observe_response(evidence, resp, "redirect_hop")
        location = resp.header("location")
        if not (300 <= resp.status < 400 and location):
            break
        url = urljoin(url, location.strip())
    return chain


@pytest.mark.spark_check("RT-04")
def test_rt04_hsts_preload_eligible(
    clients: Clients,
    api_urls: list[str],
    spark_config: SparkConfig,
    thresholds: Any,
    evidence: Recorder,
) -> None:
    """HSTS meets the preload list's rules everywhere, and http:// redirects carry it."""
    problems: list[Problem] = []
    for page in _pages(clients.api, api_urls, _paths(spark_config, "html_paths", "api_paths")):
        _observe_response(evidence, page)
        values = page.header_all("strict-transport-security")
        parsed = hsts.parse(values[0]) if values else None
        found = _hsts_findings(page)
        evidence.observe(
            "hsts",
            {
                "url": page.url,
                "values": values,
                "parsed": None
                if parsed is None
                else {
                    "max_age": parsed.max_age,
                    "include_subdomains": parsed.include_subdomains,
                    "preload": parsed.preload,
                    "directives": parsed.directives,
                },
                "findings": [f.to_dict() for f in found],
            },
        )
        problems += _fail_messages(found, page.url)
    start = spark_config.targets["http_redirect_url"]
    max_hops = int(thresholds["max_redirects"])
    evidence.observe("redirect", {"http_redirect_url": start or None, "max_redirects": max_hops})
    if start:
        chain = _follow(clients, start, max_hops, evidence)
        found = hsts.redirect_chain_findings(
            [(r.url, r.status, r.header_map()) for r in chain], max_hops
        )
        last = chain[-1]
        if last.url.lower().startswith("https://") and not 300 <= last.status < 400:
            found += _hsts_findings(last)
        evidence.observe("redirect_findings", [f.to_dict() for f in found])
        problems += _fail_messages(found, f"redirect chain from {start}")
    assert not problems, _summary(problems)


# --------------------------------------------------------------------- RT-05


@pytest.mark.spark_check("RT-05")
def test_rt05_coep_subresources_load(
    clients: Clients, api_urls: list[str], spark_config: SparkConfig, evidence: Recorder
) -> None:
    """COEP + COOP on the HTML, and every script, stylesheet and image opts in (CORP or CORS)."""
    problems: list[Problem] = []
    for page in _pages(clients.api, api_urls, _paths(spark_config, "html_paths")):
        _observe_response(evidence, page)
        page_headers = page.header_map()
        problems += _fail_messages(headers.coep_findings(page_headers), page.url)
        coep = page.header("cross-origin-embedder-policy") or ""
        found = subresources.extract(page.body.decode("utf-8", "replace"), page.url)
        evidence.observe(
            "subresources",
            {
                "page": page.url,
                "coep": coep or None,
                "found": [
                    {
                        "kind": r.kind,
                        "url": r.url,
                        "as_written": r.raw,
                        "crossorigin": r.crossorigin,
                    }
                    for r in found
                ],
            },
        )
        page_origin = subresources.origin(page.url)
        for res in found:
            if not res.fetchable:
                evidence.observe("subresource_skipped", {"url": res.url, "why": "not http(s)"})
                continue
            send: dict[str, str] = {}
            if res.crossorigin is not None and subresources.origin(res.url) != page_origin:
                scheme, host, port = page_origin
                send["Origin"] = f"{scheme}://{host}" + (f":{port}" if port else "")
            resp = get(clients.for_url(res.url), res.url, headers=send or None)
            _observe_response(evidence, resp, "subresource_response")
            verdict = subresources.evaluate(
                res, resp.status, resp.header_map(), coep=coep, page_url=page.url
            )
            evidence.observe(
                "subresource_findings",
                {"url": res.url, "findings": [f.to_dict() for f in verdict]},
            )
            problems += _fail_messages(verdict, f"page {page.url}")
    assert not problems, _summary(problems)


# --------------------------------------------------------------------- RT-06


@dataclass(frozen=True)
class Grid:
    """One instrument's grid as quoted, and the passive prices test orders come from.

    A probe order must never trade against a real one, so it never crosses the
    spread: a buy is priced at or below the bid (and below the ask), a sell at
    or above the ask (and above the bid), on the tick grid and within
    PRICE_BAND of the quote. ``buy_high`` 0 means no passive buy exists (a bid
    below one tick).
    """

    symbol: str
    tick: Decimal
    lot: Decimal
    bid: Decimal
    ask: Decimal
    buy_low: int  # buy price = k * tick for buy_low <= k <= buy_high (at or below the bid)
    buy_high: int
    sell_low: int  # sell price = k * tick for sell_low <= k <= sell_high (at or above the ask)
    sell_high: int

    @staticmethod
    def places(step: Decimal) -> int:
        exponent = step.normalize().as_tuple().exponent
        return max(0, -exponent) if isinstance(exponent, int) else 0

    def price(self, k: int) -> str:
        return f"{k * self.tick:.{self.places(self.tick)}f}"

    def quantity(self, lots: int = 1) -> str:
        return f"{lots * self.lot:.{self.places(self.lot)}f}"

    def sides(self) -> tuple[str, ...]:
        """The sides a passive order can be placed on."""
        return ("buy", "sell") if self.buy_high >= 1 else ("sell",)

    def ticks(self, side: str) -> tuple[int, int]:
        """(lowest, highest) k of a passive order on ``side``."""
        return (self.buy_low, self.buy_high) if side == "buy" else (self.sell_low, self.sell_high)

    def off_tick(self, side: str) -> str:
        """A passive price half a tick off the grid (just below the bid, or above the ask)."""
        half = self.tick / 2
        if side == "buy":
            value = self.buy_high * self.tick - half
        else:
            value = self.sell_low * self.tick + half
        return f"{value:.{self.places(self.tick) + 1}f}"


def _grid(quote: Mapping[str, Any]) -> Grid | None:
    """The quote's grid, if its values are usable decimal strings."""
    values = [quote.get(k) for k in ("tick_size", "lot_size", "bid", "ask")]
    if not all(isinstance(v, str) and ticks.parse_decimal(v) is not None for v in values):
        return None
    tick, lot, bid, ask = (Decimal(v) for v in values)
    if tick <= 0 or lot <= 0 or bid <= 0 or ask <= 0:
        return None

    def k(value: Decimal, rounding: str) -> int:
        return int((value / tick).to_integral_value(rounding))

    # passive: a buy at or below the bid and under the ask; a sell at or above the ask
    # and over the bid (a locked or crossed quote moves both one tick away)
    buy_high = max(0, min(k(bid, ROUND_FLOOR), k(ask, ROUND_CEILING) - 1))
    buy_low = min(max(1, k(bid * (1 - PRICE_BAND), ROUND_CEILING)), buy_high)
    sell_low = max(1, k(ask, ROUND_CEILING), k(bid, ROUND_FLOOR) + 1)
    sell_high = max(sell_low, k(ask * (1 + PRICE_BAND), ROUND_FLOOR))
    return Grid(
        str(quote.get("symbol")), tick, lot, bid, ask, buy_low, buy_high, sell_low, sell_high
    )


def _quote_findings(quote: Any) -> list[Finding]:
    if not isinstance(quote, Mapping):
        return [Finding("quote-not-object", f"quote {quote!r} is not an object")]
    found = ticks.validate_quote(quote)
    for key in ("tick_size", "lot_size"):
        value = quote.get(key)
        if value is not None and not isinstance(value, str):
            found.append(
                Finding(f"{key}-json-number", f"{key} is a JSON number ({value}), not a string")
            )
    return [Finding(f.code, f"{quote.get('symbol', '?')}: {f.message}", f.severity) for f in found]


def _post_order(
    http: httpx.Client, base: str, body: Mapping[str, str]
) -> tuple[HttpResponse, Any, str]:
    key = f"pytest-spark-rt06-{uuid.uuid4()}"
    resp = request(http, "POST", f"{base}/orders", headers={"Idempotency-Key": key}, json=body)
    return resp, _loads(resp.body), key


def _loads(body: bytes) -> Any:
    """JSON with decimals kept exact (a JSON number arrives as Decimal/int); None if not JSON."""
    try:
        return json.loads(body, parse_float=Decimal)
    except ValueError:
        return None


def _shown(value: Any) -> str:
    """A decoded JSON value as the API sent it: strings quoted, numbers marked as such."""
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        return f"{value} (a JSON number)"
    return f"{value!r}"


def _field(doc: Any, name: str) -> Any:
    return doc.get(name) if isinstance(doc, Mapping) else None


@pytest.mark.spark_check("RT-06")
def test_rt06_prices_exact_on_tick_grid(
    http: httpx.Client, api_urls: list[str], db: Any, schema: Any, evidence: Recorder
) -> None:
    """Quotes sit on the grid as strings; on-grid orders round-trip exactly; off-grid is refused.

    Every probe order is passive (a buy at or below the bid, a sell at or above
    the ask) and placed under schema.test_account only.
    """
    account = probe_account(schema, evidence)  # schema.test_account only, never a customer's
    problems: list[Problem] = []
    grids: dict[str, Grid] = {}
    for base in api_urls:
        resp = get(http, f"{base}/quotes")
        if resp.status != 200:
            raise ProbeError(f"{resp.url} answered HTTP {resp.status}, expected 200")
        evidence.observe("quotes", {"url": resp.url, "body": resp.body.decode("utf-8", "replace")})
        quotes = _field(_loads(resp.body), "quotes")
        if not isinstance(quotes, list) or not quotes:
            raise ProbeError(f"{resp.url} lists no quotes")
        for quote in quotes:
            found = _quote_findings(quote)
            problems += _fail_messages(found, resp.url)
            grid = _grid(quote) if isinstance(quote, Mapping) and not found else None
            if grid is not None:
                grids.setdefault(grid.symbol, grid)
    if not grids:
        raise ProbeError("no quote with a usable tick/lot grid to build test orders from")
    evidence.observe("grids", {s: g.__dict__ for s, g in grids.items()})
    try:  # imported here, after the target answered: it costs ~1 s the first time
        from hypothesis import HealthCheck, Phase, given, settings
        from hypothesis import strategies as st
    except ImportError:  # pragma: no cover - hypothesis is a dependency of the suite
        raise ProbeError("RT-06 needs hypothesis installed (pip install hypothesis)") from None

    cases: list[dict[str, Any]] = []
    table = quote_qualified(schema["orders_table"])
    stored_sql = f"SELECT price, quantity FROM {table} WHERE id = %(id)s"
    with db() as conn:  # read-only: the orders are written through the API only

        def round_trip(grid: Grid, k: int, side: str) -> None:
            n = len(cases)
            post_to, read_from = api_urls[n % len(api_urls)], api_urls[(n + 1) % len(api_urls)]
            body = {
                "account": account,
                "symbol": grid.symbol,
                "side": side,
                "price": grid.price(k),
                "quantity": grid.quantity(),
            }
            resp, doc, key = _post_order(http, post_to, body)
            case: dict[str, Any] = {"request": body, "idempotency_key": key, "post_to": post_to}
            case["post"] = {"status": resp.status, "body": resp.body.decode("utf-8", "replace")}
            cases.append(case)
            where = f"order {side} {body['quantity']} {grid.symbol} @ {body['price']}"
            if resp.status != 201 or _field(doc, "id") is None:
                detail = _field(doc, "detail") or resp.body[:200].decode("utf-8", "replace")
                problems.append(
                    (
                        f"on-grid {where} was answered HTTP {resp.status}: {detail}",
                        f"{post_to}/orders",
                    )
                )
                return
            order_id = doc["id"]
            got = get(http, f"{read_from}/orders/{order_id}")
            read = _loads(got.body) if got.status == 200 else None
            stored = rows(conn, stored_sql, {"id": order_id})
            case["get"] = {"url": got.url, "status": got.status, "body": got.body.decode()}
            case["db"] = {"sql": stored_sql, "id": order_id, "rows": stored}
            for name in ("price", "quantity"):
                sent = body[name]
                for label, value in (
                    (f"POST {post_to}/orders", _field(doc, name)),
                    (f"GET {got.url}", _field(read, name)),
                ):
                    if value != sent:
                        problems.append(
                            (f"{where}: {name} {sent} came back as {_shown(value)}", label)
                        )
                column = stored[0][name] if stored else None
                if not isinstance(column, Decimal) or column != Decimal(sent):
                    problems.append(
                        (
                            f"{where}: {name} {sent} is stored as {column!s} in "
                            f"{schema['orders_table']}.{name} (id {order_id})",
                            "",
                        )
                    )

        symbols = sorted(grids)

        @settings(
            max_examples=RT06_EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            phases=(Phase.explicit, Phase.generate),
            suppress_health_check=[HealthCheck.too_slow],
            report_multiple_bugs=False,
        )
        @given(data=st.data())
        def generated_orders(data: Any) -> None:
            grid = grids[data.draw(st.sampled_from(symbols), label="symbol")]
            side = data.draw(st.sampled_from(grid.sides()), label="side")
            k = data.draw(st.integers(*grid.ticks(side)), label="ticks")
            round_trip(grid, k, side)

        generated_orders()

    evidence.observe("round_trips", cases)

    # off-grid orders are passive too: should the API wrongly accept one, it must not trade
    grid = grids[symbols[0]]
    side = grid.sides()[0]
    passive_k = grid.ticks(side)[1 if side == "buy" else 0]  # the bid, or the ask
    half_lot = f"{grid.lot * Decimal('1.5'):.{Grid.places(grid.lot) + 1}f}"
    off_grid = [
        ("price", grid.off_tick(side), grid.quantity(), f"tick {grid.tick}"),
        ("quantity", grid.price(passive_k), half_lot, f"lot {grid.lot}"),
    ]
    for name, price, quantity, step in off_grid:
        body = {
            "account": account,
            "symbol": grid.symbol,
            "side": side,
            "price": price,
            "quantity": quantity,
        }
        resp, _doc, key = _post_order(http, api_urls[0], body)
        evidence.observe(
            "off_grid",
            {
                "request": body,
                "idempotency_key": key,
                "status": resp.status,
                "body": resp.body.decode("utf-8", "replace"),
            },
        )
        if not 400 <= resp.status < 500:
            problems.append(
                (
                    f"off-grid {name} {body[name]} ({grid.symbol}, {step}) was answered "
                    f"HTTP {resp.status}, expected a 4xx rejection",
                    f"{api_urls[0]}/orders",
                )
            )
    assert not problems, _summary(problems)


# --------------------------------------------------------------------- BS-07 / PF-07


@pytest.mark.spark_check("BS-07")
def test_bs07_new_flags_off_kill_switches_exist(
    http: httpx.Client, api_urls: list[str], release: Any, evidence: Recorder
) -> None:
    """On every instance each flag new in this release is OFF and each kill switch exists."""
    manifest = {
        "new_flags": list(release["new_flags"]),
        "kill_switches": list(release["kill_switches"]),
    }
    evidence.observe("manifest", manifest)
    empty = flags.empty_manifest(**manifest)
    if empty:
        raise ProbeError(empty)
    problems: list[Problem] = []
    for url, doc in _json_docs(http, api_urls, "/flags").items():
        evidence.observe("flags", {"url": f"{url}/flags", "body": doc})
        found = flags.manifest_findings(doc, url, **manifest)
        evidence.observe("findings", {"url": url, "findings": [f.to_dict() for f in found]})
        problems += _fail_messages(found)
    assert not problems, _summary(problems)


@pytest.mark.spark_check("PF-07")
def test_pf07_flag_snapshot_same_and_fresh(
    http: httpx.Client, api_urls: list[str], thresholds: Any, evidence: Recorder
) -> None:
    """All instances serve the same flag snapshot version, none older than the threshold."""
    max_age = float(thresholds["flag_snapshot_max_age_s"])
    docs = _json_docs(http, api_urls, "/flags")
    now = dt.datetime.now(dt.UTC)
    found, seen = flags.snapshot_findings(docs, now=now, max_age_s=max_age)
    evidence.observe(
        "snapshots",
        {"local_utc": now.isoformat(), "max_age_s": max_age, "instances": seen},
    )
    evidence.observe("findings", [f.to_dict() for f in found])
    problems = _fail_messages(found)
    assert not problems, _summary(problems)


# --------------------------------------------------------------------- PF-01


def _release_version(spark_config: SparkConfig) -> str:
    version = identity.normalize_version(spark_config.release["version"] or "")
    if not version:
        raise ProbeError("no release version to compare with: pass --release (e.g. v1.4.0)")
    return version


@pytest.mark.spark_check("PF-01")
def test_pf01_instances_run_the_release(
    http: httpx.Client, api_urls: list[str], spark_config: SparkConfig, evidence: Recorder
) -> None:
    """Every instance's /version is the release (and git sha), and all instances agree."""
    version = _release_version(spark_config)
    git_sha = spark_config.release["git_sha"]
    evidence.observe("expected", {"version": version, "git_sha": git_sha or None})
    docs = _json_docs(http, api_urls, "/version")
    evidence.observe("instances", docs)
    found = identity.identity_findings(docs, version=version, git_sha=git_sha)
    evidence.observe("findings", [f.to_dict() for f in found])
    problems = _fail_messages(found)
    assert not problems, _summary(problems)


# --------------------------------------------------------------------- BS-09 / RT-10


def _sbom_path(spark_config: SparkConfig) -> str:
    path = spark_config.release["sbom"]
    if not path:
        raise ProbeError(
            "no release.sbom configured: set release.sbom in spark.toml (or use --spark-sandbox)"
        )
    return str(path)


@pytest.mark.spark_check("BS-09")
def test_bs09_sbom_valid_cyclonedx_for_release(
    spark_config: SparkConfig, evidence: Recorder
) -> None:
    """The release SBOM exists, is schema-valid CycloneDX 1.6, names the release, has purls."""
    path = _sbom_path(spark_config)
    service = spark_config.release["service"]
    version = _release_version(spark_config)
    evidence.observe("expected", {"path": path, "service": service, "version": version})
    sbom_file = sbom_probe.read(path)
    assert sbom_file is not None, f"release SBOM {path} does not exist"
    evidence.observe(
        "sbom", {"path": path, "sha256": sbom_file.sha256, "bytes": len(sbom_file.raw)}
    )
    assert sbom_file.doc is not None, f"release SBOM {path} is {sbom_file.json_error}"
    errors = sbom_probe.schema_errors(sbom_file.doc)
    evidence.observe("schema", {"schema": "CycloneDX 1.6 (strict, offline)", "errors": errors})
    problems: list[Problem] = []
    if errors:
        problems.append((f"SBOM {path} is not valid CycloneDX 1.6: {'; '.join(errors[:3])}", ""))
    doc = sbom_file.doc if isinstance(sbom_file.doc, Mapping) else {}
    root = sbom_rules.root_component(doc)
    evidence.observe("metadata.component", root)
    found = sbom_rules.format_findings(doc)
    found += sbom_rules.release_findings(doc, service=service, version=version)
    found += sbom_rules.purl_findings(doc)
    evidence.observe("findings", [f.to_dict() for f in found])
    problems += _fail_messages(found)
    assert not problems, _summary(problems)


@pytest.mark.spark_check("RT-10")
def test_rt10_sbom_attached_and_matches_running_build(
    http: httpx.Client, api_urls: list[str], spark_config: SparkConfig, evidence: Recorder
) -> None:
    """The SBOM goes into the evidence with its digest, and its build is the one that runs."""
    path = _sbom_path(spark_config)
    docs = _json_docs(http, api_urls, "/version")
    evidence.observe("instances", docs)
    sbom_file = sbom_probe.read(path)
    assert sbom_file is not None, f"release SBOM {path} does not exist: nothing to attach"
    attached = evidence.attach(Path(path).name or "sbom.json", sbom_file.raw)
    evidence.observe(
        "sbom",
        {
            "path": path,
            "sha256": f"sha256:{sbom_file.sha256}",
            "bytes": len(sbom_file.raw),
            "attached_as": attached,
        },
    )
    assert isinstance(sbom_file.doc, Mapping), f"release SBOM {path} is not a JSON object"
    doc = sbom_file.doc
    root = sbom_rules.root_component(doc) or {}
    build = sbom_rules.build_property(doc, "id")
    built_at = sbom_rules.build_property(doc, "time")
    evidence.observe(
        "comparison",
        {
            "sbom": {
                "version": root.get("version"),
                "bom-ref": root.get("bom-ref"),
                "purl": root.get("purl"),
                "build_id": dict([build]) if build else None,
                "build_time": dict([built_at]) if built_at else None,
            },
            "running": {url: {k: _field(d, k) for k in identity.FIELDS} for url, d in docs.items()},
        },
    )
    found = sbom_rules.running_findings(doc, docs)
    evidence.observe("findings", [f.to_dict() for f in found])
    problems = _fail_messages(found)
    assert not problems, _summary(problems)
