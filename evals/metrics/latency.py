"""Latency percentiles per call (every call that reported a latency, failed or not)."""

from __future__ import annotations

from typing import Any

import numpy as np

from evals.metrics.calls import Calls
from evals.metrics.estimate import Estimate


def latency_percentiles(frame: Any, quantiles: tuple[int, ...] = (50, 95, 99), *, column: str = "latency_ms",
                        confidence: float = 0.95, n_boot: int = 2000, seed: int = 0) -> dict[int, Estimate]:
    """The ``q``-th percentile of ``column`` for each ``q``, with :func:`evals.stats.percentile_ci`;
    empty when no call has a value.

    >>> import pandas as pd
    >>> rows = pd.DataFrame({"suite": "s", "example_id": list("abcd"), "score": 1.0, "error": None,
    ...                      "latency_ms": [10.0, 20.0, 30.0, 40.0]})
    >>> latency_percentiles(rows, (50,))[50].value
    25.0
    """
    from evals.stats import percentile, percentile_cis

    values = Calls.of(frame).numeric(column)
    values = values[~np.isnan(values)]
    if not values.size:
        return {}
    intervals = percentile_cis(values, quantiles, confidence=confidence, n_boot=n_boot, seed=seed)  # one resampling
    return {q: Estimate(percentile(values, q), low, high, int(values.size))
            for q, (low, high) in zip(quantiles, intervals)}
