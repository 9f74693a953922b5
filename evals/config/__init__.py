"""Typed models of every file a user edits; loaders whose errors name file, line and field."""

from evals.config.descriptor import Match, Range, TaskDescriptor
from evals.config.models import ModelSpec, ModelsFile, Pricing, load_models
from evals.config.policy import Evidence, Policy, Requirements, Rule, Target, load_policy
from evals.config.prompt import PromptHeader
from evals.config.suite import SuiteSpec, load_suite

__all__ = [
    "Evidence", "Match", "ModelSpec", "ModelsFile", "Policy", "Pricing", "PromptHeader", "Range",
    "Requirements", "Rule", "SuiteSpec", "Target", "TaskDescriptor", "load_models", "load_policy", "load_suite",
]
