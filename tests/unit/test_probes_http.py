"""probes.http: every call has ONE deadline (connect to last byte) and a size cap.

Observed inputs of issue 8 section 1 and their siblings, against real sockets
(tests/hang_servers.py): a body trickled at 1 byte/s, headers trickled, an
endless body, oversized bodies (declared, chunked, gzip-decoded), a server that
never answers. The Prometheus and Alertmanager clients go through the same
place. ``timeout`` marks only keep a regression from hanging the suite; how long
each case really takes is measured by benchmarks/hang_cases.py.
"""

from __future__ import annotations

import contextlib
import gzip
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hang_servers import http_server

from pytest_spark.probes import ProbeError, TimedOut, TooLarge
from pytest_spark.probes.alertmanager import Alertmanager
from pytest_spark.probes.http import MIB, get, make_client, request
from pytest_spark.probes.prometheus import Prometheus

DEADLINE = 0.5
pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def opened() -> Iterator[Callable[[Any], Any]]:
    """``opened(cm)``: enter a context manager for the rest of the test."""
    with contextlib.ExitStack() as stack:
        yield stack.enter_context


@pytest.fixture
def serve(opened: Callable[[Any], Any]) -> Callable[[str], str]:
    """``serve(kind)``: base URL of a hang_servers.http_server of that kind."""
    return lambda kind: opened(http_server(kind))


def test_a_healthy_answer_is_kept_as_received(serve, opened) -> None:
    base, client = serve("ok"), opened(make_client(timeout=DEADLINE))
    resp = get(client, f"{base}/version")
    assert resp.status == 200
    assert resp.json() == {"ok": True}
    assert ("Content-Type", "application/json") in resp.headers


@pytest.mark.parametrize("kind", ["gzip", "deflate"])
def test_a_compressed_answer_is_decoded(kind, serve, opened) -> None:
    base, client = serve(kind), opened(make_client(timeout=DEADLINE))
    resp = get(client, f"{base}/version")
    assert resp.json() == {"ok": True}
    assert resp.header("content-encoding") == kind  # headers stay as received


@pytest.mark.parametrize("kind", ["trickle-body", "trickle-headers", "silent"])
def test_a_trickling_or_silent_server_times_out_at_the_total_deadline(kind, serve, opened) -> None:
    base, client = serve(kind), opened(make_client(timeout=DEADLINE))
    with pytest.raises(TimedOut) as err:
        get(client, f"{base}/version")
    assert str(err.value) == f"timed out after {DEADLINE} s talking to {base}/version"


def test_a_post_to_a_trickling_server_times_out_too(serve, opened) -> None:
    base, client = serve("trickle-body"), opened(make_client(timeout=DEADLINE))
    with pytest.raises(TimedOut, match=r"timed out after 0\.5 s talking to"):
        request(client, "POST", f"{base}/orders", json={"side": "buy"})


@pytest.mark.parametrize(
    ("kind", "cap_mib"),
    [("endless-body", 1), ("oversized", 1), ("oversized-chunked", 1), ("gzip-bomb", 16)],
)
def test_a_body_beyond_the_cap_is_refused_without_buffering_it(kind, cap_mib, serve, opened):
    base, client = serve(kind), opened(make_client(timeout=5, max_bytes=cap_mib * MIB))
    with pytest.raises(TooLarge) as err:
        get(client, f"{base}/")
    assert str(err.value).startswith(f"response from {base}/ exceeded {cap_mib} MiB")


def test_the_cap_counts_the_decoded_body(serve, opened) -> None:
    """The gzip bomb is 64 KiB on the wire: only its decoded size exceeds a 1 MiB cap."""
    assert len(gzip.compress(b"\0" * 64 * MIB)) < MIB
    base, client = serve("gzip-bomb"), opened(make_client(timeout=5, max_bytes=MIB))
    with pytest.raises(TooLarge, match="exceeded 1 MiB"):
        get(client, f"{base}/")


def test_a_fractional_cap_is_named_as_configured(serve, opened) -> None:
    base, client = serve("oversized-chunked"), opened(make_client(timeout=5, max_bytes=MIB // 2))
    with pytest.raises(TooLarge, match=r"exceeded 0\.5 MiB"):
        get(client, f"{base}/")


def test_refused_port_is_cannot_reach(opened) -> None:
    client = opened(make_client(timeout=DEADLINE))
    with pytest.raises(ProbeError, match=r"cannot reach http://127\.0\.0\.1:9/"):
        get(client, "http://127.0.0.1:9/")


def test_a_client_needs_a_positive_deadline_and_cap() -> None:
    with pytest.raises(ValueError):
        make_client(timeout=0)
    with pytest.raises(ValueError):
        make_client(timeout=1, max_bytes=0)


# --- Prometheus (prometheus-api-client over requests) and Alertmanager: the same place


@pytest.mark.parametrize("kind", ["trickle-body", "trickle-headers", "silent"])
def test_prometheus_queries_time_out_at_the_total_deadline(kind, serve, opened) -> None:
    base = serve(kind)
    prom = opened(Prometheus(base, timeout=DEADLINE))
    with pytest.raises(TimedOut) as err:
        prom.query("time()")
    assert str(err.value) == f"timed out after {DEADLINE} s talking to Prometheus at {base}"
    with pytest.raises(TimedOut, match="talking to Prometheus at"):
        prom.api("targets", {"state": "active"})


@pytest.mark.parametrize("kind", ["endless-body", "oversized", "gzip-bomb"])
def test_prometheus_answers_beyond_the_cap_are_refused(kind, serve, opened) -> None:
    base = serve(kind)
    prom = opened(Prometheus(base, timeout=5, max_bytes=MIB))
    with pytest.raises(TooLarge, match=rf"response from {base}/api/v1/query\S* exceeded 1 MiB"):
        prom.query("time()")
    with pytest.raises(TooLarge, match="exceeded 1 MiB"):
        prom.api("rules")


def test_prometheus_json_goes_through_the_adapter(serve, opened) -> None:
    prom = opened(Prometheus(serve("ok"), timeout=DEADLINE))
    with pytest.raises(ProbeError, match="None: None"):  # {"ok": true} is no success answer
        prom.api("targets")


@pytest.mark.parametrize("kind", ["trickle-body", "trickle-headers", "silent"])
def test_alertmanager_times_out_at_the_total_deadline(kind, serve, opened) -> None:
    base = serve(kind)
    am = opened(Alertmanager(base, timeout=DEADLINE))
    with pytest.raises(TimedOut, match=rf"timed out after 0\.5 s talking to {base}/-/ready"):
        am.ready()
    with pytest.raises(TimedOut, match="/api/v2/silences"):
        am.silences()


def test_alertmanager_endless_body_is_refused(serve, opened) -> None:
    base = serve("endless-body")
    am = opened(Alertmanager(base, timeout=5, max_bytes=MIB))
    with pytest.raises(TooLarge, match=rf"response from {base}/api/v2/status exceeded 1 MiB"):
        am.status()
