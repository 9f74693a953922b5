"""Task descriptors (what a call needs) and the conditions a policy rule matches them on."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, NonNegativeFloat, NonNegativeInt, model_validator

from evals.config.base import Strict
from evals.router import rule_matches

Volume = Literal["low", "medium", "high"]


class TaskDescriptor(Strict):
    """The shape of one call: what the router decides on, and what a suite stands for."""

    task: str
    context_tokens: NonNegativeInt = 0
    latency_ms: NonNegativeInt | None = Field(default=None, description="The caller's latency budget.")
    cost_ceiling_usd: NonNegativeFloat | None = Field(default=None, description="Most the caller pays per call.")
    volume: Volume | None = None
    tags: list[str] = Field(default_factory=list)


class Range(Strict):
    """An inclusive numeric range; either bound may be left open."""

    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _ordered(self) -> "Range":
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self

    def contains(self, value: float | None) -> bool:
        if value is None:
            return self.min is None and self.max is None
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)


class Match(Strict):
    """Conditions of a rule; every condition given must hold (an absent one matches anything)."""

    task: str | list[str] | None = None
    context_tokens: Range | None = None
    latency_ms: Range | None = None
    cost_ceiling_usd: Range | None = None
    volume: Volume | list[Volume] | None = None
    tags: list[str] = Field(default_factory=list, description="Tags the descriptor must all carry.")

    def matches(self, d: TaskDescriptor) -> bool:
        """Whether ``d`` meets every condition; the one implementation is :func:`evals.router.rule_matches`."""
        return rule_matches(self.model_dump(exclude_none=True), d.model_dump())
