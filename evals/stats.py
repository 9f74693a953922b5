"""Statistics as pure functions: the intervals every number is shown with, paired comparisons, power.

Every interval is two-sided at ``confidence`` (default 95%). Which one a number gets depends on its
values, never on the caller (coverage measured in ``tests/test_stats_coverage.py``):

- **A pass/fail rate** (every value 0 or 1), :func:`wilson_ci`: the Wilson score interval with
  continuity correction. Plain Wilson's coverage falls to 84-90% at some p for every n up to a few
  hundred (at n = 20 and p = 0.95 it is below 93%); the corrected interval stays at or above 94.9% for
  every p at n = 10 to 2,000 (exact enumeration), for about 10% more width at n = 20 and 3% at n = 400.
- **A mean of scores in [0, 1]** that are not all 0/1 (averaged repeats, graded or partial scores),
  :func:`mean_ci`: the same score interval with the binomial variance ``p(1 - p)`` scaled by the
  dispersion the data show (``c = s^2 / (mean (1 - mean))``, so ``n / c`` effective trials) and a
  Student t quantile. A bootstrap cannot reach past the values it saw, so it is too narrow near 0 or
  1 exactly where decisions are made (BCa: 69% coverage for a mean of 2 repeats at n = 20, p = 0.97);
  this interval keeps the asymmetric score shape and covers 93-97% there.
- **A paired difference of pass/fail scores**, :func:`paired_difference`: Tango's score interval for
  the difference of paired proportions, which depends on the discordant pairs and stays honest when
  there are few or none (one discordant pair in 20 gives about [-0.12, 0.24], never [0, x]).
- **A paired difference of scores in [0, 1]**: Tango's interval on the differences' positive and
  negative parts as fractional discordant counts, scaled by the measured dispersion (as above).
- **A clustered proportion** (correct fields over fields per example; summed scores over repeats),
  :func:`ratio_ci`: the same dispersion-scaled score interval with the cluster (delta-method)
  variance; all right or all wrong assumes the worst clustering. Measured 92-97% where the old
  cluster bootstrap gave 71-95% (worst: n = 100, p = 0.97, whole examples failing together).
- **Anything else** (costs, standard deviations, ratios outside [0, 1]), :func:`bootstrap_ci`: a BCa
  bootstrap (bias-corrected and accelerated; the acceleration is the O(n) jackknife skewness of a
  mean) up to :data:`LARGE_N` units, and above it the normal approximation the bootstrap converges to.

The score intervals are closed forms (Tango solves a score equation by bisection), O(n) at any size.
Known limit: a fractional-score interval trusts the spread it sees, so a sample sitting at one bound
except for tiny deviations (19 x 1.0 and one 0.999) gets a narrow interval, as any bootstrap would;
a sample wholly at the bound gets the pass/fail interval.
No scipy at import or for the common intervals: normal quantiles come from :mod:`statistics`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from evals.stats_formulas import NORMAL as _NORMAL
from evals.stats_formulas import binomial_half_cdf, binomial_sf, t_value, tango, wilson, z_value

__all__ = [
    "LARGE_N", "McNemarResult", "PairedDiff", "bootstrap_ci", "dispersed_tango", "dispersed_wilson", "mcnemar", "mean_ci", "mean_or_nan",
    "min_detectable_difference", "noninferiority_exact", "paired_bootstrap", "paired_difference", "per_example_means", "percentile",
    "percentile_ci", "ratio_ci", "resampled_ci", "suite_size_warning", "t_value", "wilson_ci", "z_value",
]


def mean_or_nan(values: Sequence[float]) -> float:
    """Mean, or NaN for no values.

    >>> mean_or_nan([1.0, 0.0])
    0.5
    >>> math.isnan(mean_or_nan([]))
    True
    """
    return float(np.mean(values)) if len(values) else math.nan


#: Above this many units (examples), bootstrap intervals use the normal approximation instead of
#: resampling (the score intervals are closed forms at every size).
LARGE_N = 2000


def dispersed_wilson(point, variance, units: int, confidence: float):
    """Score interval of a mean or ratio in (0, 1) whose estimator variance was measured (arrays allowed).

    The Wilson interval on ``point (1 - point) / variance`` effective trials (the binomial variance
    scaled by the measured dispersion) with a t quantile on ``units - 1`` degrees of freedom; zero
    variance gives ``(point, point)``. Callers route 0/1 data, one unit and points at 0 or 1 to the
    plain binomial.
    """
    point, variance = np.asarray(point, dtype=float), np.asarray(variance, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        trials = np.where(variance > 0, point * (1 - point) / variance, np.inf)
    return wilson(point, trials, t_value(confidence, units - 1), continuity=False)


def dispersed_tango(up, down, n: int, variance, confidence: float):
    """Tango's interval for a mean paired difference of scores in [0, 1] (arrays allowed).

    ``up`` and ``down`` are the sums of the positive and negative differences (fractional discordant
    counts) over ``n`` pairs and ``variance`` the differences' sample variance. The counts are scaled
    by the dispersion ``c = variance / ((up + down) / n - mean^2)`` (at most about 1: the variance of
    the differences rounded to -1, 0, 1), with a t quantile on ``n - 1`` degrees of freedom. Where ``c``
    cannot be measured (one pair, or every difference 0) the binomial ``c = 1`` and a normal quantile.
    """
    up, down, variance = (np.asarray(v, dtype=float) for v in (up, down, variance))
    mean = (up - down) / n
    rounded = (up + down) / n - mean * mean
    measured = (rounded > 0) & np.isfinite(variance) & (n > 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        c = np.where(measured, variance / np.where(measured, rounded, 1.0), 1.0)
    q = np.where(measured, t_value(confidence, n - 1) if n > 1 else 0.0, z_value(confidence))
    zero = c <= 0
    c = np.where(zero, 1.0, c)
    low, high = tango(up / c, down / c, n / c, q)
    return np.where(zero, mean, low), np.where(zero, mean, high)


def wilson_ci(successes: float, n: int, *, confidence: float = 0.95, continuity: bool = True) -> tuple[float, float]:
    """Wilson score interval of a proportion, continuity-corrected by default; (nan, nan) for ``n == 0``.

    >>> [round(x, 3) for x in wilson_ci(19, 20)]
    [0.731, 0.997]
    >>> [round(x, 3) for x in wilson_ci(19, 20, continuity=False)]
    [0.764, 0.991]
    """
    if n <= 0:
        return (math.nan, math.nan)
    low, high = wilson(successes / n, n, z_value(confidence), continuity)
    return (float(low), float(high))


def _is_binary(data: np.ndarray) -> bool:
    return bool(np.isin(data, (0.0, 1.0)).all())


def _in_unit_interval(data: np.ndarray) -> bool:
    return bool(((data >= 0.0) & (data <= 1.0)).all())


def mean_ci(values: Sequence[float], *, confidence: float = 0.95, n_boot: int = 2000,
            seed: int = 0) -> tuple[float, float]:
    """Interval of a mean score: the one function every quality interval goes through.

    Pass/fail scores (every value 0 or 1) get :func:`wilson_ci`; other scores in [0, 1] the
    dispersion-scaled score interval (module docstring); values outside [0, 1] :func:`bootstrap_ci`
    (``n_boot`` and ``seed`` are used only there). (nan, nan) for no values.

    >>> [round(x, 3) for x in mean_ci([1.0] * 19 + [0.0])]
    [0.731, 0.997]
    >>> [round(x, 3) for x in mean_ci([1.0] * 19 + [0.5])]
    [0.858, 0.996]
    """
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return (math.nan, math.nan)
    if _is_binary(data):
        return wilson_ci(float(data.sum()), int(data.size), confidence=confidence)
    if not _in_unit_interval(data):
        return bootstrap_ci(data, confidence=confidence, n_boot=n_boot, seed=seed)
    mean = float(data.mean())
    if data.size == 1:  # no spread to measure: the binomial worst case for one trial
        return wilson_ci(mean, 1, confidence=confidence)
    low, high = dispersed_wilson(mean, float(data.var(ddof=1)) / data.size, int(data.size), confidence)
    return (float(low), float(high))


def bootstrap_ci(values: Sequence[float], *, confidence: float = 0.95, n_boot: int = 2000,
                 seed: int = 0) -> tuple[float, float]:
    """BCa bootstrap interval of the mean of any real values; (nan, nan) for none, (x, x) for one.

    For scores use :func:`mean_ci`. Above :data:`LARGE_N` values: mean +- z x standard error.

    >>> bootstrap_ci([1.0, 1.0, 1.0])
    (1.0, 1.0)
    """
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return (math.nan, math.nan)
    if data.size == 1 or np.all(data == data[0]):
        return (float(data[0]), float(data[0]))
    mean = float(data.mean())
    if data.size > LARGE_N:
        half = z_value(confidence) * float(data.std(ddof=1)) / math.sqrt(data.size)
        return (mean - half, mean + half)
    rng = np.random.default_rng(seed)
    boots = data[rng.integers(0, data.size, size=(n_boot, data.size))].mean(axis=1)
    # jackknife of a mean: theta_bar - theta_(i) = (x_i - mean) / (n - 1); the scale cancels in a
    return _bca(boots, mean, data - mean, confidence)


def _bca(boots: np.ndarray, point: float, jackknife: np.ndarray, confidence: float) -> tuple[float, float]:
    """BCa interval from bootstrap replicates and jackknife deviations ``theta_bar - theta_(i)``."""
    tol = 1e-12 * max(1.0, abs(point))
    share = (np.count_nonzero(boots < point - tol) + 0.5 * np.count_nonzero(np.abs(boots - point) <= tol)) / boots.size
    z0 = _NORMAL.inv_cdf(min(max(share, 0.5 / boots.size), 1 - 0.5 / boots.size))
    spread = float(np.sum(jackknife**2))
    accel = float(np.sum(jackknife**3)) / (6 * spread**1.5) if spread > 0 else 0.0
    alpha = (1 - confidence) / 2
    levels = []
    for tail, edge in ((alpha, 0.0), (1 - alpha, 1.0)):
        shifted = z0 + _NORMAL.inv_cdf(tail)
        denom = 1 - accel * shifted
        levels.append(_NORMAL.cdf(z0 + shifted / denom) if denom > 0 else edge)
    low, high = np.quantile(boots, levels)
    return (float(low), float(high))


def _bootstrap(values: Sequence[float], statistic, confidence: float, n_boot: int,
               seed: int) -> tuple[float, float]:
    """Percentile interval of ``statistic`` (row-wise over resamples); degenerate for 0 or 1 values.

    Used for quantiles (where BCa's jackknife is unreliable); not for means (it covers 89% at n = 20).
    """
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return (math.nan, math.nan)
    if data.size == 1:
        return (float(data[0]), float(data[0]))
    rng = np.random.default_rng(seed)
    return _percentile_interval(statistic(rng.choice(data, size=(n_boot, data.size), replace=True)), confidence)


def _percentile_interval(stats: np.ndarray, confidence: float) -> tuple[float, float]:
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

    Above :data:`LARGE_N` values: the order statistics at the quantile level's binomial spread.

    >>> percentile_ci([5.0, 5.0], 95)
    (5.0, 5.0)
    """
    return percentile_cis(values, (q,), confidence=confidence, n_boot=n_boot, seed=seed)[0]


def percentile_cis(values: Sequence[float], qs: Sequence[float], *, confidence: float = 0.95, n_boot: int = 2000,
                   seed: int = 0) -> list[tuple[float, float]]:
    """:func:`percentile_ci` of each of ``qs``, from one set of resamples (the same seed draws the same
    resamples for every ``q``, so each interval is the one ``percentile_ci(values, q)`` gives).

    >>> percentile_cis([1.0, 2.0, 3.0, 4.0], [50, 95]) == [percentile_ci([1.0, 2.0, 3.0, 4.0], q) for q in (50, 95)]
    True
    """
    data = np.asarray(values, dtype=float)
    if data.size > LARGE_N:
        out = []
        for q in qs:  # the sample quantile's level is binomial: q +- z * sqrt(q (1 - q) / n)
            level = q / 100
            half = z_value(confidence) * math.sqrt(level * (1 - level) / data.size)
            low, high = np.percentile(data, [100 * max(0.0, level - half), 100 * min(1.0, level + half)])
            out.append((float(low), float(high)))
        return out
    if data.size <= 1:
        point = float(data[0]) if data.size else math.nan
        return [(point, point)] * len(qs)
    rng = np.random.default_rng(seed)
    replicates = np.percentile(rng.choice(data, size=(n_boot, data.size), replace=True), list(qs), axis=1)
    return [_percentile_interval(stats, confidence) for stats in replicates]


def resampled_ci(statistic, n: int, *, point: float, leave_one_out: np.ndarray, confidence: float = 0.95,
                 n_boot: int = 2000, seed: int = 0, bounded: bool = True) -> tuple[float, float]:
    """Interval of a statistic of ``n`` units that is not a mean (macro-F1 over examples, say).

    ``statistic(idx)`` maps an ``(n_boot, n)`` matrix of unit indices (resamples with replacement) to
    the replicates; ``leave_one_out`` holds the statistic without each unit in turn. Up to
    :data:`LARGE_N` units: BCa from the replicates and the jackknife; above: the normal interval with
    the jackknife standard error. ``bounded`` (a statistic in [0, 1]): where the resamples show no
    dispersion at an edge (every unit right, or every unit wrong), assume the worst, each unit
    all-or-nothing: the Wilson interval of ``point x n`` in ``n`` (a bootstrap would say [1, 1] at 20 of 20).
    """
    loo = np.asarray(leave_one_out, dtype=float)
    if n == 0:
        return (math.nan, math.nan)
    if bounded and point in (0.0, 1.0) and np.all(loo == point):
        return wilson_ci(point * n, n, confidence=confidence)
    if n == 1:
        return (point, point)
    if n > LARGE_N:
        se = math.sqrt((n - 1) / n * float(np.sum((loo - loo.mean()) ** 2)))
        half = z_value(confidence) * se
        return (point - half, point + half)
    idx = np.random.default_rng(seed).integers(0, n, size=(n_boot, n))
    return _bca(np.asarray(statistic(idx), dtype=float), point, loo.mean() - loo, confidence)


def ratio_ci(numerators: Sequence[float], denominators: Sequence[float], *, confidence: float = 0.95,
             n_boot: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """``sum(num) / sum(den)`` over units (e.g. examples), with an interval that treats units as clusters.

    Each unit contributes a numerator and a denominator (an example's correct fields and its fields,
    its summed score and its number of repeats). Returns ``(point, low, high)``; NaN when the
    denominator sums to zero. Units with nothing in either are left out.

    - Every denominator 1: exactly :func:`mean_ci` of the numerators.
    - ``0 <= num <= den`` (a clustered proportion): the score interval with effective trials
      ``sum(den) / c``, where ``c`` is the cluster (delta-method) variance
      ``n / (n - 1) * sum((num - R den)^2) / sum(den)^2`` over the binomial ``R (1 - R) / sum(den)``,
      with a t quantile on ``n - 1`` degrees of freedom. Where no dispersion shows (R = 0 or 1, or one
      unit), the worst case: the continuity-corrected Wilson interval on Kish's effective number of
      trials ``sum(den)^2 / sum(den^2)`` (each unit all right or all wrong).
    - Otherwise: a BCa bootstrap over units (O(n) jackknife), the delta method above :data:`LARGE_N`.

    >>> ratio_ci([1, 0, 1], [1, 1, 1])[0]
    0.6666666666666666
    """
    num = np.asarray(numerators, dtype=float)
    den = np.asarray(denominators, dtype=float)
    keep = (num != 0) | (den != 0)
    num, den = num[keep], den[keep]
    total = den.sum()
    point = float(num.sum() / total) if total > 0 else math.nan
    if num.size == 0 or math.isnan(point):
        return (point, math.nan, math.nan)
    if np.all(den == 1):
        return (point, *mean_ci(num, confidence=confidence, n_boot=n_boot, seed=seed))
    bounded = bool(np.all((num >= 0) & (num <= den)))
    if bounded and (num.size == 1 or point in (0.0, 1.0)):
        # no dispersion to measure: assume the worst (each unit all-or-nothing), i.e. Kish's effective
        # number of trials sum(den)^2 / sum(den^2); with every den 1 that is mean_ci's pass/fail interval
        trials = total**2 / float(np.sum(den**2))
        return (point, *(float(v) for v in wilson(point, trials, z_value(confidence), True)))
    if num.size == 1:
        return (point, point, point)
    residuals = num - point * den
    cluster_variance = num.size / (num.size - 1) * float(np.sum(residuals**2)) / total**2
    if bounded:
        low, high = dispersed_wilson(point, cluster_variance, int(num.size), confidence)
        return (point, float(low), float(high))
    if num.size > LARGE_N:
        half = z_value(confidence) * math.sqrt(cluster_variance)
        return (point, point - half, point + half)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, num.size, size=(n_boot, num.size))
    with np.errstate(invalid="ignore", divide="ignore"):
        boots = num[idx].sum(axis=1) / den[idx].sum(axis=1)
        leave_one_out = (num.sum() - num) / (total - den)
    boots = boots[np.isfinite(boots)]
    leave_one_out = leave_one_out[np.isfinite(leave_one_out)]
    if boots.size == 0:
        return (point, math.nan, math.nan)
    return (point, *_bca(boots, point, leave_one_out.mean() - leave_one_out, confidence))


# --- paired comparisons and power ------------------------------------------------------------------


@dataclass(frozen=True)
class PairedDiff:
    """Paired difference ``mean(b) - mean(a)`` over aligned examples, with its interval.

    ``n`` is the number of aligned pairs and ``discordant`` the pairs whose two scores differ; with
    ``n == 0`` every number is NaN. ``method`` names the interval: ``tango`` (pass/fail scores),
    ``tango-dispersion`` (scores in [0, 1]), ``bca`` or ``normal`` (other values), ``none`` (no pairs).
    """

    diff: float
    ci_low: float
    ci_high: float
    n: int
    method: str = ""
    discordant: int = 0


@dataclass(frozen=True)
class McNemarResult:
    """McNemar's exact test on paired pass/fail outcomes.

    ``b`` counts examples model A passes and B fails, ``c`` those A fails and B passes; ``p_value`` is
    the exact two-sided binomial p-value of ``b`` vs ``c`` (1.0 when there are no discordant pairs).
    """

    b: int
    c: int
    p_value: float


def paired_difference(a: Sequence[float], b: Sequence[float], *, confidence: float = 0.95, n_boot: int = 2000,
                      seed: int = 0) -> PairedDiff:
    """The paired difference ``mean(b) - mean(a)`` with the interval every decision uses.

    ``a`` and ``b`` are two models' scores on the same examples, in the same order. Pass/fail scores:
    Tango's score interval on the discordant pairs. Scores in [0, 1]: the same interval on the
    differences' positive and negative parts (fractional discordant counts), with the binomial
    variance scaled by the dispersion the differences show and a t quantile. Other values: BCa
    bootstrap of the differences (``n_boot``, ``seed``), normal above :data:`LARGE_N`.

    >>> d = paired_difference([1.0] * 18 + [0.0, 0.0], [1.0] * 19 + [0.0])  # one discordant pair in 20
    >>> round(d.diff, 2), round(d.ci_low, 3), round(d.ci_high, 3), d.discordant, d.method
    (0.05, -0.119, 0.236, 1, 'tango')
    """
    xa = np.asarray(a, dtype=float)
    xb = np.asarray(b, dtype=float)
    if xa.shape != xb.shape:
        raise ValueError(f"paired_difference needs aligned scores; got {xa.size} and {xb.size} values")
    n = int(xa.size)
    if n == 0:
        return PairedDiff(math.nan, math.nan, math.nan, 0, "none", 0)
    diffs = xb - xa
    mean = float(diffs.mean())
    discordant = int(np.count_nonzero(diffs))
    if _is_binary(xa) and _is_binary(xb):
        low, high = tango(np.count_nonzero(diffs > 0), np.count_nonzero(diffs < 0), n, z_value(confidence))
        return PairedDiff(mean, float(low), float(high), n, "tango", discordant)
    if _in_unit_interval(xa) and _in_unit_interval(xb):
        up, down = float(diffs[diffs > 0].sum()), float(-diffs[diffs < 0].sum())
        variance = float(diffs.var(ddof=1)) if n > 1 else math.nan
        low, high = dispersed_tango(up, down, n, variance, confidence)
        return PairedDiff(mean, float(low), float(high), n, "tango-dispersion", discordant)
    low, high = bootstrap_ci(diffs, confidence=confidence, n_boot=n_boot, seed=seed)
    return PairedDiff(mean, low, high, n, "normal" if n > LARGE_N else "bca", discordant)


def paired_bootstrap(a: Sequence[float], b: Sequence[float], *, confidence: float = 0.95, n_boot: int = 2000,
                     seed: int = 0) -> PairedDiff:
    """Former name of :func:`paired_difference`, kept so every caller gets the same interval.

    >>> paired_bootstrap([0.0, 1.0], [1.0, 1.0]) == paired_difference([0.0, 1.0], [1.0, 1.0])
    True
    """
    return paired_difference(a, b, confidence=confidence, n_boot=n_boot, seed=seed)


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
    return McNemarResult(b=b, c=c, p_value=min(1.0, 2 * binomial_half_cdf(min(b, c), b + c)))


def noninferiority_exact(a_pass: Sequence[bool], b_pass: Sequence[bool], margin: float) -> float:
    """One-sided p-value of ``H0: mean(b) - mean(a) <= -margin`` from the discordant pairs (exact binomial).

    Of ``d`` discordant pairs, the ``c`` that favour B are Binomial(d, pi) with
    ``pi = 1/2 + diff / (2 psi)``, ``psi`` the share of pairs that are discordant. At the margin, with
    ``psi`` taken as observed (``d / n``), ``pi0 = 1/2 - margin n / (2 d)`` and the p-value is
    ``P(X >= c)``: small when B wins more discordant pairs than a loss of ``margin`` allows. NaN when
    ``d <= margin n``: then even every discordant pair going to A keeps the difference within the
    margin, so the discordant pairs alone say nothing and an interval such as Tango's must decide.

    >>> round(noninferiority_exact([1] * 16 + [0] * 4, [1] * 15 + [0] + [1] * 4, 0.1), 3)  # 1 loss, 4 wins in 20
    0.031
    >>> math.isnan(noninferiority_exact([1] * 20, [1] * 20, 0.1))
    True
    """
    xa = np.asarray(a_pass, dtype=bool)
    xb = np.asarray(b_pass, dtype=bool)
    if xa.shape != xb.shape:
        raise ValueError(f"noninferiority_exact needs aligned outcomes; got {xa.size} and {xb.size} values")
    n = int(xa.size)
    wins, losses = int(np.sum(~xa & xb)), int(np.sum(xa & ~xb))
    d = wins + losses
    if n == 0 or d <= margin * n:
        return math.nan
    return binomial_sf(wins, d, 0.5 - margin * n / (2 * d))


def min_detectable_difference(n: int, sd_of_paired_differences: float, *, alpha: float = 0.05,
                              power: float = 0.8) -> float:
    """Smallest true mean difference a paired test on ``n`` examples detects with the given power.

    ``sd_of_paired_differences`` is the standard deviation of the per-example differences
    ``b_i - a_i`` between the two models compared (not one model's score sd: pairing removes the
    examples' shared difficulty, so it is usually much smaller). Normal approximation
    ``(z_{1-alpha/2} + z_{power}) * sd / sqrt(n)``. Returns ``inf`` for ``n < 2`` and NaN for an
    unknown sd. If the difference a rule change relies on is smaller, the suite is too small to tell.

    >>> round(min_detectable_difference(100, 0.5), 4)
    0.1401
    """
    if n < 2:
        return math.inf
    sd = sd_of_paired_differences
    if sd is None or not math.isfinite(sd):
        return math.nan
    z = _NORMAL.inv_cdf(1 - alpha / 2) + _NORMAL.inv_cdf(power)
    return float(z * sd / math.sqrt(n))


def suite_size_warning(n: int, sd_of_paired_differences: float, needed_difference: float, *,
                       alpha: float = 0.05, power: float = 0.8) -> str | None:
    """A warning when ``n`` examples cannot detect ``needed_difference`` (see :func:`min_detectable_difference`).

    Returns None when the suite is large enough.

    >>> suite_size_warning(10_000, 0.5, 0.05) is None
    True
    >>> suite_size_warning(20, 0.5, 0.05)[:16]
    'suite too small:'
    """
    sd = sd_of_paired_differences
    mde = min_detectable_difference(n, sd, alpha=alpha, power=power)
    if mde <= needed_difference:
        return None
    if not math.isfinite(mde):
        return (f"suite too small: {n} example(s) cannot show any difference; "
                f"a rule change needing {needed_difference:.3f} is not supported")
    return (f"suite too small: {n} examples (sd of paired differences {sd:.2f}) detect only differences of "
            f"{mde:.3f} or more at {power:.0%} power; a rule change needing {needed_difference:.3f} is not supported")


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
