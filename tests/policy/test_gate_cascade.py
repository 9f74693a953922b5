"""Cascade rules through approve and the gate: the bundle holds both legs' rows, and the gate re-derives the
cascade's quality, cost and p95 at the rule's threshold with the recommender's own function
(evals.policy.cascade.cascade_figures, cost by evals.traffic.cascade_call_cost), so a forged cascade fails
naming the rule and a true one passes, with or without reports/."""

from __future__ import annotations

import shutil

import pytest
import yaml

from evals.config.policy import Policy, load_policy
from evals.policy.approvals import line_sha256
from evals.policy.approve import ApprovalRefused, approve
from evals.policy.bundle import read_bundle, run_rows
from evals.policy.cascade import Cascade, cascade_figures
from evals.policy.gate import gate
from evals.policy.recommend import RecommendOptions, recommend
from evals.runner.store import read_results, write_parquet_atomic
from tests.policy.runs import model_rows, write_run
from tests.policy.signed import ADA, commit_all, failures, log_lines, rewrite_log, set_unsigned

N = 60
CHEAP, PREMIUM = 0.0001, 0.01
DEV, TEST = "20260101-000000-dev0", "20260101-000001-test"


def _rows(model: str, split: str, scores: list[float], cost: float, conf: list[float] | None = None) -> list[dict]:
    rows = model_rows("triage", model, scores, cost=cost, latency=50.0 if conf else 400.0, variant="default")
    for i, row in enumerate(rows):
        row.update(split=split, confidence=conf[i] if conf else None)
    return rows


def write_pair(project) -> None:
    """cheap: 40 right at 0.95, 10 at 0.80 (1 wrong), 10 at 0.60 (8 wrong); premium always right; mid 30 of 60."""
    scores = [1.0] * 40 + [0.0] + [1.0] * 9 + [0.0] * 8 + [1.0] * 2
    conf = [0.95] * 40 + [0.80] * 10 + [0.60] * 10
    for run_id, split in ((DEV, "dev"), (TEST, "test")):
        write_run(project, run_id, _rows("cheap", split, scores, CHEAP, conf) + _rows("premium", split, [1.0] * N, PREMIUM)
                  + _rows("mid", split, [1.0] * 30 + [0.0] * 30, 0.001))


@pytest.fixture
def cascaded(signed, keys):
    """triage -> the cascade cheap (>= 0.8) -> premium, recommended, approved (signed) and committed."""
    write_pair(signed)
    result = recommend(signed, TEST, RecommendOptions(tolerance=0.1, dev_run=DEV))
    rule = load_policy(result.proposal_path).target("triage")
    assert [(leg.model, leg.accept_if) for leg in rule.cascade][1] == ("premium", None)
    assert rule.cascade[0].accept_if.confidence == 0.8 and rule.evidence.cascade is not None
    approve(signed, result.proposal_path, ADA, key=keys.ada)
    commit_all(signed.root, "approved the cascade")
    return signed


@pytest.mark.parametrize("reports", [True, False])
def test_a_true_cascade_passes_the_gate(cascaded, reports):
    if not reports:
        shutil.rmtree(cascaded.reports_dir)
    result = gate(cascaded, base="HEAD")
    assert result.ok, result.markdown
    assert "rule 'triage': numbers re-derived from policies/evidence/" in result.markdown


def test_the_bundle_holds_both_legs_and_reproduces_the_cascade(cascaded):
    [record] = log_lines(cascaded)
    bundle = read_bundle(cascaded.root / record["evidence"]["bundle"])
    for run in (TEST, DEV):  # the dev run's rows of the legs and the reference: the threshold choice re-derives
        triage = run_rows(bundle, run)
        triage = triage[triage["suite"] == "triage"]
        assert {"cheap", "premium"} <= set(triage["model"]) and len(triage[triage["model"] == "cheap"]) == N
        assert triage.loc[triage["model"] == "cheap", "confidence"].notna().all()  # the threshold needs them
    assert set(run_rows(bundle, DEV)["model"]) == {"cheap", "premium"}  # mid is no leg and not the reference
    ev = load_policy(cascaded.policy_file).target("triage").evidence
    figures = cascade_figures(run_rows(bundle, TEST), ["triage"], Cascade.pair("cheap", "premium", 0.8),
                              {"triage": 10000})
    assert figures.pooled.cost_per_1k == pytest.approx(ev.cost_per_1k_usd)
    assert ev.cost_per_1k_usd == pytest.approx(1000 * (CHEAP + 10 / N * PREMIUM))  # A + share x B
    assert set(record["inputs"]["triage"]) >= {"policies/models.yaml model cheap", "policies/models.yaml model premium"}


def _forge(project, edit) -> None:
    """Edit the triage rule (``edit(rule)`` on its YAML data) and append a copied approval record whose policy
    hash and prev link are recomputed, as the issue's forgery does."""
    data = yaml.safe_load(project.policy_file.read_text())
    edit(next(r for r in data["rules"] if r["id"] == "triage"))
    project.policy_file.write_text(yaml.safe_dump(data, sort_keys=False))
    forged = Policy.model_validate(data)
    records = log_lines(project)
    copy = {**records[-1], "policy": forged.model_dump(mode="json"), "policy_sha256": forged.content_sha256(),
            "prev": line_sha256(project.approvals_file.read_bytes().split(b"\n")[-2])}
    copy.pop("signature", None)
    rewrite_log(project, records + [copy])


