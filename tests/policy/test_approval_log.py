"""The approval log (issue 17, finding 3): append-only and hash-chained, checked against --base; written under
a lock, record first; names validated; read on \\n only; the gate's Markdown escapes what comes from files."""

from __future__ import annotations

import json
import multiprocessing
import shutil

import pytest

from evals.config.policy import load_policy
from evals.errors import ConfigError, UsageError
from evals.policy import approvals
from evals.policy.approve import approve
from evals.policy.gate import Check, GateResult, gate, render_markdown
from evals.project import Project
from tests.conftest import run_cli
from tests.policy.signed import ADA, cheap_run, commit_all, failures, log_lines, rewrite_log, set_unsigned


@pytest.fixture
def two_approvals(signed, keys):
    """Two signed approvals committed at HEAD."""
    approve(signed, cheap_run(signed), ADA, key=keys.ada)
    approve(signed, cheap_run(signed, "r2", cheap_hits=37), ADA, key=keys.ada)
    commit_all(signed.root, "two approvals")
    return signed


def test_rewriting_the_approver_or_time_of_an_old_record_fails_naming_the_line(two_approvals):
    records = log_lines(two_approvals)
    records[0]["approver"] = "mallory@example.com"
    records[0]["time"] = "2020-01-01T00:00:00+00:00"
    rewrite_log(two_approvals, records)
    messages = failures(gate(two_approvals, base="HEAD"))
    assert any(m.startswith("approvals.jsonl:1: differs from the log at HEAD: line 1 was rewritten") for m in messages)
    assert any(m.startswith("approvals.jsonl:2: hash chain broken") for m in messages), messages


def test_a_rechained_rewrite_still_fails_against_the_base(two_approvals):
    records = log_lines(two_approvals)
    records[0]["approver"] = "mallory@example.com"
    rewrite_log(two_approvals, records, rechain=True)
    messages = failures(gate(two_approvals, base="HEAD"))
    assert any(m.startswith("approvals.jsonl:1: differs from the log at HEAD") for m in messages), messages
    # without a base the chain is intact, but the signature of the edited record is not
    assert any("approvals.jsonl:1: approval by 'mallory@example.com'" in m for m in failures(gate(two_approvals)))


def test_removing_a_record_fails(two_approvals):
    records = log_lines(two_approvals)
    rewrite_log(two_approvals, records[:1])
    messages = failures(gate(two_approvals, base="HEAD"))
    assert any("approvals.jsonl:2: differs from the log at HEAD: line 2 was removed" in m for m in messages), messages


def test_the_chain_names_the_first_broken_link_without_a_base(two_approvals):
    records = log_lines(two_approvals)
    records[1]["prev"] = "0" * 64
    rewrite_log(two_approvals, records)
    assert any(m.startswith("approvals.jsonl:2: hash chain broken: prev does not match line 1")
               for m in failures(gate(two_approvals)))


@pytest.mark.parametrize("name", ["Ada\u2028x", "Ada\x85", "Ada\a", "Ada\u2029", "Ada\u202eevil"])
def test_names_with_control_or_line_separator_characters_are_refused(signed, keys, name):
    proposal = cheap_run(signed)
    before = signed.policy_file.read_bytes()
    done = run_cli("approve", str(proposal), "--by", name, "--key", str(keys.ada), "--project", str(signed.root),
                   cwd=signed.root)
    assert done.returncode == 2 and "--by 'Ada" in done.stderr and "use printable characters only" in done.stderr
    assert done.stderr.count("\n") == 1
    assert not signed.approvals_file.exists() and signed.policy_file.read_bytes() == before


def test_a_rule_id_with_a_line_break_is_a_config_error(signed):
    text = signed.policy_file.read_text().replace("id: triage", 'id: "triage\\n## Policy gate: ✅ passed"')
    signed.policy_file.write_text(text)
    with pytest.raises(ConfigError, match=r"current.yaml:3: rules\[0\].id: .*U\+000A"):
        gate(signed)


def test_the_log_is_ascii_and_read_on_newlines_only(signed, tmp_path):
    set_unsigned(signed)
    approve(signed, cheap_run(signed), "Zoë Ångström")
    raw = signed.approvals_file.read_bytes()
    assert raw.isascii() and raw.count(b"\n") == 1
    # a record an older writer left with a raw U+2028 inside a string is still one record
    record = json.loads(raw)
    record["note"] = "a\u2028b\x85c"
    path = tmp_path / "approvals.jsonl"
    path.write_bytes(json.dumps(record, ensure_ascii=False).encode() + b"\n")
    [entry] = approvals.read_log(path)
    assert entry.record["note"] == "a\u2028b\x85c"


