"""Scorer interface: a small class with one method, built from a suite and its settings."""

from __future__ import annotations

import abc
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict, ValidationError

from evals.errors import ConfigError

if TYPE_CHECKING:
    from evals.prompts import RenderedPrompt
    from evals.providers.base import GenerateResponse
    from evals.suites import Example, Suite


class ModelCaller(Protocol):
    """How a scorer calls a model (an LLM judge): the runner's cached, retried, rate-limited, priced path.

    ``await call("claude-sonnet-4-6", rendered)`` returns the model's response; errors come back as a
    response with ``error`` set, never as an exception. The runner adds what each call cost to the row's
    ``judge_cost_usd`` and counts it in ``judge_calls``; a scorer never prices calls itself.
    """

    async def __call__(self, model_id: str, prompt: "RenderedPrompt") -> "GenerateResponse": ...


@dataclass(frozen=True)
class Baseline:
    """What a trivial answer scores on a suite: one output per example id, and its name for reports
    (``empty object``, ``majority label``, ``copied reference``)."""

    name: str
    outputs: dict[str, str]


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
    def settings_data(cls, suite: "Suite") -> dict[str, Any]:
        """The settings to validate: ``scorer.settings`` (a scorer may fill them from the suite)."""
        return suite.spec.scorer.settings

    @classmethod
    def from_suite(cls, suite: "Suite") -> "Scorer":
        try:
            # as strictly as the rest of suite.yaml (evals.config._yaml.validate): true is not 1, "yes" not true
            settings = cls.Settings.model_validate_json(json.dumps(cls.settings_data(suite), default=str), strict=True)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in ("scorer", "settings", *err["loc"]))
            raise ConfigError(suite.path, err["msg"], field=where) from None
        return cls(suite, settings)

    @abc.abstractmethod
    def score(self, output: str, example: "Example") -> Score:
        """Score ``output`` for ``example``."""

    async def ascore(self, output: str, example: "Example", call: ModelCaller | None = None) -> Score:
        """Score asynchronously; what the runner calls. Scorers that call a model (a judge) override this
        and make their calls through ``call``; the default is :meth:`score`."""
        return self.score(output, example)

    def baseline(self, examples: list["Example"]) -> Baseline | None:
        """A trivial answer for each example, scored beside the models so a reader sees what the bar
        is; None when the scorer has none."""
        return None

    def unanswered_detail(self, example: "Example") -> dict[str, Any] | None:
        """The ``detail`` of an answer failure (a refusal, a reply cut off at ``max_tokens``): what it misses
        of the gold, in the cells the scorer writes for an answer, so per-field metrics count it the same
        way. None: the scorer has no per-field detail. The answer itself is never shown to the scorer."""
        return None

    def info(self) -> dict[str, Any]:
        """Facts about the scorer itself worth recording in the manifest (e.g. a voice model's AUC)."""
        return {}
