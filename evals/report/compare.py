"""A run against a baseline run: what got better and worse, per suite x model and per example."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

KEY = ["suite", "model", "example_id", "repeat"]


def paired_delta_ci(deltas: np.ndarray, *, n_boot: int = 2000, seed: int = 0) -> tuple[float, float]:
    """95% interval of the mean of paired differences (bootstrap up to 5,000 pairs, normal beyond).

    >>> paired_delta_ci(np.array([0.5, 0.5, 0.5]))
    (0.5, 0.5)
    """
    if deltas.size == 0:
        return (math.nan, math.nan)
    if deltas.size == 1 or np.all(deltas == deltas[0]):
        return (float(deltas[0]), float(deltas[0]))
    if deltas.size > 5000:
        half = 1.96 * float(deltas.std(ddof=1)) / math.sqrt(deltas.size)
        return (float(deltas.mean()) - half, float(deltas.mean()) + half)
    rng = np.random.default_rng(seed)
    means = rng.choice(deltas, size=(n_boot, deltas.size), replace=True).mean(axis=1)
    return (float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975)))


def verdict(low: float, high: float) -> str:
    """``better`` or ``worse`` when the interval excludes zero, else ``unchanged``.

    >>> verdict(0.01, 0.2), verdict(-0.3, -0.1), verdict(-0.1, 0.1)
    ('better', 'worse', 'unchanged')
    """
    if math.isnan(low) or math.isnan(high):
        return "unchanged"
    if low > 0:
        return "better"
    if high < 0:
        return "worse"
    return "unchanged"


def _scores(frame: Any) -> Any:
    """Score per key; an errored row counts as 0, as it would for a caller."""
    keep = frame[KEY + ["score", "error"]].copy()
    keep["value"] = keep["score"].astype(float).fillna(0.0)
    keep["errored"] = keep["error"].notna()
    return keep.drop(columns=["score", "error"])


def compare_runs(current: Any, baseline: Any, *, baseline_id: str, per_example_limit: int = 50) -> dict[str, Any]:
    """Paired comparison on the (suite, model, example, repeat) rows both runs share.

    Returns per suite x model rows (mean before and after, paired delta with a 95% interval and a
    verdict) and the examples whose score moved most in each direction.
    """
    merged = _scores(current).merge(_scores(baseline), on=KEY, suffixes=("", "_base"))
    merged["delta"] = merged["value"] - merged["value_base"]
    rows = []
    for (suite, model), group in merged.groupby(["suite", "model"], sort=True):
        deltas = group["delta"].to_numpy(dtype=float)
        low, high = paired_delta_ci(deltas)
        rows.append({
            "suite": str(suite), "model": str(model), "n": int(len(group)),
            "before": float(group["value_base"].mean()), "after": float(group["value"].mean()),
            "delta": float(deltas.mean()), "ci_low": low, "ci_high": high, "verdict": verdict(low, high),
            "improved": int((deltas > 0).sum()), "regressed": int((deltas < 0).sum()),
        })
    moved = merged[merged["delta"] != 0]

    def examples(part: Any) -> list[dict[str, Any]]:
        return [{"suite": str(r.suite), "model": str(r.model), "example_id": str(r.example_id),
                 "repeat": int(r.repeat), "before": float(r.value_base), "after": float(r.value),
                 "delta": float(r.delta), "errored": bool(r.errored), "errored_before": bool(r.errored_base)}
                for r in part.itertuples(index=False)]

    worse = moved[moved["delta"] < 0].sort_values(["delta"] + KEY).head(per_example_limit)
    better = moved[moved["delta"] > 0].sort_values(["delta"] + KEY, ascending=[False] + [True] * 4)
    better = better.head(per_example_limit)
    cur_keys = set(map(tuple, current[["suite", "model"]].drop_duplicates().astype(str).to_numpy().tolist()))
    base_keys = set(map(tuple, baseline[["suite", "model"]].drop_duplicates().astype(str).to_numpy().tolist()))
    return {
        "baseline_id": baseline_id,
        "matched_rows": int(len(merged)),
        "rows": rows,
        "better": examples(better), "worse": examples(worse),
        "n_better": int((merged["delta"] > 0).sum()), "n_worse": int((merged["delta"] < 0).sum()),
        "only_current": sorted(f"{s} / {m}" for s, m in cur_keys - base_keys),
        "only_baseline": sorted(f"{s} / {m}" for s, m in base_keys - cur_keys),
        "per_example_limit": per_example_limit,
        "baseline_scores": {(str(r.suite), str(r.model), str(r.example_id), int(r.repeat)): float(r.value_base)
                   for r in merged.itertuples(index=False)},
    }
