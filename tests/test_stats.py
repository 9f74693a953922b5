"""Statistics: bootstrap intervals, paired comparisons, McNemar, power, repeats; checked by hand and scipy."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest, norm

from evals.stats import (
    McNemarResult, PairedDiff, bootstrap_ci, mcnemar, mean_or_nan, min_detectable_difference, paired_bootstrap,
    per_example_means, percentile,
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


def test_paired_bootstrap_diff_and_edges():
    empty = paired_bootstrap([], [])
    assert empty.n == 0 and math.isnan(empty.diff) and math.isnan(empty.ci_low) and math.isnan(empty.ci_high)
    one = paired_bootstrap([0.25], [1.0])
    assert one == PairedDiff(diff=0.75, ci_low=0.75, ci_high=0.75, n=1)
    a = [0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0]
    b = [1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0]
    result = paired_bootstrap(a, b)
    assert result.diff == pytest.approx(np.mean(b) - np.mean(a))
    assert result.ci_low <= result.diff <= result.ci_high
    with pytest.raises(ValueError):
        paired_bootstrap([1.0], [1.0, 0.0])


def test_paired_bootstrap_is_tighter_than_unpaired_for_correlated_scores():
    rng = np.random.default_rng(3)
    base = rng.uniform(0, 1, size=300)
    a, b = base, base + 0.02 + rng.normal(0, 0.01, size=300)
    paired = paired_bootstrap(a, b)
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
    assert min_detectable_difference(50, 0.4) == pytest.approx(expected)
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


@pytest.mark.parametrize("module", ["evals.stats", "evals.costs", "evals.aggregates", "evals.scorers.extraction",
                                    "evals.scorers.classification", "evals.scorers.voice", "evals.scorers.judge"])
def test_doctests(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert result.failed == 0 and result.attempted > 0
