"""Rule-by-rule differences between two policies, projected weekly spend, and the Markdown diff table."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evals.config.policy import Policy, Target
from evals.policy.mdsafe import md_cell, md_line
from evals.report.format import fmt_ci, fmt_delta, fmt_ms, fmt_num, fmt_usd
from evals.stats import PairedDiff

ROUTING_FIELDS = ("model", "cascade", "prompt", "fallbacks", "when", "require", "description")


def routing_view(target: Target | None) -> dict[str, Any] | None:
    """What a target routes on and to, without its evidence (evidence alone never changes routing)."""
    if target is None:
        return None
    data = target.model_dump(mode="json", exclude={"evidence"})
    return {k: data[k] for k in ROUTING_FIELDS if k in data}


def policy_changes(old: Policy | None, new: Policy) -> list[dict[str, Any]]:
    """One entry per rule id (and ``default``) whose routing differs: added, removed or changed fields.

    >>> from evals.config.policy import Target
    >>> a = Policy(default=Target(model="x"))
    >>> policy_changes(a, Policy(default=Target(model="y")))
    [{'rule': 'default', 'change': 'changed', 'fields': ['model'], 'from': 'x', 'to': 'y'}]
    """
    old_targets = dict(old.targets()) if old is not None else {}
    new_targets = dict(new.targets())
    out: list[dict[str, Any]] = []
    old_order = [r.id for r in old.rules] if old is not None else []
    for rule_id, target in new_targets.items():
        before = routing_view(old_targets.get(rule_id))
        after = routing_view(target)
        if before is None:
            out.append({"rule": rule_id, "change": "added", "fields": sorted(after), "from": None, "to": target.model})
            continue
        fields = [k for k in ROUTING_FIELDS if before.get(k) != after.get(k)]
        if fields:
            out.append({"rule": rule_id, "change": "changed", "fields": fields,
                        "from": old_targets[rule_id].model, "to": target.model})
    for rule_id, target in old_targets.items():
        if rule_id not in new_targets:
            out.append({"rule": rule_id, "change": "removed", "fields": [], "from": target.model, "to": None})
    new_order = [r.id for r in new.rules if r.id in old_order]
    if [r for r in old_order if r in new_targets] != new_order:
        out.append({"rule": "(order)", "change": "reordered", "fields": ["rules"], "from": None, "to": None})
    return out


@dataclass
class RuleRow:
    """One row of the diff table."""

    rule: str
    suites: list[str]
    current_model: str
    proposed_model: str
    current_fallbacks: list[str]
    proposed_fallbacks: list[str]
    current_quality: float | None = None
    proposed_quality: float | None = None
    quality_change: PairedDiff | None = None
    current_cost_per_1k: float | None = None
    proposed_cost_per_1k: float | None = None
    current_p95_ms: float | None = None
    proposed_p95_ms: float | None = None
    reason: str = ""
    kind: str = ""  # evals.policy.decide.KINDS
    notes: list[str] = field(default_factory=list)  # warnings shown under the table
    unmeasured_fallbacks: list[str] = field(default_factory=list)  # proposed fallbacks this run did not judge
    prompt_change: tuple[str | None, str | None] | None = None
    details: list[str] = field(default_factory=list)  # Markdown lines under "Cascades" (the curve, the reasons)

    @property
    def changed(self) -> bool:
        return (self.current_model != self.proposed_model or self.current_fallbacks != self.proposed_fallbacks
                or self.prompt_change is not None)


@dataclass
class Spend:
    """Projected weekly spend under the current and the proposed policy."""

    source: str
    current_usd: float | None
    proposed_usd: float | None
    per_rule: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def change_usd(self) -> float | None:
        if self.current_usd is None or self.proposed_usd is None:
            return None
        return self.proposed_usd - self.current_usd


def traffic_from_log(path: Path, policy: Policy) -> tuple[dict[str, float], dict[str, float], list[str]]:
    """Weekly calls and observed weekly spend per rule from a routing log, by the one traffic model
    (:mod:`evals.traffic`, which ``evals replay`` uses too).

    A call counts once under its logged rule (or, when the policy has no such rule, where the policy
    routes its descriptor) and costs all its attempts; a rule with a call of unknown cost has no
    observed spend. Unreadable lines are counted and skipped; the log's span is scaled to one week.
    """
    from evals.traffic import read_traffic

    traffic = read_traffic([path], policy, lenient=True)
    return traffic.weekly_calls(), traffic.weekly_spend(), traffic.notes


def project_spend(weekly_calls: dict[str, float], current_cost: dict[str, float | None],
                  proposed_cost: dict[str, float | None], source: str) -> Spend:
    """Weekly spend = calls per week x cost per call, per rule, under both policies (None if a price is unknown)."""
    per_rule = []
    totals: list[float | None] = [0.0, 0.0]
    for rule, calls in sorted(weekly_calls.items()):
        row = {"rule": rule, "weekly_calls": calls}
        for i, (name, costs) in enumerate((("current_usd", current_cost), ("proposed_usd", proposed_cost))):
            per_call = costs.get(rule)
            value = None if per_call is None else calls * per_call
            row[name] = value
            totals[i] = None if value is None or totals[i] is None else totals[i] + value
        per_rule.append(row)
    return Spend(source, totals[0], totals[1], per_rule)


def money(value: float | None, *, signed: bool = False) -> str:
    """Dollars, formatted one way everywhere (:func:`evals.report.format.fmt_usd`).

    >>> money(0.00012), money(-12.5, signed=True), money(99, signed=True), money(None)
    ('$0.000120', '-$12.50', '+$99.00', 'unknown')
    """
    return fmt_usd(value, signed=signed)


def _change(before: float | None, after: float | None, fmt, delta) -> str:
    if before is None or after is None:
        return "-" if before is None and after is None else f"{fmt(before)} → {fmt(after)}"
    return f"{fmt(before)} → {fmt(after)} ({delta(after - before)})"


def _ms_delta(value: float) -> str:
    return ("+" if value > 0 else "-" if value < 0 else "") + fmt_ms(abs(value))


def _cell(text: str) -> str:
    """A cell (or a line) holding text from files (rule ids, suite and model names, reasons naming them):
    :func:`evals.policy.mdsafe.md_cell`, so nothing in it reaches beyond it."""
    return md_cell(text)


@dataclass
class CandidateRow:
    """One model measured for one rule, and whether it was eligible."""

    rule: str
    model: str
    variant: str | None
    n: int
    quality: float
    ci: tuple[float, float]
    cost_per_1k: float | None
    p95_ms: float | None
    status: str
    flags: list[str] = field(default_factory=list)  # e.g. a suite baseline the model does not beat


def _chain(model: str, fallbacks: list[str], unmeasured: list[str] = ()) -> str:
    names = [f + (" (unmeasured)" if f in unmeasured else "") for f in fallbacks]
    return model + (f" → {', '.join(names)}" if names else "")


def render_diff(rows: list[RuleRow], spend: Spend, *, run_id: str, title: str = "Policy diff",
                candidates: list[CandidateRow] | None = None, confidence: float = 0.95,
                requirements: list[str] | None = None, in_force: str = "the policy in force") -> str:
    """The Markdown diff: one row per rule, the requirement changes against the policy in force
    (``requirements``: :func:`evals.policy.requirements.requirement_lines`, from ``in_force``), the notes on
    each rule, the projected weekly spend, then every candidate measured. Numbers go through
    :mod:`evals.report.format`, the report's formatting; text from files is escaped (:mod:`evals.policy.mdsafe`)."""
    level = f"{confidence:.0%}"
    changed = sum(r.changed for r in rows)
    lines = [f"# {title}", "", f"Evidence: run `{run_id}`. {changed} of {len(rows)} rules change.", "",
             f"| rule | suites | current | proposed | quality Δ [{level} CI] | cost / 1k calls | p95 latency | reason |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        current = _chain(r.current_model, r.current_fallbacks)
        proposed = _chain(r.proposed_model, r.proposed_fallbacks, r.unmeasured_fallbacks)
        if r.prompt_change is not None:
            proposed += f" (prompt {r.prompt_change[1]!r}, was {r.prompt_change[0]!r})"
        q = r.quality_change
        quality = _change(r.current_quality, r.proposed_quality, fmt_num, fmt_delta)
        if q is not None and q.n:
            quality = (f"{fmt_num(r.current_quality)} → {fmt_num(r.proposed_quality)} "
                       f"({fmt_delta(q.diff)} [{fmt_delta(q.ci_low)}, {fmt_delta(q.ci_high)}])")
        cells = [r.rule, ", ".join(r.suites) or "-", current + ("" if r.changed else " (kept)"), proposed, quality,
                 _change(r.current_cost_per_1k, r.proposed_cost_per_1k, fmt_usd, lambda v: fmt_usd(v, signed=True)),
                 _change(r.current_p95_ms, r.proposed_p95_ms, fmt_ms, _ms_delta), r.reason]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    if requirements is not None:
        lines += ["", f"## Requirement changes against {_cell(in_force)}", "", *requirements]
    noted = [r for r in rows if r.notes]
    if noted:
        lines += ["", "## Warnings", ""]
        lines += [f"- **{_cell(r.rule)}**: {_cell(note)}" for r in noted for note in r.notes]
    detailed = [r for r in rows if r.details]
    if detailed:
        lines += ["", "## Cascades"]
        for r in detailed:
            lines += ["", f"### {_cell(r.rule)}", "", *(md_line(line) for line in r.details)]
    lines += ["", f"## Projected weekly spend ({spend.source})", ""]
    if spend.per_rule:
        lines += ["| rule | calls / week | current | proposed | change |", "| --- | --- | --- | --- | --- |"]
        for row in spend.per_rule:
            change = (None if row["current_usd"] is None or row["proposed_usd"] is None
                      else row["proposed_usd"] - row["current_usd"])
            lines.append(f"| {_cell(row['rule'])} | {row['weekly_calls']:,.0f} | {money(row['current_usd'])} | "
                         f"{money(row['proposed_usd'])} | {money(change, signed=True)} |")
        lines += ["", f"**Total:** {money(spend.current_usd)} → {money(spend.proposed_usd)} per week "
                      f"({money(spend.change_usd, signed=True)})."]
    else:
        lines.append("No traffic to project from.")
    lines += [f"- {_cell(note)}" for note in spend.notes]
    if candidates:
        lines += ["", "## Candidates measured", "",
                  f"| rule | model (variant) | n | quality [{level} CI] | cost / 1k calls | p95 latency | status |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for c in candidates:
            cells = [c.rule, f"{c.model} ({c.variant or '-'})", str(c.n), fmt_ci(c.quality, *c.ci),
                     money(c.cost_per_1k), fmt_ms(c.p95_ms), "; ".join([c.status, *(f"⚠ {f}" for f in c.flags)])]
            lines.append("| " + " | ".join(_cell(x) for x in cells) + " |")
    return "\n".join(lines) + "\n"
