"""The exact test on the discordant pairs that the recommender's non-inferiority rule also requires."""

from __future__ import annotations

import math

import numpy as np
import pytest

from evals.stats import noninferiority_exact
from evals.stats_formulas import binomial_sf


@pytest.mark.parametrize("k,n,p", [(0, 5, 0.3), (4, 5, 0.3), (5, 5, 0.3), (6, 5, 0.3), (30, 60, 0.41), (1, 1, 0.0)])
def test_binomial_tail_matches_scipy(k, n, p):
    scipy_stats = pytest.importorskip("scipy.stats")
    assert binomial_sf(k, n, p) == pytest.approx(float(scipy_stats.binom.sf(k - 1, n, p)), abs=1e-12)


def _pairs(n: int, losses: int, wins: int) -> tuple[list[int], list[int]]:
    """Incumbent ``a`` and candidate ``b``: ``losses`` pairs a-only, ``wins`` pairs b-only, the rest both pass."""
    a = [1] * losses + [0] * wins + [1] * (n - losses - wins)
    b = [0] * losses + [1] * wins + [1] * (n - losses - wins)
    return a, b


def test_p_value_at_the_margin_is_the_binomial_tail():
    # 20 pairs, 1 loss and 4 wins: pi0 = 1/2 - 0.1 * 20 / 10 = 0.3, P(X >= 4 | 5, 0.3) = 0.0308
    assert noninferiority_exact(*_pairs(20, 1, 4), 0.1) == pytest.approx(5 * 0.3**4 * 0.7 + 0.3**5)
    # more wins, smaller p; more losses, larger p
    assert noninferiority_exact(*_pairs(20, 0, 5), 0.1) < noninferiority_exact(*_pairs(20, 1, 4), 0.1)
    assert noninferiority_exact(*_pairs(20, 2, 3), 0.1) > noninferiority_exact(*_pairs(20, 1, 4), 0.1)


def test_few_discordant_pairs_leave_the_decision_to_the_interval():
    # 2 discordant pairs in 20 at margin 0.1: even both lost is -0.1, so the pairs alone cannot refute it
    assert math.isnan(noninferiority_exact(*_pairs(20, 2, 0), 0.1))
    assert math.isnan(noninferiority_exact([], [], 0.1))
    with pytest.raises(ValueError):
        noninferiority_exact([1, 0], [1], 0.1)


def test_size_at_the_margin_is_at_most_alpha():
    # a candidate exactly `margin` worse: the test claims non-inferiority at most 2.5% of the time (one-sided)
    rng = np.random.default_rng(7)
    n, margin, claims, trials = 60, 0.1, 0, 4000
    p_loss, p_win = 0.2, 0.1  # difference -0.1, discordance 0.3
    for _ in range(trials):
        u = rng.random(n)
        losses, wins = int(np.sum(u < p_loss)), int(np.sum((u >= p_loss) & (u < p_loss + p_win)))
        p = noninferiority_exact(*_pairs(n, losses, wins), margin)
        claims += bool(not math.isnan(p) and p <= 0.025)
    assert claims / trials <= 0.03
