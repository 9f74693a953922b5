"""The gate's evidence checks: each rule's numbers re-derived from the bundle its approval committed, its
inputs compared with what the branch holds, and the warnings (pricing, scorer code) the comment shows.

Used by :func:`evals.policy.gate.gate`; see its module docstring for the whole list of checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evals.config.models import ModelsFile
from evals.config.policy import Policy, Target
from evals.config.suite import load_suite
from evals.policy.approvals import Entry
from evals.policy.bundle import (BUNDLE_DIR, cascade_choice_problems, cited_models, cited_suites, input_changes, number_problems,
                                 pricing_sha256, read_bundle, rel_path, repriced_cost_per_1k, rule_inputs,
                                 run_rows, suite_paths, suite_weights)
from evals.policy.diff import money
from evals.policy.evidence import file_sha256
from evals.policy.requirements import lowered_floors
from evals.policy.scorercode import rule_scorer_code
from evals.project import Project


@dataclass
class Check:
    """One verdict of the gate; ``rule`` names the rule it is about, when it is about one."""

    name: str
    ok: bool
    message: str
    rule: str | None = None


def _covering(entries: list[Entry], rule_id: str, target: Target) -> Entry | None:
    """The latest approval that committed a bundle for this rule's evidence run."""
    ev = target.evidence
    for entry in reversed(entries):
        evidence = entry.record.get("evidence")
        inputs = entry.record.get("inputs")
        if (isinstance(evidence, dict) and evidence.get("run_id") == ev.run_id
                and evidence.get("results_sha256") == ev.results_sha256 and evidence.get("bundle")
                and isinstance(inputs, dict) and rule_id in inputs):
            return entry
    return None


def _recorded_infra_rate(entry: Entry) -> float:
    """The ``max_infra_failure_rate`` the approval's gate settings held (the default before they were recorded)."""
    from evals.config.policy import PolicySettings

    settings = entry.record.get("settings")
    value = settings.get("max_infra_failure_rate") if isinstance(settings, dict) else None
    return float(value) if isinstance(value, (int, float)) else PolicySettings().max_infra_failure_rate


def _bundle_file(project: Project, rel: Any) -> Path | None:
    folder = (project.root / BUNDLE_DIR).resolve()
    if not isinstance(rel, str):
        return None
    path = (project.root / rel).resolve()
    return path if path.is_relative_to(folder) else None


def _pricing_warnings(project: Project, entry: Entry, rule_id: str, target: Target, frame: Any, models: ModelsFile, rel: str,
                      weights: dict[str, float], confidence: float) -> list[Check]:
    """A cited model whose pricing differs from the approval's: its cost re-derived under the branch's prices
    (a cascade's legs: the cascade's cost, re-priced with every changed leg, against the rule's stated cost)."""
    from evals.policy.cascade import Cascade

    recorded = entry.record.get("pricing")
    recorded = recorded.get(rule_id) if isinstance(recorded, dict) else None
    if not isinstance(recorded, dict):
        return []  # an approval that recorded no prices: nothing to compare with
    ev = target.evidence
    specs = {m.id: m for m in models.models}
    models_file = rel_path(project, project.models_file)
    changed = [m for m in cited_models(target, ev)
               if m in specs and recorded.get(m) not in (None, pricing_sha256(specs[m]))]
    cascade = Cascade.of_target(target)
    stated: dict[str, Any] = {f.model: f.cost_per_1k_usd for f in ev.fallbacks}
    groups: list[tuple[str, list[str], Any]] = []
    if cascade is not None:
        legs = [m for m in changed if m in cascade.models]
        if legs:
            groups.append((f"the cascade {cascade.name}", legs, cascade))
        changed = [m for m in changed if m not in cascade.models]
    else:
        stated[ev.model or target.model] = ev.cost_per_1k_usd
    groups += [(model, [model], None) for model in changed]
    out = []
    for shown, names, subject in groups:
        now = repriced_cost_per_1k(frame, cited_suites(ev), [specs[m] for m in names], weights, confidence=confidence,
                                   subject=subject)
        said = ev.cost_per_1k_usd if subject is not None else stated.get(names[0])
        out.append(Check("pricing", True, f"rule {rule_id!r}: the pricing of {', '.join(names)} in "
                                          f"{models_file} changed since its approval: re-priced "
                                          f"from {rel} under the branch's prices, {shown} costs {money(now)} per 1k "
                                          f"calls, the evidence states {money(said)} (the gate holds the "
                                          "stated cost; re-run `evals run` and `evals recommend` to re-price the "
                                          "evidence)", rule_id))
    return out


