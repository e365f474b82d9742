"""BS-01 clock agreement and PF-02 NTP rules."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_spark.rules import clocks
from pytest_spark.rules.clocks import ClockReading, NtpSample
from pytest_spark.rules.findings import codes, failures

NOW = 1_764_115_200.25  # 2025-11-26 00:00:00.25 UTC


def test_max_pairwise_skew_names_the_pair():
    readings = {"local": NOW, "api_date": NOW - 0.2, "db": NOW + 0.05, "prometheus": NOW + 0.1}
    skew, pair = clocks.max_pairwise_skew(readings)
    assert skew == pytest.approx(0.3)
    assert pair == ("api_date", "prometheus")
    assert clocks.max_pairwise_skew({"local": NOW}) == (0.0, ("", ""))
    assert clocks.max_pairwise_skew({"a": NOW, "b": math.nan, "c": NOW + 2})[1] == ("a", "c")


def test_reading_from_truncated_http_date():
    # Request sent at NOW, answered 40 ms later; the server's Date says the whole second.
    r = clocks.reading(math.floor(NOW), NOW, NOW + 0.04, resolution=1.0, truncated=True)
    assert r.offset == pytest.approx(math.floor(NOW) + 0.5 - (NOW + 0.02), abs=1e-6)
    assert r.uncertainty == pytest.approx(0.02 + 0.5, abs=1e-6)
    db = clocks.reading(NOW + 0.011, NOW, NOW + 0.02)
    # Epoch-sized floats carry ~2e-7 s of rounding, hence the absolute tolerance.
    assert db.offset == pytest.approx(0.001, abs=1e-6)
    assert db.uncertainty == pytest.approx(0.01, abs=1e-6)


def test_healthy_clocks_pass_despite_date_truncation():
    date = clocks.parse_http_date("Wed, 26 Nov 2025 00:00:00 GMT")
    assert date == math.floor(NOW)
    readings = {
        "local": ClockReading(0.0),
        "api_date": clocks.reading(date, NOW - 0.01, NOW + 0.01, resolution=1.0, truncated=True),
        "db": clocks.reading(NOW + 0.002, NOW - 0.003, NOW + 0.003),
        "prometheus": clocks.reading(NOW - 0.004, NOW - 0.005, NOW + 0.005),
    }
    assert clocks.skew_findings(readings, max_skew=1.0) == []


def test_fault_api_five_seconds_ahead():
    date = clocks.parse_http_date("Wed, 26 Nov 2025 00:00:05 GMT")
    readings = {
        "local": ClockReading(0.0),
        "api_date": clocks.reading(date, NOW - 0.01, NOW + 0.01, resolution=1.0, truncated=True),
        "db": clocks.reading(NOW, NOW - 0.003, NOW + 0.003),
    }
    findings = clocks.skew_findings(readings)
    assert codes(findings) == ["clock-skew", "clock-skew"]
    assert "between local and api_date is 5.250 s" in findings[0].message
    assert "api_date and db" in findings[1].message


def test_uncertainty_prevents_false_alarms_but_not_real_ones():
    # 1.5 s apart but each reading is only known to +-0.5 s: not certain.
    uncertain = {"a": ClockReading(0.0, 0.5), "b": ClockReading(1.5, 0.5)}
    assert clocks.skew_findings(uncertain) == []
    certain = {"a": ClockReading(0.0, 0.1), "b": ClockReading(1.5, 0.1)}
    assert codes(clocks.skew_findings(certain)) == ["clock-skew"]
    assert codes(clocks.skew_findings({"a": 0.0, "b": 1.01})) == ["clock-skew"]


def test_skew_input_problems():
    assert codes(clocks.skew_findings({"a": 0.0})) == ["clock-too-few"]
    findings = clocks.skew_findings({"a": 0.0, "b": math.nan, "c": ClockReading(0.0, -1)})
    assert codes(findings) == ["clock-invalid-b", "clock-invalid-c", "clock-too-few"]


@pytest.mark.parametrize(
    "value", ["", "yesterday", "Wed, 26 Nov 2025 00:00:00 -0000", "Wed, 99 Nov 2025"]
)
def test_parse_http_date_rejects_garbage(value):
    assert clocks.parse_http_date(value) is None


# --- NTP --------------------------------------------------------------------------------------


def sample(
    offset: float = 0.002, delay: float = 0.001, stratum: int = 2, leap: int = 0
) -> NtpSample:
    t1 = NOW
    t2 = t1 + delay / 2 + offset
    t3 = t2 + 0.0001
    t4 = t3 - offset + delay / 2
    return NtpSample("127.0.0.1:12300", t1, t2, t3, t4, stratum, leap)


def test_offset_and_delay_formulas():
    # RFC 4330 example shape: server 10 s ahead, 0.2 s round trip, 0.1 s processing.
    assert clocks.ntp_offset(100.0, 110.1, 110.2, 100.3) == pytest.approx(10.0)
    assert clocks.ntp_delay(100.0, 110.1, 110.2, 100.3) == pytest.approx(0.2)
    s = sample(offset=0.5, delay=0.01)
    assert s.offset == pytest.approx(0.5, abs=1e-6) and s.delay == pytest.approx(0.01, abs=1e-6)


def test_healthy_ntp_sample_passes():
    assert clocks.evaluate_ntp(sample()) == []


def test_fault_client_clock_skewed():
    [finding] = clocks.evaluate_ntp(sample(offset=-5.0))
    assert finding.code == "ntp-offset"
    assert "-5000.000 ms" in finding.message and "100 ms" in finding.message
    # Tighter tiers are a parameter (MiFID II RTS 25: 1 ms).
    assert codes(clocks.evaluate_ntp(sample(offset=0.002), max_offset=0.001)) == ["ntp-offset"]


@pytest.mark.parametrize(("stratum", "bad"), [(0, True), (1, False), (15, False), (16, True)])
def test_stratum_range(stratum, bad):
    assert ("ntp-stratum" in codes(clocks.evaluate_ntp(sample(stratum=stratum)))) is bad


def test_leap_alarm_and_negative_delay():
    assert codes(clocks.evaluate_ntp(sample(leap=3))) == ["ntp-leap-alarm"]
    assert clocks.evaluate_ntp(sample(leap=1)) == []  # a scheduled leap second is fine
    # Server claims to have held the packet longer than the whole round trip.
    weird = NtpSample("x", NOW, NOW + 1, NOW + 2, NOW + 0.1, 2)
    findings = clocks.evaluate_ntp(weird, max_offset=10)
    assert codes(findings) == ["ntp-negative-delay"] and failures(findings) == []
    assert codes(clocks.evaluate_ntp(NtpSample("x", NOW, math.inf, NOW, NOW, 2))) == [
        "ntp-sample-invalid"
    ]


def test_servers_at_least_one_answers():
    good = sample()
    findings = clocks.evaluate_ntp_servers({"a": good, "b": TimeoutError("timed out after 1 s")})
    assert codes(findings) == ["ntp-no-answer"] and failures(findings) == []
    assert "timed out after 1 s" in findings[0].message
    findings = clocks.evaluate_ntp_servers({"a": None, "b": OSError("refused")})
    assert codes(failures(findings)) == ["ntp-no-server"]
    assert codes(clocks.evaluate_ntp_servers({})) == ["ntp-no-server"]


def test_from_ntplib_stats_and_evidence():
    stats = SimpleNamespace(
        orig_time=NOW,
        recv_time=NOW + 0.0105,
        tx_time=NOW + 0.0106,
        dest_time=NOW + 0.0011,
        stratum=3,
        leap=0,
        root_delay=0.004,
        root_dispersion=0.002,
    )
    s = NtpSample.from_ntplib("ntp1", stats)
    assert s.stratum == 3 and s.offset == pytest.approx(0.01, abs=1e-6)
    assert s.root_distance == pytest.approx((0.004 + s.delay) / 2 + 0.002)
    record = s.to_dict()
    assert set(record) == {"server", "t1", "t2", "t3", "t4", "offset", "delay", "stratum", "leap",
                           "root_delay", "root_dispersion", "root_distance"}  # fmt: skip


# --- properties --------------------------------------------------------------------------------

_T = st.floats(min_value=1e9, max_value=2e9, allow_nan=False)
_D = st.floats(min_value=-100, max_value=100, allow_nan=False)


@given(_T, _D, _D, _D, _D)
def test_offset_symmetry(t1, a, b, c, shift):
    t2, t3, t4 = t1 + a, t1 + a + abs(b), t1 + c
    offset = clocks.ntp_offset(t1, t2, t3, t4)
    delay = clocks.ntp_delay(t1, t2, t3, t4)
    # Exchanging the roles of the two clocks negates both numbers.
    assert clocks.ntp_offset(t2, t1, t4, t3) == pytest.approx(-offset, abs=1e-6)
    assert clocks.ntp_delay(t2, t1, t4, t3) == pytest.approx(-delay, abs=1e-6)
    # Skewing the server clock by `shift` moves the offset by exactly that, not the delay.
    assert clocks.ntp_offset(t1, t2 + shift, t3 + shift, t4) == pytest.approx(
        offset + shift, abs=1e-6
    )
    assert clocks.ntp_delay(t1, t2 + shift, t3 + shift, t4) == pytest.approx(delay, abs=1e-6)
    # Shifting every timestamp (same skew on both sides) changes nothing.
    moved = (t1 + shift, t2 + shift, t3 + shift, t4 + shift)
    assert clocks.ntp_offset(*moved) == pytest.approx(offset, abs=1e-6)


@given(_T, st.floats(-10, 10), st.floats(0, 1), st.floats(0, 0.1))
def test_offset_recovers_a_true_skew_on_symmetric_paths(t1, skew, delay, processing):
    t2 = t1 + delay / 2 + skew
    t3 = t2 + processing
    t4 = t3 - skew + delay / 2
    assert clocks.ntp_offset(t1, t2, t3, t4) == pytest.approx(skew, abs=1e-5)
    assert clocks.ntp_delay(t1, t2, t3, t4) == pytest.approx(delay, abs=1e-5)


@given(st.dictionaries(st.text(max_size=5), st.floats(-1e6, 1e6), min_size=2, max_size=6))
def test_max_skew_is_max_of_pairs(readings):
    skew, (lo, hi) = clocks.max_pairwise_skew(readings)
    values = list(readings.values())
    assert skew == max(values) - min(values)
    assert readings[hi] - readings[lo] == skew
    has = "clock-skew" in codes(clocks.skew_findings(readings, max_skew=1.0))
    assert has is (skew > 1.0)


@given(st.text(max_size=60))
def test_parse_http_date_never_raises(text):
    clocks.parse_http_date(text)


@pytest.mark.parametrize(
    ("root_delay", "root_dispersion", "flagged"),
    [(0.0, 0.0, False), (0.02, 0.01, False), (0.0, 65536.0, True), (1.8, 0.2, True),
     (0.0, math.nan, True), (0.0, math.inf, True)],
)  # fmt: skip
def test_a_server_that_admits_it_may_be_far_off_is_not_trusted(
    root_delay, root_dispersion, flagged
):
    """Review finding 4: root dispersion 65536 s (18 h) with leap 0 and stratum 2 was a
    pass. RFC 5905's MAXDIST (1 s) bounds the root distance a client accepts."""
    s = NtpSample("x", NOW, NOW + 0.001, NOW + 0.001, NOW + 0.002, 2, 0, root_delay,
                  root_dispersion)  # fmt: skip
    found = codes(clocks.evaluate_ntp(s))
    assert ("ntp-root-distance" in found) == flagged
    assert codes(clocks.evaluate_ntp(s, max_root_distance=1e6)) == (
        ["ntp-root-distance"] if not math.isfinite(root_dispersion) else []
    )
