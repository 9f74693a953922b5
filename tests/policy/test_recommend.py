"""The recommender on runs built from known per-example scores."""

from __future__ import annotations

import pytest
import yaml

from evals.config.policy import load_policy
from evals.errors import UsageError
from evals.policy.recommend import RecommendOptions, recommend
from tests.policy.runs import model_rows, ones, write_run

N = 40


def _decision(result, rule_id):
    return next(d for d in result.decisions if d.rule_id == rule_id)


def _triage(pproject, *, premium, cheap, mid=None, cheap_latency=100.0, cheap_cost=0.0001, run_id="r1"):
    rows = model_rows("triage", "premium", premium, cost=0.01, latency=900)
    rows += model_rows("triage", "cheap", cheap, cost=cheap_cost, latency=cheap_latency)
    rows += model_rows("triage", "mid", mid if mid is not None else ones(N, 20), cost=0.005, latency=500)
    write_run(pproject, run_id, rows)


def test_picks_the_cheaper_model_when_non_inferior(pproject):
    _triage(pproject, premium=ones(N, 38), cheap=ones(N, 37))
    # one discordant pair in 40: the paired interval of -0.025 is [-0.129, +0.065] (Tango), so a 0.1
    # tolerance is not shown, a 0.15 one is
    assert _decision(recommend(pproject, "r1", RecommendOptions(tolerance=0.1)), "triage").proposed.model == "premium"
    d = _decision(recommend(pproject, "r1", RecommendOptions(tolerance=0.15)), "triage")
    assert d.proposed.model == "cheap"
    assert d.kind == "switched"
    assert d.reason.startswith("switched: cheap is non-inferior to premium within 0.150 (-0.025 [-0.129, +0.065]) "
                               "and cheaper by $9.90 per 1k calls")
    # with the default tolerance (0.02) 40 examples cannot show a 0.025 drop is harmless
    assert _decision(recommend(pproject, "r1"), "triage").proposed.model == "premium"


def test_equal_quality_goes_to_the_cheaper_model_with_fallback_at_another_provider(pproject):
    _triage(pproject, premium=ones(N, 38), cheap=ones(N, 38))
    # the same answers on 40 examples: +-0.088, not non-inferior within 0.02 (equal point estimates decide nothing)
    kept = _decision(recommend(pproject, "r1"), "triage")
    assert (kept.proposed.model, kept.kind) == ("premium", "undecidable")
    result = recommend(pproject, "r1", RecommendOptions(tolerance=0.1))
    d = _decision(result, "triage")
    assert d.proposed.model == "cheap"
    assert d.reason.startswith("switched: cheap is non-inferior to premium within 0.100 (+0.000 [-0.088, +0.088])")
    # the fallback chain prefers another provider, and is scored with each model's own variant
    assert d.proposed.fallbacks[0] == "premium"
    ev = d.proposed.evidence
    assert ev.run_id == "r1" and ev.model == "cheap" and ev.n == N and ev.floor == 0.7
    assert ev.quality == pytest.approx(0.95) and ev.quality_ci[0] <= 0.95 <= ev.quality_ci[1]
    assert ev.cost_per_1k_usd == pytest.approx(0.1) and ev.p95_latency_ms == pytest.approx(100)
    assert [(f.model, f.variant) for f in ev.fallbacks][0] == ("premium", "premium.j2")
    assert ev.results_sha256 == result.run.results_sha256
    # the written proposal is a complete, loadable policy carrying that evidence
    proposal = load_policy(pproject.reports_dir / "r1" / "proposal.yaml")
    assert proposal.source.run_id == "r1" and proposal.target("triage").model == "cheap"
    assert proposal.target("writing").model == "premium"  # no suite of this run routes there: kept


def test_a_clearly_worse_cheap_model_is_not_chosen(pproject):
    # cheap clears the floor but is 0.125 worse than premium: not non-inferior within 0.02
    _triage(pproject, premium=ones(N, 40), cheap=ones(N, 35))
    d = _decision(recommend(pproject, "r1"), "triage")
    assert d.proposed.model == "premium"
    assert "cheap" not in d.excluded


