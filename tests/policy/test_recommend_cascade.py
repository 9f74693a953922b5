"""The recommender proposes a cascade on evidence: threshold swept on a dev run, confirmed on the evidence run,
under the decision rule of every switch, only when cheaper than the best single-model choice (issue 15)."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from evals.config.policy import load_policy
from evals.policy.cascade import cascade_measures, Cascade
from evals.policy.decide import paired_test
from evals.policy.recommend import RecommendOptions, recommend
from evals.runner.store import read_results
from tests.policy.runs import model_rows, ones, write_run

N = 60
TOLERANCE = 0.1
CHEAP_COST, MID_COST, PREMIUM_COST = 0.0001, 0.001, 0.01


def cheap_rows(split: str, wrong_at_80: int = 1) -> list[dict]:
    """The cheap model: 40 answers at confidence 0.95 (right), 10 at 0.80 (``wrong_at_80`` wrong), 10 at
    0.60 (8 wrong)."""
    scores = [1.0] * 40 + [0.0] * wrong_at_80 + [1.0] * (10 - wrong_at_80) + [0.0] * 8 + [1.0] * 2
    conf = [0.95] * 40 + [0.80] * 10 + [0.60] * 10
    rows = model_rows("triage", "cheap", scores, cost=CHEAP_COST, latency=50.0)
    for row, c in zip(rows, conf):
        row.update(confidence=c, split=split)
    return rows


def rows(model: str, split: str, scores: list[float], cost: float) -> list[dict]:
    out = model_rows("triage", model, scores, cost=cost)
    for row in out:
        row["split"] = split
    return out


def write_pair(project, *, mid_hits: int = 30, test_wrong_at_80: int = 1) -> None:
    for run_id, split, wrong in (("20260101-000000-dev0", "dev", 1), ("20260101-000001-test", "test", test_wrong_at_80)):
        write_run(project, run_id, cheap_rows(split, wrong) + rows("premium", split, [1.0] * N, PREMIUM_COST)
                  + rows("mid", split, ones(N, mid_hits), MID_COST))


def by_hand(wrong: int) -> str:
    """The paired test of a cascade with ``wrong`` wrong answers against the all-right premium model."""
    return paired_test(np.ones(N), np.array(ones(N, N - wrong)), TOLERANCE, 0.95)[0]


def triage(result):
    return next(d for d in result.decisions if d.rule_id == "triage")


def test_the_recommender_proposes_the_cheapest_confirmed_cascade_the_hand_computation_says(pproject):
    # by hand: always escalate 0 wrong, >= 0.95 0 wrong, >= 0.80 1 wrong, >= 0.60 9 wrong
    assert [by_hand(w) for w in (0, 0, 1, 9)] == ["non-inferior", "non-inferior", "non-inferior", "undecidable"]
    write_pair(pproject)  # mid is inferior (30 of 60): the single-model choice keeps premium
    result = recommend(pproject, "20260101-000001-test",
                       RecommendOptions(tolerance=TOLERANCE, dev_run="20260101-000000-dev0"))
    d = triage(result)
    assert d.kind == "switched" and d.changed
    assert [leg.model_dump(exclude_none=True) for leg in d.proposed.cascade] == [
        {"model": "cheap", "accept_if": {"confidence": 0.8}}, {"model": "premium"}]
    ev = d.proposed.evidence
    c = ev.cascade
    assert (c.cheap, c.strong, c.threshold, c.reference, c.dev_run_id) == ("cheap", "premium", 0.8, "premium",
                                                                           "20260101-000000-dev0")
    assert [p.threshold for p in c.curve] == [None, 0.95, 0.8, 0.6]
    assert c.test.escalation_share == pytest.approx(10 / N, abs=1e-6)  # the 0.60 answers go to premium
    assert c.test.cost_per_1k_usd == pytest.approx(1000 * (CHEAP_COST + 10 / N * PREMIUM_COST), abs=1e-6)
    assert ev.model == "cheap" and ev.quality == pytest.approx((N - 1) / N, abs=1e-6)  # the cascade's, on test
    assert ev.cost_per_1k_usd == c.test.cost_per_1k_usd and c.single_cost_per_1k_usd == pytest.approx(10.0)
    assert "switched to the cascade cheap (>= 0.8) -> premium" in d.reason
    assert {(c.cheap, c.strong) for c in d.cascades.choices} == {("cheap", "mid"), ("cheap", "premium")}  # confident legs
    diff = result.diff_markdown
    assert "## Cascades" in diff and "| confidence >= 0.8 **chosen** | 16.7% |" in diff
    assert "cheap (>= 0.8) -> premium" in diff  # the proposed column and the candidates table
    # the proposal is a valid policy, the spend is A + share x B
    proposal = load_policy(result.proposal_path)
    assert proposal.rules[0].cascade[0].accept_if.confidence == 0.8
    row = next(r for r in result.spend.per_rule if r["rule"] == "triage")
    assert row["proposed_usd"] == pytest.approx(10000 * (CHEAP_COST + 10 / N * PREMIUM_COST))


def test_a_cascade_whose_confirmation_on_test_fails_is_not_proposed(pproject):
    write_pair(pproject, test_wrong_at_80=6)  # on test the 0.80 answers are often wrong
    assert by_hand(6) != "non-inferior"
    result = recommend(pproject, "20260101-000001-test",
                       RecommendOptions(tolerance=TOLERANCE, dev_run="20260101-000000-dev0"))
    d = triage(result)
    assert d.proposed.cascade is None and d.proposed.model == "premium"
    assert "not confirmed on test" in result.diff_markdown and "confidence >= 0.8 **chosen**" in result.diff_markdown


def test_a_cheaper_pair_wins_and_a_cascade_must_beat_the_single_model_choice(pproject):
    write_pair(pproject, mid_hits=N)  # mid is as good as premium and 10x cheaper: the single-model choice is mid
    result = recommend(pproject, "20260101-000001-test",
                       RecommendOptions(tolerance=TOLERANCE, dev_run="20260101-000000-dev0"))
    d = triage(result)
    # cheap -> premium (0.0001 + 10/60 x 0.01) costs more than mid alone; cheap -> mid (0.0001 + 10/60 x 0.001) less
    assert [leg.model for leg in d.proposed.cascade] == ["cheap", "mid"]
    assert d.proposed.evidence.cascade.reference == "premium"
    lines = [line for line in result.diff_markdown.splitlines() if line.startswith("- cheap -> premium")]
    assert lines and "not cheaper than the single-model choice mid" in lines[0]


def test_the_dev_run_must_be_another_split_of_the_same_suite(pproject):
    write_pair(pproject)
    with pytest.raises(Exception, match="is the evidence run .* itself"):
        recommend(pproject, "20260101-000001-test", RecommendOptions(tolerance=TOLERANCE,
                                                                     dev_run="20260101-000001-test"))
    suite = pproject.suites_dir / "classification" / "triage" / "suite.yaml"
    suite.write_text(suite.read_text() + "description: changed after the dev run\n")
    write_run(pproject, "20260101-000002-test", read_results(pproject.reports_dir / "20260101-000001-test")
              .to_dict("records"))
    result = recommend(pproject, "20260101-000002-test",
                       RecommendOptions(tolerance=TOLERANCE, dev_run="20260101-000000-dev0"))
    d = triage(result)
    assert d.proposed.cascade is None
    assert any("not swept: suite triage changed between dev run" in n for n in d.notes)


def test_without_a_dev_run_the_diff_says_how_to_sweep_cascades(pproject):
    write_pair(pproject)
    d = triage(recommend(pproject, "20260101-000001-test", RecommendOptions(tolerance=TOLERANCE)))
    assert d.proposed.cascade is None
    assert any("cheap answers with a confidence" in n and "--dev-run" in n for n in d.notes)


def test_a_cascade_in_force_is_the_incumbent_measured_like_a_model(pproject):
    write_pair(pproject)
    policy = yaml.safe_load((pproject.policy_file).read_text())
    rule = policy["rules"][0]
    rule.pop("model")
    rule["cascade"] = [{"model": "cheap", "accept_if": {"confidence": 0.95}}, {"model": "premium"}]
    pproject.policy_file.write_text(yaml.safe_dump(policy))
    result = recommend(pproject, "20260101-000001-test",
                       RecommendOptions(tolerance=TOLERANCE, dev_run="20260101-000000-dev0"))
    d = triage(result)
    in_force = Cascade.pair("cheap", "premium", 0.95)
    measured = cascade_measures(read_results(pproject.reports_dir / "20260101-000001-test"), ["triage"], in_force)
    assert d.measures[in_force.name].quality == measured["triage"].quality == 1.0
    # the sweep holds new thresholds to the cascade in force: >= 0.80 is non-inferior to it and cheaper
    assert d.proposed.evidence.cascade.reference == in_force.name
    assert d.proposed.cascade[0].accept_if.confidence == 0.8
    row = next(r for r in result.spend.per_rule if r["rule"] == "triage")
    assert row["current_usd"] == pytest.approx(10000 * (CHEAP_COST + 20 / N * PREMIUM_COST))


def test_an_unmeasured_incumbent_keeps_the_rule_and_says_what_replace_unmeasured_would_do(pproject):
    write_pair(pproject)
    frame = read_results(pproject.reports_dir / "20260101-000001-test")
    write_run(pproject, "20260101-000003-test", frame[frame["model"] != "premium"].to_dict("records"))
    dev = read_results(pproject.reports_dir / "20260101-000000-dev0")
    write_run(pproject, "20260101-000002-dev0", dev[dev["model"] != "premium"].to_dict("records"))
    result = recommend(pproject, "20260101-000003-test",
                       RecommendOptions(tolerance=TOLERANCE, dev_run="20260101-000002-dev0"))
    d = triage(result)
    assert d.kind == "unmeasured" and not d.changed and d.proposed.cascade is None
    preview = next(n for n in d.notes if n.startswith("with --replace-unmeasured: "))
    assert "cascade" in preview or "switched" in preview
    # with the flag given and no measured model meeting the rule, the rule is kept and says so once, with
    # no note previewing what the flag (given) would do
    policy = yaml.safe_load(pproject.policy_file.read_text())
    policy["rules"][0]["require"] = {"quality_floor": 0.99}
    pproject.policy_file.write_text(yaml.safe_dump(policy))
    d = triage(recommend(pproject, "20260101-000003-test", RecommendOptions(
        tolerance=TOLERANCE, dev_run="20260101-000002-dev0", replace_unmeasured=True)))
    assert d.kind == "unmeasured" and not d.changed
    assert "no measured model meets the rule (--replace-unmeasured)" in d.reason
    assert not [n for n in d.notes if n.startswith("with --replace-unmeasured")], d.notes


def _slow_escalation(project) -> None:
    """Latencies under which an escalated call takes 3500 ms, over the rule's 3000."""
    for run_id in ("20260101-000000-dev0", "20260101-000001-test"):
        frame = read_results(project.reports_dir / run_id)
        frame.loc[frame["model"] == "premium", "latency_ms"] = 2000.0
        frame.loc[frame["model"] == "cheap", "latency_ms"] = 1500.0  # escalated: 3500 ms > the rule's 3000
        write_run(project, run_id, frame.to_dict("records"))


