"""Scorers, one module per task type, behind an explicit registry passed to the runner."""

from __future__ import annotations

from evals.errors import ConfigError
from evals.scorers.base import Baseline, ModelCaller, Score, Scorer, ScorerSettings
from evals.scorers.classification import ClassificationScorer, normalise_label
from evals.scorers.extraction import ExtractionScorer
from evals.scorers.judge import Judge, JudgeError, JudgeSettings
from evals.scorers.tool_call import ToolCallScorer
from evals.scorers.voice import VoiceScorer

__all__ = ["Baseline", "ModelCaller", "Score", "Scorer", "ScorerSettings", "ScorerRegistry", "default_scorers",
           "build_scorer", "ClassificationScorer", "ExtractionScorer", "ToolCallScorer", "VoiceScorer", "Judge",
           "JudgeError", "JudgeSettings", "normalise_label"]

ScorerRegistry = dict[str, type[Scorer]]


def default_scorers() -> ScorerRegistry:
    """A fresh registry of the built-in scorers; add your own to a copy."""
    return {cls.name: cls for cls in (ClassificationScorer, ExtractionScorer, ToolCallScorer, VoiceScorer)}


def build_scorer(suite, registry: ScorerRegistry | None = None) -> Scorer:
    """The suite's scorer from ``registry`` (default: the built-in ones); a ConfigError for an unknown name
    or bad settings, naming the suite file and field."""
    registry = registry if registry is not None else default_scorers()
    name = suite.spec.scorer.name
    if name not in registry:
        raise ConfigError(suite.path, f"unknown scorer {name!r}; known: {', '.join(sorted(registry))}",
                          field="scorer.name")
    return registry[name].from_suite(suite)