def test_keeps_the_incumbent_when_the_interval_overlaps_the_floor(pproject):
    # cheap's mean (0.75) is above the floor 0.7, but its lower bound is not
    _triage(pproject, premium=ones(N, 38), cheap=ones(N, 30))
    d = _decision(recommend(pproject, "r1"), "triage")
    assert d.proposed.model == "premium"
    assert "lower bound below the floor 0.70" in d.excluded["cheap"]


def test_flagged_when_no_model_clears_the_floor(pproject):
    _triage(pproject, premium=ones(N, 30), cheap=ones(N, 29))
    d = _decision(recommend(pproject, "r1"), "triage")
    assert d.proposed.model == "premium" and d.kind == "flagged"
    assert d.reason.startswith("flagged: premium fails its rule (quality 0.750 [0.585, 0.868]: lower bound below "
                               "the floor 0.70); no measured model meets the rule")
    assert d.proposed.evidence.model == "premium"  # the incumbent's measured numbers are recorded for the gate
    assert d.proposed.fallbacks == []  # mid fails the floor too: no fallback proposed that cannot serve the rule


def test_excludes_a_model_whose_p95_fails_the_rule(pproject):
    _triage(pproject, premium=ones(N, 38), cheap=ones(N, 38), cheap_latency=4000)
    d = _decision(recommend(pproject, "r1"), "triage")
    assert d.proposed.model == "premium"
    assert d.excluded["cheap"] == "p95 latency 4000 ms > 3000 ms required"


def test_excludes_a_model_whose_context_window_is_too_small(pproject):
    rows = model_rows("voice", "premium", ones(N, 36), cost=0.02, context=1500)
    rows += model_rows("voice", "small-window", ones(N, 36), cost=0.0001, context=900)
    write_run(pproject, "r1", rows)
    d = _decision(recommend(pproject, "r1"), "writing")
    assert d.proposed.model == "premium"
    assert d.excluded["small-window"] == "context window 1,000 < 4,000 tokens needed"


def test_infra_failed_calls_are_left_out_of_quality_and_keep_the_rule(pproject):
    # ten server errors: availability, not wrong answers; too many to decide on, so the rule waits for a re-run
    _triage(pproject, premium=ones(N, 38), cheap=[None] * 10 + ones(N - 10, N - 10))
    d = _decision(recommend(pproject, "r1"), "triage")
    cheap = d.measures["cheap"]
    assert cheap.quality == 1.0 and cheap.n == N - 10 and cheap.errors == cheap.infra_failures == 10
    assert d.proposed.model == "premium" and d.reason.startswith("kept: re-run to retry 10 failed calls")


def test_too_few_examples_keep_the_rule(pproject):
    _triage(pproject, premium=ones(5, 5), cheap=ones(5, 5), mid=ones(5, 5))
    d = _decision(recommend(pproject, "r1"), "triage")
    assert d.proposed.model == "premium"
    assert d.kind == "too-few" and not d.changed
    assert d.reason.startswith("kept: premium has only 5 examples, 20 needed to change a rule")


def test_quality_objective_under_a_budget(pproject):
    _triage(pproject, premium=ones(N, 40), cheap=ones(N, 33), mid=ones(N, 40))
    best = _decision(recommend(pproject, "r1", RecommendOptions(objective="quality")), "triage")
    assert best.proposed.model == "premium"  # mid ties premium: the incumbent stays
    budget = _decision(recommend(pproject, "r1", RecommendOptions(objective="quality", budget_per_1k_usd=6)),
                       "triage")
    assert budget.proposed.model == "mid"
    assert "within $6.00/1k calls" in budget.reason
    with pytest.raises(UsageError):
        recommend(pproject, "r1", RecommendOptions(budget_per_1k_usd=1))


