"""Typed model of a routing policy (``policies/current.yaml`` and proposals).

Rules are ordered; the first whose ``when`` matches a task descriptor wins, and ``default`` catches
the rest. A rule names a model, the prompt, and a fallback chain; each model renders its own variant
of the prompt. Rules written by the recommender carry the evidence they were chosen on.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, NonNegativeFloat, field_validator

from evals.config._yaml import load_yaml_model
from evals.config.base import FORMAT_VERSION, Strict
from evals.config.descriptor import Match


class Requirements(Strict):
    """What the chosen model must meet, for the recommender."""

    quality_floor: float | None = Field(default=None, ge=0, le=1, description="Overrides the suites' floor.")
    p95_latency_ms: NonNegativeFloat | None = None
    max_cost_per_call_usd: NonNegativeFloat | None = None


class Evidence(Strict):
    """The run a rule's choice rests on."""

    run_id: str
    suite: str
    quality: float
    quality_ci: tuple[float, float]
    cost_per_1k_usd: float | None
    p95_latency_ms: float | None
    n: int
    results_sha256: str | None = None
    reason: str = ""


class Target(Strict):
    model: str
    prompt: str | None = Field(default=None, description="Prompt name; each model renders its own variant.")
    fallbacks: list[str] = Field(default_factory=list, description="Model ids tried in order when the model fails.")
    evidence: Evidence | None = None


class Rule(Target):
    id: str
    description: str = ""
    when: Match = Field(default_factory=Match)
    require: Requirements = Field(default_factory=Requirements)


class Policy(Strict):
    format_version: int = FORMAT_VERSION
    rules: list[Rule] = Field(default_factory=list)
    default: Target

    @field_validator("rules")
    @classmethod
    def _unique_ids(cls, rules: list[Rule]) -> list[Rule]:
        seen: set[str] = set()
        for rule in rules:
            if rule.id in seen:
                raise ValueError(f"rule id {rule.id!r} appears twice")
            seen.add(rule.id)
        return rules


def load_policy(path: Path) -> Policy:
    return load_yaml_model(Policy, path)
