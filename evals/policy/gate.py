"""``evals gate``: the CI check on the policy in force. It trusts nothing it cannot re-derive.

Checks (each a :class:`Check`; the gate fails, exit 1, when one fails):

* **log**: ``policies/approvals.jsonl`` is an intact hash chain, and (with ``--base``) the log at the
  base revision is a byte prefix of the log now: records are only ever appended.
* **signature**: every record added since ``--base`` carries an SSH signature (``ssh-keygen -Y
  verify``, namespace :data:`~evals.policy.signing.NAMESPACE`) by a key that ``policies/allowed_signers``
  *as it was at the base* lists for the record's approver, so a pull request cannot add its own key
  and use it. ``require_signed_approvals: false`` (at the base or now, the stricter wins) allows unsigned
  records for solo use.
* **approved**: ``policies/current.yaml`` is the policy of the last record (hand edits are named).
* **evidence**: each rule's stated quality, interval, cost and p95 equal what
  :func:`~evals.policy.evidence.measure` gives on the evidence bundle the approval committed (whose
  sha256 the record holds; a cascade rule's: its cascade's at the rule's threshold, and that threshold
  the one the sweep chooses again on the dev rows in the bundle), and the suite files, scorer settings
  and prompt variants the rule's numbers were measured on are the ones the branch holds; a rule floor below its suites' floor must
  have been accepted by the approval (``--accept-lower-floor``).
* against ``--base``: a changed rule carries evidence and loses at most ``quality_tolerance``;
  requirement and gate-setting changes are listed in the comment (as ``diff.md`` lists them against the
  policy in force: :func:`~evals.policy.requirements.requirement_lines`), with every rule floor below its
  suites' floor and whether the approval accepted it.
* **log** (records): each record's policy and gate settings read back; an unreadable one names its line.
* **floor**: every rule with evidence, moved or kept, has its model's quality lower bound at or above
  its floor (:mod:`evals.policy.floors`): a rule the recommender kept *flagged* does not pass silently.
* **spend**: projected weekly spend within ``weekly_spend_ceiling_usd``: each suite's ``weekly_calls``
  charged to the rule it is evidence for (its ``rule:`` link, as the recommender reads it).

With ``--base``, each setting of ``policies/gate.yaml`` is the stricter of the base's and the branch's
(:func:`~evals.policy.gitbase.strictest`): a pull request cannot relax the gate that judges it.

It renders Markdown for a pull-request comment (everything from files escaped) and can write JUnit XML.
"""

from __future__ import annotations

import re
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evals.config.models import load_models
from evals.config.policy import Policy, PolicySettings, Target, load_settings
from evals.config.suite import load_suite
from evals.errors import ConfigError
from evals.policy import signing
from evals.policy.approvals import Entry, chain_problems, parse_log, prefix_problem, read_log, recorded, signed_bytes
from evals.policy.bundle import suite_paths
from evals.policy.checks import load_checked_policy
from evals.policy.diff import money, policy_changes, project_spend
from evals.policy.evidence import file_sha256, rule_suites, suite_specs
from evals.policy.floors import floor_failures
from evals.policy.gate_evidence import Check, evidence_checks, run_check
from evals.policy.gitbase import Base, base_policy, read_base, strictest
from evals.policy.mdsafe import md_embed, md_text
from evals.policy.requirements import (RequirementChange, lowered_floors, requirement_changes, requirement_lines,
                                      settings_changes)
from evals.project import Project
from evals.report.index import approved_comparison_markdown
from evals.runner.store import write_text_atomic


@dataclass
class GateResult:
    checks: list[Check] = field(default_factory=list)
    weekly_spend_usd: float | None = None
    requirement_changes: list[RequirementChange] = field(default_factory=list)
    lowered_floors: dict[str, tuple[float, float]] = field(default_factory=dict)  # rule floors below their suites'
    accepted_floors: dict[str, Any] = field(default_factory=dict)  # what the last approval accepted of them
    warnings: list[Check] = field(default_factory=list)  # shown in the comment; they do not fail the gate
    approved_diff: str | None = None
    markdown: str = ""

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1


