"""Numbers and money formatted one way in diff.md and the report's proposed-rules table (issue 13, finding 11)."""

from __future__ import annotations

import re

from evals.policy.diff import money
from evals.report.recommendation import recommendation_view


def _row(rule: dict) -> dict:
    """The report's proposed-rules row of one rule."""
    view = recommendation_view({"rules": [rule]}, [], {"changes": [], "status": "pending", "text": ""}, "run", {})
    return view["rows"][0]


def test_the_proposed_rules_table_formats_the_evidence():
    # the raw floats the issue found: p95 25275.058795, cost $0.118872, quality 0.580768 [0.492873, ...]
    rule = {"id": "founder-voice", "model": "smollm2-135m", "fallbacks": ["gpt-4o"],
            "evidence": {"quality": 0.580768, "quality_ci": [0.492873, 0.664412], "cost_per_1k_usd": 0.118872,
                         "p95_latency_ms": 25275.058795, "n": 40, "reason": "kept"}}
    row = _row(rule)
    assert row["quality"] == "0.581 [0.493, 0.664]"
    assert row["cost"] == "$0.1189"
    assert row["p95"] == "25.3 s"
    assert not any(re.search(r"\d\.\d{5,}", cell) for cell in row.values() if isinstance(cell, str))


def test_unknown_numbers_are_unknown_never_zero():
    rule = {"id": "r", "model": "m", "evidence": {"quality": 0.5, "quality_ci": None, "cost_per_1k_usd": None,
                                                   "p95_latency_ms": None, "n": 3}}
    row = _row(rule)
    assert (row["quality"], row["cost"], row["p95"]) == ("0.500", "unknown", "-")
    bare = _row({"id": "r", "model": "m"})
    assert (bare["quality"], bare["cost"], bare["p95"]) == ("-", "-", "-")  # no evidence: nothing to show


def test_money_is_the_reports_money():
    assert money(0.118872) == "$0.1189" and money(25275.06) == "$25,275.06" and money(-9.9, signed=True) == "-$9.90"
    assert money(None) == "unknown"
