"""Tool-call metrics from the tool_call scorer's detail: which tool, per tool, per argument.

Each scored row's detail names ``gold_tool`` and ``predicted_tool`` (``no_call`` for no call; several
calls are ``a+b``, which is no tool of the set) and ``gold_kind`` (``call``, ``no_tool``, ``clarify``), and
holds one cell per argument (``<tool>.<argument>``, CONTRACTS section 6). An answer failure (refused,
truncated) predicts nothing and misses every gold argument; infrastructure failures are left out.

- **Which tool** is a classification of each request into a tool or ``no_call``, so it is computed by
  :func:`evals.metrics.classification.classification_metrics` itself (one definition of per-class
  precision, recall, F1 and confusion): ``tool_macro_f1``, ``tool_precision:<tool>``,
  ``tool_recall:<tool>``, ``tool_f1:<tool>`` and ``tool_confusion:<gold>-><predicted>`` (``<invalid>``:
  several calls, or an answer failure). Whether the tool was right on a row is the scorer's
  ``tool_correct`` sub-score (``subscore:tool_correct``).
- ``kind_accuracy:<kind>``: the share of rows of each gold kind whose tool was right, so a rightly
  unanswered question (``no_tool``) and a rightly asked one (``clarify``) are reported apart.
- **Arguments**: :func:`evals.metrics.extraction.cell_metrics` over the argument cells:
  ``argument_precision``/``argument_recall``/``argument_f1`` micro, and per ``<tool>.<argument>``.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from evals.metrics.calls import Calls, loads
from evals.metrics.classification import classification_metrics
from evals.metrics.estimate import Estimate
from evals.metrics.extraction import field_cells
from evals.metrics.quality import example_rate

NO_CALL = "no_call"  # = evals.scorers.tool_call.NO_CALL
KINDS = ("call", "no_tool", "clarify")


def _gold_of(raw: Any) -> tuple[str, str]:
    """(gold tool label, gold kind) from a row's gold JSON, for rows without a detail."""
    gold = loads(raw)
    if isinstance(gold, str):
        gold = loads(gold)
    gold = gold if isinstance(gold, dict) else {}
    kind = gold.get("kind") or ("call" if gold.get("tool") else "no_tool")
    return (str(gold["tool"]) if kind == "call" and gold.get("tool") else NO_CALL), str(kind)


def tool_labels(frame: Any) -> tuple[list[str], list[str | None], list[str]]:
    """Per row: the gold tool label, the predicted one (None: no answer to read) and the gold kind."""
    calls = Calls.of(frame)
    gold, pred, kinds = [], [], []
    for raw, raw_gold, scored in zip(calls.column("detail"), calls.column("gold"), calls.scored):
        detail = loads(raw)
        detail = detail if isinstance(detail, dict) else {}
        fallback_tool, fallback_kind = _gold_of(raw_gold)
        gold.append(str(detail.get("gold_tool") or fallback_tool))
        kinds.append(str(detail.get("gold_kind") or fallback_kind))
        predicted = detail.get("predicted_tool") if scored else None
        pred.append(None if predicted is None or "+" in str(predicted) else str(predicted))
    return gold, pred, kinds


def tool_call_metrics(frame: Any, tools: list[str] | None = None, *, confidence: float = 0.95,
                      n_boot: int = 2000, seed: int = 0) -> dict[str, Estimate]:
    """The metrics of the module docstring; ``tools`` are the suite's tool names (classes that no row
    names still count in the macro-F1)."""
    calls = Calls.of(frame)
    kw = {"confidence": confidence, "n_boot": n_boot, "seed": seed}
    gold, pred, kinds = tool_labels(calls)
    # the tool choice as a classification: the same per-class arithmetic as classification suites
    as_labels = calls.frame.assign(gold=[json.dumps(g) for g in gold],
                                   detail=[json.dumps({"predicted": p}) for p in pred])
    out: dict[str, Estimate] = {}
    for name, estimate in classification_metrics(as_labels, [*(tools or []), NO_CALL], **kw).items():
        if name.startswith(("precision:", "recall:", "f1:", "confusion:")) or name == "macro_f1":
            out[f"tool_{name}"] = estimate
    right = np.array([g == p for g, p in zip(gold, pred)], dtype=float)
    kinds_arr = np.array(kinds, dtype=object)
    for kind in KINDS:
        rows = calls.answered & (kinds_arr == kind)
        if rows.any():
            out[f"kind_accuracy:{kind}"] = example_rate(
                calls, right, rows, note=f"share of {kind} requests whose tool (or no call) was right", **kw)
    from evals.metrics.extraction import cell_metrics

    cells, _ = field_cells(calls)
    out.update(cell_metrics(calls, cells, "argument", **kw))
    return out
