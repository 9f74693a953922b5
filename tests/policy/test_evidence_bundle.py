"""Evidence the gate re-derives (issue 17, finding 1) and evidence bound to its inputs (finding 8), in a git
repository like CI's clean clone, with and without reports/."""

from __future__ import annotations

import shutil

import pytest
import yaml

from evals.config.policy import Policy
from evals.policy.approvals import line_sha256
from evals.policy.approve import ApprovalRefused, approve
from evals.policy.gate import gate
from evals.policy.recommend import recommend
from tests.conftest import run_cli
from tests.policy.signed import ADA, cheap_run, commit_all, failures, log_lines, rewrite_log, set_unsigned


@pytest.fixture(params=["signed", "unsigned"])
def approved(request, signed, keys):
    """A signed (or, for solo use, unsigned) approval of triage -> cheap, committed as the base."""
    if request.param == "unsigned":
        set_unsigned(signed)
    approve(signed, cheap_run(signed), ADA, key=keys.ada if request.param == "signed" else None)
    commit_all(signed.root, "approved r1")
    return signed


def _forge(project, model: str) -> None:
    """The issue's forgery: route triage to ``model``, claim 0.99 for it, append a copied approval record
    whose policy hash is recomputed with Policy.content_sha256() and whose prev link is right."""
    data = yaml.safe_load(project.policy_file.read_text())
    rule = data["rules"][0]
    rule["model"] = model
    rule["fallbacks"] = [m for m in ("premium",) if m != model]
    rule["evidence"].update(model=model, quality=0.99, quality_ci=[0.95, 1.0])
    project.policy_file.write_text(yaml.safe_dump(data, sort_keys=False))
    forged = Policy.model_validate(data)
    records = log_lines(project)
    copy = {**records[-1], "policy": forged.model_dump(mode="json"), "policy_sha256": forged.content_sha256(),
            "time": "2026-12-02T09:00:00+00:00",
            "prev": line_sha256(project.approvals_file.read_bytes().split(b"\n")[-2])}
    rewrite_log(project, records + [copy])


# premium is in the bundle (the approved rule's fallback; mid, 0/40, is under the floor and is not)
@pytest.mark.parametrize("model", ["premium", "small-window"])
@pytest.mark.parametrize("reports", [True, False])
def test_the_forgery_fails_the_gate_naming_the_rule(approved, model, reports):
    if not reports:
        shutil.rmtree(approved.reports_dir)
    _forge(approved, model)
    result = gate(approved, base="HEAD")
    assert result.exit_code == 1
    evidence = [c for c in result.checks if c.name == "evidence" and not c.ok and c.rule == "triage"]
    assert evidence, result.markdown
    claim = ("evidence.quality says 0.99, policies/evidence/r1-" if model == "premium" else
             f"has no results for {model} on triage")
    assert claim in evidence[0].message
    if model == "premium":
        assert "gives 0.95" in evidence[0].message


def test_the_forgery_also_fails_on_the_signature_when_signing_is_on(signed, keys):
    approve(signed, cheap_run(signed), ADA, key=keys.ada)
    commit_all(signed.root, "approved r1")
    _forge(signed, "mid")
    messages = failures(gate(signed, base="HEAD"))
    assert any(m.startswith("approvals.jsonl:2: approval by 'ada@example.com': signature does not verify")
               for m in messages), messages


def test_a_prompt_rewrite_without_new_evidence_fails_naming_the_file(approved):
    (approved.prompts_dir / "triage" / "default.j2").write_text(
        "{% block user %}Answer with a long essay instead of a label.{% endblock %}\n")
    done = run_cli("gate", "--base", "HEAD", "--project", str(approved.root), cwd=approved.root)
    assert done.returncode == 1, done.stdout + done.stderr
    assert ("rule 'triage': inputs changed since evidence run r1 without new evidence: "
            "prompts/triage/default.j2 (changed)") in done.stdout


def test_a_new_model_specific_variant_is_an_input_change(approved):
    (approved.prompts_dir / "triage" / "cheap.j2").write_text("{% block user %}{{ text }}!{% endblock %}\n")
    assert any("prompts/triage/cheap.j2 (added)" in m for m in failures(gate(approved, base="HEAD")))