def _log_checks(entries: list[Entry], now: bytes, base: Base | None, log: Path) -> tuple[list[Check], list[Entry]]:
    """Chain and prefix checks; returns them and the records added since the base (all without a base)."""
    checks = [Check("log", False, p) for p in chain_problems(entries, log)]
    if base is None:
        return checks, entries
    problem = prefix_problem(base.log, now, log.name, base.rev)
    if problem:
        checks.append(Check("log", False, problem))
        return checks, entries
    known = len(parse_log(base.log, log)) if base.log else 0
    if not checks:
        checks.append(Check("log", True, f"{log.name}: {len(entries)} records, hash chain intact, "
                                         f"{len(entries) - known} appended since {base.rev}"))
    return checks, entries[known:]


def _record_checks(entries: list[Entry], log: str) -> list[Check]:
    """Every record's policy and gate settings read as :func:`evals.policy.requirements.in_force` reads them:
    one that does not is a failure naming its line and field (``evals recommend`` would refuse it too)."""
    checks = []
    for entry in entries:
        for key, model in (("policy", Policy), ("settings", PolicySettings)):
            if key == "policy" or key in entry.record:
                try:
                    recorded(entry, key, model, log)
                except ConfigError as exc:
                    checks.append(Check("log", False, str(exc)))
    return checks


def _signature_checks(new: list[Entry], base: Base | None, project: Project, required: bool) -> list[Check]:
    where = base.rev if base is not None else "the working tree (no --base)"
    if base is not None:
        text = base.allowed_signers
    else:
        path = project.root / signing.ALLOWED_SIGNERS
        text = path.read_text(encoding="utf-8", errors="replace") if path.is_file() else None
    who = signing.who_may_approve(text, where)
    name = project.approvals_file.name
    checks = []
    with tempfile.TemporaryDirectory(prefix="evals-gate-") as tmp:
        allowed = Path(tmp) / "allowed_signers"
        allowed.write_text(text or "", encoding="utf-8")
        for entry in new:
            record = entry.record
            approver = str(record.get("approver"))
            signature = record.get("signature")
            at = f"{name}:{entry.number}: approval by {approver!r}"
            if not signature:
                if required:
                    checks.append(Check("signature", False, f"{at} is not signed; {who}; sign with "
                                                            "`evals approve --key`"))
                continue
            problem = "not an SSH signature" if not isinstance(signature, str) else (
                "nobody may approve" if text is None else
                signing.verify(signed_bytes(record), signature, approver, allowed))
            if problem is None:
                checks.append(Check("signature", True, f"{at}: good signature (allowed signers at {where})"))
                continue
            principals = signing.find_principals(signature, allowed) if isinstance(signature, str) and text else []
            why = (f"signed by the key of {', '.join(principals)}, not {approver!r}"
                   if principals and approver not in principals else
                   f"signature does not verify against {signing.ALLOWED_SIGNERS} at {where} ({problem})")
            checks.append(Check("signature", False, f"{at}: {why}; {who}"))
    if not new:
        checks.append(Check("signature", True, f"no approval added since {where}"))
    return checks


def _who(record: dict[str, Any]) -> str:
    evidence = record.get("evidence") if isinstance(record.get("evidence"), dict) else {}
    return f"{record.get('approver')} at {record.get('time')} (run {evidence.get('run_id')})"


