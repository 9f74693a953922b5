"""What a policy change does to the requirements its rules are held to.

A pull request can relax a rule without changing its model: lower ``require.quality_floor``, raise
``p95_latency_ms`` or ``max_cost_per_call_usd``, or loosen ``policies/gate.yaml``. These functions list
such changes for the gate comment and ``diff.md``, and find rules whose floor is below the floor of
the suites they are evidence for (which an approval must accept explicitly).

``diff.md`` compares a proposal with the policy *in force*: the policy of the last approval in
``policies/approvals.jsonl`` (so a floor lowered by hand in ``current.yaml`` before ``evals recommend``
shows), and the gate settings that approval recorded; without an approval, ``current.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evals.config.policy import Policy, PolicySettings
from evals.policy.mdsafe import md_text

REQUIREMENTS = ("quality_floor", "p95_latency_ms", "max_cost_per_call_usd")
_LOOSER_WHEN_LOWER = {"quality_floor", "confidence", "min_examples"}
_SETTINGS = ("quality_tolerance", "confidence", "min_examples", "weekly_spend_ceiling_usd", "fail_on_unknown_spend",
             "require_signed_approvals", "max_infra_failure_rate")


@dataclass(frozen=True)
class RequirementChange:
    """One requirement of one rule (or one gate setting, ``rule`` None) that differs between two versions."""

    rule: str | None
    field: str
    before: Any
    after: Any
    implied: Any = None  # what ``before`` None meant (for quality_floor: the suites' floor), when known

    @property
    def relaxed(self) -> bool:
        """True when the new value lets more through (a lower floor, a longer latency, no limit at all)."""
        if self.field in ("fail_on_unknown_spend", "require_signed_approvals"):
            return bool(self.before) and not self.after
        before = self.implied if self.before is None else self.before
        if self.after is None:
            return before is not None
        if before is None:
            return False
        lower = self.field in _LOOSER_WHEN_LOWER
        return self.after < before if lower else self.after > before

    def describe(self) -> str:
        where = f"rule {self.rule!r} require.{self.field}" if self.rule else f"policies/gate.yaml {self.field}"
        verb = "relaxed" if self.relaxed else "changed"
        show = lambda v: "none" if v is None else f"{v:g}" if isinstance(v, float) else str(v)  # noqa: E731
        before = show(self.before) if self.before is not None or self.implied is None else \
            f"none (suite floor {show(self.implied)})"
        return f"{where} {verb}: {before} → {show(self.after)}"


def requirement_changes(old: Policy | None, new: Policy,
                        suite_floors: dict[str, float] | None = None) -> list[RequirementChange]:
    """Each rule's ``require`` field that differs between ``old`` and ``new`` (rules present in both or added).

    ``suite_floors`` (suite name -> ``quality_floor``) tells what an absent rule floor meant: the highest
    floor of the suites the rule's evidence names.
    """
    before = {r.id: r for r in old.rules} if old is not None else {}
    floors = suite_floors or {}
    out = []
    for rule in new.rules:
        was = before.get(rule.id)
        for name in REQUIREMENTS:
            a = getattr(was.require, name) if was is not None else None
            b = getattr(rule.require, name)
            if a != b:
                implied = None
                if name == "quality_floor" and rule.evidence is not None:
                    known = [floors[s] for s in rule.evidence.suite.split(",") if s in floors]
                    implied = max(known) if known else None
                out.append(RequirementChange(rule.id, name, a, b, implied))
    return out


def settings_changes(old: PolicySettings | None, new: PolicySettings) -> list[RequirementChange]:
    """Each gate setting that differs between two versions of ``policies/gate.yaml``."""
    if old is None:
        return []
    return [RequirementChange(None, name, getattr(old, name), getattr(new, name))
            for name in _SETTINGS if getattr(old, name) != getattr(new, name)]


def lowered_floors(policy: Policy, suite_floors: dict[str, float]) -> dict[str, tuple[float, float]]:
    """Rules whose ``require.quality_floor`` is below the floor of a suite their evidence was measured on:
    ``{rule id: (rule floor, highest suite floor)}``."""
    out = {}
    for rule in policy.rules:
        floor, ev = rule.require.quality_floor, rule.evidence
        if floor is None or ev is None:
            continue
        floors = [suite_floors[s] for s in ev.suite.split(",") if s in suite_floors]
        if floors and floor < max(floors):
            out[rule.id] = (floor, max(floors))
    return out


def requirement_lines(changes: list[RequirementChange], lowered: dict[str, tuple[float, float]] | None = None,
                      accepted: dict[str, Any] | None = None) -> list[str]:
    r"""Markdown bullets, one per change (relaxed ones in bold), then one per rule floor below its suites'
    floor (``lowered``; ``accepted``: the floors the approval accepted, when the gate renders them); every
    piece of text from a file escaped (:func:`evals.policy.mdsafe.md_text`). ``["None."]`` when empty.
    ``diff.md`` and the gate's comment both render requirement changes with this function.

    >>> requirement_lines([RequirementChange("a*b", "p95_latency_ms", 3000.0, 60000.0)])
    ["- **rule 'a\\*b' require.p95\\_latency\\_ms relaxed: 3000 → 60000**"]
    """
    lines = [f"- **{md_text(ch.describe())}**" if ch.relaxed else f"- {md_text(ch.describe())}" for ch in changes]
    for rule_id, (floor, suite) in sorted((lowered or {}).items()):
        text = md_text(f"rule {rule_id!r} require.quality_floor {floor:g} is below its suites' floor {suite:g}")
        if accepted is None:
            lines.append(f"- **{text}**: approving it needs `evals approve --accept-lower-floor`")
        elif accepted.get(rule_id) == floor:
            lines.append(f"- **{text}**: accepted by the approval (`--accept-lower-floor`)")
        else:
            lines.append(f"- **{text}**: not accepted by the approval")
    return lines or ["None."]


def in_force(approvals: Path, current: Policy, shown: str = "policies/approvals.jsonl"
             ) -> tuple[Policy, PolicySettings | None, str]:
    """The policy in force and the gate settings recorded with it, and where they come from: the last
    approval of ``approvals`` (``policies/approvals.jsonl``), else ``current`` (``current.yaml``, no settings).

    A last record whose policy or settings do not validate is a :class:`~evals.errors.ConfigError` naming
    its line and field (:func:`evals.policy.approvals.recorded`): comparing with ``current.yaml`` instead
    would show a hand-lowered floor as no change. A record written before settings were recorded has
    none (gate-setting changes are then not listed).
    """
    from evals.policy.approvals import read_log, recorded

    entries = read_log(approvals)
    if not entries:
        return current, None, "policies/current.yaml"
    last = entries[-1]
    policy = recorded(last, "policy", Policy, shown)
    settings = recorded(last, "settings", PolicySettings, shown) if "settings" in last.record else None
    return policy, settings, f"the approval of {last.record.get('time')} ({shown}:{last.number})"


def proposal_requirements(project: Any, current: Policy, proposal: Policy, settings: PolicySettings
                          ) -> tuple[list[str], str]:
    """``diff.md``'s requirement section: the lines of every requirement and gate-setting change from the
    policy in force (:func:`in_force`) to ``proposal`` and ``settings`` (``policies/gate.yaml`` now), and
    every rule floor below its suites' floor; and where the policy in force comes from."""
    from evals.policy.evidence import suite_specs

    policy, recorded, source = in_force(project.approvals_file, current)
    floors = {name: spec.quality_floor for name, spec in suite_specs(project).items()}
    changes = requirement_changes(policy, proposal, floors) + settings_changes(recorded, settings)
    return requirement_lines(changes, lowered_floors(proposal, floors)), source


__all__ = ["RequirementChange", "in_force", "lowered_floors", "proposal_requirements", "requirement_changes",
           "requirement_lines", "settings_changes"]
