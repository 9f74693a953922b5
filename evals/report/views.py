"""Per-suite views of a run: the aggregates' numbers arranged for the HTML and Markdown renderers.

Every number here is a value of ``aggregates.parquet`` (:mod:`evals.aggregates`, which computes them
with :mod:`evals.metrics`); nothing is recomputed from the rows, so the report and the aggregates
cannot disagree. The results frame supplies only names (a model's family, a suite's task).
Everything returned is JSON-able; nothing here formats text.
"""

from __future__ import annotations

import math
from typing import Any

from evals.metrics.paired import TOO_SMALL

#: Metrics a per-suite view needs; stored aggregates without them (an older harness) are recomputed.
REQUIRED_METRICS = frozenset({"quality", "availability", "infra_failures", "answer_failures", "pareto"})


def _num(value: Any) -> float | None:
    """A float, or None for missing values (JSON has no NaN).

    >>> _num(float("nan")) is None, _num(1)
    (True, 1.0)
    """
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def index_aggregates(aggregates: Any) -> dict[str, dict[str, dict[str, dict[str, Any]]]]:
    """Slice ``all`` of the aggregates as ``{suite: {model: {metric: row}}}``."""
    out: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}
    if aggregates is None or not len(aggregates):
        return out
    rows = aggregates[aggregates["slice"].astype(str) == "all"]
    for r in rows.to_dict("records"):
        out.setdefault(str(r["suite"]), {}).setdefault(str(r["model"]), {})[str(r["metric"])] = r
    return out


def has_required_metrics(aggregates: Any) -> bool:
    """Whether stored aggregates carry what the views show (written by this harness's metrics)."""
    if aggregates is None or not len(aggregates) or "metric" not in aggregates.columns:
        return False
    return REQUIRED_METRICS.issubset(set(aggregates["metric"].astype(str)))


def _value(metrics: dict[str, dict[str, Any]], name: str) -> float | None:
    row = metrics.get(name)
    return None if row is None else _num(row.get("value"))


def _note(metrics: dict[str, dict[str, Any]], name: str) -> str | None:
    row = metrics.get(name)
    return None if row is None else _text(row.get("note"))


def _prefixed(metrics: dict[str, dict[str, Any]], prefix: str) -> dict[str, dict[str, Any]]:
    return {name[len(prefix):]: row for name, row in metrics.items() if name.startswith(prefix)}


def model_view(model: str, metrics: dict[str, dict[str, Any]], family: str | None) -> dict[str, Any]:
    """One suite x model: quality with interval, failures, cost, latency, baseline and frontier marks."""
    q = metrics.get("quality", {})
    avail = metrics.get("availability", {})
    cost_note = _note(metrics, "cost_per_1k_calls_usd")
    cost = _value(metrics, "cost_per_1k_calls_usd")
    warnings: list[str] = []
    notes: list[str] = []
    if cost is None and "cost_per_1k_calls_usd" in metrics:
        warnings.append(cost_note or "price unknown")
    elif cost_note:
        notes.append(cost_note)  # the pricing assumption (and how many calls had no price)
    if _value(metrics, "infra_failures"):
        warnings.append(_note(metrics, "availability") or "infrastructure failures")
    beats = _value(metrics, "beats_baseline")
    if beats == 0.0:
        warnings.append(_note(metrics, "beats_baseline") or "does not beat the baseline")
    mde = _note(metrics, "min_detectable_difference")
    if mde and mde.startswith(TOO_SMALL):
        warnings.append(mde)
    diff = metrics.get("paired_diff_vs_baseline", {})
    return {
        "model": model, "family": family,
        "n": int(q.get("n") or 0), "quality": _num(q.get("value")),
        "ci_low": _num(q.get("ci_low")), "ci_high": _num(q.get("ci_high")),
        "calls": int(_value(metrics, "calls") or 0), "errors": int(_value(metrics, "errors") or 0),
        "error_rate": _value(metrics, "error_rate"),
        "infra_failures": int(_value(metrics, "infra_failures") or 0),
        "answer_failures": int(_value(metrics, "answer_failures") or 0),
        "truncated": int(_value(metrics, "truncated") or 0), "refused": int(_value(metrics, "refused") or 0),
        "availability": _num(avail.get("value")), "availability_low": _num(avail.get("ci_low")),
        "availability_high": _num(avail.get("ci_high")),
        "errors_by_kind": {k: int(_num(r.get("value")) or 0) for k, r in sorted(_prefixed(metrics, "failures:").items())},
        "cost_per_1k_usd": cost,
        "p50_ms": _value(metrics, "latency_p50_ms"), "p95_ms": _value(metrics, "latency_p95_ms"),
        "subscores": {k: _num(r.get("value")) for k, r in sorted(_prefixed(metrics, "subscore:").items())},
        "pareto": _value(metrics, "pareto") == 1.0,
        "beats_baseline": None if beats is None else beats == 1.0,
        "baseline_diff": _num(diff.get("value")), "baseline_diff_low": _num(diff.get("ci_low")),
        "baseline_diff_high": _num(diff.get("ci_high")),
        "warnings": warnings, "notes": notes,
    }


