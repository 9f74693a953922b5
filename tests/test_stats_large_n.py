"""Above LARGE_N the bootstrap intervals switch to the normal approximation; both must agree (the score
intervals of pass rates, scores and clustered proportions are closed forms at every size)."""

from __future__ import annotations

import numpy as np
import pytest

from evals import aggregates, stats

N = stats.LARGE_N + 500


def _close(analytic: tuple[float, float], resampled: tuple[float, float], share: float = 0.1) -> None:
    width = resampled[1] - resampled[0]
    assert width > 0
    assert abs(analytic[0] - resampled[0]) < share * width
    assert abs(analytic[1] - resampled[1]) < share * width


@pytest.fixture
def force_bootstrap(monkeypatch):
    def run(fn, *args, **kwargs):
        monkeypatch.setattr(stats, "LARGE_N", 10**9)
        monkeypatch.setattr(aggregates, "LARGE_N", 10**9)
        try:
            return fn(*args, **kwargs)
        finally:
            monkeypatch.setattr(stats, "LARGE_N", N - 500)
            monkeypatch.setattr(aggregates, "LARGE_N", N - 500)

    return run


def test_mean_interval_agrees(force_bootstrap):
    values = np.random.default_rng(1).gamma(2.0, 0.01, size=N)  # e.g. cost per call
    _close(stats.bootstrap_ci(values), force_bootstrap(stats.bootstrap_ci, values))


def test_ratio_interval_agrees(force_bootstrap):
    """A clustered proportion's score interval agrees with the delta method at large n; a ratio outside
    [0, 1] switches from the BCa bootstrap to the delta method, and the two agree."""
    rng = np.random.default_rng(2)
    den = rng.integers(1, 4, size=N).astype(float)
    num = rng.binomial(den.astype(int), 0.6).astype(float)
    point, low, high = stats.ratio_ci(num, den)
    se = np.sqrt(N / (N - 1) * np.sum((num - point * den) ** 2)) / den.sum()
    _close((low, high), (point - 1.96 * se, point + 1.96 * se), share=0.02)
    scaled = num * 3  # e.g. points per field: not a proportion
    analytic = stats.ratio_ci(scaled, den)
    resampled = force_bootstrap(stats.ratio_ci, scaled, den)
    assert analytic[0] == resampled[0]
    _close(analytic[1:], resampled[1:])


def test_percentile_interval_agrees(force_bootstrap):
    latency = np.random.default_rng(3).lognormal(6, 0.5, size=N)
    # a bootstrapped quantile moves in steps of the order statistics, so its ends are noisier
    _close(stats.percentile_ci(latency, 95), force_bootstrap(stats.percentile_ci, latency, 95), share=0.2)


def test_macro_f1_large_sample_interval_agrees_with_bootstrap():
    """Above LARGE_N the macro-F1 interval is the jackknife normal interval; it agrees with a bootstrap."""
    rng = np.random.default_rng(4)
    labels, n = 4, N
    gold = rng.integers(0, labels, size=n)
    pred = np.where(rng.random(n) < 0.6, gold, rng.integers(0, labels, size=n))
    tp = np.stack([((gold == c) & (pred == c)).astype(float) for c in range(labels)])
    fp = np.stack([((gold != c) & (pred == c)).astype(float) for c in range(labels)])
    fn = np.stack([((gold == c) & (pred != c)).astype(float) for c in range(labels)])
    idx = np.random.default_rng(0).integers(0, n, size=(1000, n))
    boots = aggregates.macro_f1_from_counts(tp[:, idx].sum(2), fp[:, idx].sum(2), fn[:, idx].sum(2))
    _close(aggregates.macro_f1_ci(tp, fp, fn, 0.95), tuple(np.quantile(boots, [0.025, 0.975])))


def test_large_interval_contains_point_and_narrows():
    rng = np.random.default_rng(5)
    small = rng.binomial(1, 0.5, size=N).astype(float)
    large = rng.binomial(1, 0.5, size=4 * N).astype(float)
    lo_s, hi_s = stats.bootstrap_ci(small)
    lo_l, hi_l = stats.bootstrap_ci(large)
    assert lo_s <= small.mean() <= hi_s and lo_l <= large.mean() <= hi_l
    assert (hi_l - lo_l) < 0.6 * (hi_s - lo_s)


def test_macro_f1_interval_of_a_perfect_small_sample_is_not_degenerate():
    """20 of 20 right: every resample has macro-F1 1.0, so a bootstrap says [1, 1]; the interval must
    assume the worst (each example all-or-nothing), as accuracy's Wilson interval does."""
    from evals.metrics.classification import macro_f1_ci

    gold = np.array([0, 1, 2, 3] * 5)
    tp = np.stack([(gold == c).astype(float) for c in range(4)])
    zeros = np.zeros_like(tp)
    low, high = macro_f1_ci(tp, zeros, zeros, 0.95, 2000, 0)
    assert high == 1.0
    assert low == pytest.approx(stats.wilson_ci(20, 20)[0]) and low < 0.85


def test_macro_f1_small_sample_interval_is_bca_not_percentile():
    """Below LARGE_N the macro-F1 interval is stats.resampled_ci's BCa, the one bootstrap of a statistic."""
    from evals.metrics.classification import macro_f1_ci, macro_f1_from_counts

    rng = np.random.default_rng(7)
    gold = rng.integers(0, 3, size=40)
    pred = np.where(rng.random(40) < 0.7, gold, rng.integers(0, 3, size=40))
    tp, fp, fn = (np.stack([m(c).astype(float) for c in range(3)]) for m in
                  (lambda c: (gold == c) & (pred == c), lambda c: (gold != c) & (pred == c),
                   lambda c: (gold == c) & (pred != c)))
    point = float(macro_f1_from_counts(tp.sum(1), fp.sum(1), fn.sum(1)))
    totals = [x.sum(1, keepdims=True) for x in (tp, fp, fn)]
    loo = macro_f1_from_counts(totals[0] - tp, totals[1] - fp, totals[2] - fn)
    expected = stats.resampled_ci(
        lambda idx: macro_f1_from_counts(tp[:, idx].sum(2), fp[:, idx].sum(2), fn[:, idx].sum(2)),
        40, point=point, leave_one_out=loo, confidence=0.95, n_boot=2000, seed=0)
    assert macro_f1_ci(tp, fp, fn, 0.95, 2000, 0) == pytest.approx(expected)
