"""Rule-by-rule differences between two policies, projected weekly spend, and the Markdown diff table."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evals.config.policy import Policy, Target
from evals.stats import PairedDiff

ROUTING_FIELDS = ("model", "prompt", "fallbacks", "when", "require", "description")


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

    @property
    def changed(self) -> bool:
        return self.current_model != self.proposed_model or self.current_fallbacks != self.proposed_fallbacks


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
    """Dollars with enough digits for small per-call prices.

    >>> money(0.00012)
    '$0.000120'
    >>> money(-12.5, signed=True)
    '-$12.50'
    >>> money(None)
    'unknown'
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "unknown"
    sign = "-" if value < 0 else ("+" if signed and value > 0 else "")
    size = abs(value)
    digits = 2 if size >= 1 or size == 0 else 6
    return f"{sign}${size:,.{digits}f}"


def _num(value: float | None, spec: str, signed: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return format(value, ("+" if signed else "") + spec)


def _change(before: float | None, after: float | None, spec: str, money_fmt: bool = False) -> str:
    if before is None or after is None:
        return "n/a"
    if money_fmt:
        return f"{money(before)} → {money(after)} ({money(after - before, signed=True)})"
    return f"{_num(before, spec)} → {_num(after, spec)} ({_num(after - before, spec, True)})"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


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


def render_diff(rows: list[RuleRow], spend: Spend, *, run_id: str, title: str = "Policy diff",
                candidates: list[CandidateRow] | None = None) -> str:
    """The Markdown diff: one row per rule, the projected weekly spend, then every candidate measured."""
    changed = sum(r.changed for r in rows)
    lines = [f"# {title}", "", f"Evidence: run `{run_id}`. {changed} of {len(rows)} rules change.", "",
             "| rule | suites | current | proposed | quality Δ [95% CI] | cost / 1k calls | p95 latency ms | reason |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        current = r.current_model + (f" → {', '.join(r.current_fallbacks)}" if r.current_fallbacks else "")
        proposed = r.proposed_model + (f" → {', '.join(r.proposed_fallbacks)}" if r.proposed_fallbacks else "")
        if r.quality_change is not None and r.quality_change.n:
            q = r.quality_change
            quality = (f"{_num(r.current_quality, '.3f')} → {_num(r.proposed_quality, '.3f')} "
                       f"({_num(q.diff, '.3f', True)} [{_num(q.ci_low, '.3f', True)}, {_num(q.ci_high, '.3f', True)}])")
        else:
            quality = _change(r.current_quality, r.proposed_quality, ".3f")
        cells = [r.rule, ", ".join(r.suites) or "-", current + ("" if r.changed else " (kept)"), proposed, quality,
                 _change(r.current_cost_per_1k, r.proposed_cost_per_1k, "", money_fmt=True),
                 _change(r.current_p95_ms, r.proposed_p95_ms, ".0f"), r.reason]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    lines += ["", f"## Projected weekly spend ({spend.source})", ""]
    if spend.per_rule:
        lines += ["| rule | calls / week | current | proposed | change |", "| --- | --- | --- | --- | --- |"]
        for row in spend.per_rule:
            change = (None if row["current_usd"] is None or row["proposed_usd"] is None
                      else row["proposed_usd"] - row["current_usd"])
            lines.append(f"| {row['rule']} | {row['weekly_calls']:,.0f} | {money(row['current_usd'])} | "
                         f"{money(row['proposed_usd'])} | {money(change, signed=True)} |")
        lines += ["", f"**Total:** {money(spend.current_usd)} → {money(spend.proposed_usd)} per week "
                      f"({money(spend.change_usd, signed=True)})."]
    else:
        lines.append("No traffic to project from.")
    lines += [f"- {note}" for note in spend.notes]
    if candidates:
        lines += ["", "## Candidates measured", "",
                  "| rule | model (variant) | n | quality [95% CI] | cost / 1k calls | p95 ms | status |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for c in candidates:
            cells = [c.rule, f"{c.model} ({c.variant or '-'})", str(c.n),
                     f"{_num(c.quality, '.3f')} [{_num(c.ci[0], '.3f')}, {_num(c.ci[1], '.3f')}]",
                     money(c.cost_per_1k), _num(c.p95_ms, ".0f"), "; ".join([c.status, *(f"⚠ {f}" for f in c.flags)])]
            lines.append("| " + " | ".join(_cell(x) for x in cells) + " |")
    return "\n".join(lines) + "\n"
