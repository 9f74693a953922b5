"""Per-suite views of a run's results: pure functions from the results frame to plain dicts.

Everything here takes a pandas DataFrame with the columns of ``results.parquet`` and returns
JSON-able dicts and lists that the HTML and Markdown renderers lay out; nothing here formats text.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

#: Above this many scores a mean's interval uses the normal approximation instead of the bootstrap,
#: whose resampling matrix would grow to n_boot x n floats.
BOOTSTRAP_MAX_N = 5000


def quality_interval(scores: np.ndarray) -> tuple[float, float, str]:
    """95% interval of the mean score and the method used (``bootstrap`` or ``normal``).

    >>> quality_interval(np.array([]))[2]
    'none'
    >>> quality_interval(np.array([1.0, 1.0]))[:2]
    (1.0, 1.0)
    """
    from evals.stats import bootstrap_ci

    if scores.size == 0:
        return (math.nan, math.nan, "none")
    if scores.size <= BOOTSTRAP_MAX_N:
        low, high = bootstrap_ci(scores.tolist())
        return (low, high, "bootstrap")
    mean = float(scores.mean())
    half = 1.96 * float(scores.std(ddof=1)) / math.sqrt(scores.size)
    return (max(0.0, mean - half), min(1.0, mean + half), "normal")


def _loads(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, (dict, list)):
        return value
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return value


def _num(value: Any) -> float | None:
    """A float, or None for missing values (JSON has no NaN)."""
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def model_summary(group: Any) -> dict[str, Any]:
    """Quality with interval, cost per 1k calls, latency and error rates by kind for one suite x model.

    Quality is the mean score with a failed call counted as 0, the definition ``evals.aggregates`` uses.
    """
    failed = group["error"].notna().to_numpy()
    scores = group["score"].astype(float).to_numpy()
    scored = int((~np.isnan(scores) & ~failed).sum())
    scores = np.where(failed, 0.0, scores)  # a failed call counts as 0, as in evals.aggregates
    scores = scores[~np.isnan(scores)]
    low, high, method = quality_interval(scores)
    costs = group["cost_usd"].dropna().astype(float)
    latency = group["latency_ms"].dropna().astype(float).to_numpy()
    n = int(len(group))
    kinds = group["error"].dropna().astype(str).value_counts()
    return {
        "n": n,
        "scored": scored, "warnings": [], "notes": [],
        "quality": _num(scores.mean()) if scores.size else None,
        "ci_low": _num(low), "ci_high": _num(high), "ci_method": method,
        "cost_per_1k_usd": _num(costs.mean() * 1000) if len(costs) else None,
        "cost_missing": int(group["cost_usd"].isna().sum()),
        "p50_ms": _num(np.percentile(latency, 50)) if latency.size else None,
        "p95_ms": _num(np.percentile(latency, 95)) if latency.size else None,
        "errors": int(kinds.sum()),
        "error_rate": float(kinds.sum() / n) if n else 0.0,
        "errors_by_kind": {str(k): {"count": int(v), "rate": float(v / n)} for k, v in kinds.items()},
        "family": str(group["family"].iloc[0]) if "family" in group and n else None,
    }


def pareto_frontier(points: list[dict[str, Any]]) -> list[str]:
    """Models no other model beats on both cost (lower) and quality (higher), cheapest first.

    >>> pareto_frontier([{"model": "a", "cost": 1, "quality": 0.5}, {"model": "b", "cost": 2, "quality": 0.4},
    ...                  {"model": "c", "cost": 3, "quality": 0.9}])
    ['a', 'c']
    """
    usable = sorted((p for p in points if p["cost"] is not None and p["quality"] is not None),
                    key=lambda p: (p["cost"], -p["quality"]))
    frontier: list[str] = []
    best = -math.inf
    for p in usable:
        if p["quality"] > best:
            frontier.append(p["model"])
            best = p["quality"]
    return frontier


def subscore_means(group: Any) -> dict[str, float]:
    """Mean of every sub-score over the scored rows of one suite x model."""
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    for raw in group["subscores"].dropna():
        for key, value in (_loads(raw) or {}).items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                sums[key] = sums.get(key, 0.0) + float(value)
                counts[key] = counts.get(key, 0) + 1
    return {k: sums[k] / counts[k] for k in sorted(sums)}


def field_view(frame: Any, models: list[str]) -> dict[str, Any]:
    """Extraction: per field path and model, the share of scored examples where the field was right."""
    stats: dict[str, dict[str, list[int]]] = {}
    for model, raw in zip(frame["model"], frame["detail"]):
        detail = _loads(raw)
        if not isinstance(detail, dict) or not isinstance(detail.get("fields"), dict):
            continue
        for path, f in detail["fields"].items():
            cell = stats.setdefault(str(path), {}).setdefault(str(model), [0, 0])
            cell[0] += 1 if f.get("correct") else 0
            cell[1] += 1
    rows = [{"field": path, "accuracy": {m: (c[0] / c[1] if c[1] else None) for m, c in per.items()},
             "n": {m: c[1] for m, c in per.items()}}
            for path, per in sorted(stats.items())]
    return {"models": models, "rows": rows}


def _gold_label(raw: Any) -> str:
    value = _loads(raw)
    return str(value).strip().lower() if value is not None else ""


def class_view(frame: Any, models: list[str]) -> dict[str, Any]:
    """Classification: per gold class and model, recall and precision, plus the invalid-label share."""
    counts: dict[str, dict[str, dict[str, int]]] = {}
    for model, raw_gold, raw_detail, error in zip(frame["model"], frame["gold"], frame["detail"], frame["error"]):
        if error is not None and not (isinstance(error, float) and math.isnan(error)):
            continue
        gold = _gold_label(raw_gold)
        detail = _loads(raw_detail)
        predicted = detail.get("predicted") if isinstance(detail, dict) else None
        per = counts.setdefault(str(model), {})
        per.setdefault(gold, {"gold": 0, "tp": 0, "pred": 0, "invalid": 0})["gold"] += 1
        if predicted is None:
            per[gold]["invalid"] += 1
            continue
        per.setdefault(str(predicted), {"gold": 0, "tp": 0, "pred": 0, "invalid": 0})["pred"] += 1
        if str(predicted) == gold:
            per[gold]["tp"] += 1
    classes = sorted({c for per in counts.values() for c in per})
    rows = []
    for cls in classes:
        row: dict[str, Any] = {"class": cls, "recall": {}, "precision": {}, "n": {}}
        for model in models:
            c = counts.get(model, {}).get(cls)
            if c is None:
                continue
            row["n"][model] = c["gold"]
            row["recall"][model] = c["tp"] / c["gold"] if c["gold"] else None
            row["precision"][model] = c["tp"] / c["pred"] if c["pred"] else None
        rows.append(row)
    return {"models": models, "rows": rows}


def suite_views(frame: Any, manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """One view per suite: model summaries, Pareto frontier, sub-scores and task-specific views."""
    out = []
    if frame is None or not len(frame):
        return out
    for suite, sframe in frame.groupby("suite", sort=True):
        task = str(sframe["task"].iloc[0]) if "task" in sframe else ""
        models = []
        for model, group in sframe.groupby("model", sort=True):
            summary = model_summary(group)
            summary["model"] = str(model)
            summary["subscores"] = subscore_means(group)
            models.append(summary)
        names = [m["model"] for m in models]
        frontier = pareto_frontier([{"model": m["model"], "cost": m["cost_per_1k_usd"], "quality": m["quality"]}
                                    for m in models])
        for m in models:
            m["pareto"] = m["model"] in frontier
        kinds = sorted({k for m in models for k in m["errors_by_kind"]})
        subscore_names = sorted({k for m in models for k in m["subscores"]})
        view = {
            "suite": str(suite), "task": task, "models": models, "frontier": frontier, "error_kinds": kinds,
            "subscore_names": subscore_names,
            "floor": (manifest.get("suites", {}).get(suite, {}) or {}).get("quality_floor"),
            "fields": field_view(sframe, names) if task == "extraction" else None,
            "classes": class_view(sframe, names) if task == "classification" else None,
        }
        out.append(view)
    return out


def apply_aggregates(suites: list[dict[str, Any]], aggregates: Any) -> int:
    """Take quality (with its interval), cost per 1k calls, p95 latency and the warnings of a run's
    ``aggregates.parquet`` (``evals.aggregates``) over the values recomputed here; returns pairs used.

    Only slice ``all`` is used; a table without the expected columns is ignored.
    """
    if aggregates is None or not len(aggregates):
        return 0
    if not {"suite", "model", "metric", "value", "ci_low", "ci_high", "slice"}.issubset(aggregates.columns):
        return 0
    rows = aggregates[aggregates["slice"].astype(str) == "all"]
    index: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows.to_dict("records"):
        index.setdefault((str(r["suite"]), str(r["model"])), {})[str(r["metric"])] = r
    used = 0
    for view in suites:
        for m in view["models"]:
            metrics = index.get((view["suite"], m["model"]))
            if not metrics or "quality" not in metrics:
                continue
            q = metrics["quality"]
            m["quality"], m["ci_low"], m["ci_high"] = _num(q["value"]), _num(q["ci_low"]), _num(q["ci_high"])
            m["ci_method"] = "aggregates"
            if "cost_per_1k_calls_usd" in metrics:
                m["cost_per_1k_usd"] = _num(metrics["cost_per_1k_calls_usd"]["value"])
            if "latency_p95_ms" in metrics:
                m["p95_ms"] = _num(metrics["latency_p95_ms"]["value"])
            for name in ("cost_per_1k_calls_usd", "min_detectable_difference"):
                row = metrics.get(name, {})
                note = row.get("note")
                if not isinstance(note, str) or not note:
                    continue
                # A priced cost's note is the pricing assumption, not a problem; an unknown price is.
                is_assumption = name == "cost_per_1k_calls_usd" and _num(row.get("value")) is not None
                target = m["notes"] if is_assumption else m["warnings"]
                if note not in target:
                    target.append(note)
            used += 1
        frontier = pareto_frontier([{"model": m["model"], "cost": m["cost_per_1k_usd"], "quality": m["quality"]}
                                    for m in view["models"]])
        view["frontier"] = frontier
        for m in view["models"]:
            m["pareto"] = m["model"] in frontier
    return used
