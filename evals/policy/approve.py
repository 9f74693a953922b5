"""``evals approve``: put a proposal in force and record, signed, who approved it on what evidence.

The proposal's evidence is verified first: the run it names must exist, its ``results.parquet`` must
hash to the sha256 the proposal carries, every rule's numbers must be what that run gives when measured
again (a cascade rule's: its cascade's, and its threshold what the sweep chooses again on the dev run it
names, which must be present and unaltered), and the suites and prompt variants the branch holds must be
the ones the run measured. Then,
under the approval lock:

1. the evidence bundle is written to ``policies/evidence/`` (see :mod:`evals.policy.bundle`);
2. the record (approver, time, proposal, evidence bundle sha256, input hashes, each cited model's
   pricing hash, the scorer code of each rule (:mod:`evals.policy.scorercode`), accepted lower floors,
   the gate settings in force, ``prev`` link) is signed with ``ssh-keygen -Y sign`` when ``key`` is given and appended to
   ``policies/approvals.jsonl`` (:mod:`evals.policy.approvals`);
3. only then ``policies/current.yaml`` is edited, touching only the keys that changed.

If step 3 fails, running the same command again finishes it without a second record.
"""

from __future__ import annotations

import getpass
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from evals.config.models import load_models
from evals.config.policy import Policy, load_settings
from evals.config.suite import load_suite
from evals.errors import EvalsError, UsageError
from evals.policy import approvals, signing
from evals.policy.approvals import APPROVALS_FORMAT, Entry, check_name, read_log, signed_bytes, write_bytes_atomic
from evals.policy.bundle import (bundle_bytes, bundle_frame, bundle_path, cascade_choice_problems, cited_models, cited_suites, manifest_problems,
                                 number_problems, pricing_sha256, read_bundle, rule_inputs, suite_paths, suite_weights)
from evals.policy.checks import load_checked_policy
from evals.policy.diff import policy_changes
from evals.policy.evidence import file_sha256
from evals.policy.requirements import lowered_floors
from evals.policy.scorercode import rule_scorer_code
from evals.policy.yamledit import edit_policy_file
from evals.project import Project
from evals.runner.store import read_manifest, read_results


class ApprovalRefused(EvalsError):
    """The proposal's evidence is missing or does not match its run (exit status 1)."""

    exit_code = 1


@dataclass
class Approval:
    record: dict[str, Any]
    policy_path: Path
    log_path: Path
    resumed: bool = False


def read_approvals(path: Path) -> list[dict[str, Any]]:
    """Every record of ``approvals.jsonl``, oldest first (refuses a newer format or an unreadable line)."""
    return [e.record for e in read_log(path)]


def verify_evidence(project: Project, proposal: Policy, path: Path, *, confidence: float = 0.95) -> tuple[str, Any]:
    """Check the proposal's evidence against its run; returns the run's results sha256 and results frame."""
    source = proposal.source
    if source is None:
        raise ApprovalRefused(f"{path}: no `source:`; only a proposal written by `evals recommend` can be approved")
    folder = project.reports_dir / source.run_id
    results = folder / "results.parquet"
    if not results.is_file():
        raise ApprovalRefused(f"{path}: evidence run {source.run_id} is missing ({results} not found); "
                              "approve on the machine that has the run, or re-run `evals recommend`")
    actual = file_sha256(results)
    if actual != source.results_sha256:
        raise ApprovalRefused(f"{path}: evidence altered: {results} has sha256 {actual[:12]}…, the proposal was "
                              f"compiled from {source.results_sha256[:12]}…; re-run `evals recommend {source.run_id}`")
    frame = None
    for rule_id, target in proposal.targets():
        ev = target.evidence
        if ev is None or ev.run_id != source.run_id:
            continue
        if ev.results_sha256 not in (None, actual):
            raise ApprovalRefused(f"{path}: rule {rule_id!r}: evidence results_sha256 does not match run {ev.run_id}")
        frame = read_results(folder) if frame is None else frame
        problems = number_problems(frame, rule_id, target, ev, confidence=confidence, source=f"run {ev.run_id}",
                                   weights=suite_weights(suite_paths(project)))
        if problems:
            raise ApprovalRefused(f"{path}: {problems[0]}; the proposal was edited, re-run `evals recommend`")
    return actual, frame if frame is not None else read_results(folder)


