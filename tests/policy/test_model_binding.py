"""Evidence bound to the model specs it was measured with (issue 17 finding 8, policies/models.yaml).

A change of ``policies/models.yaml`` that can change an answer of a model a rule's evidence cites (its
``ModelSpec.cache_identity()``, the response cache's identity) fails the rule, naming the model and the
file; answer-neutral fields pass; a pricing change is shown with the cost re-derived under the new prices.
"""

from __future__ import annotations

import pytest

from evals.policy.approve import ApprovalRefused, approve
from evals.policy.gate import gate
from tests.policy.signed import ADA, cheap_run, commit_all, failures

CHEAP = ('  - {id: cheap, provider: openai-compatible, model: c, family: c, context_window: 100000,\n'
         '     base_url: "http://127.0.0.1:9/v1", pricing: {self_hosted: {hourly_usd: 1.0}}}\n')


def _edit_models(project, old: str, new: str) -> None:
    text = project.models_file.read_text()
    assert old in text
    project.models_file.write_text(text.replace(old, new, 1))


@pytest.fixture
def approved(signed, keys):
    """triage -> cheap (fallback premium) approved and committed as the base."""
    approve(signed, cheap_run(signed), ADA, key=keys.ada)
    commit_all(signed.root, "approved r1")
    return signed


@pytest.mark.parametrize("old, new", [
    ("model: c, family: c", "model: c-70b, family: c"),  # another model behind the same id
    ("http://127.0.0.1:9/v1", "http://127.0.0.1:10/v1"),  # another server
    ("context_window: 100000,\n     base_url", "context_window: 100000, options: {json_mode: none},\n     base_url"),
])
def test_an_answer_changing_edit_of_a_cited_model_fails_the_rule_naming_model_and_file(approved, old, new):
    _edit_models(approved, CHEAP, CHEAP.replace(old, new))
    result = gate(approved, base="HEAD")
    assert result.exit_code == 1
    [message] = [c.message for c in result.checks if c.name == "evidence" and not c.ok and c.rule == "triage"]
    assert message == ("rule 'triage': inputs changed since evidence run r1 without new evidence: "
                       "policies/models.yaml model cheap (changed); re-run `evals run`, `evals recommend` and approve")


def test_a_cited_fallback_is_bound_too_and_an_uncited_model_is_not(approved):
    _edit_models(approved, "model: m, family: m", "model: m2, family: m")  # mid: cited by no rule's evidence
    assert gate(approved, base="HEAD").ok
    _edit_models(approved, "model: p, family: p", "model: p2, family: p")  # premium: triage's scored fallback
    assert any("policies/models.yaml model premium (changed)" in m for m in failures(gate(approved, base="HEAD")))


@pytest.mark.parametrize("old, new", [
    ("context_window: 100000,\n     base_url", "context_window: 100000, concurrency: 32, timeout_s: 9,\n     base_url"),
    ("context_window: 100000,\n     base_url", "context_window: 100000, description: the cheap one,\n     base_url"),
    ("context_window: 100000,\n     base_url", "context_window: 100000, rate_limit: {requests_per_minute: 5},\n"
                                               "     max_retries: 1, base_url"),
])
def test_answer_neutral_edits_pass(approved, old, new):
    _edit_models(approved, CHEAP, CHEAP.replace(old, new))
    result = gate(approved, base="HEAD")
    assert result.ok, result.markdown
    assert "pricing" not in result.markdown


def test_a_pricing_change_passes_and_shows_the_cost_re_derived_under_the_branch_prices(approved):
    _edit_models(approved, "hourly_usd: 1.0", "hourly_usd: 36.0")
    result = gate(approved, base="HEAD")
    assert result.ok, result.markdown
    # 40 calls of 100 ms at $36/h: $0.001 each, $1.00 per 1k calls; the run priced them at $0.0001 each
    [warning] = [w for w in result.warnings if w.rule == "triage"]
    assert warning.message.startswith(
        "rule 'triage': the pricing of cheap in policies/models.yaml changed since its approval: re-priced from "
        "policies/evidence/r1-")
    assert warning.message.endswith(
        ".parquet under the branch's prices, cheap costs $1.00 per 1k calls, the evidence states $0.1000 "
        "(the gate holds the stated cost; re-run `evals run` and `evals recommend` to re-price the evidence)")
    assert "### Warnings" in result.markdown and "the pricing of cheap in policies/models.yaml" in result.markdown


def test_approve_refuses_a_model_spec_changed_since_the_run(signed, keys):
    proposal = cheap_run(signed)
    _edit_models(signed, CHEAP, CHEAP.replace("model: c, family: c", "model: c-70b, family: c"))
    with pytest.raises(ApprovalRefused, match=r"rule 'triage': the entry of cheap in policies/models.yaml changed "
                                              r"since run r1 \(model\); re-run `evals run` and `evals recommend`"):
        approve(signed, proposal, ADA, key=keys.ada)
    assert not signed.approvals_file.exists()


def test_approve_refuses_a_run_that_does_not_record_the_model_identity(signed, keys):
    import json

    proposal = cheap_run(signed)
    manifest = signed.reports_dir / "r1" / "manifest.json"
    data = json.loads(manifest.read_text())
    data["models"]["cheap"] = {}
    manifest.write_text(json.dumps(data))
    with pytest.raises(ApprovalRefused, match=r"run r1 does not record the identity of model cheap; re-run it"):
        approve(signed, proposal, ADA, key=keys.ada)


def test_the_approval_records_the_identity_and_pricing_of_every_cited_model(signed, keys):
    from evals.config.models import load_models
    from evals.policy.bundle import model_identity_sha256, pricing_sha256

    record = approve(signed, cheap_run(signed), ADA, key=keys.ada).record
    specs = {m.id: m for m in load_models(signed.models_file).models}
    inputs = record["inputs"]["triage"]
    assert inputs["policies/models.yaml model cheap"] == model_identity_sha256(specs["cheap"])
    assert inputs["policies/models.yaml model premium"] == model_identity_sha256(specs["premium"])
    assert record["pricing"]["triage"] == {"cheap": pricing_sha256(specs["cheap"]),
                                           "premium": pricing_sha256(specs["premium"])}
