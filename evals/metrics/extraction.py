"""Extraction metrics from the scorer's per-field detail (CONTRACTS section 6).

Each scored row's ``detail["fields"][path]`` is ``{"gold", "pred", "correct"[, "weight"]}`` for every
leaf path where gold or prediction has a value: ``tp = gold & pred & correct``, ``fp = pred & not
correct``, ``fn = gold & not correct``, each times the path's weight (default 1). Paths null on both
sides are not in ``fields`` but in ``detail["both_null"]``; they are counted apart (``both_null:<path>``)
and never as matched (an entry with neither gold nor prediction, as older scorers wrote, is counted
the same way). An answer failure (refused, truncated) misses every gold path that holds a value: the
cells its row's detail lists (:meth:`evals.scorers.base.Scorer.unanswered_detail`, the scorer's own
paths), else the gold's leaf paths. Infrastructure failures are left out.

Per-field metrics group paths by :func:`evals.scorers.records.field_group`: the cells of a list of
records (``commitments[3].due``, ``commitments[+1].due``) count together as ``commitments[].due``.
:func:`cell_metrics` is the one precision/recall/F1 over cells; tool-call arguments use it too.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from evals.metrics.calls import Calls, loads, loads_column
from evals.metrics.estimate import Estimate
from evals.metrics.quality import example_rate
from evals.scorers.records import field_group

RATES = (("parse_rate", "parsed"), ("schema_valid_rate", "schema_valid"), ("exact_record_rate", "exact_record"))


def _gold_paths(raw: Any) -> list[str]:
    """Leaf paths of a gold record that hold a value (what an answer failure misses)."""
    from evals.scorers.extraction import flatten

    gold = loads(raw)
    if isinstance(gold, str):
        gold = loads(gold)
    if not isinstance(gold, dict):
        return []
    return [path for path, value in flatten(gold).items() if value not in (None, "", [], {})]


def field_cells(frame: Any) -> tuple[list[dict[str, dict]], list[list[str]]]:
    """Per row, the field cells counted (``{}`` for an infrastructure failure) and the both-null paths."""
    calls = Calls.of(frame)
    cells: list[dict[str, dict]] = []
    both: list[list[str]] = []
    missed = {"gold": True, "pred": False, "correct": False}
    for raw, gold, scored, answered in zip(calls.column("detail"), calls.column("gold"), calls.scored, calls.answered):
        if not answered:
            cells.append({})
            both.append([])
            continue
        detail = loads(raw)
        detail = detail if isinstance(detail, dict) else {}
        if not scored and not isinstance(detail.get("fields"), dict):
            cells.append({path: missed for path in _gold_paths(gold)})
            both.append([])
            continue
        fields = detail.get("fields") if isinstance(detail.get("fields"), dict) else {}
        nulls = [str(p) for p in detail.get("both_null") or []]
        counted = {}
        for path, cell in fields.items():
            if not isinstance(cell, dict):
                continue
            if not cell.get("gold") and not cell.get("pred"):
                nulls.append(str(path))
            else:
                counted[str(path)] = cell
        cells.append(counted)
        both.append(nulls)
    return cells, both


def cell_metrics(frame: Any, cells: list[dict[str, dict]], name: str, *, confidence: float = 0.95,
                 n_boot: int = 2000, seed: int = 0) -> dict[str, Estimate]:
    """``<name>_precision``/``_recall``/``_f1`` micro over all cells and per field group
    (``<name>_f1:<group>``), from per-row cells (CONTRACTS section 6: ``tp = gold & pred & correct``,
    ``fp = pred & not correct``, ``fn = gold & not correct``, times the cell's weight). Counts are
    summed per example; :func:`evals.stats.ratio_ci` resamples examples."""
    from evals.stats import ratio_ci

    calls = Calls.of(frame)
    kw = {"confidence": confidence, "n_boot": n_boot, "seed": seed}
    out: dict[str, Estimate] = {}
    groups = sorted({field_group(p) for c in cells for p in c})
    index = {g: k for k, g in enumerate(groups)}
    counts = np.zeros((3, len(groups), len(calls)))  # tp, fp, fn per group and row
    for i, row in enumerate(cells):
        for path, c in row.items():
            w = float(c.get("weight", 1.0))
            gold, pred, correct = bool(c.get("gold")), bool(c.get("pred")), bool(c.get("correct"))
            k = index[field_group(path)]
            counts[:, k, i] += (w * (gold and pred and correct), w * (pred and not correct), w * (gold and not correct))
    has_answer = calls.sum_by_example(calls.answered) > 0
    totals = np.zeros((3, int(has_answer.sum())))
    for group, k in index.items():
        tp_e, fp_e, fn_e = (calls.sum_by_example(counts[x, k])[has_answer] for x in range(3))
        totals += np.stack([tp_e, fp_e, fn_e])
        for metric, num, den in ((f"{name}_precision", tp_e, tp_e + fp_e), (f"{name}_recall", tp_e, tp_e + fn_e),
                                 (f"{name}_f1", 2 * tp_e, 2 * tp_e + fp_e + fn_e)):
            point, low, high = ratio_ci(num, den, **kw)
            out[f"{metric}:{group}"] = Estimate(point, low, high, int(np.count_nonzero(den)))
    tp_e, fp_e, fn_e = totals
    for metric, num, den in ((f"{name}_precision", tp_e, tp_e + fp_e), (f"{name}_recall", tp_e, tp_e + fn_e),
                             (f"{name}_f1", 2 * tp_e, 2 * tp_e + fp_e + fn_e)):
        point, low, high = ratio_ci(num, den, **kw)
        out[metric] = Estimate(point, low, high, int(np.count_nonzero(den)),
                               f"micro over all {name}s; {name}s null on both sides are not counted")
    return out


def extraction_metrics(frame: Any, *, confidence: float = 0.95, n_boot: int = 2000,
                       seed: int = 0) -> dict[str, Estimate]:
    """``parse_rate``, ``schema_valid_rate``, ``exact_record_rate`` (answer failures count 0),
    ``field_precision``/``field_recall``/``field_f1`` (micro over all fields) and per path
    ``field_precision:<path>``, ``field_recall:<path>``, ``field_f1:<path>``, ``both_null:<path>``."""
    calls = Calls.of(frame)
    kw = {"confidence": confidence, "n_boot": n_boot, "seed": seed}
    out: dict[str, Estimate] = {}
    subs = [s if ok else None for s, ok in zip(loads_column(calls.column("subscores")), calls.scored)]
    for metric, key in RATES:
        values = np.array([float((s or {}).get(key, 0.0)) if isinstance(s, dict) else 0.0 for s in subs])
        out[metric] = example_rate(calls, values, note="share of answers; an answer failure counts as 0", **kw)
    cells, both = field_cells(calls)
    out.update(cell_metrics(calls, cells, "field", **kw))
    n_answered = int(calls.answered.sum())
    null_counts: dict[str, int] = {}
    for paths_ in both:
        for p in {field_group(x) for x in paths_}:  # once per answer, a list of records' fields together
            null_counts[p] = null_counts.get(p, 0) + 1
    for path in sorted(null_counts):
        out[f"both_null:{path}"] = Estimate.count(null_counts[path], n_answered,
                                                  "answers where gold and prediction are both null (not counted)")
    return out