def _scorer_warnings(entry: Entry, rule_id: str, ev: Any, paths: dict[str, Path]) -> list[Check]:
    """The scorer code of the rule's suites, where it differs from what the approval recorded."""
    recorded = entry.record.get("scorer_code")
    recorded = recorded.get(rule_id) if isinstance(recorded, dict) else None
    if not isinstance(recorded, dict):
        return []  # an approval that recorded no scorer code: nothing to compare with
    now = rule_scorer_code([load_suite(paths[s]) for s in cited_suites(ev) if s in paths])
    changed = input_changes(recorded, now)
    if not changed:
        return []
    return [Check("scorer", True, f"rule {rule_id!r}: the scorer code changed since evidence run {ev.run_id} was "
                                  f"approved: {', '.join(changed)}; its scores are the earlier code's: re-run "
                                  "`evals run` (the cache answers, the new code scores) and `evals recommend`, then "
                                  "approve", rule_id)]


def evidence_checks(project: Project, current: Policy, entries: list[Entry], models: ModelsFile,
                     warnings: list[Check]) -> list[Check]:
    """Re-derive every rule's numbers from its approval's bundle; bind them to the inputs the branch holds.
    Pricing changes of cited models go to ``warnings``."""
    checks: list[Check] = []
    frames: dict[Path, Any] = {}
    paths = suite_paths(project)
    last = entries[-1].record if entries else {}
    accepted = last.get("accept_lower_floor") if isinstance(last.get("accept_lower_floor"), dict) else {}
    floors = {name: load_suite(p).quality_floor for name, p in paths.items()}
    lowered = lowered_floors(current, floors)
    name = project.approvals_file.name
    for rule_id, target in current.targets():
        ev = target.evidence
        if ev is None:
            continue
        fail = lambda msg: checks.append(Check("evidence", False, msg, rule_id))  # noqa: E731
        entry = _covering(entries, rule_id, target)
        if entry is None:
            fail(f"rule {rule_id!r}: evidence run {ev.run_id} is covered by no approval with an evidence bundle; "
                 f"its numbers cannot be re-derived: approve a proposal compiled from the run")
            continue
        evidence = entry.record["evidence"]
        bundle = _bundle_file(project, evidence.get("bundle"))
        if bundle is None or not bundle.is_file():
            fail(f"rule {rule_id!r}: evidence bundle {evidence.get('bundle')} ({name}:{entry.number}) is missing; "
                 "commit policies/evidence/ with the approval")
            continue
        rel = bundle.relative_to(project.root.resolve()).as_posix()
        if bundle not in frames:
            frames[bundle] = read_bundle(bundle) if file_sha256(bundle) == evidence.get("bundle_sha256") else None
        if frames[bundle] is None:
            fail(f"rule {rule_id!r}: {rel} was altered after its approval ({name}:{entry.number} holds another sha256)")
            continue
        confidence = evidence.get("confidence", 0.95)
        problems = number_problems(frames[bundle], rule_id, target, ev, confidence=confidence, source=rel,
                                   weights=suite_weights(paths))
        problems = problems or cascade_choice_problems(frames[bundle], frames[bundle], rule_id, target, ev, source=rel,
                                                       weights=suite_weights(paths),
                                                       max_infra_failure_rate=_recorded_infra_rate(entry))
        if problems:
            fail(f"{problems[0]}: the stated evidence is not what the approved bundle measures")
            continue
        warnings += _pricing_warnings(project, entry, rule_id, target, run_rows(frames[bundle], ev.run_id), models, rel, suite_weights(paths),
                                      confidence)
        warnings += _scorer_warnings(entry, rule_id, ev, paths)
        changed = input_changes(entry.record["inputs"][rule_id], rule_inputs(project, models, target, ev, paths))
        if changed:
            fail(f"rule {rule_id!r}: inputs changed since evidence run {ev.run_id} without new evidence: "
                 f"{', '.join(changed)}; re-run `evals run`, `evals recommend` and approve")
            continue
        if rule_id in lowered and accepted.get(rule_id) != lowered[rule_id][0]:
            low, suite = lowered[rule_id]
            fail(f"rule {rule_id!r}: require.quality_floor {low} is below its suite floor {suite} and the approval "
                 "did not accept it (`evals approve --accept-lower-floor`)")
            continue
        checks.append(Check("evidence", True, f"rule {rule_id!r}: numbers re-derived from {rel}, inputs unchanged",
                            rule_id))
    return checks


def run_check(project: Project, records: list[dict]) -> list[Check]:
    """The last approval's evidence run, where it is present here, still hashes as approved."""
    evidence = records[-1].get("evidence", {}) if records else {}
    evidence = evidence if isinstance(evidence, dict) else {}
    run_id, sha = evidence.get("run_id"), evidence.get("results_sha256")
    results = project.reports_dir / str(run_id) / "results.parquet"
    if not run_id or not results.is_file():
        return []
    if file_sha256(results) != sha:
        return [Check("evidence", False, f"evidence run {run_id} was altered after its approval "
                                         "(results.parquet sha256 differs from policies/approvals.jsonl)")]
    return [Check("evidence", True, f"evidence run {run_id} is unaltered since its approval")]


__all__ = ["Check", "evidence_checks", "run_check"]
