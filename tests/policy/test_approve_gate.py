"""Approval (refuses missing or altered evidence) and the CI gate (exit codes, the rule named)."""

from __future__ import annotations

import subprocess
import xml.etree.ElementTree as ET

import pytest

from evals.config.policy import load_policy
from evals.policy.approve import ApprovalRefused, approve, read_approvals
from evals.policy.gate import gate
from evals.policy.recommend import RecommendOptions, recommend
from evals.runner.store import read_results, write_parquet_atomic
from tests.conftest import run_cli
from tests.policy.runs import model_rows, ones, write_run

N = 40


@pytest.fixture
def proposed(pproject):
    """A run where ``cheap`` is non-inferior and cheaper, and its proposal."""
    rows = model_rows("triage", "premium", ones(N, 38), cost=0.01, latency=900)
    rows += model_rows("triage", "cheap", ones(N, 38), cost=0.0001, latency=100)
    write_run(pproject, "r1", rows)
    # the same answers on 40 examples: [-0.088, +0.088], non-inferior within 0.1 (not within gate.yaml's 0.02)
    result = recommend(pproject, "r1", RecommendOptions(tolerance=0.1))
    return result.proposal_path


def test_approve_writes_the_policy_and_appends_the_record(pproject, proposed):
    before = load_policy(pproject.policy_file)
    approval = approve(pproject, proposed, "Ada")
    current = load_policy(pproject.policy_file)
    assert current.content_sha256() == load_policy(proposed).content_sha256()
    assert current.target("triage").model == "cheap"
    [record] = read_approvals(pproject.approvals_file)
    assert record == approval.record
    assert record["approver"] == "Ada" and record["evidence"]["run_id"] == "r1"
    assert record["evidence"]["results_sha256"] == current.source.results_sha256
    assert record["previous_policy_sha256"] == before.content_sha256()
    assert {"rule": "triage", "change": "changed", "fields": ["model", "fallbacks"], "from": "premium",
            "to": "cheap"} in record["diff"]
    assert "| triage |" in record["diff_markdown"]
    assert len(record["proposal_sha256"]) == 64 and record["format_version"] == 1


def test_approve_refuses_altered_results(pproject, proposed):
    frame = read_results(pproject.reports_dir / "r1")
    frame.loc[0, "score"] = 0.0
    write_parquet_atomic(pproject.reports_dir / "r1" / "results.parquet", frame, {"evals_format_version": "1"})
    with pytest.raises(ApprovalRefused, match="evidence altered"):
        approve(pproject, proposed, "Ada")
    assert not pproject.approvals_file.exists()
    assert load_policy(pproject.policy_file).target("triage").model == "premium"


def test_approve_refuses_edited_evidence_numbers(pproject, proposed):
    proposed.write_text(proposed.read_text().replace("quality: 0.95", "quality: 0.99", 1))
    with pytest.raises(ApprovalRefused, match=r"evidence.quality says 0.99, run r1 gives 0.95"):
        approve(pproject, proposed, "Ada")


def test_approve_refuses_missing_evidence_through_the_cli(pproject, proposed):
    (pproject.reports_dir / "r1" / "results.parquet").unlink()
    done = run_cli("approve", str(proposed), "--by", "Ada", "--project", str(pproject.root), cwd=pproject.root)
    assert done.returncode == 1
    assert "evidence run r1 is missing" in done.stderr


def test_approve_refuses_a_stale_proposal(pproject, proposed):
    pproject.policy_file.write_text(pproject.policy_file.read_text().replace("fallbacks: [premium]", "fallbacks: []"))
    with pytest.raises(ApprovalRefused, match="compiled against a different policy"):
        approve(pproject, proposed, "Ada")


def test_gate_without_approval_fails(pproject):
    result = gate(pproject)
    assert result.exit_code == 1
    assert "no approval recorded" in result.markdown