def _approval_checks(current: Policy, entries: list[Entry], base: Base | None, log: str) -> list[Check]:
    records = [e.record for e in entries]
    if not records:
        untouched = base is not None and base.policy is not None and \
            base.policy.content_sha256() == current.content_sha256()
        if untouched and all(t.evidence is None for _, t in current.targets()):
            return [Check("approved", True, f"policies/current.yaml is unchanged against {base.rev} and not yet "
                                            "approved (the hand-written starting policy, no evidence)")]
        return [Check("approved", False, "no approval recorded in policies/approvals.jsonl; put the policy in force "
                                         "with `evals recommend` then `evals approve <proposal> --by NAME --key KEY`")]
    last = records[-1]
    who = _who(last)
    if current.content_sha256() == last.get("policy_sha256"):
        return [Check("approved", True, f"policies/current.yaml is the policy approved by {who}")]
    try:
        approved = recorded(entries[-1], "policy", Policy, log)
    except ConfigError as exc:
        return [Check("approved", False, f"policies/current.yaml differs from the policy approved by {who}, and "
                                         f"that record is unreadable: {exc}")]
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


def _evidence_problem(project: Project, target: Target, records: list[dict]) -> str | None:
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
    if any(isinstance(r.get("evidence"), dict) and r["evidence"].get("run_id") == ev.run_id
           and r["evidence"].get("results_sha256") == ev.results_sha256 for r in records):
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
        problem = _evidence_problem(project, target, records)
        if problem:
            checks.append(Check("evidence", False, f"rule {rule_id!r} changed against {rev} but {problem}", rule_id))
            continue
        ev = target.evidence  # its floor: the floor check, on every rule (evals.policy.floors)
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
    """Weekly spend: each rule's suites' ``weekly_calls`` x the cost per call its evidence records.

    Suites are linked to rules as the recommender links them (:func:`~evals.policy.evidence.rule_suites`:
    a suite's ``rule:``, else its shape), and the total is :func:`~evals.policy.diff.project_spend`'s,
    the recommender's projection. A suite that is evidence for no rule (its ``rule:`` is not in the
    policy, or its shape matches a rule whose suites name it) is traffic of unknown cost, named.
    """
    specs = [s for s in suite_specs(project).values() if s.weekly_calls]
    linked = rule_suites(current, specs)
    known_ids = {rule_id for rule_id, _ in current.targets()}
    used = {s.name for suites in linked.values() for s in suites}
    unknown = [f"{s.name} (rule {s.rule!r} is not in the policy)" if s.rule is not None and s.rule not in known_ids
               else f"{s.name} (evidence for no rule: add `rule:` to its suite.yaml)"
               for s in specs if s.name not in used]
    calls = {rule_id: float(sum(s.weekly_calls for s in suites)) for rule_id, suites in linked.items() if suites}
    costs: dict[str, float | None] = {}
    for rule_id in calls:
        target = current.target(rule_id)
        ev = target.evidence
        priced = ev is not None and ev.model in (None, target.model) and ev.cost_per_1k_usd is not None
        costs[rule_id] = ev.cost_per_1k_usd / 1000 if priced else None
        if not priced:
            unknown += [f"{s.name} ({rule_id})" for s in linked[rule_id]]
    projected = project_spend(calls, costs, costs, "suite weekly_calls")
    known = sum(row["proposed_usd"] for row in projected.per_rule if row["proposed_usd"] is not None)
    unknown.sort()
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
    """The summary for a pull-request comment; every piece of text that comes from a file is escaped."""
    head = "✅ passed" if result.ok else "❌ failed"
    lines = [f"## Policy gate: {head}", "",
             f"Base: {md_text(base)}." if base else "No base revision given; changed-rule checks skipped.", "",
             "| check | rule | result | detail |", "| --- | --- | --- | --- |"]
    for c in result.checks:
        lines.append(f"| {md_text(c.name)} | {md_text(c.rule or '-')} | {'pass' if c.ok else '**FAIL**'} | "
                     f"{md_text(c.message)} |")
    if result.warnings:
        lines += ["", "### Warnings", ""] + [f"- {md_text(w.message)}" for w in result.warnings]
    if base or result.lowered_floors:
        lines += ["", f"### Requirement changes against {md_text(base)}" if base else "### Requirements", ""]
        lines += requirement_lines(result.requirement_changes, result.lowered_floors, result.accepted_floors)
    if result.approved_diff:
        lines += ["", "<details><summary>Approved diff</summary>", "", md_embed(result.approved_diff), "",
                  "</details>"]
    return "\n".join(lines) + "\n"


