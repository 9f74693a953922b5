"""Requirement changes against the policy in force, in diff.md and in the gate's comment (issue 17, finding 8):
a floor lowered, a latency or cost ceiling relaxed by hand in current.yaml, or a gate setting relaxed, after an
approval, shows in the next proposal's diff.md and in the comment; an unreadable approval record is an error,
never a silent comparison with another policy; text from files never becomes markup in diff.md."""

from __future__ import annotations

import re

import pytest

from evals.errors import ConfigError
from evals.policy.approve import approve
from evals.policy.gate import gate
from evals.policy.recommend import recommend
from tests.conftest import run_cli
from tests.policy.signed import ADA, cheap_run, commit_all, failures, log_lines, rewrite_log, set_unsigned

FLOOR = "- **rule 'triage' require.quality\\_floor relaxed: none (suite floor 0.7) → 0.05**"
LATENCY = "- **rule 'triage' require.p95\\_latency\\_ms relaxed: 3000 → 60000**"
COST = "- **rule 'triage' require.max\\_cost\\_per\\_call\\_usd relaxed: 0.05 → 1**"
LOWERED = "- **rule 'triage' require.quality\\_floor 0.05 is below its suites' floor 0.7**"


def _set_require(project, require: str) -> None:
    text = project.policy_file.read_text()
    old = re.search(r"require: \{[^}]*\}", text).group(0)
    project.policy_file.write_text(text.replace(old, f"require: {{{require}}}", 1))


@pytest.fixture
def in_force(signed, keys):
    """triage -> cheap approved (signed) with a cost ceiling of $0.05 a call, committed as the base."""
    _set_require(signed, "p95_latency_ms: 3000, max_cost_per_call_usd: 0.05")
    commit_all(signed.root, "a cost ceiling")
    approve(signed, cheap_run(signed), ADA, key=keys.ada)
    commit_all(signed.root, "approved r1")
    return signed


def test_requirements_relaxed_by_hand_show_in_diff_md_and_in_the_gate_comment(in_force, keys):
    # the case: lower the floor, relax latency and cost in current.yaml, then recommend + approve
    _set_require(in_force, "quality_floor: 0.05, p95_latency_ms: 60000, max_cost_per_call_usd: 1.0")
    proposal = cheap_run(in_force, "r2")
    diff = (proposal.parent / "diff.md").read_text()
    assert "## Requirement changes against the approval of " in diff
    assert "(policies/approvals.jsonl:1)" in diff
    for line in (FLOOR, LATENCY, COST):
        assert line in diff, diff
    assert LOWERED + ": approving it needs `evals approve --accept-lower-floor`" in diff
    approve(in_force, proposal, ADA, key=keys.ada, accept_lower_floor=True)
    result = gate(in_force, base="HEAD")
    assert result.ok, result.markdown
    for line in (FLOOR, LATENCY, COST):
        assert line in result.markdown, result.markdown
    assert LOWERED + ": accepted by the approval (`--accept-lower-floor`)" in result.markdown


def test_a_proposal_that_changes_no_requirement_says_so(in_force):
    diff = (cheap_run(in_force, "r2", cheap_hits=37).parent / "diff.md").read_text()
    assert re.search(r"## Requirement changes against the approval of [^\n]*\n\nNone\.\n", diff), diff


def test_gate_settings_relaxed_since_the_approval_show_in_diff_md(in_force):
    settings = in_force.root / "policies" / "gate.yaml"
    settings.write_text(settings.read_text().replace("quality_tolerance: 0.02", "quality_tolerance: 0.2")
                        + "max_infra_failure_rate: 0.5\n")
    diff = (cheap_run(in_force, "r2", cheap_hits=37).parent / "diff.md").read_text()
    assert "- **policies/gate.yaml quality\\_tolerance relaxed: 0.02 → 0.2**" in diff, diff
    assert "- **policies/gate.yaml max\\_infra\\_failure\\_rate relaxed: 0.02 → 0.5**" in diff


def test_the_approval_records_the_gate_settings_in_force(in_force):
    [record] = log_lines(in_force)
    assert record["settings"]["quality_tolerance"] == 0.02
    assert record["settings"]["weekly_spend_ceiling_usd"] == 1000


@pytest.mark.parametrize(("key", "value", "field"), [("policy", {"rules": "x"}, "policy.rules"),
                                                     ("policy", None, "policy"),
                                                     ("settings", {"quality_tolerance": 7}, "settings.quality_tolerance")])
def test_an_unreadable_approval_record_is_an_error_not_a_comparison_with_current_yaml(signed, key, value, field):
    set_unsigned(signed)
    approve(signed, cheap_run(signed), "Ada")
    records = log_lines(signed)
    records[-1][key] = value
    rewrite_log(signed, records, rechain=True)
    with pytest.raises(ConfigError, match=rf"^policies/approvals.jsonl:1: {re.escape(field)}: .*the approval record "
                                          "is unreadable"):
        recommend(signed, "r1")
    done = run_cli("recommend", "r1", "--project", str(signed.root), cwd=signed.root)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert f"policies/approvals.jsonl:1: {field}:" in done.stderr
    messages = failures(gate(signed))  # the gate reports it too
    assert any(m.startswith(f"policies/approvals.jsonl:1: {field}:") for m in messages), messages


WEIRD = "tri<img src=x>@team [x](http://e)|age"


def test_text_from_files_never_becomes_markup_in_diff_md_or_the_comment(signed):
    set_unsigned(signed)
    signed.policy_file.write_text(signed.policy_file.read_text().replace("id: triage", f"id: '{WEIRD}'"))
    commit_all(signed.root, "a rule id full of markup")
    proposal = cheap_run(signed)
    diff = (proposal.parent / "diff.md").read_text()
    shown = "tri&lt;img src=x>&#64;team [x]\\(http://e)\\|age"
    assert f"| {shown} | triage |" in diff, diff
    assert "<img" not in diff and "@team" not in diff and "](http" not in diff
    cells = lambda line: len(re.split(r"(?<!\\)\|", line))  # noqa: E731
    header = next(line for line in diff.splitlines() if line.startswith("| rule | suites |"))
    row = next(line for line in diff.splitlines() if line.startswith(f"| {shown} |"))
    assert cells(row) == cells(header)
    approve(signed, proposal, "Ada")
    comment = gate(signed).markdown
    assert "tri&lt;img" in comment and "&amp;lt;" not in comment and "<img" not in comment, comment
