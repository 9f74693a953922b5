"""``evals gate``: the CI check on the policy in force.

It fails (exit 1) when ``policies/current.yaml`` is not the policy of the last approval, when a rule
changed against ``--base`` carries no evidence (or evidence for another model, or evidence that does
not match its run), or regresses by more than the tolerance of ``policies/gate.yaml``, when any rule's
evidence (moved or not) puts its model under its floor (:mod:`evals.policy.floors`), or when the
policy's projected weekly spend exceeds the configured ceiling. It prints a Markdown summary for a
pull-request comment and can write JUnit XML.
"""

from __future__ import annotations

import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path


from evals.config._yaml import parse_yaml, validate
from evals.config.models import load_models
from evals.config.policy import Policy, PolicySettings, Target, load_settings
from evals.errors import ConfigError, UsageError
from evals.policy.approve import read_approvals
from evals.policy.checks import load_checked_policy
from evals.policy.diff import money, policy_changes
from evals.policy.evidence import file_sha256, route_slot, suite_specs
from evals.policy.floors import floor_failures
from evals.project import Project
from evals.runner.store import write_text_atomic


@dataclass
class Check:
    """One verdict of the gate; ``rule`` names the rule it is about, when it is about one."""

    name: str
    ok: bool
    message: str
    rule: str | None = None


@dataclass
class GateResult:
    checks: list[Check] = field(default_factory=list)
    weekly_spend_usd: float | None = None
    markdown: str = ""

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1


def base_policy(project: Project, rev: str) -> Policy | None:
    """The policy file as of git revision ``rev`` (None when it did not exist there)."""
    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", *args], cwd=project.root, capture_output=True, text=True, timeout=30)

    try:
        top = git("rev-parse", "--show-toplevel")
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UsageError(f"--base needs git: {exc}") from None
    if top.returncode != 0:
        raise UsageError(f"--base {rev}: {project.root} is not in a git repository")
    if git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}").returncode != 0:
        raise UsageError(f"--base {rev}: no such git revision (fetch it first, e.g. git fetch origin {rev})")
    rel = project.policy_file.resolve().relative_to(Path(top.stdout.strip()).resolve()).as_posix()
    shown = git("show", f"{rev}:{rel}")
    if shown.returncode != 0:
        return None
    label = Path(f"{rev}:{rel}")
    data, lines = parse_yaml(shown.stdout, label)
    return validate(Policy, data, label, lines) if data is not None else None


def _approval_checks(current: Policy, records: list[dict]) -> list[Check]:
    if not records:
        return [Check("approved", False, "no approval recorded in policies/approvals.jsonl; put the policy in force "
                                         "with `evals recommend` then `evals approve <proposal> --by NAME`")]
    last = records[-1]
    who = f"{last.get('approver')} at {last.get('time')} (run {last.get('evidence', {}).get('run_id')})"
    if current.content_sha256() == last.get("policy_sha256"):
        return [Check("approved", True, f"policies/current.yaml is the policy approved by {who}")]
    try:
        approved = Policy.model_validate(last["policy"])
    except Exception:
        return [Check("approved", False, f"policies/current.yaml differs from the policy approved by {who}")]
    checks = []
    approved_targets = dict(approved.targets())
    for change in policy_changes(approved, current):
        what = {"added": "was added", "removed": "was removed", "reordered": "rules were reordered"}.get(
            change["change"], f"changed ({', '.join(change['fields'])}"
            + (f": {change['from']} → {change['to']}" if change["from"] != change["to"] else "") + ")")
        checks.append(Check("approved", False, f"rule {change['rule']!r} {what} since the approval by {who}; "
                                                "hand edits are not allowed, approve a proposal instead",
                            rule=change["rule"]))
    for rule_id, target in current.targets():
        before = approved_targets.get(rule_id)
        if before is not None and before.evidence != target.evidence and not any(c.rule == rule_id for c in checks):
            checks.append(Check("approved", False, f"rule {rule_id!r}: evidence edited since the approval by {who}",
                                rule=rule_id))
    return checks or [Check("approved", False, f"policies/current.yaml differs from the policy approved by {who}")]


