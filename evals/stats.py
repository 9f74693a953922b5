"""Statistics as pure functions: bootstrap intervals, paired comparisons, power and latency percentiles.

Intervals are percentile bootstraps up to :data:`LARGE_N` units. Above that, where a bootstrap costs
``n_boot x n`` time and memory (1.6 GB for one interval at 50,000 examples), they use the normal
approximation the bootstrap converges to: the standard error of the mean, the delta method for a
ratio of sums, and the binomial spread of the quantile level for a percentile. Both agree to within
a small fraction of the interval's width at that size (tested).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np


def mean_or_nan(values: Sequence[float]) -> float:
    """Mean, or NaN for no values.

    >>> mean_or_nan([1.0, 0.0])
    0.5
    >>> math.isnan(mean_or_nan([]))
    True
    """
    return float(np.mean(values)) if len(values) else math.nan


#: Above this many units (examples), intervals use the normal approximation instead of resampling.
LARGE_N = 2000


def z_value(confidence: float) -> float:
    """Two-sided normal quantile for a confidence level.

    >>> round(z_value(0.95), 3)
    1.96
    """
    from scipy.stats import norm

    return float(norm.ppf(0.5 + confidence / 2))


def wilson_ci(successes: float, n: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion; (nan, nan) for ``n == 0``.

    >>> [round(x, 3) for x in wilson_ci(19, 20)]
    [0.764, 0.991]
    """
    if n <= 0:
        return (math.nan, math.nan)
    z = z_value(confidence)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def mean_ci(values: Sequence[float], *, confidence: float = 0.95, n_boot: int = 2000,
            seed: int = 0) -> tuple[float, float]:
    """Interval of a mean score: the one function every quality interval goes through.

    Pass/fail scores (every value 0 or 1) get the Wilson interval; other scores a calibrated bootstrap
    (contract; the implementation is being improved under issue 11).

    >>> [round(x, 3) for x in mean_ci([1.0] * 19 + [0.0])]
    [0.764, 0.991]
    """
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return (math.nan, math.nan)
    if np.isin(data, (0.0, 1.0)).all():
        return wilson_ci(float(data.sum()), int(data.size), confidence=confidence)
    return bootstrap_ci(data, confidence=confidence, n_boot=n_boot, seed=seed)