def test_gate_passes_after_approval_and_names_a_hand_edited_rule(pproject, proposed, tmp_path):
    approve(pproject, proposed, "Ada")
    ok = run_cli("gate", "--project", str(pproject.root), "--junit", str(tmp_path / "gate.xml"), cwd=pproject.root)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "## Policy gate: ✅ passed" in ok.stdout
    # 10,000 triage calls a week at $0.0001 each, within the $1000 ceiling
    assert ("projected weekly spend at least $1.00 (no priced evidence for voice (writing)) within the ceiling "
            "$1,000.00") in ok.stdout
    suite = ET.parse(tmp_path / "gate.xml").getroot().find("testsuite")
    assert suite.get("failures") == "0" and int(suite.get("tests")) == 3

    text = pproject.policy_file.read_text()
    # (mid stays a fallback: it was not measured in r1, so the proposal keeps it, marked unmeasured)
    pproject.policy_file.write_text(text.replace("  model: cheap\n", "  model: small-window\n", 1))
    bad = run_cli("gate", "--project", str(pproject.root), "--junit", str(tmp_path / "gate.xml"), cwd=pproject.root)
    assert bad.returncode == 1
    assert "rule 'triage' changed (model: cheap → small-window)" in bad.stdout
    failure = ET.parse(tmp_path / "gate.xml").getroot().find("testsuite/testcase/failure")
    assert "rule 'triage'" in failure.text


def test_gate_spend_ceiling(pproject, proposed):
    approve(pproject, proposed, "Ada")
    settings = pproject.root / "policies" / "gate.yaml"
    settings.write_text(settings.read_text().replace("weekly_spend_ceiling_usd: 1000", "weekly_spend_ceiling_usd: 0.5"))
    result = gate(pproject)
    assert result.exit_code == 1
    assert [c.name for c in result.checks if not c.ok] == ["spend"]
    assert "projected weekly spend at least $1.00" in result.markdown
    assert result.weekly_spend_usd is None  # the voice suite's rule has no priced evidence


def _git(root, *args):
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True,
                   env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
                        "GIT_COMMITTER_EMAIL": "t@t", "HOME": str(root), "PATH": "/usr/bin:/bin"})


def test_gate_against_a_base_revision(pproject, proposed):
    root = pproject.root
    _git(root, "init", "-q")
    _git(root, "add", "policies")
    _git(root, "commit", "-q", "-m", "base")
    approve(pproject, proposed, "Ada")
    result = gate(pproject, base="HEAD")
    assert result.exit_code == 0, result.markdown
    assert "rule 'triage' changed against HEAD: evidence run r1" in result.markdown

    # an approved change whose evidence is for another model than the rule routes to
    approved = pproject.policy_file.read_text()
    pproject.policy_file.write_text(approved.replace("  model: cheap\n", "  model: small-window\n", 1))
    result = gate(pproject, base="HEAD")
    assert "rule 'triage' changed against HEAD but routes to small-window but its evidence is for cheap" in result.markdown

    # a change that regresses beyond the tolerance against the base evidence
    rows = model_rows("triage", "premium", ones(N, 36), cost=0.01, latency=900)
    rows += model_rows("triage", "cheap", ones(N, 20), cost=0.0001, latency=100)
    write_run(pproject, "r2", rows)
    pproject.policy_file.write_text(approved)
    _git(root, "add", "policies")
    _git(root, "commit", "-q", "-m", "approved r1")
    approve(pproject, recommend(pproject, "r2").proposal_path, "Ada")
    result = gate(pproject, base="HEAD")
    assert result.exit_code == 1
    assert "rule 'triage' regresses: quality 0.950 (cheap) → 0.900 (premium)" in result.markdown
    assert run_cli("gate", "--base", "no-such-rev", "--project", str(root), cwd=root).returncode == 2


def test_gate_fails_when_the_approved_run_is_altered(pproject, proposed):
    approve(pproject, proposed, "Ada")
    frame = read_results(pproject.reports_dir / "r1")
    frame.loc[0, "latency_ms"] = 1.0
    write_parquet_atomic(pproject.reports_dir / "r1" / "results.parquet", frame, {"evals_format_version": "1"})
    result = gate(pproject)
    assert result.exit_code == 1
    assert "evidence run r1 was altered after its approval" in result.markdown