def _threshold(rule: dict, t: float) -> None:
    rule["cascade"][0]["accept_if"]["confidence"] = t
    c = rule["evidence"]["cascade"]
    c["threshold"] = c["dev"]["threshold"] = c["test"]["threshold"] = t


def _cost(rule: dict) -> None:
    rule["evidence"]["cost_per_1k_usd"] = rule["evidence"]["cascade"]["test"]["cost_per_1k_usd"] = 0.01


def _test_point(rule: dict) -> None:
    rule["evidence"]["cascade"]["test"]["escalation_share"] = 0.01


def _to_cheap_alone(rule: dict) -> None:  # the cheap leg's own numbers stated for the cascade
    rule["evidence"].update(quality=1.0, quality_ci=[0.94, 1.0])


@pytest.mark.parametrize(("edit", "claim"), [
    (lambda r: _threshold(r, 0.6), "evidence.quality says 0.983333, policies/evidence/"),
    (_cost, "evidence.cost_per_1k_usd says 0.01, policies/evidence/"),
    (_test_point, "evidence.cascade.test.escalation_share says 0.01, policies/evidence/"),
    (_to_cheap_alone, "evidence.quality says 1.0, policies/evidence/"),
])
def test_a_forged_cascade_fails_the_gate_naming_the_rule(cascaded, edit, claim):
    set_unsigned(cascaded)  # so the evidence check, not the signature, is what fails
    shutil.rmtree(cascaded.reports_dir)
    _forge(cascaded, edit)
    result = gate(cascaded)
    evidence = [c for c in result.checks if c.name == "evidence" and not c.ok and c.rule == "triage"]
    assert evidence, result.markdown
    assert claim in evidence[0].message and "for the cascade cheap (>= " in evidence[0].message, evidence[0].message


def test_a_threshold_with_true_test_numbers_but_not_chosen_on_dev_fails(cascaded):
    """The forger moves the threshold to 0.6 and states the cascade's true figures on test there: the numbers
    re-derive, but the sweep on the dev run (in the bundle) chooses 0.8."""
    [record] = log_lines(cascaded)
    bundle = run_rows(read_bundle(cascaded.root / record["evidence"]["bundle"]), TEST)
    figures = cascade_figures(bundle, ["triage"], Cascade.pair("cheap", "premium", 0.6), {"triage": 10000})
    true = figures.pooled.score()

    def edit(rule: dict) -> None:
        _threshold(rule, 0.6)
        numbers = {"quality": true.quality, "quality_ci": list(true.quality_ci), "cost_per_1k_usd": true.cost_per_1k_usd,
                   "p95_latency_ms": true.p95_latency_ms}
        rule["evidence"].update(numbers, n=true.n)
        rule["evidence"]["cascade"]["test"].update(numbers, escalation_share=figures.escalation_share,
                                                   calls=figures.calls)

    set_unsigned(cascaded)
    _forge(cascaded, edit)
    [message] = [c.message for c in gate(cascaded).checks if not c.ok and c.rule == "triage"]
    assert message.startswith("rule 'triage': the cascade's threshold 0.6 is not what dev run 20260101-000000-dev0 "
                              "chooses in policies/evidence/"), message
    assert "non-inferior to premium within 0.1: 0.8" in message


@pytest.mark.parametrize("damage", ["altered", "missing"])
def test_approve_refuses_a_cascade_whose_dev_run_is_altered_or_missing(signed, keys, damage):
    write_pair(signed)
    proposal = recommend(signed, TEST, RecommendOptions(tolerance=0.1, dev_run=DEV)).proposal_path
    results = signed.reports_dir / DEV / "results.parquet"
    if damage == "missing":
        results.unlink()
    else:
        frame = read_results(signed.reports_dir / DEV)
        frame.loc[frame["model"] == "cheap", "confidence"] = 0.99
        write_parquet_atomic(results, frame, {"evals_format_version": "1"})
    with pytest.raises(ApprovalRefused, match=rf"rule 'triage': dev run {DEV} "
                                              + ("is missing" if damage == "missing" else "has been altered")):
        approve(signed, proposal, ADA, key=keys.ada)


def test_approve_refuses_a_cascade_proposal_whose_numbers_were_edited(signed, keys):
    write_pair(signed)
    proposal = recommend(signed, TEST, RecommendOptions(tolerance=0.1, dev_run=DEV)).proposal_path
    data = yaml.safe_load(proposal.read_text())
    _cost(next(r for r in data["rules"] if r["id"] == "triage"))
    proposal.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ApprovalRefused, match=r"rule 'triage': evidence.cost_per_1k_usd says 0.01, run "
                                              rf"{TEST} gives .* for the cascade cheap \(>= 0.8\) -> premium"):
        approve(signed, proposal, ADA, key=keys.ada)
    assert not signed.approvals_file.exists()


def test_a_strong_leg_prompt_rewrite_is_an_input_change_of_the_cascade_rule(cascaded):
    (cascaded.prompts_dir / "triage" / "premium.j2").write_text("{% block user %}Write an essay.{% endblock %}\n")
    assert any("prompts/triage/premium.j2 (added)" in m for m in failures(gate(cascaded, base="HEAD")))
