"""How well a classifier's confidence matches how often it is right: reliability bins and ECE.

Pure functions over the top label's confidence and whether that label was right. Written once here
for ``evals distill`` (the held-out reliability in every artifact's manifest) and the benchmark.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np


def reliability(confidences: Sequence[float], correct: Sequence[bool], bins: int = 10) -> list[dict[str, Any]]:
    """Equal-width confidence bins over [0, 1]: each with its range, count, mean confidence and accuracy.

    A confidence of exactly 1 falls in the last bin; an empty bin has ``None`` for both means.

    >>> [(b["n"], b["accuracy"]) for b in reliability([0.95, 0.91, 0.3], [True, False, False], bins=2)]
    [(1, 0.0), (2, 0.5)]
    """
    conf = np.asarray(confidences, dtype=float)
    hit = np.asarray(correct, dtype=bool)
    if conf.shape != hit.shape:
        raise ValueError(f"reliability needs one outcome per confidence; got {conf.size} and {hit.size}")
    index = np.minimum((conf * bins).astype(int), bins - 1)
    out = []
    for b in range(bins):
        mask = index == b
        n = int(mask.sum())
        out.append({"low": b / bins, "high": (b + 1) / bins, "n": n,
                    "mean_confidence": float(conf[mask].mean()) if n else None,
                    "accuracy": float(hit[mask].mean()) if n else None})
    return out


def expected_calibration_error(confidences: Sequence[float], correct: Sequence[bool], bins: int = 10) -> float:
    """ECE: the count-weighted mean gap between accuracy and mean confidence over :func:`reliability`'s bins.

    0 is perfectly calibrated; NaN for no predictions.

    >>> round(expected_calibration_error([0.9, 0.9, 0.6, 0.6], [True, False, True, True], bins=10), 3)
    0.4
    """
    table = reliability(confidences, correct, bins)
    total = sum(b["n"] for b in table)
    if total == 0:
        return math.nan
    return float(sum(b["n"] / total * abs(b["accuracy"] - b["mean_confidence"]) for b in table if b["n"]))
