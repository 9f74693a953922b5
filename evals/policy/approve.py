"""``evals approve``: put a proposal in force and record who approved it on what evidence.

The proposal's evidence is verified first: the run it names must exist, its ``results.parquet`` must
hash to the sha256 the proposal carries, and every rule's evidence numbers must be what that run
gives when measured again. Then ``policies/current.yaml`` is written atomically and one line is
appended to ``policies/approvals.jsonl`` (never rewritten).
"""

from __future__ import annotations

import getpass
import hashlib
import json
import math
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from evals.config.models import load_models
from evals.config.policy import Evidence, Policy
from evals.errors import EvalsError, UsageError
from evals.policy.checks import load_checked_policy
from evals.policy.diff import policy_changes
from evals.policy.eligibility import rule_measure
from evals.policy.evidence import file_sha256, suite_specs
from evals.project import Project
from evals.runner.store import check_version, read_results, write_text_atomic

APPROVALS_FORMAT = 1


class ApprovalRefused(EvalsError):
    """The proposal's evidence is missing or does not match its run (exit status 1)."""

    exit_code = 1


@dataclass
class Approval:
    record: dict[str, Any]
    policy_path: Path
    log_path: Path


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-6)


def verify_evidence(project: Project, proposal: Policy, path: Path) -> str:
    """Check the proposal's evidence against its run; returns the run's results sha256."""
    source = proposal.source
    if source is None:
        raise ApprovalRefused(f"{path}: no `source:`; only a proposal written by `evals recommend` can be approved")
    results = project.reports_dir / source.run_id / "results.parquet"
    if not results.is_file():
        raise ApprovalRefused(f"{path}: evidence run {source.run_id} is missing ({results} not found); "
                              "approve on the machine that has the run, or re-run `evals recommend`")
    actual = file_sha256(results)
    if actual != source.results_sha256:
        raise ApprovalRefused(f"{path}: evidence altered: {results} has sha256 {actual[:12]}…, the proposal was "
                              f"compiled from {source.results_sha256[:12]}…; re-run `evals recommend {source.run_id}`")
    frame = None
    weights = {s.name: s.weekly_calls for s in suite_specs(project).values()}
    for rule_id, target in proposal.targets():
        ev = target.evidence
        if ev is None or ev.run_id != source.run_id:
            continue
        if ev.results_sha256 not in (None, actual):
            raise ApprovalRefused(f"{path}: rule {rule_id!r}: evidence results_sha256 does not match run {ev.run_id}")
        frame = read_results(results.parent) if frame is None else frame
        _check_numbers(frame, rule_id, target.model, ev, path, weights)
    return actual


def _check_numbers(frame: Any, rule_id: str, model: str, ev: Evidence, path: Path, weights: dict[str, float]) -> None:
    subject = ev.model or model
    m = rule_measure(frame, ev.suite.split(","), subject, weights)
    if m is None:
        raise ApprovalRefused(f"{path}: rule {rule_id!r}: run {ev.run_id} has no results for {subject} "
                              f"on {ev.suite}; the evidence is not from this run")
    s = m.score()
    pairs = {"quality": (ev.quality, s.quality), "n": (float(ev.n), float(s.n)),
             "cost_per_1k_usd": (ev.cost_per_1k_usd, s.cost_per_1k_usd),
             "p95_latency_ms": (ev.p95_latency_ms, s.p95_latency_ms)}
    for name, (claimed, measured) in pairs.items():
        if not _close(claimed, measured):
            raise ApprovalRefused(f"{path}: rule {rule_id!r}: evidence.{name} says {claimed}, run {ev.run_id} gives "
                                  f"{measured}; the proposal was edited, re-run `evals recommend`")


def read_approvals(path: Path) -> list[dict[str, Any]]:
    """Every record of ``approvals.jsonl``, oldest first (refuses a newer format)."""
    if not path.is_file():
        return []
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            raise UsageError(f"{path}:{number}: not valid JSON; the approval log is append-only, "
                             "restore it from version control") from None
        check_version("approvals", record.get("format_version"), APPROVALS_FORMAT, path)
        records.append(record)
    return records


def _append(path: Path, record: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


def _user() -> str | None:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return None


def approve(project: Project, proposal_path: Path, by: str, *, force_base: bool = False) -> Approval:
    """Verify ``proposal_path`` and put it in force; ``by`` names the approver."""
    from evals.policy.recommend import dump_policy

    if not by.strip():
        raise UsageError("--by needs the approver's name")
    tries = [proposal_path, project.root / proposal_path, project.reports_dir / proposal_path]
    path = next((p for p in tries if p.is_file()), None)
    if path is None:
        raise UsageError(f"proposal {proposal_path} not found (give reports/<run-id>/proposal.yaml)")
    models = load_models(project.models_file)
    proposal = load_checked_policy(path, models)
    results_sha = verify_evidence(project, proposal, path)
    current = load_checked_policy(project.policy_file, models) if project.policy_file.is_file() else None
    base = proposal.source.base_policy_sha256 if proposal.source else None
    if current is not None and base and base != current.content_sha256() and not force_base:
        raise ApprovalRefused(f"{path}: compiled against a different policy than {project.policy_file} holds now; "
                              f"re-run `evals recommend {proposal.source.run_id}` (or pass --force-base)")
    diff_md = path.parent / "diff.md"
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    record = {
        "format_version": APPROVALS_FORMAT,
        "approver": by.strip(),
        "user": _user(),
        "time": now,
        "proposal": str(path.resolve().relative_to(project.root.resolve())) if path.resolve().is_relative_to(
            project.root.resolve()) else str(path),
        "proposal_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "policy_sha256": proposal.content_sha256(),
        "previous_policy_sha256": current.content_sha256() if current is not None else None,
        "evidence": {"run_id": proposal.source.run_id, "results_sha256": results_sha},
        "diff": policy_changes(current, proposal),
        "diff_markdown": diff_md.read_text(encoding="utf-8") if diff_md.is_file() else None,
        "policy": proposal.model_dump(mode="json"),
    }
    header = (f"Routing policy in force: approved by {by.strip()} at {now}\n"
              f"on evidence run {proposal.source.run_id} (see policies/approvals.jsonl).\n"
              "Change it through `evals recommend` + `evals approve`; `evals gate` refuses hand edits.")
    write_text_atomic(project.policy_file, dump_policy(proposal, header))
    _append(project.approvals_file, record)
    return Approval(record, project.policy_file, project.approvals_file)
