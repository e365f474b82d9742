"""The fault proxy's pure scheduling rules: validation, delays, order, bandwidth, expiry."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_spark.chaos.proxy import (
    MAX_FAULT_S,
    FaultError,
    Lane,
    chunk_delay_s,
    parse_fault,
)


def test_duration_is_required_so_every_fault_reverts_by_itself() -> None:
    with pytest.raises(FaultError, match="duration_s is required"):
        parse_fault({"latency_ms": 500}, 0.0)


def test_duration_is_capped_by_the_hard_limit() -> None:
    with pytest.raises(FaultError, match="duration_s must be within"):
        parse_fault({"latency_ms": 1, "duration_s": MAX_FAULT_S + 1}, 0.0)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"mode": "drop", "duration_s": 1}, "mode must be one of"),
        ({"direction": "sideways", "duration_s": 1}, "direction must be one of"),
        ({"latency_ms": "500", "duration_s": 1}, "latency_ms must be a number"),
        ({"latency_ms": True, "duration_s": 1}, "latency_ms must be a number"),
        ({"latency_ms": -1, "duration_s": 1}, "latency_ms must be within"),
        ({"bandwidth_bps": 0, "duration_s": 1}, "bandwidth_bps must be within"),
        ({"latency": 5, "duration_s": 1}, "unknown fields: latency"),
        ([], "must be a JSON object"),
    ],
)
def test_bad_fault_requests_are_refused_naming_the_field(body: object, problem: str) -> None:
    with pytest.raises(FaultError, match=problem):
        parse_fault(body, 0.0)


def test_fault_expires_at_its_deadline() -> None:
    fault = parse_fault({"latency_ms": 500, "duration_s": 2}, 100.0)
    assert fault.active(101.999)
    assert not fault.active(102.0)
    rng = random.Random(1)
    assert chunk_delay_s(fault, "down", 101.0, rng) == 0.5
    assert chunk_delay_s(fault, "down", 102.5, rng) == 0.0


def test_direction_limits_where_latency_applies() -> None:
    rng = random.Random(1)
    down = parse_fault({"latency_ms": 500, "duration_s": 5}, 0.0)
    both = parse_fault({"latency_ms": 500, "duration_s": 5, "direction": "both"}, 0.0)
    assert chunk_delay_s(down, "up", 1.0, rng) == 0.0
    assert chunk_delay_s(down, "down", 1.0, rng) == 0.5
    assert chunk_delay_s(both, "up", 1.0, rng) == 0.5


def test_reset_and_blackhole_add_no_delay() -> None:
    rng = random.Random(1)
    for mode in ("reset", "blackhole"):
        fault = parse_fault({"mode": mode, "latency_ms": 500, "duration_s": 5}, 0.0)
        assert chunk_delay_s(fault, "down", 1.0, rng) == 0.0


@given(
    latency=st.floats(0, 2000),
    jitter=st.floats(0, 2000),
    seed=st.integers(0, 2**32),
)
def test_jitter_stays_within_latency_plus_minus_jitter_and_never_negative(
    latency: float, jitter: float, seed: int
) -> None:
    fault = parse_fault({"latency_ms": latency, "jitter_ms": jitter, "duration_s": 5}, 0.0)
    delay = chunk_delay_s(fault, "down", 1.0, random.Random(seed))
    assert 0.0 <= delay <= (latency + jitter) / 1000.0 + 1e-12
    assert delay >= (latency - jitter) / 1000.0 - 1e-12


@given(
    chunks=st.lists(
        st.tuples(st.floats(0, 1), st.integers(1, 65536), st.floats(0, 2)), min_size=1, max_size=30
    ),
    bandwidth=st.one_of(st.none(), st.floats(1000, 1e7)),
)
def test_lane_keeps_byte_order_and_never_sends_early(
    chunks: list[tuple[float, int, float]], bandwidth: float | None
) -> None:
    """Due times never go backwards (a TCP stream must not reorder) and never precede
    read time + delay; under a cap, the link carries at most bandwidth bytes per second."""
    lane, now, last, sent = Lane(), 0.0, 0.0, 0
    first = None
    for gap, nbytes, delay in chunks:
        now += gap
        due = lane.due(now, nbytes, delay, bandwidth)
        first = now if first is None else first
        assert due >= last
        assert due >= now + delay - 1e-9
        last, sent = due, sent + nbytes
        if bandwidth:
            assert sent / bandwidth <= due - first + 1e-6


def test_bandwidth_cap_paces_back_to_back_chunks() -> None:
    lane = Lane()
    assert lane.due(0.0, 1000, 0.0, 1000.0) == pytest.approx(1.0)
    assert lane.due(0.0, 1000, 0.0, 1000.0) == pytest.approx(2.0)
    assert lane.due(5.0, 500, 0.0, 1000.0) == pytest.approx(5.5)  # the link was idle


def test_latency_does_not_accumulate_over_pipelined_chunks() -> None:
    """Two chunks read 10 ms apart with 500 ms latency leave 10 ms apart, not 1 s."""
    lane = Lane()
    assert lane.due(0.0, 10, 0.5, None) == pytest.approx(0.5)
    assert lane.due(0.01, 10, 0.5, None) == pytest.approx(0.51)