def verify_dev_runs(project: Project, proposal: Policy, path: Path, frame: Any, *, weights: dict[str, float],
                    max_infra_failure_rate: float) -> dict[str, Any]:
    """The dev runs the proposal's cascade rules chose their thresholds on (run id -> results frame), each
    present, unaltered (``evidence.cascade.dev_results_sha256``) and choosing the rule's threshold when the
    sweep runs again (:func:`evals.policy.bundle.cascade_choice_problems`)."""
    out: dict[str, Any] = {}
    for rule_id, target in proposal.targets():
        ev = target.evidence
        c = ev.cascade if ev is not None and ev.run_id == proposal.source.run_id else None
        if c is None:
            continue
        results = project.reports_dir / c.dev_run_id / "results.parquet"
        if c.dev_run_id not in out:
            if not results.is_file():
                raise ApprovalRefused(f"{path}: rule {rule_id!r}: dev run {c.dev_run_id} is missing ({results} not "
                                      "found); approve on the machine that has it")
            if c.dev_results_sha256 is None or file_sha256(results) != c.dev_results_sha256:
                raise ApprovalRefused(f"{path}: rule {rule_id!r}: dev run {c.dev_run_id} has been altered since the "
                                      "proposal was compiled (results.parquet sha256 differs); re-run `evals recommend`")
            out[c.dev_run_id] = read_results(project.reports_dir / c.dev_run_id)
        problems = cascade_choice_problems(frame, out[c.dev_run_id], rule_id, target, ev,
                                           source=f"run {ev.run_id}", weights=weights,
                                           max_infra_failure_rate=max_infra_failure_rate)
        if problems:
            raise ApprovalRefused(f"{path}: {problems[0]}; the proposal was edited, re-run `evals recommend`")
    return out


def _user() -> str | None:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return None


def _find_proposal(project: Project, proposal_path: Path) -> Path:
    tries = [proposal_path, project.root / proposal_path, project.reports_dir / proposal_path]
    path = next((p for p in tries if p.is_file()), None)
    if path is None:
        raise UsageError(f"proposal {proposal_path} not found (give reports/<run-id>/proposal.yaml)")
    return path


def _rel(project: Project, path: Path) -> str:
    root = project.root.resolve()
    return str(path.resolve().relative_to(root)) if path.resolve().is_relative_to(root) else str(path)


def _sign(record: dict[str, Any], key: Path, by: str, allowed: Path) -> str:
    """Sign ``record`` and check, against the working tree's allowed signers, that the key is ``by``'s."""
    if not allowed.is_file():
        raise ApprovalRefused(f"{allowed} not found: add your public key there (`{by} <key type> <key>`), have it "
                              "merged, then approve with --key")
    signature = signing.sign(signed_bytes(record), key)
    problem = signing.verify(signed_bytes(record), signature, by, allowed)
    if problem is not None:
        principals = signing.find_principals(signature, allowed)
        listed = (f"{allowed} lists this key for {', '.join(principals)}, not {by!r}; pass --by "
                  f"{principals[0]!r}") if principals else f"the key is not in {allowed}; add `{by} <its public key>`"
        raise ApprovalRefused(f"--key {key}: {listed}")
    return signature


def _accepted_floors(lowered: dict[str, tuple[float, float]], accept: bool, last: dict[str, Any] | None,
                     path: Path) -> dict[str, float]:
    if not lowered:
        return {}
    before = (last or {}).get("accept_lower_floor") or {}
    missing = {r: v for r, v in lowered.items() if before.get(r) != v[0]}
    if missing and not accept:
        what = "; ".join(f"rule {r!r} quality_floor {a} is below its suite floor {b}" for r, (a, b) in missing.items())
        raise ApprovalRefused(f"{path}: {what}; if that is intended, approve with --accept-lower-floor")
    return {r: v[0] for r, v in lowered.items()}


def _finish_interrupted(project: Project, proposal: Policy, current: Policy | None,
                        last: Entry | None) -> Approval | None:
    """The record of this very approval is in the log but the policy was not written: write it now."""
    if last is None or current is None:
        return None
    wanted, now = proposal.content_sha256(), current.content_sha256()
    if last.record.get("policy_sha256") != wanted or now == wanted or now != last.record.get("previous_policy_sha256"):
        return None
    write_bytes_atomic(project.policy_file, edit_policy_file(project.policy_file, proposal).encode("utf-8"))
    return Approval(last.record, project.policy_file, project.approvals_file, resumed=True)


