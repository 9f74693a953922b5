"""A run against a baseline run: what got better and worse, per suite x model and per example.

Per suite x model the two runs are compared on the examples both answered, by the per-example quality
of :mod:`evals.metrics` (repeats averaged, answer failures 0, infrastructure failures left out) and the
paired interval of :func:`evals.stats.paired_difference`; the example lists show single rows that moved.
"""

from __future__ import annotations

import math
from typing import Any

KEY = ["suite", "model", "example_id", "repeat"]


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


def _rows(frame: Any) -> Any:
    """Per row: its key, its quality score (NaN for an infrastructure failure) and whether it failed."""
    from evals.metrics import Calls

    calls = Calls.of(frame)
    keep = frame[KEY].copy()
    keep["value"] = calls.score
    keep["errored"] = calls.failure != None  # noqa: E711
    return keep


def compare_runs(current: Any, baseline: Any, *, baseline_id: str, per_example_limit: int = 50) -> dict[str, Any]:
    """Paired comparison of two runs on the suite x model pairs both have.

    Returns per suite x model rows (mean per-example quality before and after on the examples both runs
    answered, the paired difference with its interval and a verdict) and the rows whose score moved most
    in each direction.
    """
    from evals.metrics import align, example_scores, paired_diff

    rows = []
    cur_groups = dict(iter(current.groupby(["suite", "model"], sort=True))) if len(current) else {}
    base_groups = dict(iter(baseline.groupby(["suite", "model"], sort=True))) if len(baseline) else {}
    for key in sorted(set(cur_groups) & set(base_groups)):
        after_scores, before_scores = example_scores(cur_groups[key]), example_scores(base_groups[key])
        before, after = align(before_scores, after_scores)
        d = paired_diff(before_scores, after_scores)
        rows.append({
            "suite": str(key[0]), "model": str(key[1]), "n": int(d.n),
            "before": float(before.mean()) if before.size else None, "after": float(after.mean()) if after.size else None,
            "delta": d.diff, "ci_low": d.ci_low, "ci_high": d.ci_high, "verdict": verdict(d.ci_low, d.ci_high),
            "improved": int((after > before).sum()), "regressed": int((after < before).sum()),
        })
    merged = _rows(current).merge(_rows(baseline), on=KEY, suffixes=("", "_base"))
    merged["delta"] = merged["value"] - merged["value_base"]
    moved = merged[merged["delta"].notna() & (merged["delta"] != 0)]

    def examples(part: Any) -> list[dict[str, Any]]:
        return [{"suite": str(r.suite), "model": str(r.model), "example_id": str(r.example_id),
                 "repeat": int(r.repeat), "before": float(r.value_base), "after": float(r.value),
                 "delta": float(r.delta), "errored": bool(r.errored), "errored_before": bool(r.errored_base)}
                for r in part.itertuples(index=False)]

    worse = moved[moved["delta"] < 0].sort_values(["delta"] + KEY).head(per_example_limit)
    better = moved[moved["delta"] > 0].sort_values(["delta"] + KEY, ascending=[False] + [True] * 4)
    better = better.head(per_example_limit)
    cur_keys = {(str(s), str(m)) for s, m in cur_groups}
    base_keys = {(str(s), str(m)) for s, m in base_groups}
    return {
        "baseline_id": baseline_id,
        "matched_rows": int(len(merged)),
        "rows": rows,
        "better": examples(better), "worse": examples(worse),
        "n_better": int((moved["delta"] > 0).sum()), "n_worse": int((moved["delta"] < 0).sum()),
        "only_current": sorted(f"{s} / {m}" for s, m in cur_keys - base_keys),
        "only_baseline": sorted(f"{s} / {m}" for s, m in base_keys - cur_keys),
        "per_example_limit": per_example_limit,
        "baseline_scores": {(str(r.suite), str(r.model), str(r.example_id), int(r.repeat)): float(r.value_base)
                            for r in merged.itertuples(index=False) if not math.isnan(r.value_base)},
    }
