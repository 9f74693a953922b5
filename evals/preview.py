"""``evals render``: the exact request one model gets for one example of a suite.

Built with :func:`evals.requests.build_request`, the function the runner uses, so what is shown is what
is sent (and hashed into the cache key): the resolved variant, messages or completion prompt,
generation parameters and JSON schema.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evals.config.models import ModelSpec, load_models
from evals.config.suite import load_suite
from evals.errors import UsageError
from evals.project import Project
from evals.prompts import PromptTemplate, RenderedPrompt
from evals.requests import example_request, variant_for
from evals.suites import Suite, discover, open_suite


def schema_source(template: PromptTemplate, suite: Suite) -> Path | None:
    """The file the JSON schema of a request comes from: the template's ``json_schema``, else the suite's
    ``schema`` (None without ``json_output``, or when neither is set); for a tool_call suite, its tools
    file (a call-object decoder is constrained to them)."""
    if suite.spec.tools:
        return suite.folder / suite.spec.tools
    header = template.header
    if not header.json_output:
        return None
    if header.json_schema:
        return template.path.parent / header.json_schema
    return suite.folder / suite.spec.schema_file if suite.spec.schema_file else None


@dataclass(frozen=True)
class Preview:
    """One model's request for one example, and where its parts come from."""

    suite: Suite
    model: ModelSpec
    example_id: str
    template: PromptTemplate
    request: RenderedPrompt

    @property
    def schema_file(self) -> Path | None:
        return schema_source(self.template, self.suite)

    def as_json(self) -> dict[str, Any]:
        """The canonical request (as hashed into the cache key) and where it comes from."""
        return {"suite": self.suite.name, "split": self.suite.split, "example": self.example_id,
                "model": self.model.id, "variant": str(self.template.path),
                "schema_file": str(self.schema_file) if self.schema_file else None,
                "request_sha256": self.request.sha256, "request": self.request.canonical()}


def _find_suite(project: Project, name: str) -> Path:
    paths = {load_suite(p).name: p for p in discover(project.suites_dir)}
    if name not in paths:
        known = ", ".join(sorted(paths)) or f"none under {project.suites_dir}"
        raise UsageError(f"unknown suite {name!r} (--suite); known: {known}")
    return paths[name]


def _example(suite: Suite, example_id: str, path: Path) -> Any:
    for example in suite.examples:
        if example.id == example_id:
            return example
    if example_id in suite.unscored_shots:
        raise UsageError(f"example {example_id!r} of suite {suite.name} is a few-shot example shown in the prompt, "
                         f"left out of scoring split {suite.split!r} (few_shot.exclude_from_scoring)")
    files = suite.spec.data.files or {}
    for split in files:
        if split != suite.split and any(e.id == example_id for e in open_suite(path, split=split).examples):
            raise UsageError(f"example {example_id!r} is in split {split!r} of suite {suite.name}, not "
                             f"{suite.split!r}: add --split {split}")
    first = ", ".join(e.id for e in suite.examples[:3])
    raise UsageError(f"no example {example_id!r} in split {suite.split!r} of suite {suite.name} (--example); "
                     f"ids look like: {first}")


def preview_request(project: Project, suite_name: str, model_id: str, example_id: str,
                    split: str | None = None) -> Preview:
    """The request ``model_id`` gets for example ``example_id`` of ``suite_name`` (split: the suite's default)."""
    models = load_models(project.models_file)
    if model_id not in models.ids:
        raise UsageError(f"unknown model {model_id!r} (--model); known: {', '.join(models.ids)}")
    spec = models.get(model_id)
    path = _find_suite(project, suite_name)
    suite_spec = load_suite(path)
    if split is not None and suite_spec.data.files is not None and split not in suite_spec.data.files:
        raise UsageError(f"suite {suite_name} has no split {split!r} (--split); splits: "
                         f"{', '.join(suite_spec.data.files)}")
    suite = open_suite(path, split=split)
    example = _example(suite, example_id, path)
    template = variant_for(project.prompts_dir, suite.spec.prompt, spec.id, spec.family)
    request = example_request(template, suite, example)
    return Preview(suite, spec, example.id, template, request)


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def format_preview(preview: Preview, root: Path) -> str:
    """Plain text: where the request comes from, its parameters and schema, then its messages or prompt."""
    p, tpl, spec = preview.request, preview.template, preview.model
    own = tpl.variant in (spec.id, spec.family)
    why = "" if own else f"; no {spec.id}.j2 or {spec.family}.j2, so the default"
    params = [f"max_tokens={p.max_tokens}", f"temperature={p.temperature}"]
    params += [f"{k}={json.dumps(v)}" for k, v in p.optional_sampling().items()]
    params.append(f"json_output={'true' if p.json_output else 'false'}")
    lines = [
        f"suite    {preview.suite.name}  split {preview.suite.split}  example {preview.example_id}",
        f"model    {spec.id}  ({spec.provider}, family {spec.family})",
        f"variant  {_relative(tpl.path, root)}  ({tpl.mode}{why})",
        f"params   {' '.join(params)}",
    ]
    if p.json_schema is not None:
        source = preview.schema_file
        lines.append(f"schema   {_relative(source, root) if source else '(inline)'} (printed last)")
    elif p.json_output:
        lines.append("schema   none: any JSON object")
    if p.tools is not None:
        where = _relative(preview.suite.folder / str(preview.suite.spec.tools), root)
        lines.append(f"tools    {where}: {', '.join(t['name'] for t in p.tools)} (sent with the request)")
    lines.append(f"request  sha256 {p.sha256}")
    if p.prompt is not None:
        lines += ["", "--- prompt", p.prompt,
                  f"--- end of prompt ({'ends with ' + repr(p.prompt[-1]) if p.prompt else 'empty'})"]
    else:
        for message in p.messages or ():
            lines += ["", f"--- {message['role']}", message["content"]]
    if p.json_schema is not None:
        lines += ["", "--- json schema", json.dumps(p.json_schema, ensure_ascii=False, indent=2)]
    return "\n".join(lines)
