"""Paired comparisons between models on the same examples, and the power they have.

Two models are compared on the examples both answered (per-example quality, repeats averaged;
infrastructure failures left out): the difference and its interval come from
:func:`evals.stats.paired_difference`, and for pass/fail suites the exact :func:`evals.stats.mcnemar`.
The smallest difference a suite can detect (:func:`detectable_difference`) uses the standard deviation
of the *paired differences*, as :func:`evals.stats.min_detectable_difference` asks, not one model's sd.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from evals.metrics.estimate import Estimate

#: How a power warning starts: the suite cannot detect the difference a rule change needs.
TOO_SMALL = "suite too small"


def align(a: Any, b: Any) -> tuple[np.ndarray, np.ndarray]:
    """Two per-example score Series restricted to the examples both have, in the same order.

    >>> import pandas as pd
    >>> align(pd.Series([1.0, 0.0], index=["x", "y"]), pd.Series([0.5, 1.0], index=["z", "x"]))
    (array([1.]), array([1.]))
    """
    common = a.index.intersection(b.index).sort_values()
    return a.loc[common].to_numpy(dtype=float), b.loc[common].to_numpy(dtype=float)


def paired_diff(a: Any, b: Any, *, confidence: float = 0.95, n_boot: int = 2000, seed: int = 0):
    """``mean(b) - mean(a)`` on the examples both have, with :func:`evals.stats.paired_difference`."""
    from evals.stats import paired_difference

    xa, xb = align(a, b)
    return paired_difference(xa, xb, confidence=confidence, n_boot=n_boot, seed=seed)


@dataclass(frozen=True)
class Detectable:
    """The smallest difference a paired test detects, against which comparator, and a warning if too big."""

    estimate: Estimate
    comparator: str | None


def detectable_difference(scores: Any, comparators: dict[str, Any], needed_difference: float, *,
                          alpha: float = 0.05, power: float = 0.8) -> Detectable:
    """Minimum detectable difference of ``scores`` against each comparator (other models, or a baseline),
    from the sd of the paired differences; the largest (the weakest comparison) is reported.

    The note warns, starting "suite too small", when that difference exceeds ``needed_difference``.
    With no comparator there are no paired differences to measure: value None, and a note saying so.
    """
    from evals.stats import min_detectable_difference

    worst: tuple[float, int, float, str] | None = None
    for name, other in comparators.items():
        xa, xb = align(other, scores)
        n = int(xa.size)
        if n == 0:
            continue
        sd = float(np.std(xb - xa, ddof=1)) if n > 1 else math.nan
        mde = min_detectable_difference(n, sd, alpha=alpha, power=power)
        key = math.inf if not math.isfinite(mde) else mde
        if worst is None or key > worst[0]:
            worst = (key, n, sd, name)
    if worst is None:
        n = int(len(scores))
        if n < 2:
            note = (f"{TOO_SMALL}: {n} example(s) cannot show any difference; "
                    f"a rule change needing {needed_difference:.3f} is not supported")
            return Detectable(Estimate(None, None, None, n, note), None)
        return Detectable(Estimate(None, None, None, n, "no other model or baseline on these examples: "
                                                        "no paired differences to size the suite by"), None)
    mde, n, sd, name = worst
    if mde <= needed_difference:
        return Detectable(Estimate(mde, None, None, n, None), name)
    if not math.isfinite(mde):
        note = (f"{TOO_SMALL}: {n} example(s) cannot show any difference; "
                f"a rule change needing {needed_difference:.3f} is not supported")
        return Detectable(Estimate(None, None, None, n, note), name)
    note = (f"{TOO_SMALL}: {n} examples (sd of paired differences vs {name} {sd:.2f}) detect only differences "
            f"of {mde:.3f} or more at {power:.0%} power; a rule change needing {needed_difference:.3f} "
            "is not supported")
    return Detectable(Estimate(mde, None, None, n, note), name)


def paired_metrics(model: str, scores: dict[str, Any], pass_fail: bool, *, confidence: float = 0.95,
                   n_boot: int = 2000, seed: int = 0) -> dict[str, Estimate]:
    """``paired_diff_vs:<other>`` (this model minus the other) and, for pass/fail suites,
    ``mcnemar_p_vs:<other>`` for ``model`` against every other entry of ``scores`` (model -> Series)."""
    from evals.stats import mcnemar

    out: dict[str, Estimate] = {}
    mine = scores[model]
    for other, theirs in scores.items():
        if other == model:
            continue
        d = paired_diff(theirs, mine, confidence=confidence, n_boot=n_boot, seed=seed)
        out[f"paired_diff_vs:{other}"] = Estimate(
            d.diff, d.ci_low, d.ci_high, d.n, f"mean per-example score of {model} minus {other} on the examples both answered")
        if pass_fail:
            xa, xb = align(theirs, mine)
            test = mcnemar(xa >= 0.5, xb >= 0.5)
            out[f"mcnemar_p_vs:{other}"] = Estimate(
                test.p_value, None, None, int(xa.size),
                f"exact McNemar: {test.c} examples only {model} passes, {test.b} only {other} passes")
    return out
