"""Approval (refuses missing or altered evidence, signs, records first) and the CI gate (exit codes, the rule named)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from evals.config.policy import load_policy
from evals.errors import UsageError
from evals.policy.approve import ApprovalRefused, approve, read_approvals
from evals.policy.gate import gate
from evals.policy.recommend import recommend
from evals.runner.store import read_results, write_parquet_atomic
from tests.conftest import run_cli
from tests.policy.runs import model_rows, ones, write_run
from tests.policy.signed import ADA, N, cheap_run, commit_all, failures


@pytest.fixture
def proposed(signed):
    """A run where ``cheap`` is non-inferior and cheaper, and its proposal (Ada may approve)."""
    return cheap_run(signed)


def test_approve_writes_the_policy_and_appends_the_signed_record(signed, proposed, keys):
    before = load_policy(signed.policy_file)
    approval = approve(signed, proposed, ADA, key=keys.ada)
    current = load_policy(signed.policy_file)
    assert current.content_sha256() == load_policy(proposed).content_sha256()
    assert current.target("triage").model == "cheap"
    [record] = read_approvals(signed.approvals_file)
    assert record == approval.record
    assert record["approver"] == ADA and record["evidence"]["run_id"] == "r1"
    assert record["evidence"]["results_sha256"] == current.source.results_sha256
    assert record["previous_policy_sha256"] == before.content_sha256()
    assert {"rule": "triage", "change": "changed", "fields": ["model", "fallbacks"], "from": "premium",
            "to": "cheap"} in record["diff"]
    assert "| triage |" in record["diff_markdown"]
    assert len(record["proposal_sha256"]) == 64 and record["format_version"] == 2
    assert record["prev"] is None and record["signature"].startswith("-----BEGIN SSH SIGNATURE-----")
    bundle = signed.root / record["evidence"]["bundle"]
    assert bundle.is_file() and bundle.parent == signed.root / "policies" / "evidence"
    assert 1_000 < bundle.stat().st_size < 5_000_000
    assert set(record["inputs"]["triage"]) == {
        "prompts/triage/default.j2", "suites/classification/triage/suite.yaml",
        "suites/classification/triage/suite.yaml#scorer", "suites/classification/triage/test.jsonl",
        "policies/models.yaml model cheap", "policies/models.yaml model premium"}


def test_approve_needs_a_key_when_the_gate_requires_signatures(signed, proposed):
    with pytest.raises(UsageError, match=r"requires signed approvals.*--key"):
        approve(signed, proposed, ADA)
    assert not signed.approvals_file.exists()


def test_approve_refuses_altered_results(signed, proposed, keys):
    frame = read_results(signed.reports_dir / "r1")
    frame.loc[0, "score"] = 0.0
    write_parquet_atomic(signed.reports_dir / "r1" / "results.parquet", frame, {"evals_format_version": "1"})
    with pytest.raises(ApprovalRefused, match="evidence altered"):
        approve(signed, proposed, ADA, key=keys.ada)
    assert not signed.approvals_file.exists()
    assert load_policy(signed.policy_file).target("triage").model == "premium"


def test_approve_refuses_edited_evidence_numbers(signed, proposed, keys):
    proposed.write_text(proposed.read_text().replace("quality: 0.95", "quality: 0.99", 1))
    with pytest.raises(ApprovalRefused, match=r"evidence.quality says 0.99, run r1 gives 0.95"):
        approve(signed, proposed, ADA, key=keys.ada)


def test_approve_refuses_missing_evidence_through_the_cli(signed, proposed, keys):
    (signed.reports_dir / "r1" / "results.parquet").unlink()
    done = run_cli("approve", str(proposed), "--by", ADA, "--key", str(keys.ada), "--project", str(signed.root),
                   cwd=signed.root)
    assert done.returncode == 1
    assert "evidence run r1 is missing" in done.stderr


def test_approve_refuses_a_stale_proposal(signed, proposed, keys):
    signed.policy_file.write_text(signed.policy_file.read_text().replace("fallbacks: [premium]", "fallbacks: []"))
    with pytest.raises(ApprovalRefused, match="compiled against a different policy"):
        approve(signed, proposed, ADA, key=keys.ada)


def test_approve_refuses_a_prompt_changed_since_the_run(signed, proposed, keys):
    (signed.prompts_dir / "triage" / "default.j2").write_text("{% block user %}Write an essay{% endblock %}\n")
    with pytest.raises(ApprovalRefused, match=r"prompts/triage/default.j2 changed since run r1"):
        approve(signed, proposed, ADA, key=keys.ada)
    assert not signed.approvals_file.exists()


def test_gate_without_approval_fails(signed):
    result = gate(signed)
    assert result.exit_code == 1
    assert "no approval recorded" in result.markdown


def test_gate_passes_an_unchanged_unapproved_starting_policy_against_its_base(signed):
    """A pull request that only adds an approver's key to allowed_signers must be able to pass."""
    result = gate(signed, base="HEAD")
    assert result.ok, result.markdown
    assert "unchanged against HEAD and not yet approved" in result.markdown