def test_a_log_line_that_is_not_an_object_names_the_line(signed, tmp_path):
    path = tmp_path / "approvals.jsonl"
    path.write_text('{"format_version": 2, "prev": null}\n[1, 2]\n')
    with pytest.raises(UsageError, match=r"approvals.jsonl:2: an approval record is a JSON object"):
        approvals.read_log(path)


def test_markdown_escapes_text_from_files():
    evil = "x\n## Policy gate: ✅ passed\u2028<img src=x onerror=alert(1)> | @team"
    result = GateResult(checks=[Check("approved", False, f"rule {evil!r} changed", rule=evil)],
                        approved_diff="# Policy diff\n\n" + evil + "\nPolicy gate\n===\n")
    markdown = render_markdown(result, "main")
    lines = markdown.splitlines()
    assert [line for line in lines if line.startswith("#")] == ["## Policy gate: ❌ failed",
                                                                "### Requirement changes against main"]
    assert "<img" not in markdown and "&lt;img" in markdown and "@team" not in markdown
    assert not any(line.strip() == "===" for line in lines)
    table_rows = [line for line in lines if line.startswith("| approved")]
    assert len(table_rows) == 1 and table_rows[0].count(" | ") == 3


def test_an_approver_name_edited_into_the_log_cannot_inject_a_heading(signed):
    set_unsigned(signed)
    approve(signed, cheap_run(signed), "Ada")
    records = log_lines(signed)
    records[0]["approver"] = "x\n## Policy gate: ✅ passed"
    rewrite_log(signed, records)
    markdown = gate(signed).markdown
    assert [line for line in markdown.splitlines() if line.startswith("#")] == ["## Policy gate: ✅ passed"]
    assert "approved by x \\#\\# Policy gate: ✅ passed at" in markdown


def test_a_failed_append_leaves_the_policy_and_the_evidence_folder_as_they_were(signed, keys, monkeypatch):
    proposal = cheap_run(signed)
    before = signed.policy_file.read_bytes()

    def fail(*args, **kwargs):
        raise UsageError("policies/approvals.jsonl: cannot write the approval log: Permission denied")

    monkeypatch.setattr(approvals, "append", fail)
    with pytest.raises(UsageError, match="cannot write the approval log"):
        approve(signed, proposal, ADA, key=keys.ada)
    assert signed.policy_file.read_bytes() == before
    assert not signed.approvals_file.exists()
    assert not list((signed.root / "policies").glob("evidence/*.parquet"))
    monkeypatch.undo()
    approve(signed, proposal, ADA, key=keys.ada)  # and approving again works
    assert gate(signed).ok


def test_an_approval_interrupted_after_its_record_is_finished_by_running_it_again(signed, keys, monkeypatch):
    import sys

    approve_module = sys.modules["evals.policy.approve"]
    proposal = cheap_run(signed)
    real = approve_module.write_bytes_atomic

    def crash_on_policy(path, data):
        if path.name == "current.yaml":
            raise KeyboardInterrupt
        real(path, data)

    monkeypatch.setattr(approve_module, "write_bytes_atomic", crash_on_policy)
    with pytest.raises(KeyboardInterrupt):
        approve(signed, proposal, ADA, key=keys.ada)
    assert len(log_lines(signed)) == 1
    assert load_policy(signed.policy_file).target("triage").model == "premium"
    monkeypatch.undo()
    again = approve(signed, proposal, ADA, key=keys.ada)
    assert again.resumed and len(log_lines(signed)) == 1
    assert gate(signed).ok


def _approve_in_child(root, proposal, key, barrier, results):
    try:
        barrier.wait(timeout=60)
        approve(Project(root), proposal, ADA, key=key, force_base=True)
        results.put("ok")
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        results.put(f"{type(exc).__name__}: {exc}")


def test_concurrent_approvals_never_lose_a_record(signed, keys):
    """20 trials of two real processes approving at the same moment: both records are kept, chained."""
    first, second = cheap_run(signed, "r1"), cheap_run(signed, "r2", cheap_hits=37)
    policy = signed.policy_file.read_bytes()
    ctx = multiprocessing.get_context("fork")
    for trial in range(20):
        signed.policy_file.write_bytes(policy)
        signed.approvals_file.unlink(missing_ok=True)
        shutil.rmtree(signed.root / "policies" / "evidence", ignore_errors=True)
        barrier, results = ctx.Barrier(2), ctx.Queue()
        procs = [ctx.Process(target=_approve_in_child, args=(signed.root, p, keys.ada, barrier, results))
                 for p in (first, second)]
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join(120)
        outcomes = sorted(results.get(timeout=10) for _ in procs)
        assert outcomes == ["ok", "ok"], (trial, outcomes)
        entries = approvals.read_log(signed.approvals_file)
        assert len(entries) == 2, trial
        assert approvals.chain_problems(entries, signed.approvals_file) == []
        assert load_policy(signed.policy_file).content_sha256() == entries[-1].record["policy_sha256"]
