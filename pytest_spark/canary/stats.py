"""Canary vs baseline: the statistical tests behind a stage gate. Pure, no I/O.

- Latency: Mann-Whitney U (Mann & Whitney 1947, the test Kayenta's judge uses) on
  latency samples, one-sided "canary slower", with Cliff's delta as the effect
  size (Cliff 1993; |d| < 0.147 negligible, < 0.33 small, < 0.474 medium,
  else large -- Romano et al. 2006).
- Sparse proportions (5xx among requests, conflicts among idempotent requests):
  Fisher's exact test on the 2x2 table, one-sided -- exact at any count, so
  2 errors in 40 vs 1 in 900 is a p-value, not a ratio of two tiny numbers.
- Sparse counts with an exposure (risk blocks, CSP reports per request): the
  conditional test of two Poisson means (Przyborowski & Wilenski 1940,
  Biometrika 31:313; the "C-test" of Krishnamoorthy & Thomson 2004): given
  k = x_c + x_b events, x_c ~ Binomial(k, e_c / (e_c + e_b)) under equal rates,
  so ``scipy.stats.binomtest`` gives the exact p-value.

Latency samples come from the request-duration histogram (``le`` buckets) of
each track over the stage window, not from raw timings: Prometheus is the only
per-track record of every user request. Mann-Whitney U is rank-based, so the
value standing for a bucket does not matter, only its order; what is lost is the
order *inside* a bucket (ties), which makes the test conservative (a shift
smaller than one bucket width can go unseen) -- the buckets (5 ms .. 10 s, with
0.2 s and 0.25 s) bound the resolution. Ties rule out scipy's exact method, so
the asymptotic normal approximation with tie correction is used; below
``min_n`` samples per side the comparison is "inconclusive", never a pass.

Decision for every test: significant (p < alpha) AND material (effect above its
bound) -> fail; only one of the two -> warn (marginal); neither -> pass.
scipy is imported inside the functions: a preflight run never loads it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

PASS, WARN, FAIL, INCONCLUSIVE = "pass", "warn", "fail", "inconclusive"
DECISIONS = (PASS, WARN, FAIL, INCONCLUSIVE)

#: Cliff's delta at which a latency shift is material ("medium", Romano et al. 2006).
MATERIAL_CLIFFS_DELTA = 0.33
DEFAULT_ALPHA = 0.01


@dataclass(frozen=True)
class Comparison:
    """One canary-vs-baseline test with every number behind its decision."""

    metric: str
    test: str
    decision: str
    reason: str
    canary: dict[str, Any] = field(default_factory=dict)
    baseline: dict[str, Any] = field(default_factory=dict)
    statistic: float | None = None
    p_value: float | None = None
    alpha: float = DEFAULT_ALPHA
    effect: float | None = None
    effect_name: str = ""
    material_bound: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _decide(significant: bool, material: bool) -> str:
    if significant and material:
        return FAIL
    return WARN if significant or material else PASS


def _finite(*values: float) -> bool:
    return all(isinstance(v, (int, float)) and math.isfinite(v) for v in values)


# --- histogram buckets -> samples


def bucket_counts(cumulative: Mapping[float, float]) -> list[tuple[float, int]]:
    """Per-bucket counts from Prometheus's cumulative ``le`` buckets (``increase()`` over
    a window gives floats: rounded, and made monotone so a counter reset inside the
    window cannot yield a negative count). Sorted by upper bound, ``inf`` last."""
    out: list[tuple[float, int]] = []
    previous = 0
    for upper in sorted(cumulative):
        value = cumulative[upper]
        running = round(value) if _finite(value) else previous
        running = max(running, previous)
        out.append((upper, running - previous))
        previous = running
    return out


def expand(buckets: Sequence[tuple[float, int]]) -> list[float]:
    """One sample per request, at its bucket's upper bound (``+Inf`` -> twice the largest
    finite bound: only the order matters to a rank test)."""
    finite = [u for u, _ in buckets if math.isfinite(u)]
    top = 2 * max(finite) if finite else 1.0
    samples: list[float] = []
    for upper, count in buckets:
        samples.extend([upper if math.isfinite(upper) else top] * max(int(count), 0))
    return samples


def quantile_of(buckets: Sequence[tuple[float, int]], q: float) -> float | None:
    """The upper bound of the bucket holding quantile ``q`` (None without samples)."""
    total = sum(c for _, c in buckets)
    if total <= 0:
        return None
    rank = q * total
    seen = 0
    for upper, count in buckets:
        seen += count
        if seen >= rank:
            return upper
    return buckets[-1][0]


# --- the tests


def compare_latency(
    metric: str,
    canary: Sequence[float],
    baseline: Sequence[float],
    *,
    min_n: int,
    alpha: float = DEFAULT_ALPHA,
    material: float = MATERIAL_CLIFFS_DELTA,
) -> Comparison:
    """Is the canary's latency stochastically greater than the baseline's?"""
    n_c, n_b = len(canary), len(baseline)
    base = {
        "metric": metric, "test": "mann-whitney-u (one-sided: canary slower)",
        "canary": {"n": n_c}, "baseline": {"n": n_b}, "alpha": alpha,
        "effect_name": "cliffs_delta", "material_bound": material,
    }  # fmt: skip
    bad = [v for v in (*canary, *baseline) if not _finite(v)]
    if bad:
        return Comparison(**base, decision=INCONCLUSIVE, reason=f"non-finite samples: {bad[:3]}")
    if n_c < max(min_n, 1) or n_b < max(min_n, 1):
        return Comparison(
            **base,
            decision=INCONCLUSIVE,
            reason=f"inconclusive: {n_c} canary / {n_b} baseline samples, need {max(min_n, 1)}",
        )
    if len({*canary, *baseline}) == 1:  # every sample in one bucket: identical, U = n1 n2 / 2
        u, p = n_c * n_b / 2, 1.0
    else:
        from scipy.stats import mannwhitneyu

        res = mannwhitneyu(canary, baseline, alternative="greater", method="asymptotic")
        u, p = float(res.statistic), float(res.pvalue)
    delta = 2 * u / (n_c * n_b) - 1
    significant, is_material = p < alpha, delta >= material
    decision = _decide(significant, is_material)
    reason = (
        f"Mann-Whitney U={u:.1f}, p={p:.3g} (alpha {alpha:g}), Cliff's delta={delta:.3f} "
        f"(material >= {material:g}) over {n_c} canary / {n_b} baseline requests"
    )
    return Comparison(
        **{**base, "canary": {"n": n_c, "median": _median(canary)},
           "baseline": {"n": n_b, "median": _median(baseline)}},
        decision=decision, reason=reason, statistic=u, p_value=p, effect=delta,
    )  # fmt: skip


def _median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def compare_proportions(
    metric: str,
    canary: tuple[int, int],
    baseline: tuple[int, int],
    *,
    min_n: int,
    alpha: float = DEFAULT_ALPHA,
    factor: float = 1.5,
    floor: float = 0.01,
) -> Comparison:
    """Events among trials per track, e.g. (5xx responses, requests): Fisher's exact test,
    one-sided (canary's share greater). Material: canary share > factor x baseline + floor."""
    (x_c, n_c), (x_b, n_b) = canary, baseline
    bound = f"canary > {factor:g} x baseline + {floor:g}"
    base = {
        "metric": metric, "test": "fisher-exact (one-sided: canary share greater)",
        "canary": {"events": x_c, "n": n_c}, "baseline": {"events": x_b, "n": n_b},
        "alpha": alpha, "effect_name": "share difference (canary - baseline)",
    }  # fmt: skip
    problem = _count_problem(x_c, n_c, x_b, n_b, min_n)
    if problem:
        return Comparison(**base, decision=INCONCLUSIVE, reason=problem)
    from scipy.stats import fisher_exact

    odds, p = fisher_exact([[x_c, n_c - x_c], [x_b, n_b - x_b]], alternative="greater")
    p_c, p_b = x_c / n_c, x_b / n_b
    material = p_c > factor * p_b + floor
    decision = _decide(float(p) < alpha, material)
    reason = (
        f"{x_c}/{n_c} ({p_c:.2%}) canary vs {x_b}/{n_b} ({p_b:.2%}) baseline: Fisher exact "
        f"p={float(p):.3g} (alpha {alpha:g}); material when {bound}"
    )
    return Comparison(
        **{**base, "canary": {**base["canary"], "share": p_c},
           "baseline": {**base["baseline"], "share": p_b}},
        decision=decision, reason=reason, statistic=_num(odds), p_value=float(p),
        effect=p_c - p_b, material_bound=factor * p_b + floor,
    )  # fmt: skip


def compare_rates(
    metric: str,
    canary: tuple[int, float],
    baseline: tuple[int, float],
    *,
    min_n: int,
    alpha: float = DEFAULT_ALPHA,
    factor: float = 1.5,
    floor: float = 0.01,
) -> Comparison:
    """Event counts with an exposure per track, e.g. (risk blocks, requests): the exact
    conditional test of two Poisson means. Material: canary rate > factor x baseline + floor
    (rates per unit of exposure)."""
    (x_c, e_c), (x_b, e_b) = canary, baseline
    base = {
        "metric": metric,
        "test": "conditional poisson (binomtest, one-sided: canary rate greater)",
        "canary": {"events": x_c, "exposure": e_c}, "baseline": {"events": x_b, "exposure": e_b},
        "alpha": alpha, "effect_name": "rate ratio (canary / baseline)",
    }  # fmt: skip
    problem = _count_problem(x_c, e_c, x_b, e_b, min_n, events_le_n=False)
    if problem:
        return Comparison(**base, decision=INCONCLUSIVE, reason=problem)
    r_c, r_b = x_c / e_c, x_b / e_b
    k = x_c + x_b
    share = e_c / (e_c + e_b)
    if k == 0:
        p = 1.0  # no event on either track: nothing points at the canary
    else:
        from scipy.stats import binomtest

        p = float(binomtest(x_c, k, share, alternative="greater").pvalue)
    material = r_c > factor * r_b + floor
    decision = _decide(p < alpha, material)
    ratio = (r_c / r_b) if r_b > 0 else (math.inf if r_c > 0 else 1.0)
    reason = (
        f"{x_c} per {e_c:g} canary vs {x_b} per {e_b:g} baseline: exact conditional Poisson "
        f"test p={p:.3g} (alpha {alpha:g}; {k} events, canary share of exposure {share:.3f}); "
        f"material when canary rate > {factor:g} x baseline + {floor:g}"
    )
    return Comparison(
        **{**base, "canary": {**base["canary"], "rate": r_c},
           "baseline": {**base["baseline"], "rate": r_b}},
        decision=decision, reason=reason, statistic=float(x_c), p_value=p,
        effect=_num(ratio), material_bound=factor * r_b + floor,
    )  # fmt: skip


def _count_problem(
    x_c: float, n_c: float, x_b: float, n_b: float, min_n: int, *, events_le_n: bool = True
) -> str:
    values = (x_c, n_c, x_b, n_b)
    if not _finite(*values) or any(v < 0 for v in values):
        return f"inconclusive: counts must be finite and >= 0, got {values}"
    if any(int(v) != v for v in (x_c, x_b)):
        return f"inconclusive: event counts must be whole numbers, got {x_c}, {x_b}"
    need = max(min_n, 1)
    if n_c < need or n_b < need:
        return f"inconclusive: {n_c:g} canary / {n_b:g} baseline, need {need}"
    if events_le_n and (x_c > n_c or x_b > n_b):
        return f"inconclusive: more events than trials ({x_c}/{n_c}, {x_b}/{n_b})"
    return ""


def _num(value: Any) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def worst(decisions: Iterable[str]) -> str:
    """fail > inconclusive > warn > pass; no decision at all is inconclusive."""
    order = {FAIL: 3, INCONCLUSIVE: 2, WARN: 1, PASS: 0}
    found = list(decisions)
    return max(found, key=order.__getitem__) if found else INCONCLUSIVE


@dataclass(frozen=True)
class Exceedance:
    """Is a sparse count above an absolute threshold (a trigger's), beyond chance?"""

    estimate: float | None
    p_value: float | None
    decision: str  # pass / warn (above, not significant) / fail / inconclusive
    test: str


def exceeds_share(x: int, n: int, threshold: float, *, alpha: float) -> Exceedance:
    """x events in n trials against a share threshold: the exact binomial test of
    H0 share <= threshold, one-sided (``scipy.stats.binomtest``). A share above the
    threshold that chance explains (3 conflicts in 25 against 5 %) is a warning."""
    test = f"exact binomial, H0 share <= {threshold:g}"
    if n <= 0 or x < 0 or x > n:
        return Exceedance(None, None, INCONCLUSIVE, test)
    estimate = x / n
    if estimate <= threshold:
        return Exceedance(estimate, None, PASS, test)
    from scipy.stats import binomtest

    p = float(binomtest(x, n, min(max(threshold, 0.0), 1.0), alternative="greater").pvalue)
    return Exceedance(estimate, p, FAIL if p < alpha else WARN, test)


def exceeds_rate(x: int, exposure: float, threshold: float, *, alpha: float) -> Exceedance:
    """x events over ``exposure`` units against a rate threshold per unit: the exact
    Poisson test of H0 rate <= threshold, P(X >= x | threshold x exposure)."""
    test = f"exact poisson, H0 rate <= {threshold:g}"
    if exposure <= 0 or x < 0:
        return Exceedance(None, None, INCONCLUSIVE, test)
    estimate = x / exposure
    if estimate <= threshold:
        return Exceedance(estimate, None, PASS, test)
    from scipy.stats import poisson

    p = float(poisson.sf(x - 1, threshold * exposure))
    return Exceedance(estimate, p, FAIL if p < alpha else WARN, test)
