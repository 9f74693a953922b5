"""A broken approval log or an unwritable one is one line and exit 2 through the real CLI, and a failed
approval leaves the policy, the log and the evidence folder as they were (issue 17 item 4)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.cli.main import main
from evals.policy.approvals import canonical
from evals.providers.fake import FakeProvider
from tests.conftest import write_project
from tests.hardening.test_bad_inputs import GOOD_POLICY, _check, _snapshot, Case


@pytest.fixture
def approved(tmp_path, monkeypatch, capsys) -> Path:
    """A project with one run, its proposal, and an unsigned approval of it (solo mode)."""
    root = tmp_path / "proj"
    write_project(root)
    (root / "policies" / "current.yaml").write_text(GOOD_POLICY)
    (root / "policies" / "gate.yaml").write_text("require_signed_approvals: false\n")
    monkeypatch.setenv("EVALS_CACHE", str(tmp_path / "cache.sqlite"))
    FakeProvider.reset()
    assert main(["run", "--project", str(root)]) == 0
    assert main(["recommend", "--project", str(root)]) == 0
    (proposal,) = root.glob("reports/*/proposal.yaml")
    assert main(["approve", str(proposal), "--by", "Ada", "--project", str(root)]) == 0
    capsys.readouterr()
    return root


def _fails(root: Path, capsys, *args: str, file: str, line: int | None, contains: str) -> None:
    before = _snapshot(root)
    with pytest.raises(SystemExit) as info:
        main([*args, "--project", str(root)])
    _check(Case("approvals", lambda r: None, Path(file), line, contains), root, info.value.code, capsys.readouterr().err)
    assert _snapshot(root) == before


def test_a_log_line_that_is_a_list_is_one_line_naming_it(approved, capsys):
    log = approved / "policies" / "approvals.jsonl"
    log.write_text(log.read_text() + "[1, 2]\n")
    _fails(approved, capsys, "gate", file="policies/approvals.jsonl", line=2, contains="JSON object")


def test_a_record_with_null_evidence_is_one_line_naming_the_field(approved, capsys):
    log = approved / "policies" / "approvals.jsonl"
    record = json.loads(log.read_text().splitlines()[-1])
    record["evidence"] = None
    log.write_bytes(canonical(record) + b"\n")
    _fails(approved, capsys, "gate", file="policies/approvals.jsonl", line=1, contains="evidence: is null")


def test_approve_with_an_unwritable_log_changes_nothing(approved, capsys):
    """The log is a folder: approve fails on one line; current.yaml and policies/evidence are untouched."""
    log = approved / "policies" / "approvals.jsonl"
    assert main(["run", "--project", str(approved), "--limit", "3"]) == 0
    assert main(["recommend", "--project", str(approved)]) == 0  # it reads the log: the policy in force
    log.unlink()
    log.mkdir()
    newest = sorted(approved.glob("reports/*/proposal.yaml"))[-1]
    capsys.readouterr()
    _fails(approved, capsys, "approve", str(newest), "--by", "Ada", file="policies/approvals.jsonl", line=None,
           contains="approval log")
