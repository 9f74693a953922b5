"""What a policy change does to the requirements its rules are held to.

A pull request can relax a rule without changing its model: lower ``require.quality_floor``, raise
``p95_latency_ms`` or ``max_cost_per_call_usd``, or loosen ``policies/gate.yaml``. These functions list
such changes for the gate comment and ``diff.md``, and find rules whose floor is below the floor of
the suites they are evidence for (which an approval must accept explicitly).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from evals.config.policy import Policy, PolicySettings

REQUIREMENTS = ("quality_floor", "p95_latency_ms", "max_cost_per_call_usd")
_LOOSER_WHEN_LOWER = {"quality_floor", "confidence", "min_examples"}
_SETTINGS = ("quality_tolerance", "confidence", "min_examples", "weekly_spend_ceiling_usd", "fail_on_unknown_spend",
             "require_signed_approvals")


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


__all__ = ["RequirementChange", "lowered_floors", "requirement_changes", "settings_changes"]
