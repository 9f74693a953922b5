"""Statistics: bootstrap intervals, paired comparisons, McNemar, power, repeats; checked by hand and scipy."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest, norm

from evals import stats
from evals.stats import (
    McNemarResult, bootstrap_ci, mcnemar, mean_ci, mean_or_nan, min_detectable_difference, paired_bootstrap,
    paired_difference, per_example_means, percentile, ratio_ci, t_value, wilson_ci, z_value,
)


def test_bootstrap_empty_single_and_constant():
    assert all(math.isnan(x) for x in bootstrap_ci([]))
    assert bootstrap_ci([0.7]) == (0.7, 0.7)
    assert bootstrap_ci([1.0, 1.0]) == (1.0, 1.0)
    assert math.isnan(mean_or_nan([]))


def test_bootstrap_contains_point_and_narrows_with_n():
    rng = np.random.default_rng(1)
    widths = []
    for n in (20, 200, 2000):
        values = rng.binomial(1, 0.6, size=n).astype(float)
        low, high = bootstrap_ci(values)
        assert low <= values.mean() <= high
        widths.append(high - low)
    assert widths[0] > widths[1] > widths[2]


def test_percentile_matches_numpy():
    assert percentile([10, 20, 30, 40], 50) == 25.0
    assert percentile(list(range(101)), 95) == pytest.approx(95.0)
    assert math.isnan(percentile([], 50))


def test_paired_difference_diff_and_edges():
    empty = paired_difference([], [])
    assert empty.n == 0 and math.isnan(empty.diff) and math.isnan(empty.ci_low) and math.isnan(empty.ci_high)
    one = paired_difference([0.25], [1.0])  # one pair says little: a wide interval, never a point
    assert one.diff == 0.75 and one.ci_low < 0 and one.ci_high == pytest.approx(1.0, abs=0.2) and one.n == 1
    a = [0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0]
    b = [1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0]
    result = paired_difference(a, b)
    assert result.diff == pytest.approx(np.mean(b) - np.mean(a))
    assert result.ci_low <= result.diff <= result.ci_high
    assert (result.discordant, result.method) == (3, "tango")
    with pytest.raises(ValueError):
        paired_difference([1.0], [1.0, 0.0])
    assert paired_bootstrap(a, b) == result  # the former name gives the same interval


def test_one_discordant_pair_does_not_show_non_inferiority():
    """Issue 11: B 19/20 vs A 18/20 with one discordant pair; the percentile bootstrap said [0.000, 0.150]."""
    a = [1.0] * 18 + [0.0, 0.0]
    b = [1.0] * 19 + [0.0]
    d = paired_difference(a, b)
    assert d.diff == pytest.approx(0.05) and d.discordant == 1
    assert d.ci_low < -0.1  # a 0.02 non-inferiority margin is not shown
    assert d.ci_high < 0.3
    # no discordant pair at all: still an interval of honest width around 0
    same = paired_difference([1.0] * 20, [1.0] * 20)
    assert same.discordant == 0 and same.ci_low < -0.1 and same.ci_high > 0.1


def test_paired_fractional_scores_with_one_discordant_example():
    """Averaged repeats (0.5 = one of two right): the bootstrap of differences would say [0, x] again."""
    a = [0.5] + [1.0] * 19
    b = [1.0] * 20
    d = paired_difference(a, b)
    assert d.method == "tango-dispersion" and d.discordant == 1 and d.ci_low < -0.05
    # identical fractional scores: no dispersion to measure, so the pass/fail worst case, not [0, 0]
    same = paired_difference([0.5] * 20, [0.5] * 20)
    assert same.discordant == 0 and same.ci_low < -0.1 and same.ci_high > 0.1


def test_paired_difference_other_values_use_bca():
    rng = np.random.default_rng(0)
    a = rng.normal(5, 1, size=50)
    d = paired_difference(a, a + 0.5 + rng.normal(0, 0.1, size=50))
    assert d.method == "bca" and 0.4 < d.ci_low < 0.5 < d.ci_high < 0.6


def test_paired_bootstrap_is_tighter_than_unpaired_for_correlated_scores():
    rng = np.random.default_rng(3)
    base = rng.uniform(0, 1, size=300)
    a, b = base, base + 0.02 + rng.normal(0, 0.01, size=300)
    paired = paired_difference(a, b)
    assert paired.ci_low > 0  # the small, consistent gain is detected because pairing removes example noise
    a_low, a_high = bootstrap_ci(a)
    assert paired.ci_high - paired.ci_low < (a_high - a_low) / 5


def test_mcnemar_against_scipy_binomtest():
    a = [True] * 10 + [False] * 3 + [True] * 20 + [False] * 5
    b = [False] * 10 + [True] * 3 + [True] * 20 + [False] * 5
    result = mcnemar(a, b)
    assert (result.b, result.c) == (10, 3)
    assert result.p_value == pytest.approx(binomtest(10, 13, 0.5).pvalue)
    assert mcnemar([True, False], [True, False]) == McNemarResult(b=0, c=0, p_value=1.0)
    assert mcnemar([], []) == McNemarResult(b=0, c=0, p_value=1.0)
    # one discordant pair: exact two-sided p is 1.0
    assert mcnemar([True], [False]).p_value == pytest.approx(1.0)


def test_min_detectable_difference_formula():
    expected = (norm.ppf(0.975) + norm.ppf(0.8)) * 0.4 / math.sqrt(50)
    assert min_detectable_difference(50, sd_of_paired_differences=0.4) == pytest.approx(expected)
    assert min_detectable_difference(200, 0.4) == pytest.approx(expected / 2)
    assert min_detectable_difference(1, 0.4) == math.inf
    assert math.isnan(min_detectable_difference(10, math.nan))


def test_per_example_means_averages_repeats():
    frame = pd.DataFrame({
        "suite": ["s"] * 5, "model": ["m", "m", "m", "n", "n"], "example_id": ["e1", "e1", "e2", "e1", "e1"],
        "score": [1.0, 0.0, 1.0, 0.5, None],
    })
    out = per_example_means(frame)
    assert list(out.columns) == ["suite", "model", "example_id", "score", "repeats", "repeat_sd"]
    row = out[(out.model == "m") & (out.example_id == "e1")].iloc[0]
    assert row.score == 0.5 and row.repeats == 2 and row.repeat_sd == pytest.approx(np.std([1.0, 0.0], ddof=1))
    single = out[(out.model == "n")].iloc[0]
    assert single.repeats == 1 and math.isnan(single.repeat_sd)
    assert per_example_means(frame.iloc[0:0]).empty


def test_suite_size_warning():
    from evals.stats import suite_size_warning

    assert suite_size_warning(5000, 0.4, 0.05) is None
    warning = suite_size_warning(30, 0.4, 0.05)
    assert "30 examples" in warning and f"{min_detectable_difference(30, 0.4):.3f}" in warning
    assert "cannot show any difference" in suite_size_warning(1, 0.4, 0.05)


def test_small_sample_pass_rates_are_not_certain():
    """Issue 11: the percentile bootstrap gave [1.000, 1.000] at 20/20 and [0.850, 1.000] at 19/20."""
    low, high = mean_ci([1.0] * 20)
    assert high == 1.0 and 0.75 < low < 0.85
    assert [round(x, 3) for x in mean_ci([1.0] * 19 + [0.0])] == [0.731, 0.997]
    assert wilson_ci(19, 20, continuity=False) == pytest.approx((0.7639, 0.9911), abs=1e-4)
    assert mean_ci([1.0] * 19 + [0.0]) == wilson_ci(19, 20)
    assert all(math.isnan(x) for x in mean_ci([]))


def test_mean_ci_routes_by_values():
    assert mean_ci([0.2, 3.0, 5.0, 1.0]) == bootstrap_ci([0.2, 3.0, 5.0, 1.0])  # not scores: BCa
    low, high = mean_ci([1.0] * 19 + [0.5])  # a fractional score near the bound: below 1, not a point
    assert 0.8 < low < 0.95 and high < 1.0
    assert mean_ci([0.7, 0.7]) == (0.7, 0.7)


def test_quantiles_match_scipy():
    from scipy.stats import t

    for df in (1, 2, 3, 4, 5, 9, 19, 29, 30, 49, 200, 5000):
        for confidence in (0.8, 0.9, 0.95, 0.99):
            assert t_value(confidence, df) == pytest.approx(t.ppf(0.5 + confidence / 2, df), rel=2e-6)
    assert z_value(0.95) == pytest.approx(norm.ppf(0.975), rel=1e-12)


def test_bca_matches_scipy_bca():
    from scipy.stats import bootstrap

    data = np.random.default_rng(2).lognormal(0, 1, size=60)
    ours = bootstrap_ci(data, n_boot=4000)
    ref = bootstrap((data,), np.mean, n_resamples=20000, method="BCa", random_state=1).confidence_interval
    width = ref.high - ref.low
    assert abs(ours[0] - ref.low) < 0.08 * width and abs(ours[1] - ref.high) < 0.08 * width
    # skewed data: BCa moves the interval right of the percentile one
    assert ours[1] > stats._bootstrap(data, lambda s: s.mean(axis=1), 0.95, 4000, 0)[1]


def test_bca_corrects_for_a_biased_bootstrap_distribution():
    """The bias correction: replicates mostly above the estimate pull the interval down, as BCa defines."""
    boots = np.linspace(1.0, 2.0, 1001)
    low, high = stats._bca(boots, 1.25, np.zeros(5), 0.95)  # a quarter below 1.25 (a tie counts half)
    z0 = norm.ppf(250.5 / 1001)
    assert low == pytest.approx(np.quantile(boots, norm.cdf(2 * z0 - norm.ppf(0.975))), abs=1e-9)
    assert high == pytest.approx(np.quantile(boots, norm.cdf(2 * z0 + norm.ppf(0.975))), abs=1e-9)
    assert high < 1.75


def test_ratio_with_unit_denominators_is_mean_ci():
    num = [1.0, 0.0, 1.0, 1.0, 0.5]
    assert ratio_ci(num, [1] * 5)[1:] == mean_ci(num)
    # all fields right in every example: not certain; the worst case counts examples, not fields
    point, low, high = ratio_ci([3] * 20, [3] * 20)
    assert point == 1.0 and high == 1.0 and low == pytest.approx(mean_ci([1.0] * 20)[0])


def test_mcnemar_large_counts_against_scipy():
    a = [True] * 3000 + [False] * 3200 + [True] * 100
    b = [False] * 3000 + [True] * 3200 + [True] * 100
    assert mcnemar(a, b).p_value == pytest.approx(binomtest(3000, 6200, 0.5).pvalue, rel=1e-9)


def test_common_intervals_do_not_import_scipy():
    import subprocess
    import sys

    code = ("import sys, evals.stats as s; s.mean_ci([1.0, 0.0, 1.0]); s.mean_ci([0.5, 1.0]); "
            "s.paired_difference([1.0, 0.0], [1.0, 1.0]); s.mcnemar([True], [False]); s.ratio_ci([1, 2], [2, 2]); "
            "s.bootstrap_ci([1.0, 2.0, 4.0]); s.min_detectable_difference(30, 0.3); "
            "assert not [m for m in sys.modules if m.startswith('scipy')], 'scipy imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("module", ["evals.stats", "evals.stats_formulas", "evals.costs", "evals.aggregates", "evals.scorers.extraction",
                                    "evals.scorers.classification", "evals.scorers.voice", "evals.scorers.judge"])
def test_doctests(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert result.failed == 0 and result.attempted > 0
