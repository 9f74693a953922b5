"""Extraction metrics from the scorer's per-field detail (CONTRACTS section 6).

Each scored row's ``detail["fields"][path]`` is ``{"gold", "pred", "correct"[, "weight"]}`` for every
leaf path where gold or prediction has a value: ``tp = gold & pred & correct``, ``fp = pred & not
correct``, ``fn = gold & not correct``, each times the path's weight (default 1). Paths null on both
sides are not in ``fields`` but in ``detail["both_null"]``; they are counted apart (``both_null:<path>``)
and never as matched (an entry with neither gold nor prediction, as older scorers wrote, is counted
the same way). An answer failure (refused, truncated) has no detail: it misses every gold path that
holds a value. Infrastructure failures are left out.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from evals.metrics.calls import Calls, loads, loads_column
from evals.metrics.estimate import Estimate
from evals.metrics.quality import example_rate

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
        if not scored:
            cells.append({path: missed for path in _gold_paths(gold)})
            both.append([])
            continue
        detail = loads(raw)
        detail = detail if isinstance(detail, dict) else {}
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


def extraction_metrics(frame: Any, *, confidence: float = 0.95, n_boot: int = 2000,
                       seed: int = 0) -> dict[str, Estimate]:
    """``parse_rate``, ``schema_valid_rate``, ``exact_record_rate`` (answer failures count 0),
    ``field_precision``/``field_recall``/``field_f1`` (micro over all fields) and per path
    ``field_precision:<path>``, ``field_recall:<path>``, ``field_f1:<path>``, ``both_null:<path>``."""
    from evals.stats import ratio_ci

    calls = Calls.of(frame)
    kw = {"confidence": confidence, "n_boot": n_boot, "seed": seed}
    out: dict[str, Estimate] = {}
    subs = [s if ok else None for s, ok in zip(loads_column(calls.column("subscores")), calls.scored)]
    for metric, key in RATES:
        values = np.array([float((s or {}).get(key, 0.0)) if isinstance(s, dict) else 0.0 for s in subs])
        out[metric] = example_rate(calls, values, note="share of answers; an answer failure counts as 0", **kw)
    cells, both = field_cells(calls)
    paths = sorted({p for c in cells for p in c})
    n_ex = calls.n_examples
    totals = np.zeros((3, n_ex))
    has_answer = calls.sum_by_example(calls.answered) > 0
    for path in paths:
        tp, fp, fn = np.zeros(len(calls)), np.zeros(len(calls)), np.zeros(len(calls))
        for i, row in enumerate(cells):
            c = row.get(path)
            if c is None:
                continue
            w = float(c.get("weight", 1.0))
            gold, pred, correct = bool(c.get("gold")), bool(c.get("pred")), bool(c.get("correct"))
            tp[i] = w * (gold and pred and correct)
            fp[i] = w * (pred and not correct)
            fn[i] = w * (gold and not correct)
        tp_e, fp_e, fn_e = (calls.sum_by_example(x)[has_answer] for x in (tp, fp, fn))
        totals[:, has_answer] += np.stack([tp_e, fp_e, fn_e])
        for name, num, den in (("field_precision", tp_e, tp_e + fp_e), ("field_recall", tp_e, tp_e + fn_e),
                               ("field_f1", 2 * tp_e, 2 * tp_e + fp_e + fn_e)):
            point, low, high = ratio_ci(num, den, **kw)
            out[f"{name}:{path}"] = Estimate(point, low, high, int(np.count_nonzero(den)))
    tp_e, fp_e, fn_e = (t[has_answer] for t in totals)
    for name, num, den in (("field_precision", tp_e, tp_e + fp_e), ("field_recall", tp_e, tp_e + fn_e),
                           ("field_f1", 2 * tp_e, 2 * tp_e + fp_e + fn_e)):
        point, low, high = ratio_ci(num, den, **kw)
        out[name] = Estimate(point, low, high, int(np.count_nonzero(den)),
                             "micro over all fields; fields null on both sides are not counted")
    n_answered = int(calls.answered.sum())
    null_counts: dict[str, int] = {}
    for paths_ in both:
        for p in paths_:
            null_counts[p] = null_counts.get(p, 0) + 1
    for path in sorted(null_counts):
        out[f"both_null:{path}"] = Estimate.count(null_counts[path], n_answered,
                                                  "answers where gold and prediction are both null (not counted)")
    return out