def _baseline(per_model: dict[str, dict[str, dict[str, Any]]]) -> dict[str, Any] | None:
    for metrics in per_model.values():
        row = metrics.get("baseline_quality")
        if row is not None:
            note = _text(row.get("note")) or ""
            return {"name": note.split(":")[0] or "baseline", "quality": _num(row.get("value")),
                    "ci_low": _num(row.get("ci_low")), "ci_high": _num(row.get("ci_high")), "n": int(row.get("n") or 0),
                    "note": note}
    return None


def field_view(per_model: dict[str, dict[str, dict[str, Any]]], models: list[str]) -> dict[str, Any]:
    """Extraction: per field path and model, F1 with precision and recall; fields null on both sides apart."""
    paths = sorted({p for m in per_model.values() for p in _prefixed(m, "field_f1:")})
    rows = []
    for path in paths:
        row: dict[str, Any] = {"field": path, "f1": {}, "precision": {}, "recall": {}, "n": {}}
        for model in models:
            metrics = per_model.get(model, {})
            if f"field_f1:{path}" not in metrics:
                continue
            row["f1"][model] = _value(metrics, f"field_f1:{path}")
            row["precision"][model] = _value(metrics, f"field_precision:{path}")
            row["recall"][model] = _value(metrics, f"field_recall:{path}")
            row["n"][model] = int(metrics[f"field_f1:{path}"].get("n") or 0)
        rows.append(row)
    both = sorted({p for m in per_model.values() for p in _prefixed(m, "both_null:")})
    both_null = [{"field": p, "count": {m: int(_value(per_model.get(m, {}), f"both_null:{p}") or 0) for m in models
                                        if f"both_null:{p}" in per_model.get(m, {})}} for p in both]
    micro = {m: {k: _value(per_model.get(m, {}), k) for k in ("field_precision", "field_recall", "field_f1")}
             for m in models}
    return {"models": models, "rows": rows, "both_null": both_null, "micro": micro}


def class_view(per_model: dict[str, dict[str, dict[str, Any]]], models: list[str]) -> dict[str, Any]:
    """Classification: per gold class and model, recall and precision; accuracy, macro-F1, invalid rate."""
    classes = sorted({c for m in per_model.values() for c in _prefixed(m, "recall:")})
    rows = []
    for cls in classes:
        row: dict[str, Any] = {"class": cls, "recall": {}, "precision": {}, "n": {}}
        for model in models:
            metrics = per_model.get(model, {})
            if f"recall:{cls}" not in metrics:
                continue
            row["recall"][model] = _value(metrics, f"recall:{cls}")
            row["precision"][model] = _value(metrics, f"precision:{cls}")
            row["n"][model] = int(metrics[f"recall:{cls}"].get("n") or 0)
        rows.append(row)
    overall = {m: {k: _value(per_model.get(m, {}), k) for k in ("accuracy", "macro_f1", "invalid_label_rate")}
               for m in models}
    return {"models": models, "rows": rows, "overall": overall}


def tool_view(per_model: dict[str, dict[str, dict[str, Any]]], models: list[str]) -> dict[str, Any]:
    """Tool calls: per gold tool and model, recall and precision; per argument F1 (precision / recall);
    accuracy per gold kind; and each model's confusion table of tools (gold x predicted counts)."""
    tools = sorted({t for m in per_model.values() for t in _prefixed(m, "tool_recall:")})
    rows = []
    for tool in tools:
        row: dict[str, Any] = {"tool": tool, "recall": {}, "precision": {}}
        for model in models:
            metrics = per_model.get(model, {})
            if f"tool_recall:{tool}" in metrics:
                row["recall"][model] = _value(metrics, f"tool_recall:{tool}")
                row["precision"][model] = _value(metrics, f"tool_precision:{tool}")
        rows.append(row)
    arguments = []
    for path in sorted({p for m in per_model.values() for p in _prefixed(m, "argument_f1:")}):
        cell: dict[str, Any] = {"argument": path, "f1": {}, "precision": {}, "recall": {}}
        for model in models:
            metrics = per_model.get(model, {})
            if f"argument_f1:{path}" in metrics:
                cell["f1"][model] = _value(metrics, f"argument_f1:{path}")
                cell["precision"][model] = _value(metrics, f"argument_precision:{path}")
                cell["recall"][model] = _value(metrics, f"argument_recall:{path}")
        arguments.append(cell)
    confusion = {}
    for model in models:
        counts = {tuple(k.split("->", 1)): int(_num(r.get("value")) or 0)
                  for k, r in _prefixed(per_model.get(model, {}), "tool_confusion:").items() if "->" in k}
        gold = sorted({g for g, _ in counts})
        predicted = sorted({p for _, p in counts})
        confusion[model] = {"gold": gold, "predicted": predicted,
                            "counts": {g: {p: counts.get((g, p), 0) for p in predicted} for g in gold}}
    kinds = sorted({k for m in per_model.values() for k in _prefixed(m, "kind_accuracy:")})
    overall = {m: {k: _value(per_model.get(m, {}), k) for k in ("tool_macro_f1", "argument_f1")} for m in models}
    return {"models": models, "rows": rows, "arguments": arguments, "confusion": confusion, "overall": overall,
            "kinds": {k: {m: _value(per_model.get(m, {}), f"kind_accuracy:{k}") for m in models} for k in kinds}}


