"""A priced model's pricing assumption is a note; an unknown price or a too-small suite is a warning."""

from __future__ import annotations

from evals.report.views import model_view


def _rows(cost: float | None, cost_note: str, mde_note: str | None) -> dict:
    base = {"ci_low": None, "ci_high": None, "n": 10}
    return {
        "quality": {**base, "value": 0.5, "note": None},
        "cost_per_1k_calls_usd": {**base, "value": cost, "note": cost_note},
        "min_detectable_difference": {**base, "value": 0.2, "note": mde_note},
    }


def test_assumption_is_a_note_and_problems_are_warnings():
    local = model_view("local", _rows(0.05, "self-hosted: $0.1/h x busy time", "suite too small: 10 examples"), None)
    assert local["notes"] == ["self-hosted: $0.1/h x busy time"]
    assert local["warnings"] == ["suite too small: 10 examples"]
    mystery = model_view("mystery", _rows(None, "genai-prices has no price for 'mystery'", None), None)
    assert mystery["warnings"] == ["genai-prices has no price for 'mystery'"] and mystery["notes"] == []


def test_infra_failures_and_a_baseline_not_beaten_are_warnings():
    rows = _rows(0.05, "p", None)
    rows["infra_failures"] = {"value": 2, "note": None}
    rows["availability"] = {"value": 0.9, "ci_low": 0.8, "ci_high": 0.95, "note": "2 of 20 calls failed"}
    rows["beats_baseline"] = {"value": 0.0, "note": "does not beat the majority label baseline"}
    view = model_view("m", rows, None)
    assert view["warnings"] == ["2 of 20 calls failed", "does not beat the majority label baseline"]
    assert view["beats_baseline"] is False and view["availability"] == 0.9 and view["infra_failures"] == 2
