"""Statistics as pure functions: bootstrap intervals and latency percentiles."""

from __future__ import annotations

import math
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


def bootstrap_ci(values: Sequence[float], *, confidence: float = 0.95, n_boot: int = 2000,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean; (nan, nan) for no values, (x, x) for one.

    >>> bootstrap_ci([1.0, 1.0, 1.0])
    (1.0, 1.0)
    """
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return (math.nan, math.nan)
    if data.size == 1:
        return (float(data[0]), float(data[0]))
    rng = np.random.default_rng(seed)
    means = rng.choice(data, size=(n_boot, data.size), replace=True).mean(axis=1)
    alpha = (1 - confidence) / 2
    return (float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha)))


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation; NaN for no values.

    >>> percentile([10, 20, 30, 40], 50)
    25.0
    """
    data = np.asarray(values, dtype=float)
    return float(np.percentile(data, q)) if data.size else math.nan