def excluded_view(manifest: dict[str, Any], suite: str) -> list[dict[str, Any]]:
    """Examples of ``suite`` a model was not run on because they exceed its context window (manifest
    ``excluded``), one line per model: how many, the window and the largest need."""
    by_model: dict[str, list[dict[str, Any]]] = {}
    for item in manifest.get("excluded") or []:
        if isinstance(item, dict) and item.get("suite") == suite:
            by_model.setdefault(str(item.get("model")), []).append(item)
    out = []
    for model, items in sorted(by_model.items()):
        needed = max(int(i.get("needed_tokens") or 0) for i in items)
        out.append({"model": model, "count": len(items), "window": int(items[0].get("window") or 0),
                    "needed": needed, "examples": sorted(str(i.get("example_id")) for i in items)})
    return out


def suite_views(aggregates: Any, frame: Any, manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """One view per suite of the aggregates: model rows, frontier, baseline, sub-scores, per-field/class."""
    out = []
    index = index_aggregates(aggregates)
    families: dict[tuple[str, str], str] = {}
    tasks: dict[str, str] = {}
    if frame is not None and len(frame):
        firsts = frame.drop_duplicates(["suite", "model"])
        for r in firsts.itertuples(index=False):
            families[(str(r.suite), str(r.model))] = None if r.family is None else str(r.family)
            tasks.setdefault(str(r.suite), str(r.task) if r.task is not None else "")
    suites_meta = manifest.get("suites", {}) if isinstance(manifest.get("suites"), dict) else {}
    for suite in sorted(index):
        per_model = index[suite]
        names = sorted(per_model)
        models = [model_view(m, per_model[m], families.get((suite, m))) for m in names]
        frontier = sorted((m for m in models if m["pareto"]), key=lambda m: (m["cost_per_1k_usd"], -(m["quality"] or 0)))
        meta = suites_meta.get(suite) if isinstance(suites_meta.get(suite), dict) else {}
        task = tasks.get(suite) or str(meta.get("task") or "")
        out.append({
            "suite": suite, "task": task, "models": models, "frontier": [m["model"] for m in frontier],
            "error_kinds": sorted({k for m in models for k in m["errors_by_kind"]}),
            "subscore_names": sorted({k for m in models for k in m["subscores"]}),
            "baseline": _baseline(per_model),
            "below_baseline": [m["model"] for m in models if m["beats_baseline"] is False],
            "floor": meta.get("quality_floor"),
            "fields": field_view(per_model, names) if task == "extraction" else None,
            "classes": class_view(per_model, names) if task == "classification" else None,
            "tools": tool_view(per_model, names) if task == "tool_call" else None,
            "excluded": excluded_view(manifest, suite),
        })
    return out


def headline(aggregates: Any, frame: Any) -> dict[str, Any]:
    """The run's totals, summed from the aggregates' per suite x model counts (slice ``all``)."""
    index = index_aggregates(aggregates)
    cells = [m for per_model in index.values() for m in per_model.values()]

    def total(name: str) -> int:
        return int(sum(_value(m, name) or 0 for m in cells))

    costs = [_value(m, "cost_total_usd") for m in cells]
    known = [c for c in costs if c is not None]
    calls = total("calls")
    return {
        "rows": calls, "errors": total("errors"), "infra_failures": total("infra_failures"),
        "answer_failures": total("answer_failures"), "truncated": total("truncated"), "cached": total("cached"),
        "suites": len(index), "models": len({m for per_model in index.values() for m in per_model}),
        "cost_usd": sum(known) if known else None, "unpriced_cells": len(costs) - len(known),
        "judge_cost_usd": sum(_value(m, "judge_cost_usd") or 0.0 for m in cells) if any(
            "judge_cost_usd" in m for m in cells) else None,
    }
