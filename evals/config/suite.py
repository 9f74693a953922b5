"""Typed model of ``suites/<task>/<suite>/suite.yaml``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, NonNegativeFloat, PositiveInt, model_validator

from evals.config._yaml import load_yaml_model
from evals.config.base import Strict
from evals.config.descriptor import TaskDescriptor

TaskType = Literal["classification", "extraction", "writing"]


class DataSource(Strict):
    """Where examples come from: local files per split (JSONL, CSV, Parquet) or a hub dataset."""

    files: dict[str, str] | None = Field(default=None, description="split name -> path relative to suite.yaml")
    hub: str | None = Field(default=None, description="A Hugging Face dataset name (needs network).")
    hub_config: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> "DataSource":
        if (self.files is None) == (self.hub is None):
            raise ValueError("give exactly one of data.files or data.hub")
        return self


class Fields(Strict):
    """How data columns map onto an example."""

    id: str = "id"
    gold: str = Field(description="Column holding the gold answer.")
    inputs: list[str] | None = Field(default=None, description="Columns passed to the template; default all but gold.")


class FewShot(Strict):
    """Examples shown to the model inside the prompt (as ``shots``), taken from another split."""

    split: str = "dev"
    n: PositiveInt = 3
    ids: list[str] | None = Field(default=None, description="Pick these example ids instead of the first n.")


class ContextFile(Strict):
    """A suite file exposed to templates as a variable (JSONL rows, or lines of a .txt file)."""

    file: str
    limit: PositiveInt | None = None


class ScorerSpec(Strict):
    name: str
    settings: dict[str, Any] = Field(default_factory=dict)


class SuiteSpec(Strict):
    """One task suite."""

    name: str
    task: TaskType
    description: str = ""
    data: DataSource
    fields: Fields
    prompt: str = Field(description="Prompt name: prompts/<prompt>/<variant>.j2")
    scorer: ScorerSpec
    schema_file: str | None = Field(default=None, alias="schema", description="JSON Schema file for structured output.")
    variables: dict[str, Any] = Field(default_factory=dict, description="Extra template variables for every example.")
    few_shot: FewShot | None = None
    context_files: dict[str, ContextFile] = Field(default_factory=dict)
    labels: list[str] | None = Field(
        default=None, description="Classification labels, written once: templates see them as `labels`, the "
                                  "scorer reads them unless scorer.settings.labels overrides them.")
    shape: TaskDescriptor = Field(description="The task shape this suite stands for, matched against policy rules.")
    rule: str | None = Field(
        default=None, description="Id of the policy rule (or `default`) this suite is evidence for; without it "
                                  "the rule is found by matching `shape`, and diff.md says so.")
    weekly_calls: NonNegativeFloat = Field(default=0, description="Traffic weight: calls per week this shape sees.")
    quality_floor: float = Field(default=0.0, ge=0, le=1)
    default_split: str = "test"
    max_examples: PositiveInt | None = None

    model_config = Strict.model_config | {"populate_by_name": True}


def load_suite(path: Path) -> SuiteSpec:
    return load_yaml_model(SuiteSpec, path)