def _run_check(project: Project, records: list[dict]) -> list[Check]:
    """The last approval's evidence run, where it is present here, still hashes as approved."""
    evidence = records[-1].get("evidence", {}) if records else {}
    run_id, sha = evidence.get("run_id"), evidence.get("results_sha256")
    results = project.reports_dir / str(run_id) / "results.parquet"
    if not run_id or not results.is_file():
        return []
    if file_sha256(results) != sha:
        return [Check("evidence", False, f"evidence run {run_id} was altered after its approval "
                                         "(results.parquet sha256 differs from policies/approvals.jsonl)")]
    return [Check("evidence", True, f"evidence run {run_id} is unaltered since its approval")]


def _evidence_problem(project: Project, rule_id: str, target: Target, records: list[dict]) -> str | None:
    ev = target.evidence
    if ev is None:
        return "carries no evidence; compile it with `evals recommend` and approve it"
    if ev.model not in (None, target.model):
        return f"routes to {target.model} but its evidence is for {ev.model}"
    if not ev.results_sha256:
        return f"evidence names run {ev.run_id} without a results sha256"
    results = project.reports_dir / ev.run_id / "results.parquet"
    if results.is_file():
        if file_sha256(results) != ev.results_sha256:
            return f"evidence run {ev.run_id} has been altered (results.parquet sha256 differs)"
        return None
    if any(r.get("evidence", {}).get("run_id") == ev.run_id and r.get("evidence", {}).get("results_sha256")
           == ev.results_sha256 for r in records):
        return None
    return f"evidence run {ev.run_id} is neither here nor recorded in an approval"


def _base_checks(project: Project, current: Policy, base: Policy | None, rev: str, records: list[dict],
                 tolerance: float) -> list[Check]:
    checks: list[Check] = []
    base_targets = dict(base.targets()) if base is not None else {}
    for change in policy_changes(base, current):
        rule_id = change["rule"]
        if change["change"] in ("removed", "reordered"):
            checks.append(Check("evidence", True, f"rule {rule_id!r} {change['change']} against {rev}", rule_id))
            continue
        target = current.target(rule_id)
        problem = _evidence_problem(project, rule_id, target, records)
        if problem:
            checks.append(Check("evidence", False, f"rule {rule_id!r} changed against {rev} but {problem}", rule_id))
            continue
        ev = target.evidence
        moved = change["change"] == "added" or {"model", "fallbacks"} & set(change["fields"])
        if moved and ev.floor is not None and (ev.quality_ci is None or ev.quality_ci[0] < ev.floor):
            low = "unknown" if ev.quality_ci is None else f"{ev.quality_ci[0]:.3f}"
            checks.append(Check("regression", False, f"rule {rule_id!r} routes to {target.model}, whose quality "
                                                     f"lower bound {low} is below its floor {ev.floor:.2f}", rule_id))
            continue
        before = base_targets.get(rule_id)
        old = before.evidence if before is not None else None
        if old is not None and old.quality is not None and ev.quality is not None:
            drop = old.quality - ev.quality
            if drop > tolerance:
                checks.append(Check("regression", False,
                                    f"rule {rule_id!r} regresses: quality {old.quality:.3f} ({old.model or before.model}) "
                                    f"→ {ev.quality:.3f} ({target.model}), {-drop:+.3f} beyond tolerance {tolerance}",
                                    rule_id))
                continue
        checks.append(Check("evidence", True, f"rule {rule_id!r} changed against {rev}: evidence run {ev.run_id}, "
                                              f"quality {ev.quality}", rule_id))
    if not checks:
        checks.append(Check("evidence", True, f"no rule changed against {rev}"))
    return checks


