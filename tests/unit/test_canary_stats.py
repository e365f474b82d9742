"""The canary-vs-baseline statistics on known samples, and their invariants.

Expected p-values come from the tests' definitions, computed independently of
our wrappers: the one-sided Fisher p-value is the hypergeometric upper tail
(Fisher 1935), the conditional Poisson p-value the binomial upper tail
(Przyborowski & Wilenski 1940), both summed here with math.comb.
"""

from __future__ import annotations

import math
import random

from hypothesis import given
from hypothesis import strategies as st

from pytest_spark.canary import stats


def _hypergeom_upper(x: int, n1: int, k: int, n: int) -> float:
    """P(X >= x), X ~ Hypergeometric(population n, n1 drawn, k successes)."""
    return sum(
        math.comb(k, i) * math.comb(n - k, n1 - i) for i in range(x, min(k, n1) + 1)
    ) / math.comb(n, n1)


def _binom_upper(x: int, k: int, p: float) -> float:
    return sum(math.comb(k, i) * p**i * (1 - p) ** (k - i) for i in range(x, k + 1))


# --- latency (Mann-Whitney U)


def test_identical_latency_distributions_pass() -> None:
    rng = random.Random(7)
    buckets = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2)
    a = [rng.choice(buckets) for _ in range(400)]
    b = [rng.choice(buckets) for _ in range(400)]
    c = stats.compare_latency("latency_p95", a, b, min_n=30)
    assert c.decision == stats.PASS, c.reason
    assert c.p_value is not None and c.p_value > 0.01
    assert abs(c.effect or 0) < 0.15


def test_shifted_latency_fails_with_p_value_and_effect() -> None:
    base = [0.01, 0.025, 0.05] * 100
    slow = [0.5, 1.0, 0.5] * 20  # the canary-latency fault: +0.5 s
    c = stats.compare_latency("latency_p95", slow, base, min_n=20)
    assert c.decision == stats.FAIL
    assert c.p_value is not None and c.p_value < 1e-6
    assert c.effect == 1.0  # every canary request slower than every baseline one
    assert "Mann-Whitney" in c.reason and "Cliff's delta=1.000" in c.reason


def test_faster_canary_is_not_a_failure() -> None:
    c = stats.compare_latency("latency_p95", [0.01] * 50, [0.5] * 50, min_n=20)
    assert c.decision == stats.PASS and c.effect == -1.0


def test_all_samples_in_one_bucket_is_identical() -> None:
    c = stats.compare_latency("latency_p95", [0.05] * 40, [0.05] * 400, min_n=20)
    assert (c.decision, c.p_value, c.effect) == (stats.PASS, 1.0, 0.0)


def test_tiny_latency_samples_are_inconclusive() -> None:
    c = stats.compare_latency("latency_p95", [5.0, 5.0], [0.01] * 500, min_n=20)
    assert c.decision == stats.INCONCLUSIVE
    assert "2 canary / 500 baseline samples, need 20" in c.reason


def test_small_but_significant_shift_is_only_a_warning() -> None:
    """Significant but not material (Cliff's delta below 0.33): marginal."""
    rng = random.Random(3)
    base = [rng.choice((0.01, 0.025, 0.05)) for _ in range(3000)]
    canary = [rng.choice((0.01, 0.025, 0.05, 0.05)) for _ in range(3000)]
    c = stats.compare_latency("latency_p95", canary, base, min_n=20)
    assert c.p_value is not None and c.p_value < 0.01
    assert 0 < (c.effect or 0) < stats.MATERIAL_CLIFFS_DELTA
    assert c.decision == stats.WARN


# --- buckets -> samples


def test_bucket_counts_from_cumulative_increase() -> None:
    cumulative = {0.1: 10.2, 0.2: 14.9, math.inf: 16.0, 0.05: 3.0}
    assert stats.bucket_counts(cumulative) == [(0.05, 3), (0.1, 7), (0.2, 5), (math.inf, 1)]
    samples = stats.expand(stats.bucket_counts(cumulative))
    assert len(samples) == 16 and samples[-1] == 0.4  # +Inf stands above every finite bound
    assert stats.quantile_of(stats.bucket_counts(cumulative), 0.5) == 0.1


def test_bucket_counts_never_negative_after_a_reset() -> None:
    assert stats.bucket_counts({0.1: 5.0, 0.2: 3.0, math.inf: float("nan")}) == [
        (0.1, 5),
        (0.2, 0),
        (math.inf, 0),
    ]


# --- sparse counts


def test_fisher_exact_matches_the_hypergeometric_tail() -> None:
    c = stats.compare_proportions("http_5xx", (4, 40), (1, 900), min_n=20)
    expected = _hypergeom_upper(4, 40, 5, 940)
    assert math.isclose(c.p_value or 0, expected, rel_tol=1e-9)
    assert c.decision == stats.FAIL  # 10 % vs 0.1 %: significant and material