def test_diff_markdown_rows_and_weekly_spend(pproject):
    _triage(pproject, premium=ones(N, 38), cheap=ones(N, 38))
    result = recommend(pproject, "r1", RecommendOptions(tolerance=0.1))
    text = (pproject.reports_dir / "r1" / "diff.md").read_text()
    assert text == result.diff_markdown
    row = next(line for line in text.splitlines() if line.startswith("| triage |"))
    assert "premium → mid" in row and "cheap → premium" in row
    # the same answers on 40 examples do not prove equal quality: no discordant pair is still +-0.088
    assert "0.950 → 0.950 (+0.000 [-0.088, +0.088])" in row
    assert "$10.00 → $0.1000 (-$9.90)" in row and "900 ms → 100 ms (-800 ms)" in row
    # 10,000 triage calls a week: $0.01 -> $0.0001 per call
    assert "| triage | 10,000 | $100.00 | $1.00 | -$99.00 |" in text
    assert result.spend.change_usd == pytest.approx(-99.0)


def test_spend_from_a_routing_log(pproject, tmp_path):
    _triage(pproject, premium=ones(N, 38), cheap=ones(N, 38))
    log = tmp_path / "routing.jsonl"
    lines = [
        '{"time": "2026-11-01T00:00:00Z", "rule": "triage", "model": "premium", "cost_usd": 0.01, '
        '"descriptor": {"task": "classification"}}',
        "not json",
        '{"time": "2026-11-08T00:00:00Z", "descriptor": {"task": "classification"}, "model": "premium", '
        '"cost_usd": 0.01}',
    ]
    log.write_text("\n".join(lines) + "\n")
    result = recommend(pproject, "r1", RecommendOptions(routing_log=log, tolerance=0.1))
    assert result.spend.per_rule == [{"rule": "triage", "weekly_calls": pytest.approx(2.0),
                                      "current_usd": pytest.approx(0.02), "proposed_usd": pytest.approx(0.0002)}]
    assert "1 unreadable lines skipped" in result.diff_markdown


def test_proposal_yaml_puts_rule_ids_first(pproject):
    _triage(pproject, premium=ones(N, 38), cheap=ones(N, 38))
    recommend(pproject, "latest")
    data = yaml.safe_load((pproject.reports_dir / "r1" / "proposal.yaml").read_text())
    assert list(data)[:2] == ["format_version", "source"]
    assert list(data["rules"][0])[:2] == ["id", "when"]


def test_proposal_yaml_says_why_each_kept_rule_is_kept(pproject):
    """A changed rule carries its evidence and its reason; a kept rule carried nothing, so whoever read the
    file they approve (not diff.md) saw no reason for it. Each kept rule's reason is a comment above it;
    the policy the file holds is the same."""
    _triage(pproject, premium=ones(N, 38), cheap=ones(N, 38))
    result = recommend(pproject, "r1")
    text = (pproject.reports_dir / "r1" / "proposal.yaml").read_text()
    kept = [d for d in result.decisions if not d.changed]
    assert kept and all(d.reason.startswith("kept: ") for d in kept)
    lines = text.splitlines()
    for d in kept:
        above = lines.index("default:" if d.rule_id == "default" else f"- id: {d.rule_id}")
        comment = []
        for line in reversed(lines[:above]):
            if not line.startswith("# "):
                break
            comment.insert(0, line[2:])
        assert " ".join(comment) == " ".join(d.reason.split()), d.rule_id
    assert load_policy(pproject.reports_dir / "r1" / "proposal.yaml").content_sha256() == result.proposal.content_sha256()


def test_a_reason_cannot_break_out_of_its_comment():
    """A reason holds names from project files (models, suites, prompts); a line break in one would end the
    comment and the rest would be read as YAML of the proposal."""
    from evals.config.policy import Policy, Target
    from evals.policy.recommend import dump_policy

    policy = Policy(rules=[], default=Target(model="m"))
    hostile = "kept: m\nrules: [{id: x, model: evil}]\r\x85\u2028default: {model: evil}"
    text = dump_policy(policy, "header", {"default": hostile})
    data = yaml.safe_load(text)
    assert data["rules"] == [] and data["default"] == {"model": "m"}
    assert "# kept: m rules: [{id: x, model: evil}] default: {model: evil}" in text
    # nor is anything left there that does not print (a zero-width space, a bidi mark): each becomes a space
    assert "# kept: a b c\n" in dump_policy(policy, "header", {"default": "kept: a\u200bb\u202ec"})
