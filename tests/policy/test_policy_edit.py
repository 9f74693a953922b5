"""Approve edits policies/current.yaml minimally (issue 17, finding 9): comments, order, flow style and file mode
kept; a proposal that changes no routing changes no existing line."""

from __future__ import annotations

import difflib
import os
import shutil

from evals.config.policy import Policy, load_policy
from evals.policy.approve import approve
from evals.policy.recommend import recommend
from evals.policy.yamledit import edit_policy_text
from evals.project import Project
from tests.conftest import REPO
from tests.policy.runs import model_rows, ones, write_run
from tests.policy.signed import ADA, N, cheap_run, commit_all

COMMENTED = """\
# yaml-language-server: $schema=../evals/schemas/policy.schema.json
# Our routing policy. Keep the comments!
format_version: 1
rules:
  # inbox first
  - id: triage
    when: {task: classification}
    require: {p95_latency_ms: 3000}   # the SLO
    model: premium
    prompt: triage
    fallbacks: [mid]

  - id: writing
    when: {task: writing, context_tokens: {max: 4000}}
    model: premium
    prompt: voice
# the rest
default:
  model: mid
  fallbacks: [premium]
"""


def _removed(before: str, after: str) -> list[str]:
    return [line for line in difflib.ndiff(before.splitlines(), after.splitlines()) if line.startswith("- ")]


def test_a_proposal_that_keeps_every_model_changes_no_existing_line(signed, keys):
    signed.policy_file.write_text(COMMENTED)
    os.chmod(signed.policy_file, 0o644)
    commit_all(signed.root, "commented policy")
    rows = model_rows("triage", "premium", ones(N, 38), cost=0.0001, latency=100, variant="default")
    # mid meets the floor: a measured fallback under it would be dropped (fallbacks meet the rule)
    rows += model_rows("triage", "mid", ones(N, 37), cost=0.01, latency=100, variant="default")
    write_run(signed, "r1", rows)
    result = recommend(signed, "r1")
    assert result.proposal.target("triage").model == "premium"
    approve(signed, result.proposal_path, ADA, key=keys.ada)
    after = signed.policy_file.read_text()
    assert _removed(COMMENTED, after) == []  # only the evidence and the source stamp were added
    assert after.startswith("# yaml-language-server: $schema=../evals/schemas/policy.schema.json\n")
    assert "  # inbox first\n" in after and "# the SLO" in after and "# the rest\n" in after
    assert os.stat(signed.policy_file).st_mode & 0o777 == 0o644
    assert load_policy(signed.policy_file).content_sha256() == result.proposal.content_sha256()


def test_a_switched_rule_changes_only_its_own_lines(signed, keys):
    signed.policy_file.write_text(COMMENTED)
    os.chmod(signed.policy_file, 0o664)
    proposal = cheap_run(signed)
    approve(signed, proposal, ADA, key=keys.ada)
    after = signed.policy_file.read_text()
    assert _removed(COMMENTED, after) == ["-     model: premium", "-     fallbacks: [mid]"]
    assert "    model: cheap\n    prompt: triage\n    fallbacks: [premium]\n" in after  # mid (0/40) fails the floor
    assert os.stat(signed.policy_file).st_mode & 0o777 == 0o664


def test_the_same_policy_edits_to_the_same_bytes(signed):
    policy = Policy.model_validate(__import__("yaml").safe_load(COMMENTED))
    assert edit_policy_text(COMMENTED, policy) == COMMENTED


def test_the_shipped_policy_keeps_its_schema_comment(tmp_path):
    """The shipped starting policy, given evidence for every rule, loses none of its lines."""
    root = tmp_path / "shipped"
    shutil.copytree(REPO / "policies", root / "policies")
    project = Project(root)
    text = project.policy_file.read_text()
    policy = load_policy(project.policy_file)
    from evals.config.policy import Evidence

    ev = Evidence(run_id="r", suite="inbox-triage", quality=0.9, quality_ci=(0.8, 0.95), cost_per_1k_usd=1.0,
                  p95_latency_ms=100.0, n=40)
    changed = policy.model_copy(update={
        "rules": [r.model_copy(update={"evidence": ev}) for r in policy.rules],
        "default": policy.default.model_copy(update={"evidence": ev})})
    after = edit_policy_text(text, changed)
    assert _removed(text, after) == []
    assert Policy.model_validate(__import__("yaml").safe_load(after)).content_sha256() == changed.content_sha256()
