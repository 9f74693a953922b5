"""Scorer interface: a small class with one method, built from a suite and its settings."""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from evals.errors import ConfigError

if TYPE_CHECKING:
    from evals.suites import Example, Suite


@dataclass
class Score:
    """One example's score in [0, 1], with named sub-scores and a JSON-able detail for reports."""

    value: float
    subscores: dict[str, float] = field(default_factory=dict)
    detail: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0.0 <= self.value <= 1.0:
            raise ValueError(f"score {self.value} outside [0, 1]")


class ScorerSettings(BaseModel):
    """Base for a scorer's settings in suite.yaml (``scorer.settings``); unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Scorer(abc.ABC):
    """Scores one model output against one example."""

    name: ClassVar[str]
    Settings: ClassVar[type[ScorerSettings]] = ScorerSettings

    def __init__(self, suite: "Suite", settings: ScorerSettings):
        self.suite = suite
        self.settings = settings

    @classmethod
    def from_suite(cls, suite: "Suite") -> "Scorer":
        try:
            settings = cls.Settings.model_validate(suite.spec.scorer.settings)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in ("scorer", "settings", *err["loc"]))
            raise ConfigError(suite.path, err["msg"], field=where) from None
        return cls(suite, settings)

    @abc.abstractmethod
    def score(self, output: str, example: "Example") -> Score:
        """Score ``output`` for ``example``."""

    def info(self) -> dict[str, Any]:
        """Facts about the scorer itself worth recording in the manifest (e.g. a voice model's AUC)."""
        return {}
