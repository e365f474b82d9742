"""BS-08 / PF-09 error-budget and multi-window burn-rate math.

Burn rate is the error ratio divided by the error budget (1 - SLO): 1.0
spends exactly the budget over the SLO window, 14.4 spends 2 % of a 30-day
budget in one hour. The paging pairs (Google SRE workbook) are 14.4x over
1h AND 5m (fast) and 6x over 6h AND 30m (slow): the long window proves it
is significant, the short one that it is still happening.

Missing data is never a pass. Prometheus answers an error ratio with no
traffic as NaN (0/0) or with no sample at all; both become a "no data"
finding, because a canary that cannot see is not a canary that saw nothing.

A "30d" ratio is computed over whatever Prometheus holds: on a fresh or
short-retention server it covers hours, and "budget left over 30d" would
then be a claim about hours. So the span the data really covers
(:func:`coverage_query`: time since the request counter's first sample in
the window) is part of every budget message, and a short span is a warning.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from decimal import Decimal

from pytest_spark.rules.findings import WARN, Finding
from pytest_spark.rules.metrics_catalog import duration_seconds, label_value

from .limits import reaches

__all__ = [
    "DEFAULT_PAIRS",
    "BurnPair",
    "budget_remaining",
    "burn_rate",
    "coverage_query",
    "evaluate_baseline",
    "evaluate_burn",
]

BurnPair = tuple[str, str, float, str]
"""(long window, short window, threshold, name) -- both windows must burn."""

DEFAULT_PAIRS: tuple[BurnPair, ...] = (
    ("1h", "5m", 14.4, "fast"),
    ("6h", "30m", 6.0, "slow"),
)


def _check_slo(slo: float) -> float:
    """The error budget 1 - slo, computed on the SLO as written.

    ``1.0 - 0.99`` is 0.010000000000000009 in binary floats, which would put
    an error ratio of exactly 1 % just *inside* a 99 % budget; going through
    the shortest decimal repr gives the 0.01 the operator meant.
    """
    if not (isinstance(slo, (int, float)) and 0.0 < slo < 1.0):
        raise ValueError(f"slo must be a fraction strictly between 0 and 1, got {slo!r}")
    return float(1 - Decimal(repr(float(slo))))


def _at_least(value: float, threshold: float) -> bool:
    # Thresholds are decimal figures (14.4x); a rate computed in floats that
    # lands one ulp below one still reaches it.
    return reaches(value, threshold) or math.isclose(value, threshold, rel_tol=1e-9)


def burn_rate(error_ratio: float, slo: float = 0.99) -> float:
    """How many times faster than sustainable the budget burns.

    NaN in, NaN out: the caller decides what missing data means (see
    :func:`evaluate_burn`).
    """
    return error_ratio / _check_slo(slo)


def budget_remaining(error_ratio_30d: float, slo: float = 0.99) -> float:
    """Fraction of the SLO-window error budget left (negative: overspent)."""
    return 1.0 - burn_rate(error_ratio_30d, slo)


def coverage_query(counter: str, job: str, window: str = "30d", step: str = "1m") -> str:
    """PromQL: seconds of ``window`` that ``counter`` of ``job`` has data for.

    ``timestamp(count(...))`` is the evaluation time of each subquery step
    that saw a sample, so its minimum over the window is the first step with
    data (to ``step`` precision), and ``time()`` minus it the covered span.
    Subquery steps are aligned to multiples of ``step``, so data younger than
    one step shows in none: the last hour is asked again at 5 s steps, and
    data younger than that counts as 0 s.
    """
    series = f"count({counter}{{job={label_value(job)}}})"
    coarse = f"time() - min_over_time(timestamp({series})[{window}:{step}])"
    fine = f"time() - min_over_time(timestamp({series})[1h:5s])"
    return f"({coarse}) or ({fine}) or (vector(0) and {series})"


def _fmt_span(seconds: float) -> str:
    if seconds >= 86400:
        return f"{seconds / 86400:.1f} d"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.0f} min"


def _usable(name: str, value: object) -> tuple[float | None, Finding | None]:
    if value is None:
        return None, Finding(f"no-data-{name}", f"no data for window {name}")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None, Finding(f"invalid-{name}", f"error ratio for window {name} is {value!r}")
    ratio = float(value)
    if math.isnan(ratio):
        return None, Finding(f"no-data-{name}", f"no data for window {name} (NaN: no traffic)")
    if not 0.0 <= ratio <= 1.0:
        return None, Finding(
            f"invalid-{name}", f"error ratio for window {name} is {ratio!r}, outside 0..1"
        )
    return ratio, None


def evaluate_burn(
    windows: Mapping[str, float | None],
    slo: float = 0.99,
    *,
    pairs: Sequence[BurnPair] = DEFAULT_PAIRS,
    budget_window: str = "30d",
    covered_s: float | None = None,
) -> list[Finding]:
    """BS-08: budget left and no paging burn.

    ``covered_s``: how many seconds of ``budget_window`` the data really
    covers (see :func:`coverage_query`); a shorter span than the window is
    named in the budget finding and reported as a warning
    (``budget-window-partial``), None when not measured.

    ``windows`` maps a window name ("5m", "30m", "1h", "6h", "30d") to the
    error ratio (errors / requests) over it. Every window a pair or the
    budget needs must be present and finite; a missing one is a finding and
    that pair is not judged (never silently passed).
    """
    budget = _check_slo(slo)
    out: list[Finding] = []
    usable: dict[str, float] = {}
    needed: list[str] = []
    for long_w, short_w, _, _ in pairs:
        needed += [long_w, short_w]
    needed.append(budget_window)
    for name in dict.fromkeys(needed):
        ratio, problem = _usable(name, windows.get(name))
        if problem:
            out.append(problem)
        else:
            assert ratio is not None
            usable[name] = ratio

    for long_w, short_w, threshold, label in pairs:
        if long_w not in usable or short_w not in usable:
            continue
        long_rate = usable[long_w] / budget
        short_rate = usable[short_w] / budget
        if _at_least(long_rate, threshold) and _at_least(short_rate, threshold):
            out.append(
                Finding(
                    f"burn-{label}",
                    f"{label} burn: {long_rate:.1f}x over {long_w} and {short_rate:.1f}x over "
                    f"{short_w} (paging threshold {threshold}x, SLO {slo:.4%})",
                )
            )
    span = ""
    if covered_s is not None and not math.isnan(covered_s):
        window_s = duration_seconds(budget_window)
        if covered_s < window_s * 0.99:
            span = (
                f"; the {budget_window} figures cover only {_fmt_span(max(0.0, covered_s))} of data"
            )
    if budget_window in usable:
        spent = usable[budget_window] / budget
        remaining = 1.0 - spent
        if _at_least(spent, 1.0):
            out.append(
                Finding(
                    "budget-exhausted",
                    f"error budget exhausted: {remaining:.1%} left over {budget_window} "
                    f"(error ratio {usable[budget_window]:.4%} vs budget {budget:.4%}{span})",
                )
            )
        elif span:
            out.append(
                Finding(
                    "budget-window-partial",
                    f"error budget {remaining:.1%} left over {budget_window}{span}: Prometheus "
                    f"holds less history than the SLO window, the figure is for that span only",
                    WARN,
                )
            )
    return out


def evaluate_baseline(
    metrics: Mapping[str, float | None],
    *,
    slo: float = 0.99,
    p95_latency_max: float = 0.2,
    error_key: str = "error_rate_5xx",
    latency_key: str = "api_p95_latency_seconds",
) -> list[Finding]:
    """PF-09: the pre-deploy baseline must have data and keep the SLO.

    Every metric in ``metrics`` must have a finite value (None / NaN = no
    data). The error ratio must be within the budget (<= 1 - slo) and the p95
    latency below ``p95_latency_max`` seconds.
    """
    budget = _check_slo(slo)
    out: list[Finding] = []
    values: dict[str, float] = {}
    for name, value in metrics.items():
        if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
            out.append(Finding(f"no-data-{name}", f"no data for baseline metric {name}"))
        elif math.isnan(value) or math.isinf(value):
            out.append(Finding(f"no-data-{name}", f"baseline metric {name} is {value!r} (no data)"))
        else:
            values[name] = float(value)
    for key in (error_key, latency_key):
        if key not in metrics:
            out.append(Finding(f"no-data-{key}", f"no data for baseline metric {key}"))
    if error_key in values and values[error_key] > budget:
        out.append(
            Finding(
                "baseline-error-rate",
                f"baseline {error_key} {values[error_key]:.4%} exceeds the error budget "
                f"{budget:.4%} (SLO {slo:.4%})",
            )
        )
    if latency_key in values and values[latency_key] >= p95_latency_max:
        out.append(
            Finding(
                "baseline-latency",
                f"baseline {latency_key} {values[latency_key] * 1000:.1f} ms is not below "
                f"{p95_latency_max * 1000:.0f} ms",
            )
        )
    return out