def error_markdown(message: str) -> str:
    """The comment when the gate could not run (exit status 2): the error line, escaped."""
    return f"## Policy gate: ⚠️ could not run\n\n{md_text(message)}\n"


_XML_BAD = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def write_junit(result: GateResult, path: Path) -> None:
    """JUnit XML: one test case per check."""
    def clean(text: str) -> str:
        return _XML_BAD.sub("?", text)

    failures = sum(not c.ok for c in result.checks)
    suites = ET.Element("testsuites", tests=str(len(result.checks)), failures=str(failures))
    suite = ET.SubElement(suites, "testsuite", name="policy-gate", tests=str(len(result.checks)),
                          failures=str(failures), errors="0")
    for i, c in enumerate(result.checks):
        case = ET.SubElement(suite, "testcase", classname=f"policy-gate.{c.name}",
                             name=clean(f"{c.rule or c.name} #{i + 1}"))
        if not c.ok:
            ET.SubElement(case, "failure", message=clean(c.message[:200]), type=c.name).text = clean(c.message)
        else:
            ET.SubElement(case, "system-out").text = clean(c.message)
    write_text_atomic(path, ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n")


def gate(project: Project, *, base: str | None = None, junit: Path | None = None) -> GateResult:
    """Run every check on the policy in force; see the module docstring."""
    branch_settings = load_settings(project.root / "policies" / "gate.yaml")
    if not project.policy_file.is_file():
        raise ConfigError(project.policy_file, "file not found; the gate checks the policy in force")
    models = load_models(project.models_file)
    current = load_checked_policy(project.policy_file, models)
    at_base = read_base(project, base) if base is not None else None
    log = project.approvals_file
    now = log.read_bytes() if log.is_file() else b""
    entries = read_log(log)
    records = [e.record for e in entries]
    base_settings = (at_base.settings or PolicySettings()) if at_base is not None else None
    settings = strictest(base_settings, branch_settings)
    result = GateResult()
    log_checks, new = _log_checks(entries, now, at_base, log)
    result.checks += log_checks + _record_checks(entries, f"policies/{log.name}")
    result.checks += _signature_checks(new, at_base, project, settings.require_signed_approvals)
    result.checks += _approval_checks(current, entries, at_base, f"policies/{log.name}")
    result.checks += evidence_checks(project, current, entries, models, result.warnings)
    result.checks += run_check(project, records)
    result.checks += [Check("floor", False, message, rule) for rule, message in floor_failures(current)]
    floors = {name: load_suite(p).quality_floor for name, p in suite_paths(project).items()}
    result.lowered_floors = lowered_floors(current, floors)
    accepted = records[-1].get("accept_lower_floor") if records else None
    result.accepted_floors = accepted if isinstance(accepted, dict) else {}
    if at_base is not None:
        result.checks += _base_checks(project, current, at_base.policy, base, records, settings.quality_tolerance)
        result.requirement_changes = (requirement_changes(at_base.policy, current, floors)
                                      + settings_changes(base_settings, branch_settings))
    diffs = [e.record.get("diff_markdown") for e in new if isinstance(e.record.get("diff_markdown"), str)]
    result.approved_diff = diffs[-1] if diffs else None
    spend, total = _spend_check(project, current, settings)
    result.checks.append(spend)
    result.weekly_spend_usd = total
    result.markdown = render_markdown(result, base) + approved_comparison_markdown(project)
    if junit is not None:
        write_junit(result, junit)
    return result


__all__ = ["Base", "Check", "GateResult", "base_policy", "error_markdown", "gate", "read_base", "render_markdown",
           "write_junit"]