def test_a_cascade_that_fails_the_rule_on_test_is_not_proposed(pproject):
    write_pair(pproject)
    _slow_escalation(pproject)
    d = triage(recommend(pproject, "20260101-000001-test",
                         RecommendOptions(tolerance=TOLERANCE, dev_run="20260101-000000-dev0")))
    assert d.proposed.cascade is None
    assert "fails the rule there: p95 latency 3500 ms > 3000 ms required" in "\n".join(d.cascades.details)


def test_the_cascade_in_force_found_again_changes_nothing(pproject):
    """Its sweep holds every point to the cascade in force: the same threshold costs the same, not less."""
    write_pair(pproject)
    policy = yaml.safe_load((pproject.policy_file).read_text())
    rule = policy["rules"][0]
    rule.pop("model")
    rule["cascade"] = [{"model": "cheap", "accept_if": {"confidence": 0.8}}, {"model": "premium"}]
    rule["fallbacks"] = []
    pproject.policy_file.write_text(yaml.safe_dump(policy))
    d = triage(recommend(pproject, "20260101-000001-test",
                         RecommendOptions(tolerance=TOLERANCE, dev_run="20260101-000000-dev0")))
    assert not d.changed and d.kind != "switched" and d.proposed.cascade == d.current.cascade


def _edit_manifest(project, run_id, edit):
    import json

    path = project.reports_dir / run_id / "manifest.json"
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def test_a_dev_run_on_the_same_split_or_with_another_model_is_not_used(pproject):
    write_pair(pproject)
    _edit_manifest(pproject, "20260101-000000-dev0", lambda m: m["suites"]["triage"].update(split="test"))
    _edit_manifest(pproject, "20260101-000001-test", lambda m: m["suites"]["triage"].update(split="test"))
    d = triage(recommend(pproject, "20260101-000001-test",
                         RecommendOptions(tolerance=TOLERANCE, dev_run="20260101-000000-dev0")))
    assert d.proposed.cascade is None and any("confirmed on other examples" in n for n in d.notes)
    _edit_manifest(pproject, "20260101-000000-dev0", lambda m: m["suites"]["triage"].update(split="dev"))
    _edit_manifest(pproject, "20260101-000000-dev0", lambda m: m["models"].update(cheap={"identity": {"sha": "old"}}))
    d = triage(recommend(pproject, "20260101-000001-test",
                         RecommendOptions(tolerance=TOLERANCE, dev_run="20260101-000000-dev0")))
    assert d.proposed.cascade is None and any("cheap is not the same model" in n for n in d.notes)