def _spend_check(project: Project, current: Policy, settings: PolicySettings) -> tuple[Check, float | None]:
    """Weekly spend: each suite's ``weekly_calls`` x the cost per call its rule's evidence records."""
    known = 0.0
    unknown = []
    for spec in suite_specs(project).values():
        if not spec.weekly_calls:
            continue
        slot = route_slot(current, spec.shape)
        target = current.target(slot)
        ev = target.evidence
        if ev is None or ev.model not in (None, target.model) or ev.cost_per_1k_usd is None:
            unknown.append(f"{spec.name} ({slot})")
            continue
        known += spec.weekly_calls * ev.cost_per_1k_usd / 1000
    ceiling = settings.weekly_spend_ceiling_usd
    total = None if unknown else known
    amount = money(known) if not unknown else f"at least {money(known)} (no priced evidence for {', '.join(unknown)})"
    if ceiling is not None and known > ceiling:
        return Check("spend", False, f"projected weekly spend {amount} exceeds the ceiling {money(ceiling)} "
                                     "(policies/gate.yaml)"), total
    if unknown and settings.fail_on_unknown_spend:
        return Check("spend", False, f"projected weekly spend unknown: {amount}"), total
    limit = "no ceiling configured" if ceiling is None else f"within the ceiling {money(ceiling)}"
    return Check("spend", True, f"projected weekly spend {amount} {limit}"), total


def render_markdown(result: GateResult, base: str | None) -> str:
    """The summary for a pull-request comment."""
    head = "✅ passed" if result.ok else "❌ failed"
    lines = [f"## Policy gate: {head}", "",
             f"Base: `{base}`." if base else "No base revision given; changed-rule checks skipped.", "",
             "| check | rule | result | detail |", "| --- | --- | --- | --- |"]
    for c in result.checks:
        detail = c.message.replace("|", "\\|")
        lines.append(f"| {c.name} | {c.rule or '-'} | {'pass' if c.ok else '**FAIL**'} | {detail} |")
    return "\n".join(lines) + "\n"


def write_junit(result: GateResult, path: Path) -> None:
    """JUnit XML: one test case per check."""
    failures = sum(not c.ok for c in result.checks)
    suites = ET.Element("testsuites", tests=str(len(result.checks)), failures=str(failures))
    suite = ET.SubElement(suites, "testsuite", name="policy-gate", tests=str(len(result.checks)),
                          failures=str(failures), errors="0")
    for i, c in enumerate(result.checks):
        case = ET.SubElement(suite, "testcase", classname=f"policy-gate.{c.name}",
                             name=f"{c.rule or c.name} #{i + 1}")
        if not c.ok:
            ET.SubElement(case, "failure", message=c.message[:200], type=c.name).text = c.message
        else:
            ET.SubElement(case, "system-out").text = c.message
    write_text_atomic(path, ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n")


def gate(project: Project, *, base: str | None = None, junit: Path | None = None) -> GateResult:
    """Run every check on the policy in force; see the module docstring."""
    settings = load_settings(project.root / "policies" / "gate.yaml")
    if not project.policy_file.is_file():
        raise ConfigError(project.policy_file, "file not found; the gate checks the policy in force")
    current = load_checked_policy(project.policy_file, load_models(project.models_file))
    records = read_approvals(project.approvals_file)
    result = GateResult()
    result.checks += _approval_checks(current, records)
    result.checks += _run_check(project, records)
    result.checks += [Check("floor", False, message, rule) for rule, message in floor_failures(current)]
    if base is not None:
        result.checks += _base_checks(project, current, base_policy(project, base), base, records,
                                      settings.quality_tolerance)
    spend, total = _spend_check(project, current, settings)
    result.checks.append(spend)
    result.weekly_spend_usd = total
    result.markdown = render_markdown(result, base)
    if junit is not None:
        write_junit(result, junit)
    return result


__all__ = ["Check", "GateResult", "base_policy", "gate", "render_markdown", "write_junit"]
