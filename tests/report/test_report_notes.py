"""A priced model's pricing assumption is a note; an unknown price or a too-small suite is a warning."""

from __future__ import annotations

import pandas as pd

from evals.report.views import apply_aggregates


def _view(model: str) -> dict:
    return {"suite": "s", "models": [{"model": model, "quality": None, "ci_low": None, "ci_high": None,
                                      "cost_per_1k_usd": None, "p95_ms": None, "warnings": [], "notes": []}]}


def _rows(model: str, cost: float | None, cost_note: str, mde_note: str | None) -> list[dict]:
    base = {"suite": "s", "model": model, "slice": "all", "ci_low": None, "ci_high": None, "n": 10}
    return [
        {**base, "metric": "quality", "value": 0.5, "note": None},
        {**base, "metric": "cost_per_1k_calls_usd", "value": cost, "note": cost_note},
        {**base, "metric": "min_detectable_difference", "value": 0.2, "note": mde_note},
    ]


def test_assumption_is_a_note_and_problems_are_warnings():
    priced, unpriced = _view("local"), _view("mystery")
    frame = pd.DataFrame(_rows("local", 0.05, "self-hosted: $0.1/h x busy time", "suite too small")
                         + _rows("mystery", None, "genai-prices has no price for 'mystery'", None))
    assert apply_aggregates([priced, unpriced], frame) == 2
    local = priced["models"][0]
    assert local["notes"] == ["self-hosted: $0.1/h x busy time"]
    assert local["warnings"] == ["suite too small"]
    mystery = unpriced["models"][0]
    assert mystery["warnings"] == ["genai-prices has no price for 'mystery'"] and mystery["notes"] == []
