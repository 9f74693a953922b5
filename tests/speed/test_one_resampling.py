"""The latency percentiles of a model share one set of bootstrap resamples (issue 16: the aggregates of a
1,000-call run drew the same 2000 x n resample matrix once per percentile), and every interval is exactly
the one the percentile's own bootstrap gives."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evals import stats
from evals.metrics.latency import latency_percentiles


def _own_bootstrap(values, q, n_boot=2000, seed=0):
    return stats._bootstrap(values, lambda s: np.percentile(s, q, axis=1), 0.95, n_boot, seed)


@pytest.mark.parametrize("n", [0, 1, 2, 37, 500, stats.LARGE_N + 1])
def test_each_interval_is_the_percentiles_own(n):
    values = np.random.default_rng(n).lognormal(3, 1, size=n)
    got = stats.percentile_cis(values, [50, 95, 99])
    for q, interval in zip((50, 95, 99), got):
        expected = (stats.percentile_ci(values, q) if n > stats.LARGE_N or n <= 1 else _own_bootstrap(values, q))
        if n == 0:
            assert all(np.isnan(interval)) and all(np.isnan(expected))
        else:
            assert interval == expected  # exactly, not approximately


def test_latency_percentiles_draw_the_resamples_once(monkeypatch):
    frame = pd.DataFrame({"suite": "s", "example_id": [f"e{i}" for i in range(300)], "score": 1.0, "error": None,
                          "latency_ms": np.random.default_rng(1).lognormal(3, 1, 300)})
    draws = []
    real = np.random.default_rng

    def counting(*args, **kwargs):
        draws.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(stats.np.random, "default_rng", counting)
    out = latency_percentiles(frame, (50, 95, 99))
    assert len(draws) == 1
    monkeypatch.setattr(stats.np.random, "default_rng", real)
    values = frame["latency_ms"].to_numpy()
    for q in (50, 95, 99):
        assert (out[q].ci_low, out[q].ci_high) == _own_bootstrap(values, q)
        assert out[q].value == np.percentile(values, q)