def test_equal_error_shares_pass() -> None:
    c = stats.compare_proportions("http_5xx", (1, 100), (10, 1000), min_n=20)
    assert c.decision == stats.PASS and (c.p_value or 0) > 0.3


def test_two_tiny_counts_are_not_a_ratio() -> None:
    """1 error in 30 vs 0 in 900: the ratio is infinite, the exact test says not significant."""
    c = stats.compare_proportions("http_5xx", (1, 30), (0, 900), min_n=20)
    assert math.isclose(c.p_value or 0, 30 / 930, rel_tol=1e-9)
    assert c.decision == stats.WARN  # material share, but not significant: marginal


def test_conditional_poisson_matches_the_binomial_tail() -> None:
    c = stats.compare_rates("risk_blocks", (6, 50.0), (10, 950.0), min_n=20)
    expected = _binom_upper(6, 16, 50 / 1000)
    assert math.isclose(c.p_value or 0, expected, rel_tol=1e-9)
    assert c.decision == stats.FAIL


def test_no_events_on_either_track_pass() -> None:
    c = stats.compare_rates("csp_violations", (0, 100.0), (0, 900.0), min_n=20)
    assert (c.decision, c.p_value) == (stats.PASS, 1.0)


def test_too_few_requests_for_counts_are_inconclusive() -> None:
    c = stats.compare_proportions("http_5xx", (0, 5), (3, 900), min_n=20)
    assert c.decision == stats.INCONCLUSIVE and "5 canary / 900 baseline, need 20" in c.reason
    c = stats.compare_rates("risk_blocks", (-1, 100.0), (3, 900.0), min_n=20)
    assert c.decision == stats.INCONCLUSIVE


# --- invariants

samples = st.lists(st.sampled_from([0.005, 0.05, 0.2, 0.5, 2.0, math.inf]), max_size=60)
counts = st.integers(min_value=0, max_value=60)


@given(samples, samples, st.integers(min_value=0, max_value=40))
def test_latency_never_passes_below_the_minimum(a: list[float], b: list[float], m: int) -> None:
    a = [x for x in a if math.isfinite(x)]
    c = stats.compare_latency("latency_p95", a, b, min_n=m)
    assert c.decision in stats.DECISIONS
    if len(a) < max(m, 1) or len(b) < max(m, 1):
        assert c.decision != stats.PASS
    if c.p_value is not None:
        assert 0.0 <= c.p_value <= 1.0


@given(samples)
def test_latency_of_a_sample_against_itself_never_fails(a: list[float]) -> None:
    a = [x for x in a if math.isfinite(x)]
    c = stats.compare_latency("latency_p95", a, list(a), min_n=1)
    assert c.decision in ((stats.PASS,) if a else (stats.INCONCLUSIVE,))


@given(counts, counts, counts, counts, st.integers(min_value=0, max_value=30))
def test_count_tests_never_pass_on_nothing(x1: int, n1: int, x2: int, n2: int, m: int) -> None:
    for c in (
        stats.compare_proportions("http_5xx", (x1, n1), (x2, n2), min_n=m),
        stats.compare_rates("risk_blocks", (x1, float(n1)), (x2, float(n2)), min_n=m),
    ):
        assert c.decision in stats.DECISIONS
        if n1 == 0 or n2 == 0 or n1 < m or n2 < m:
            assert c.decision == stats.INCONCLUSIVE
        if c.p_value is not None:
            assert 0.0 <= c.p_value <= 1.0 + 1e-12


def test_worst_of_nothing_is_inconclusive() -> None:
    assert stats.worst([]) == stats.INCONCLUSIVE
    assert stats.worst([stats.PASS, stats.WARN]) == stats.WARN
    assert stats.worst([stats.INCONCLUSIVE, stats.FAIL]) == stats.FAIL


def test_exceedance_tests_match_their_tails() -> None:
    e = stats.exceeds_share(3, 25, 0.05, alpha=0.01)
    assert e.decision == stats.WARN
    assert math.isclose(e.p_value or 0, _binom_upper(3, 25, 0.05), rel_tol=1e-9)
    assert stats.exceeds_share(1, 25, 0.05, alpha=0.01).decision == stats.PASS
    assert stats.exceeds_share(0, 0, 0.05, alpha=0.01).decision == stats.INCONCLUSIVE
    r = stats.exceeds_rate(12, 0.1, 50.0, alpha=0.01)  # 12 reports in 6 s vs 50/min: 5 expected
    poisson_tail = 1 - sum(math.exp(-5) * 5**i / math.factorial(i) for i in range(12))
    assert math.isclose(r.p_value or 0, poisson_tail, rel_tol=1e-9)
    assert r.decision == stats.FAIL