def bootstrap_ci(values: Sequence[float], *, confidence: float = 0.95, n_boot: int = 2000,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean; (nan, nan) for no values, (x, x) for one.

    >>> bootstrap_ci([1.0, 1.0, 1.0])
    (1.0, 1.0)
    """
    data = np.asarray(values, dtype=float)
    if data.size > LARGE_N:
        half = z_value(confidence) * float(data.std(ddof=1)) / math.sqrt(data.size)
        return (float(data.mean()) - half, float(data.mean()) + half)
    return _bootstrap(data, lambda samples: samples.mean(axis=1), confidence, n_boot, seed)


def _bootstrap(values: Sequence[float], statistic, confidence: float, n_boot: int,
               seed: int) -> tuple[float, float]:
    """Percentile interval of ``statistic`` (row-wise over resamples); degenerate for 0 or 1 values."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return (math.nan, math.nan)
    if data.size == 1:
        return (float(data[0]), float(data[0]))
    rng = np.random.default_rng(seed)
    stats = statistic(rng.choice(data, size=(n_boot, data.size), replace=True))
    alpha = (1 - confidence) / 2
    return (float(np.quantile(stats, alpha)), float(np.quantile(stats, 1 - alpha)))


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation; NaN for no values.

    >>> percentile([10, 20, 30, 40], 50)
    25.0
    """
    data = np.asarray(values, dtype=float)
    return float(np.percentile(data, q)) if data.size else math.nan


def percentile_ci(values: Sequence[float], q: float, *, confidence: float = 0.95, n_boot: int = 2000,
                  seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the q-th percentile; (nan, nan) for no values, (x, x) for one.

    >>> percentile_ci([5.0, 5.0], 95)
    (5.0, 5.0)
    """
    data = np.asarray(values, dtype=float)
    if data.size > LARGE_N:
        # the sample quantile's level is binomial: q +- z * sqrt(q (1 - q) / n)
        level = q / 100
        half = z_value(confidence) * math.sqrt(level * (1 - level) / data.size)
        low, high = np.percentile(data, [100 * max(0.0, level - half), 100 * min(1.0, level + half)])
        return (float(low), float(high))
    return _bootstrap(data, lambda samples: np.percentile(samples, q, axis=1), confidence, n_boot, seed)


def ratio_ci(numerators: Sequence[float], denominators: Sequence[float], *, confidence: float = 0.95,
             n_boot: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """``sum(num) / sum(den)`` with a bootstrap interval that resamples the units (e.g. examples).

    Each unit contributes a numerator and a denominator (an example's correct fields and its fields, or
    its summed score and its number of repeats), so clustered data is resampled by cluster. Returns
    ``(point, low, high)``; NaN when the denominator sums to zero.

    >>> ratio_ci([1, 0, 1], [1, 1, 1], n_boot=10)[0]
    0.6666666666666666
    """
    num = np.asarray(numerators, dtype=float)
    den = np.asarray(denominators, dtype=float)
    total = den.sum()
    point = float(num.sum() / total) if total > 0 else math.nan
    if num.size == 0 or math.isnan(point):
        return (point, math.nan, math.nan)
    if num.size == 1:
        return (point, point, point)
    if num.size > LARGE_N:
        # delta method for a ratio of sums: residuals num - point * den, clustered by unit
        residuals = num - point * den
        se = math.sqrt(num.size / (num.size - 1) * float(np.sum(residuals**2))) / total
        half = z_value(confidence) * se
        return (point, point - half, point + half)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, num.size, size=(n_boot, num.size))
    with np.errstate(invalid="ignore", divide="ignore"):
        boots = num[idx].sum(axis=1) / den[idx].sum(axis=1)
    boots = boots[np.isfinite(boots)]
    if boots.size == 0:
        return (point, math.nan, math.nan)
    alpha = (1 - confidence) / 2
    return (point, float(np.quantile(boots, alpha)), float(np.quantile(boots, 1 - alpha)))


# --- paired comparisons and power ------------------------------------------------------------------


@dataclass(frozen=True)
class PairedDiff:
    """Paired difference ``mean(b) - mean(a)`` over aligned examples, with a bootstrap interval.

    ``n`` is the number of aligned pairs; with ``n == 0`` every number is NaN, with ``n == 1`` the
    interval collapses onto the single difference.
    """

    diff: float
    ci_low: float
    ci_high: float
    n: int


@dataclass(frozen=True)
class McNemarResult:
    """McNemar's exact test on paired pass/fail outcomes.

    ``b`` counts examples model A passes and B fails, ``c`` those A fails and B passes; ``p_value`` is
    the exact two-sided binomial p-value of ``b`` vs ``c`` (1.0 when there are no discordant pairs).
    """

    b: int
    c: int
    p_value: float


def paired_bootstrap(a: Sequence[float], b: Sequence[float], *, confidence: float = 0.95, n_boot: int = 2000,
                     seed: int = 0) -> PairedDiff:
    """Bootstrap the mean per-example difference ``b - a``; resamples examples, keeping the pairing.

    ``a`` and ``b`` are the two models' scores on the same examples, in the same order.

    >>> paired_bootstrap([0.0, 0.0, 0.0], [1.0, 1.0, 1.0])
    PairedDiff(diff=1.0, ci_low=1.0, ci_high=1.0, n=3)
    """
    xa = np.asarray(a, dtype=float)
    xb = np.asarray(b, dtype=float)
    if xa.shape != xb.shape:
        raise ValueError(f"paired_bootstrap needs aligned scores; got {xa.size} and {xb.size} values")
    diffs = xb - xa
    low, high = bootstrap_ci(diffs, confidence=confidence, n_boot=n_boot, seed=seed)
    return PairedDiff(diff=mean_or_nan(diffs), ci_low=low, ci_high=high, n=int(diffs.size))


def paired_difference(a: Sequence[float], b: Sequence[float], *, confidence: float = 0.95, n_boot: int = 2000,
                      seed: int = 0) -> PairedDiff:
    """The paired difference ``mean(b) - mean(a)`` with the interval every decision uses.

    Contract (issue 11): an interval that covers at small n and with few discordant pairs (for pass/fail
    scores a score-based interval for paired proportions, for other scores a calibrated bootstrap of the
    differences). Until then it is :func:`paired_bootstrap`.
    """
    return paired_bootstrap(a, b, confidence=confidence, n_boot=n_boot, seed=seed)


def mcnemar(a_pass: Sequence[bool], b_pass: Sequence[bool]) -> McNemarResult:
    """Exact McNemar test (binomial test on the discordant pairs) for two models' pass/fail outcomes.

    >>> mcnemar([True, True, False], [True, False, False])
    McNemarResult(b=1, c=0, p_value=1.0)
    """
    xa = np.asarray(a_pass, dtype=bool)
    xb = np.asarray(b_pass, dtype=bool)
    if xa.shape != xb.shape:
        raise ValueError(f"mcnemar needs aligned outcomes; got {xa.size} and {xb.size} values")
    b = int(np.sum(xa & ~xb))
    c = int(np.sum(~xa & xb))
    if b + c == 0:
        return McNemarResult(b=0, c=0, p_value=1.0)
    from scipy.stats import binomtest

    p = float(binomtest(b, b + c, 0.5, alternative="two-sided").pvalue)
    return McNemarResult(b=b, c=c, p_value=min(1.0, p))


def min_detectable_difference(n: int, sd: float, *, alpha: float = 0.05, power: float = 0.8) -> float:
    """Smallest true mean difference a paired test on ``n`` examples detects with the given power.

    Normal approximation ``(z_{1-alpha/2} + z_{power}) * sd / sqrt(n)``, where ``sd`` is the standard
    deviation of the per-example differences (or of the scores, as a rough stand-in). Returns ``inf``
    for ``n < 2`` and NaN for an unknown ``sd``. Compare it with the difference a rule change relies on:
    if the needed difference is smaller, the suite is too small to tell.

    >>> round(min_detectable_difference(100, 0.5), 4)
    0.1401
    """
    if n < 2:
        return math.inf
    if sd is None or not math.isfinite(sd):
        return math.nan
    from scipy.stats import norm

    z = norm.ppf(1 - alpha / 2) + norm.ppf(power)
    return float(z * sd / math.sqrt(n))


def suite_size_warning(n: int, sd: float, needed_difference: float, *, alpha: float = 0.05,
                       power: float = 0.8) -> str | None:
    """A warning when ``n`` examples cannot detect ``needed_difference`` (see :func:`min_detectable_difference`).

    Returns None when the suite is large enough.

    >>> suite_size_warning(10_000, 0.5, 0.05) is None
    True
    >>> suite_size_warning(20, 0.5, 0.05)[:16]
    'suite too small:'
    """
    mde = min_detectable_difference(n, sd, alpha=alpha, power=power)
    if mde <= needed_difference:
        return None
    if not math.isfinite(mde):
        return (f"suite too small: {n} example(s) cannot show any difference; "
                f"a rule change needing {needed_difference:.3f} is not supported")
    return (f"suite too small: {n} examples (score sd {sd:.2f}) detect only differences of {mde:.3f} or more "
            f"at {power:.0%} power; a rule change needing {needed_difference:.3f} is not supported")


def per_example_means(frame, value: str = "score"):
    """Average repeats: one row per (suite, model, example_id) with the mean ``value`` and its repeat stats.

    Returns a DataFrame with columns ``suite, model, example_id, <value>, repeats, repeat_sd`` where
    ``repeat_sd`` is the sample standard deviation across repeats (NaN with one repeat). Rows whose
    ``value`` is missing are ignored.
    """
    import pandas as pd

    keys = ["suite", "model", "example_id"]
    if frame is None or len(frame) == 0:
        return pd.DataFrame(columns=[*keys, value, "repeats", "repeat_sd"])
    data = frame[[*keys, value]].copy()
    data[value] = pd.to_numeric(data[value], errors="coerce")
    data = data.dropna(subset=[value])
    grouped = data.groupby(keys, sort=True)[value]
    out = pd.DataFrame({value: grouped.mean(), "repeats": grouped.size(), "repeat_sd": grouped.std(ddof=1)})
    return out.reset_index()
