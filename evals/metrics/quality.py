"""Quality: the mean over examples of each example's mean quality score across its repeats.

A row's quality score (:class:`~evals.metrics.calls.Calls`): the scorer's score for a scored answer,
**0.0 for an answer failure** (refused, truncated), and nothing for an **infrastructure failure**
(rate limit, timeout, server error, ...), which is left out and counted as availability instead
(:mod:`evals.metrics.failures`). An example whose every call failed for infrastructure reasons is left
out of quality, so ``n`` is the examples with at least one answer. The interval is
:func:`evals.stats.mean_ci` over the per-example means, so repeats never fake precision.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from evals.metrics.calls import Calls, loads_column
from evals.metrics.estimate import Estimate

QUALITY_NOTE = ("mean over examples of the scored calls; an answer failure (refused, truncated) scores 0, "
                "an infrastructure failure is left out (see availability)")


def mean_estimate(values: np.ndarray, *, confidence: float = 0.95, n_boot: int = 2000, seed: int = 0,
                  note: str | None = None) -> Estimate:
    """The mean of per-example values with :func:`evals.stats.mean_ci`; value None for no values.

    >>> mean_estimate(np.array([1.0, 0.0, 1.0, 1.0])).value
    0.75
    """
    from evals.stats import mean_ci

    values = np.asarray(values, dtype=float)
    if not values.size:
        return Estimate(None, None, None, 0, note)
    low, high = mean_ci(values, confidence=confidence, n_boot=n_boot, seed=seed)
    return Estimate(float(values.mean()), low, high, int(values.size), note)


def example_rate(frame: Any, values: np.ndarray, rows: np.ndarray | None = None, *, note: str | None = None,
                 confidence: float = 0.95, n_boot: int = 2000, seed: int = 0) -> Estimate:
    """Mean over examples of the per-example mean of ``values`` over ``rows`` (default: every row that
    counts for quality), with :func:`evals.stats.mean_ci`. The one way a per-call share becomes a rate."""
    calls = Calls.of(frame)
    values = np.asarray(values, dtype=float).copy()
    rows = calls.answered if rows is None else rows
    values[~rows] = np.nan
    _, means = calls.example_means(values)
    return mean_estimate(means, confidence=confidence, n_boot=n_boot, seed=seed, note=note)


def quality(frame: Any, *, confidence: float = 0.95, n_boot: int = 2000, seed: int = 0) -> Estimate:
    """Quality of a results frame (see the module docstring), n = examples with an answer.

    >>> import pandas as pd
    >>> rows = pd.DataFrame({"suite": "s", "example_id": ["a", "b", "c", "d"], "score": [1.0, 1.0, None, None],
    ...                      "error": [None, None, "rate_limited", "refused"]})
    >>> q = quality(rows)
    >>> round(q.value, 3), q.n
    (0.667, 3)
    """
    calls = Calls.of(frame)
    _, means = calls.example_means(calls.score)
    return mean_estimate(means, confidence=confidence, n_boot=n_boot, seed=seed, note=QUALITY_NOTE)


def example_scores(frame: Any) -> Any:
    """Per-example quality as a pandas Series indexed by ``(suite, example_id)``, sorted: what paired
    comparisons align on. Examples with only infrastructure failures are absent."""
    import pandas as pd

    calls = Calls.of(frame)
    positions, means = calls.example_means(calls.score)
    return pd.Series(means, index=calls.example_index(positions), dtype=float).sort_index()


def is_pass_fail(frame: Any) -> bool:
    """Whether every quality score of the rows is 0 or 1 (a pass/fail suite, where McNemar applies)."""
    calls = Calls.of(frame)
    scores = calls.score[~np.isnan(calls.score)]
    return bool(scores.size) and bool(np.isin(scores, (0.0, 1.0)).all())


def subscores(frame: Any, *, confidence: float = 0.95, n_boot: int = 2000, seed: int = 0) -> dict[str, Estimate]:
    """``subscore:<name>`` for every sub-score a scorer reported, by the quality rule: an answer failure
    counts 0, an infrastructure failure is left out, a scored row without that sub-score is left out."""
    calls = Calls.of(frame)
    parsed = [s if ok else None for s, ok in zip(loads_column(calls.column("subscores")), calls.scored)]
    names = sorted({k for s in parsed if isinstance(s, dict) for k in s})
    out: dict[str, Estimate] = {}
    answer_failure = calls.answered & ~calls.scored
    for name in names:
        values = np.array([float(s[name]) if isinstance(s, dict) and isinstance(s.get(name), (int, float))
                           else np.nan for s in parsed])
        values[answer_failure] = 0.0
        out[f"subscore:{name}"] = example_rate(calls, values, confidence=confidence, n_boot=n_boot, seed=seed)
    return out


def repeat_sd(frame: Any, *, confidence: float = 0.95, n_boot: int = 2000, seed: int = 0) -> Estimate | None:
    """Mean per-example standard deviation of the quality score across repeats (None without repeats).

    The interval is :func:`evals.stats.bootstrap_ci` (a mean of standard deviations, not of scores).
    """
    from evals.stats import bootstrap_ci

    calls = Calls.of(frame)
    has = ~np.isnan(calls.score)
    counts = np.bincount(calls.example[has], minlength=calls.n_examples)
    if not counts.size or counts.max() <= 1:
        return None
    sums = np.bincount(calls.example[has], weights=calls.score[has], minlength=calls.n_examples)
    squares = np.bincount(calls.example[has], weights=calls.score[has] ** 2, minlength=calls.n_examples)
    many = counts > 1
    var = (squares[many] - sums[many] ** 2 / counts[many]) / (counts[many] - 1)
    sds = np.sqrt(np.clip(var, 0.0, None))
    low, high = bootstrap_ci(sds, confidence=confidence, n_boot=n_boot, seed=seed)
    return Estimate(float(sds.mean()), low, high, int(sds.size),
                    "mean per-example standard deviation of the score across repeats")
