"""The gate checks every rule with evidence against its floor, moved or not (issue 13, finding 4)."""

from __future__ import annotations

from pathlib import Path

import pytest

from evals.policy.approve import approve
from evals.policy.gate import gate
from evals.policy.recommend import recommend
from tests.policy.scenarios import Model, Suite, ones, run_scenario, write_scenario

POLICY = {"rules": [{"id": "triage", "when": {"task": "classification"}, "model": "premium", "prompt": "yesno",
                     "fallbacks": ["mid"]}],
          "default": {"model": "premium"}}
UNSIGNED = {"require_signed_approvals": False}  # solo use: the signing itself is tested in test_signed_approvals


def _project(tmp_path: Path, premium_hits: int):
    models = {"premium": Model(ones(40, premium_hits), provider="anthropic", cost_per_call=0.01),
              "mid": Model(ones(40, 25), provider="openai", cost_per_call=0.005)}
    return write_scenario(tmp_path / "proj", models, [Suite("triage", 40, rule="triage", quality_floor=0.7)], POLICY,
                          gate=UNSIGNED)


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EVALS_CACHE", str(tmp_path / "cache.sqlite"))


def test_a_kept_rule_under_its_floor_fails_the_gate(tmp_path):
    project = _project(tmp_path, premium_hits=26)  # 0.65 [0.48, 0.79]: under the floor 0.70, nothing better
    run_scenario(project)
    result = recommend(project, "r1")
    d = next(x for x in result.decisions if x.rule_id == "triage")
    assert d.kind == "flagged" and d.proposed.model == "premium"
    approve(project, result.proposal_path, "Ada")
    verdict = gate(project)
    assert verdict.exit_code == 1
    [floor] = [c for c in verdict.checks if c.name == "floor"]
    assert floor.rule == "triage" and not floor.ok
    assert "rule triage routes to premium, whose quality 0.650 [" in floor.message
    assert "has its lower bound below its floor 0.70 (run r1)" in floor.message


def test_a_kept_rule_over_its_floor_passes(tmp_path):
    project = _project(tmp_path, premium_hits=38)
    run_scenario(project)
    result = recommend(project, "r1")
    approve(project, result.proposal_path, "Ada")
    verdict = gate(project)
    assert not [c for c in verdict.checks if c.name == "floor"]
    assert verdict.exit_code == 0, verdict.markdown


def test_a_rule_with_two_suites_is_approved_on_its_traffic_weighted_numbers(tmp_path):
    # the evidence of a rule with several suites states their traffic-weighted figures; approval
    # re-derives them with the same function (evals.policy.eligibility.rule_measure)
    models = {"premium": Model(ones(40, 40), provider="anthropic", cost_per_call=0.01),
              "cheap": Model({"light": ones(40, 40), "heavy": ones(20, 18)}, provider="openai", cost_per_call=0.001)}
    models["premium"].answers = {"light": ones(40, 40), "heavy": ones(20, 20)}
    suites = [Suite("light", 40, rule="triage", weekly_calls=100), Suite("heavy", 20, rule="triage", weekly_calls=900)]
    project = write_scenario(tmp_path / "proj", models, suites, {**POLICY, "rules": [{**POLICY["rules"][0],
                                                                                     "fallbacks": []}]},
                             gate={**UNSIGNED, "quality_tolerance": 0.35})
    run_scenario(project)
    result = recommend(project, "r1")
    d = next(x for x in result.decisions if x.rule_id == "triage")
    assert d.kind == "switched" and d.proposed.evidence.suite == "heavy,light"
    assert d.proposed.evidence.quality == pytest.approx((100 * 1.0 + 900 * 0.9) / 1000)  # not 58/60 by examples
    approve(project, result.proposal_path, "Ada")
    assert gate(project).exit_code == 0
