"""Typed model of ``suites/<task>/<suite>/suite.yaml``, and of a tool-calling suite's ``tools.json``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, NonNegativeFloat, PositiveInt, PrivateAttr, model_validator

from evals.config._yaml import Loc, _line_for, parse_yaml, read_text, validate
from evals.config.base import PromptName, Strict
from evals.config.descriptor import TaskDescriptor
from evals.errors import ConfigError

TaskType = Literal["classification", "extraction", "writing", "tool_call"]
#: Task types, in the order the docs list them.
TASK_TYPES: tuple[str, ...] = TaskType.__args__


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
    """Examples shown to the model inside the prompt (as ``shots``), normally taken from another split."""

    split: str = Field(default="dev", description="The split the shots come from (a key of data.files).")
    n: PositiveInt = 3
    ids: list[str] | None = Field(default=None, description="Pick these example ids instead of the first n.")
    exclude_from_scoring: bool = Field(
        default=False, description="When the split being scored is the shots' split, score it without the "
                                   "shots (on fewer examples). Without this, scoring the shots' split is an error.")


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
    prompt: PromptName = Field(description="Prompt name: prompts/<prompt>/<variant>.j2")
    scorer: ScorerSpec
    schema_file: str | None = Field(default=None, alias="schema", description="JSON Schema file for structured output.")
    tools: str | None = Field(
        default=None, description="Task tool_call: a JSON file (relative to suite.yaml) listing the tools offered "
                                  "on every request, each {name, description, parameters: JSON Schema}; they "
                                  "go to the provider with the request and templates see them as `tools`.")
    variables: dict[str, Any] = Field(default_factory=dict, description="Extra template variables for every example.")
    few_shot: FewShot | None = None
    context_files: dict[str, ContextFile] = Field(default_factory=dict)
    labels: list[str] | None = Field(
        default=None, description="Classification labels, written once: templates see them as `labels`, the "
                                  "scorer reads them, `evals validate` checks every gold label and the answer "
                                  "schema's enum against them. Also written elsewhere (variables.labels, "
                                  "scorer.settings.labels), they must be the same labels.")
    shape: TaskDescriptor = Field(description="The task shape this suite stands for, matched against policy rules.")
    rule: str | None = Field(
        default=None, description="Id of a rule of policies/current.yaml (or `default`) this suite is evidence "
                                  "for; without it the rule is found by matching `shape`, and diff.md says so.")
    weekly_calls: NonNegativeFloat = Field(default=0, description="Traffic weight: calls per week this shape sees.")
    quality_floor: float = Field(default=0.0, ge=0, le=1)
    default_split: str = "test"
    max_examples: PositiveInt | None = None

    model_config = Strict.model_config | {"populate_by_name": True}

    _lines: dict[Loc, int] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _tools_for_tool_calls(self) -> "SuiteSpec":
        if self.task == "tool_call" and not self.tools:
            raise ValueError("a tool_call suite needs `tools: tools.json` (the tools offered on every request)")
        if self.tools and self.task != "tool_call":
            raise ValueError(f"`tools` is for task tool_call; this suite's task is {self.task}")
        return self

    def line(self, *loc: str | int) -> int | None:
        """The suite.yaml line of a key (its nearest written parent when the key is left out), if loaded
        from a file."""
        return _line_for(self._lines, tuple(loc)) if self._lines else None


#: Where labels may be written: the suite's own field, and the two places older suites used.
LABEL_FIELDS = ("labels", "variables.labels", "scorer.settings.labels")


def written_labels(spec: SuiteSpec) -> dict[str, Any]:
    """Each place of :data:`LABEL_FIELDS` that holds labels, with what it holds."""
    found = {"labels": spec.labels, "variables.labels": spec.variables.get("labels"),
             "scorer.settings.labels": spec.scorer.settings.get("labels")}
    return {name: value for name, value in found.items() if value is not None}


def _check_labels(spec: SuiteSpec, path: Path) -> None:
    """Labels written in two places must be the same labels (order aside), else neither is trusted."""
    written = list(written_labels(spec).items())
    first, a = written[0] if written else ("", None)
    for second, b in written[1:]:
        if not isinstance(a, list) or not isinstance(b, list) or {str(x) for x in a} != {str(x) for x in b}:
            where = spec.line(*first.split("."))
            raise ConfigError(path, f"{_short(a)} differs from {second} {_short(b)} (line "
                                    f"{spec.line(*second.split('.'))}); write the labels once, as `labels:`",
                              line=where, field=first)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 200 else text[:197] + "..."


def load_suite(path: Path) -> SuiteSpec:
    """Load ``suite.yaml``; errors (also labels written twice with different values) name file, line and field."""
    data, lines = parse_yaml(read_text(path), path)
    if data is None:
        raise ConfigError(path, "file is empty")
    spec = validate(SuiteSpec, data, path, lines)
    spec._lines = lines
    _check_labels(spec, path)
    return spec


class ToolSpec(Strict):
    """One tool of ``tools.json``: what OpenAI (``function``) and Anthropic (``input_schema``) both take."""

    name: str = Field(pattern=r"^[a-zA-Z0-9_-]{1,64}$", description="The name the model calls it by.")
    description: str = Field(min_length=1, description="What the tool does and when to use it.")
    parameters: dict[str, Any] = Field(description="JSON Schema of the arguments: an object schema.")


def load_tools(path: Path, suite_path: Path) -> list[dict[str, Any]]:
    """Read and check a ``tools.json``: a list of :class:`ToolSpec`, unique names, each ``parameters`` a
    valid JSON Schema of an object. Errors name the file and the tool."""
    import json

    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError
    from pydantic import ValidationError

    if not path.is_file():
        raise ConfigError(suite_path, f"tools file not found: {path}", field="tools")
    try:
        data = json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise ConfigError(path, f"invalid JSON: {exc.msg}", line=exc.lineno) from None
    if not isinstance(data, list) or not data:
        raise ConfigError(path, "expected a JSON list of tools, each {name, description, parameters}")
    seen: set[str] = set()
    tools: list[dict[str, Any]] = []
    for index, item in enumerate(data):
        try:
            tool = ToolSpec.model_validate(item)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in (index, *err["loc"]))
            raise ConfigError(path, err["msg"], field=where) from None
        if tool.name in seen:
            raise ConfigError(path, f"tool name {tool.name!r} appears twice", field=f"{index}.name")
        seen.add(tool.name)
        try:
            Draft202012Validator.check_schema(tool.parameters)
        except SchemaError as exc:
            raise ConfigError(path, f"tool {tool.name}: parameters is not a valid JSON Schema: {exc.message[:200]}",
                              field=f"{index}.parameters") from None
        if tool.parameters.get("type") != "object":
            raise ConfigError(path, f"tool {tool.name}: parameters must be an object schema (type: object)",
                              field=f"{index}.parameters.type")
        tools.append(tool.model_dump())
    return tools