def test_gate_passes_after_approval_and_names_a_hand_edited_rule(signed, proposed, keys, tmp_path):
    approve(signed, proposed, ADA, key=keys.ada)
    ok = run_cli("gate", "--project", str(signed.root), "--junit", str(tmp_path / "gate.xml"), cwd=signed.root)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "## Policy gate: ✅ passed" in ok.stdout
    # 10,000 triage calls a week at $0.0001 each, within the $1000 ceiling
    assert ("projected weekly spend at least $1.00 (no priced evidence for voice (writing)) within the ceiling "
            "$1,000.00") in ok.stdout
    suite = ET.parse(tmp_path / "gate.xml").getroot().find("testsuite")
    assert suite.get("failures") == "0" and int(suite.get("tests")) >= 5

    text = signed.policy_file.read_text()
    signed.policy_file.write_text(text.replace("  model: cheap\n", "  model: small-window\n", 1))
    bad = run_cli("gate", "--project", str(signed.root), "--junit", str(tmp_path / "gate.xml"), cwd=signed.root)
    assert bad.returncode == 1
    assert "rule 'triage' changed (model: cheap → small-window)" in bad.stdout
    failure = ET.parse(tmp_path / "gate.xml").getroot().find("testsuite/testcase/failure")
    assert "rule 'triage'" in failure.text


def test_gate_spend_ceiling(signed, proposed, keys):
    approve(signed, proposed, ADA, key=keys.ada)
    settings = signed.root / "policies" / "gate.yaml"
    settings.write_text(settings.read_text().replace("weekly_spend_ceiling_usd: 1000", "weekly_spend_ceiling_usd: 0.5"))
    result = gate(signed)
    assert result.exit_code == 1
    assert [c.name for c in result.checks if not c.ok] == ["spend"]
    assert "projected weekly spend at least $1.00" in result.markdown
    assert result.weekly_spend_usd is None  # the voice suite's rule has no priced evidence


def test_gate_against_a_base_revision(signed, proposed, keys):
    root = signed.root
    approve(signed, proposed, ADA, key=keys.ada)
    result = gate(signed, base="HEAD")
    assert result.exit_code == 0, result.markdown
    assert "rule 'triage' changed against HEAD: evidence run r1" in result.markdown

    # an approved change whose evidence is for another model than the rule routes to
    approved = signed.policy_file.read_text()
    signed.policy_file.write_text(approved.replace("  model: cheap\n", "  model: small-window\n", 1))
    result = gate(signed, base="HEAD")
    assert "rule 'triage' changed against HEAD but routes to small-window but its evidence is for cheap" in result.markdown

    # a change that regresses beyond the tolerance against the base evidence
    rows = model_rows("triage", "premium", ones(N, 36), cost=0.01, latency=900, variant="default")
    rows += model_rows("triage", "cheap", ones(N, 20), cost=0.0001, latency=100, variant="default")
    write_run(signed, "r2", rows)
    signed.policy_file.write_text(approved)
    commit_all(root, "approved r1")
    approve(signed, recommend(signed, "r2").proposal_path, ADA, key=keys.ada)
    result = gate(signed, base="HEAD")
    assert result.exit_code == 1
    assert "rule 'triage' regresses: quality 0.950 (cheap) → 0.900 (premium)" in result.markdown
    assert run_cli("gate", "--base", "no-such-rev", "--project", str(root), cwd=root).returncode == 2


def test_gate_fails_when_the_approved_run_is_altered(signed, proposed, keys):
    approve(signed, proposed, ADA, key=keys.ada)
    frame = read_results(signed.reports_dir / "r1")
    frame.loc[0, "latency_ms"] = 1.0
    write_parquet_atomic(signed.reports_dir / "r1" / "results.parquet", frame, {"evals_format_version": "1"})
    result = gate(signed)
    assert result.exit_code == 1
    assert "evidence run r1 was altered after its approval" in result.markdown


def test_gate_fails_when_the_evidence_bundle_is_altered_or_missing(signed, proposed, keys):
    record = approve(signed, proposed, ADA, key=keys.ada).record
    bundle = signed.root / record["evidence"]["bundle"]
    data = bundle.read_bytes()
    bundle.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    assert any(f"{record['evidence']['bundle']} was altered after its approval" in m for m in failures(gate(signed)))
    bundle.unlink()
    assert any("is missing; commit policies/evidence/" in m for m in failures(gate(signed)))


def test_a_pull_request_cannot_relax_the_gate_that_judges_it(signed, proposed, keys):
    settings = signed.root / "policies" / "gate.yaml"
    settings.write_text(settings.read_text().replace("weekly_spend_ceiling_usd: 1000", "weekly_spend_ceiling_usd: 0.5"))
    commit_all(signed.root, "a tight budget")
    approve(signed, proposed, ADA, key=keys.ada)
    settings.write_text(settings.read_text().replace("weekly_spend_ceiling_usd: 0.5", "weekly_spend_ceiling_usd: 1000"))
    result = gate(signed, base="HEAD")
    assert [c.name for c in result.checks if not c.ok] == ["spend"]
    assert "exceeds the ceiling $0.50" in result.markdown
    assert "- **policies/gate.yaml weekly\\_spend\\_ceiling\\_usd relaxed: 0.5 → 1000**" in result.markdown