def test_dev_run_latest_is_the_newest_run_on_the_dev_split(pproject):
    write_pair(pproject)
    _edit_manifest(pproject, "20260101-000000-dev0", lambda m: m["suites"]["triage"].update(split="dev"))
    _edit_manifest(pproject, "20260101-000001-test", lambda m: m["suites"]["triage"].update(split="test"))
    d = triage(recommend(pproject, "20260101-000001-test", RecommendOptions(tolerance=TOLERANCE, dev_run="latest")))
    assert d.proposed.evidence.cascade.dev_run_id == "20260101-000000-dev0"
    _edit_manifest(pproject, "20260101-000000-dev0", lambda m: m["suites"]["triage"].update(split="test"))
    with pytest.raises(Exception, match="no run .* was made on the dev split"):
        recommend(pproject, "20260101-000001-test", RecommendOptions(tolerance=TOLERANCE, dev_run="latest"))


def test_a_cascade_with_a_local_leg_on_a_busy_machine_is_not_excluded_on_its_latency(pproject):
    """The cascade in force (local cheap leg, remote premium) measured while the machine was busier than its
    cores: its latency is only as trustworthy as its least trusted leg, so its p95 does not exclude it
    (the spec standing for a cascade is its last, remote, leg's; trusting that would exclude it)."""
    import json

    write_pair(pproject)
    folder = pproject.reports_dir / "20260101-000001-test"
    frame = read_results(folder)
    assert (frame.loc[frame.model == "cheap", "latency_ms"] > 0).all()
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["machine"] = {"cpu_count": 2, "load_1m": {"mean": 8.5, "max": 9.4}}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    policy = yaml.safe_load(pproject.policy_file.read_text())
    rule = policy["rules"][0]
    rule.pop("model")
    rule["cascade"] = [{"model": "cheap", "accept_if": {"confidence": 0.95}}, {"model": "premium"}]
    rule["require"] = {"p95_latency_ms": 1}  # every measured p95 is above it
    pproject.policy_file.write_text(yaml.safe_dump(policy))
    name = Cascade.pair("cheap", "premium", 0.95).name
    d = triage(recommend(pproject, "20260101-000001-test", RecommendOptions(tolerance=TOLERANCE)))
    assert name in d.measures and "latency" not in d.excluded.get(name, ""), d.excluded
    assert "p95 latency" in d.excluded["premium"]  # a remote model's latency is its provider's: trusted
    trusted = triage(recommend(pproject, "20260101-000001-test",
                               RecommendOptions(tolerance=TOLERANCE, trust_latency=True)))
    assert "p95 latency" in trusted.excluded[name]


def test_a_swept_cascade_with_a_local_leg_is_not_refused_on_latency_measured_on_a_busy_machine(pproject):
    """The sweep holds its confirmed cascade to the rule's p95 only where every leg's latency is trusted:
    the same rule as for the cascade in force and for every model (issue 15's sweep used to check always)."""
    write_pair(pproject)
    _slow_escalation(pproject)
    _edit_manifest(pproject, "20260101-000001-test",
                   lambda m: m.update(machine={"cpu_count": 2, "load_1m": {"mean": 8.5, "max": 9.4}}))
    busy = triage(recommend(pproject, "20260101-000001-test",
                            RecommendOptions(tolerance=TOLERANCE, dev_run="20260101-000000-dev0")))
    assert "p95 latency" not in "\n".join(busy.cascades.details), busy.cascades.details
    assert [leg.model for leg in busy.proposed.cascade or []] == ["cheap", "premium"]
    trusted = triage(recommend(pproject, "20260101-000001-test", RecommendOptions(
        tolerance=TOLERANCE, dev_run="20260101-000000-dev0", trust_latency=True)))
    assert trusted.proposed.cascade is None
    assert "fails the rule there: p95 latency 3500 ms > 3000 ms required" in "\n".join(trusted.cascades.details)
