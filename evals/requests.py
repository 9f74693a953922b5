"""The one function that builds a model's request: what is evaluated is what is shipped.

Both the runner (for every example of a suite) and the runtime client (for a caller's inputs) build
the request a model receives here, so a template, its suite variables (labels, shots, style samples,
context files), the suite's JSON schema and its tools reach the model the same way in both places.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evals.prompts import PromptTemplate, RenderedPrompt, load_template, render, resolve_variant

if TYPE_CHECKING:
    from evals.suites import Example, Suite

#: The suite tasks whose requests ask for the answer's confidence (:attr:`RenderedPrompt.confidence`): a
#: classification answer is one label, whose probability a cascade can gate on.
CONFIDENCE_TASKS = frozenset({"classification"})


def variant_for(prompts_dir: Path, prompt: str, model_id: str, family: str) -> PromptTemplate:
    """The template a model uses for ``prompt``: ``<model id>.j2``, else ``<family>.j2``, else ``default.j2``."""
    return load_template(resolve_variant(prompts_dir, prompt, model_id, family))


def build_request(template: PromptTemplate, variables: dict[str, Any],
                  schema: dict[str, Any] | None = None, tools: list[dict[str, Any]] | None = None, *,
                  task: str | None = None) -> RenderedPrompt:
    """Render ``template`` with ``variables`` (a suite's :meth:`~evals.suites.Suite.variables` for one
    example, or the same suite variables merged with a caller's inputs), the suite's JSON schema and, for a
    ``tool_call`` suite, its tools (:attr:`~evals.suites.Suite.tools`), which travel with the request.

    ``task`` is the suite's task (the runtime: the rule's suite's, else the caller's descriptor's): a
    request of a :data:`CONFIDENCE_TASKS` task asks for the answer's confidence.
    """
    rendered = render(template, variables, suite_schema=schema, tools=tools)
    return replace(rendered, confidence=True) if task in CONFIDENCE_TASKS else rendered


def example_request(template: PromptTemplate, suite: "Suite", example: "Example") -> RenderedPrompt:
    """The request ``template`` makes of one example of ``suite``: :func:`build_request` with the suite's
    variables for it, its schema, its tools and its task (the runner, ``evals validate``, ``evals render``
    and distillation all build it here, so none can leave one of them out)."""
    return build_request(template, suite.variables(example), suite.schema, suite.tools, task=suite.spec.task)
