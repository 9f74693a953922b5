"""Cost per call: the mean over *priced* calls; unknown only when no call has a price.

A call without a price is one whose usage never came back (a 5xx or a timeout reports no tokens) or a
model whose price is unknown. The first must not make a known price unknown: the mean is over the calls
that have a price, and a note says how many lacked one. Only when no call has a price is the cost
unknown (``value`` None), never $0. ``cost_usd`` is the model call's own cost (what production pays);
an LLM judge's cost is ``judge_cost_usd``, reported apart (:func:`judge_cost`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from evals.metrics.calls import Calls
from evals.metrics.estimate import Estimate


def cost_per_call(frame: Any, *, price_note: str | None = None, price_warning: str | None = None,
                  confidence: float = 0.95, n_boot: int = 2000, seed: int = 0) -> Estimate:
    """Mean ``cost_usd`` over priced calls with :func:`evals.stats.bootstrap_ci` (a mean of dollars, not of
    scores); n = priced calls. ``price_note``/``price_warning`` (from :func:`evals.costs.price_info`) go
    into the note.

    >>> import pandas as pd
    >>> rows = pd.DataFrame({"suite": "s", "example_id": list("abc"), "score": [1.0, None, 1.0],
    ...                      "error": [None, "server_error", None], "cost_usd": [0.002, None, 0.004]})
    >>> c = cost_per_call(rows)
    >>> round(c.value, 6), c.n, c.note
    (0.003, 2, '1 of 3 calls had no price (no usage reported); the mean is over the 2 priced calls')
    """
    from evals.stats import bootstrap_ci

    calls = Calls.of(frame)
    costs = calls.numeric("cost_usd")
    priced = costs[~np.isnan(costs)]
    missing = len(costs) - len(priced)
    parts = [price_warning]
    if not priced.size:
        parts.append("price unknown: no call has a price" if len(costs) else "no calls")
        parts.append(price_note if price_note != "no price" else None)
        return Estimate(None, None, None, 0, "; ".join(p for p in parts if p) or None)
    if missing:
        parts.append(f"{missing} of {len(costs)} calls had no price (no usage reported); "
                     f"the mean is over the {len(priced)} priced calls")
    parts.append(price_note)
    low, high = bootstrap_ci(priced, confidence=confidence, n_boot=n_boot, seed=seed)
    return Estimate(float(priced.mean()), low, high, int(priced.size), "; ".join(p for p in parts if p) or None)


def per_1k(estimate: Estimate) -> Estimate:
    """The same estimate per 1,000 calls.

    >>> per_1k(Estimate(0.002, 0.001, 0.003, 4)).value
    2.0
    """
    def k(x: float | None) -> float | None:
        return None if x is None else x * 1000

    return Estimate(k(estimate.value), k(estimate.ci_low), k(estimate.ci_high), estimate.n, estimate.note)


def total_cost(frame: Any, column: str = "cost_usd") -> Estimate:
    """Sum of ``column`` over the calls that have one; value None when none has (n = priced calls)."""
    values = Calls.of(frame).numeric(column)
    priced = values[~np.isnan(values)]
    return Estimate(float(priced.sum()) if priced.size else None, None, None, int(priced.size))


def judge_cost(frame: Any) -> Estimate | None:
    """What scoring with an LLM judge cost in all (``judge_cost_usd``), or None when no row used a judge."""
    values = Calls.of(frame).numeric("judge_cost_usd")
    if not (~np.isnan(values)).any():
        return None
    return total_cost(frame, "judge_cost_usd")