def approve(project: Project, proposal_path: Path, by: str, *, key: Path | None = None, force_base: bool = False,
            accept_lower_floor: bool = False) -> Approval:
    """Verify ``proposal_path`` and put it in force; ``by`` names the approver (their principal in
    ``policies/allowed_signers`` when ``key`` signs the record)."""
    by = check_name(by or "", "--by")
    path = _find_proposal(project, proposal_path)
    settings = load_settings(project.root / "policies" / "gate.yaml")
    if key is None and settings.require_signed_approvals:
        raise UsageError("policies/gate.yaml requires signed approvals (require_signed_approvals: true): pass "
                         "--key ~/.ssh/id_ed25519, a key listed for you in policies/allowed_signers")
    models = load_models(project.models_file)
    proposal = load_checked_policy(path, models)
    results_sha, frame = verify_evidence(project, proposal, path, confidence=settings.confidence)
    run_id = proposal.source.run_id
    manifest = read_manifest(project.reports_dir / run_id)
    paths = suite_paths(project)
    inputs: dict[str, dict[str, str]] = {}
    pricing: dict[str, dict[str, str]] = {}
    scorers: dict[str, dict[str, str]] = {}
    specs = {m.id: m for m in models.models}
    for rule_id, target in proposal.targets():
        ev = target.evidence
        if ev is None or ev.run_id != run_id:
            continue
        problems = manifest_problems(project, models, manifest, frame, rule_id, target, ev, paths)
        if problems:
            raise ApprovalRefused(f"{path}: {problems[0]}")
        inputs[rule_id] = rule_inputs(project, models, target, ev, paths)
        pricing[rule_id] = {m: pricing_sha256(specs[m]) for m in cited_models(target, ev) if m in specs}
        scorers[rule_id] = rule_scorer_code([load_suite(paths[s]) for s in cited_suites(ev) if s in paths])
    weights = suite_weights(paths)
    dev = verify_dev_runs(project, proposal, path, frame, weights=weights,
                          max_infra_failure_rate=settings.max_infra_failure_rate)
    rows = bundle_frame(frame, proposal, run_id, dev)
    data = bundle_bytes(rows)
    bundle_rel = bundle_path(run_id, data)
    reread = read_bundle(data)  # the bundle must reproduce every number, or the gate could not
    for rule_id, target in proposal.targets():
        ev = target.evidence
        if ev is not None and ev.run_id == run_id:
            problems = number_problems(reread, rule_id, target, ev, confidence=settings.confidence,
                                       source="the evidence bundle", weights=weights)
            problems = problems or cascade_choice_problems(
                reread, reread, rule_id, target, ev, source="the evidence bundle", weights=weights,
                max_infra_failure_rate=settings.max_infra_failure_rate)
            if problems:
                raise ApprovalRefused(f"{path}: {problems[0]}")
    floors = {name: load_suite(p).quality_floor for name, p in paths.items()}
    lowered = lowered_floors(proposal, floors)
    log = project.approvals_file
    with approvals.locked(log):
        entries = read_log(log)
        broken = approvals.chain_problems(entries, log)
        if broken:
            raise ApprovalRefused(f"{broken[0]}; restore {log.name} from version control before approving")
        current = load_checked_policy(project.policy_file, models) if project.policy_file.is_file() else None
        last = entries[-1] if entries else None
        resumed = _finish_interrupted(project, proposal, current, last)
        if resumed is not None:
            return resumed
        base = proposal.source.base_policy_sha256
        if current is not None and base and base != current.content_sha256() and not force_base:
            raise ApprovalRefused(f"{path}: compiled against a different policy than {project.policy_file} holds "
                                  f"now; re-run `evals recommend {run_id}` (or pass --force-base)")
        accepted = _accepted_floors(lowered, accept_lower_floor, last.record if last else None, path)
        target_file = project.root / bundle_rel
        created = not target_file.is_file() or file_sha256(target_file) != hashlib.sha256(data).hexdigest()
        diff_md = path.parent / "diff.md"
        record: dict[str, Any] = {
            "format_version": APPROVALS_FORMAT,
            "prev": approvals.next_prev(entries),
            "approver": by,
            "user": _user(),
            "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "proposal": _rel(project, path),
            "proposal_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "policy_sha256": proposal.content_sha256(),
            "previous_policy_sha256": current.content_sha256() if current is not None else None,
            "evidence": {"run_id": run_id, "results_sha256": results_sha, "confidence": settings.confidence,
                         "bundle": bundle_rel.as_posix(), "bundle_sha256": hashlib.sha256(data).hexdigest()},
            "inputs": inputs,
            "pricing": pricing,
            "scorer_code": scorers,
            "accept_lower_floor": accepted,
            "settings": settings.model_dump(mode="json"),
            "diff": policy_changes(current, proposal),
            "diff_markdown": diff_md.read_text(encoding="utf-8") if diff_md.is_file() else None,
            "policy": proposal.model_dump(mode="json"),
        }
        json.dumps(record, allow_nan=False)  # fails here, before anything is written, on a NaN
        if key is not None:
            record["signature"] = _sign(record, key, by, project.root / signing.ALLOWED_SIGNERS)
        if created:
            write_bytes_atomic(target_file, data)
        try:
            approvals.append(log, entries, record)
        except BaseException:
            if created:
                target_file.unlink(missing_ok=True)
            raise
        write_bytes_atomic(project.policy_file, edit_policy_file(project.policy_file, proposal).encode("utf-8"))
    return Approval(record, project.policy_file, log)


__all__ = ["Approval", "ApprovalRefused", "approve", "read_approvals", "verify_dev_runs", "verify_evidence"]
