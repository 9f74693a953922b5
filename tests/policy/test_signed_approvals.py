"""Signed approvals from an allowlist (issue 17, finding 2 and the first deliverable): real ssh-keygen keys,
real git repositories, the allowed signers read at --base."""

from __future__ import annotations

import pytest

from evals.policy.approve import ApprovalRefused, approve
from evals.policy.gate import gate
from tests.conftest import run_cli
from tests.policy.signed import (ADA, EVE, cheap_run, commit_all, failures, log_lines, rewrite_log, set_unsigned,
                                 signer_line)


def test_a_signed_approval_by_an_allowed_signer_passes_the_gate(signed, keys):
    approve(signed, cheap_run(signed), ADA, key=keys.ada)
    result = gate(signed, base="HEAD")
    assert result.ok, result.markdown
    assert "approvals.jsonl:1: approval by 'ada@example.com': good signature (allowed signers at HEAD)" \
        in result.markdown


def test_an_unsigned_record_fails_and_says_who_may_approve(signed, keys):
    # the pull request turns signing off in the same change: the base's setting still holds
    set_unsigned(signed)
    approve(signed, cheap_run(signed), ADA)
    messages = failures(gate(signed, base="HEAD"))
    assert any("approvals.jsonl:1: approval by 'ada@example.com' is not signed; who may approve "
               "(policies/allowed_signers at HEAD): ada@example.com" in m for m in messages), messages


def test_unsigned_mode_is_for_teams_that_set_it_at_the_base(signed):
    set_unsigned(signed)
    commit_all(signed.root, "solo use")
    approve(signed, cheap_run(signed), "Ada Lovelace")
    result = gate(signed, base="HEAD")
    assert result.ok, result.markdown


def test_a_key_added_in_the_same_pull_request_cannot_approve(signed, keys):
    allowed = signed.root / "policies" / "allowed_signers"
    allowed.write_text(allowed.read_text() + signer_line(EVE, keys.eve))
    approve(signed, cheap_run(signed), EVE, key=keys.eve)  # verifies against the working tree: Eve is there now
    result = gate(signed, base="HEAD")
    assert result.exit_code == 1
    [message] = [m for m in failures(result) if "approvals.jsonl:1" in m]
    assert "approval by 'eve@example.com': signature does not verify against policies/allowed_signers at HEAD" \
        in message
    assert message.endswith("who may approve (policies/allowed_signers at HEAD): ada@example.com")
    # once the key is merged, Eve's next approval verifies
    commit_all(signed.root, "eve approved, her key merged")
    approve(signed, cheap_run(signed, "r2", cheap_hits=37), EVE, key=keys.eve)
    assert gate(signed, base="HEAD").ok


def test_by_must_be_the_signing_principal(signed, keys):
    with pytest.raises(ApprovalRefused, match=r"lists this key for ada@example.com, not 'bob@example.com'"):
        approve(signed, cheap_run(signed), "bob@example.com", key=keys.ada)
    assert not signed.approvals_file.exists()
    with pytest.raises(ApprovalRefused, match=r"the key is not in .*allowed_signers"):
        approve(signed, cheap_run(signed), EVE, key=keys.eve)


def test_a_record_whose_approver_is_rewritten_fails_naming_the_signer(signed, keys):
    approve(signed, cheap_run(signed), ADA, key=keys.ada)
    allowed = signed.root / "policies" / "allowed_signers"
    allowed.write_text(allowed.read_text() + signer_line(EVE, keys.eve))
    commit_all(signed.root, "eve may approve too")
    approve(signed, cheap_run(signed, "r2", cheap_hits=37), ADA, key=keys.ada)
    records = log_lines(signed)
    records[-1]["approver"] = EVE
    rewrite_log(signed, records)
    messages = failures(gate(signed, base="HEAD"))
    assert any("approvals.jsonl:2: approval by 'eve@example.com': signed by the key of ada@example.com, not "
               "'eve@example.com'" in m for m in messages), messages


def test_a_signature_from_another_namespace_does_not_verify(signed, keys, tmp_path):
    """A signature Ada made for something else (a git commit: namespace git) is no approval."""
    import subprocess

    from evals.policy.approvals import signed_bytes

    approve(signed, cheap_run(signed), ADA, key=keys.ada)
    records = log_lines(signed)
    message = tmp_path / "msg"
    message.write_bytes(signed_bytes(records[0]))
    subprocess.run(["ssh-keygen", "-Y", "sign", "-f", str(keys.ada), "-n", "git", str(message)], check=True,
                   capture_output=True)
    records[0]["signature"] = (tmp_path / "msg.sig").read_text()
    rewrite_log(signed, records)
    assert any("signature does not verify" in m for m in failures(gate(signed, base="HEAD")))


def test_the_gate_cli_signs_and_verifies_end_to_end(signed, keys):
    proposal = cheap_run(signed)
    flags = ("--project", str(signed.root))
    done = run_cli("approve", str(proposal), "--by", ADA, "--key", str(keys.ada), *flags, cwd=signed.root)
    assert done.returncode == 0, done.stderr
    assert "approved by ada@example.com (signed)" in done.stdout
    gate_run = run_cli("gate", "--base", "HEAD", *flags, cwd=signed.root)
    assert gate_run.returncode == 0, gate_run.stdout + gate_run.stderr