def test_suite_data_and_scorer_settings_changes_are_input_changes(approved):
    suite = approved.suites_dir / "classification" / "triage"
    (suite / "test.jsonl").write_text('{"id": "ex-000", "text": "hello", "label": "support"}\n')
    assert any("suites/classification/triage/test.jsonl (changed)" in m for m in failures(gate(approved)))
    (suite / "test.jsonl").write_text('{"id": "ex-000", "text": "hello", "label": "lead"}\n')
    text = (suite / "suite.yaml").read_text()
    (suite / "suite.yaml").write_text(text.replace("scorer: {name: classification}",
                                                   "scorer: {name: classification, settings: {labels: [x]}}"))
    [message] = [m for m in failures(gate(approved)) if "inputs changed" in m]
    assert ("suites/classification/triage/suite.yaml (changed), "
            "suites/classification/triage/suite.yaml#scorer (changed)") in message


def _lower_floor(project) -> None:
    text = project.policy_file.read_text()
    project.policy_file.write_text(text.replace("require: {p95_latency_ms: 3000}",
                                                "require: {quality_floor: 0.05, p95_latency_ms: 60000}"))


def test_a_floor_below_the_suite_floor_needs_the_approval_to_accept_it(signed, keys):
    _lower_floor(signed)
    proposal = cheap_run(signed)
    with pytest.raises(ApprovalRefused, match=r"rule 'triage' quality_floor 0.05 is below its suite floor 0.7; "
                                              r"if that is intended, approve with --accept-lower-floor"):
        approve(signed, proposal, ADA, key=keys.ada)
    record = approve(signed, proposal, ADA, key=keys.ada, accept_lower_floor=True).record
    assert record["accept_lower_floor"] == {"triage": 0.05}
    result = gate(signed, base="HEAD")
    assert result.ok, result.markdown
    assert ("- **rule 'triage' require.quality\\_floor relaxed: none (suite floor 0.7) → 0.05**" in result.markdown)
    assert "- **rule 'triage' require.p95\\_latency\\_ms relaxed: 3000 → 60000**" in result.markdown
    # a later approval keeps the acceptance it restates
    again = approve(signed, cheap_run(signed, "r2", cheap_hits=37), ADA, key=keys.ada).record
    assert again["accept_lower_floor"] == {"triage": 0.05}


def test_the_gate_fails_a_lowered_floor_the_approval_did_not_accept(signed):
    set_unsigned(signed)
    _lower_floor(signed)
    approve(signed, cheap_run(signed), "Ada", accept_lower_floor=True)
    records = log_lines(signed)
    records[-1]["accept_lower_floor"] = {}
    rewrite_log(signed, records)
    assert any("rule 'triage': require.quality_floor 0.05 is below its suite floor 0.7 and the approval did not "
               "accept it" in m for m in failures(gate(signed)))


def test_requirement_changes_and_gate_settings_against_the_base_appear_in_the_comment(approved, keys):
    settings = approved.root / "policies" / "gate.yaml"
    settings.write_text(settings.read_text().replace("quality_tolerance: 0.02", "quality_tolerance: 0.2"))
    markdown = gate(approved, base="HEAD").markdown
    assert "- **policies/gate.yaml quality\\_tolerance relaxed: 0.02 → 0.2**" in markdown


def test_evidence_from_an_earlier_approval_stays_re_derivable(signed, keys):
    """A later proposal from a run without the triage suite keeps triage's evidence from r1's bundle."""
    from tests.policy.runs import model_rows, ones, write_run

    approve(signed, cheap_run(signed), ADA, key=keys.ada)
    rows = model_rows("voice", "premium", ones(40, 30), variant="default")
    rows += model_rows("voice", "mid", ones(40, 30), cost=0.0001, variant="default")
    write_run(signed, "r3", rows)
    approve(signed, recommend(signed, "r3").proposal_path, ADA, key=keys.ada)
    shutil.rmtree(signed.reports_dir)
    result = gate(signed, base="HEAD")
    assert result.ok, result.markdown
    assert "rule 'triage': numbers re-derived from policies/evidence/r1-" in result.markdown
