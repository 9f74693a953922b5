"""``evals route``: print the router's decision for a task descriptor, and why."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import get_args

import click

from evals.cli._common import open_project, project_option, split_list
from evals.config.policy import load_router
from evals.config.suite import TaskType
from evals.secrets import key_vars, scrub
from evals.errors import UsageError
from evals.router import Decision, NoRoute


def _tasks(value) -> list[str]:
    """The task types a rule's ``when.task`` names (a string, a list, or nothing)."""
    return [value] if isinstance(value, str) else [str(v) for v in value or []]


def format_decision(d: Decision) -> str:
    """The decision as aligned lines for a terminal."""
    head = d.chain[0]
    where = f" via {head.base_url or head.provider}" if head.provider else ""
    lines = [f"rule:      {d.rule}", f"model:     {head.model}{where}" + (f" (family {head.family})" if head.family else ""),
             f"prompt:    {d.prompt or '-'}" + (f" -> {d.variant}" if d.variant else "")]
    def shown(c) -> str:
        return (f"{c.model} ({c.base_url or c.provider}{', ' + Path(c.variant).name if c.variant else ''})" if c.provider
                else c.model)

    if d.cascade:
        lines.append("cascade:   " + " -> ".join(shown(c) + (f" if confidence >= {c.accept_confidence:g}"
                                                             if c.accept_confidence is not None else "")
                                                 for c in d.cascade))
    chain = [shown(c) for c in d.chain[max(len(d.cascade), 1):]]
    lines += [f"fallbacks: {' -> '.join(chain) or '-'}", f"why:       {d.why}"]
    return "\n".join(lines)


@click.command("route")
@click.option("--task", required=True, help="Task type, e.g. classification.")
@click.option("--context-tokens", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--latency-ms", type=click.IntRange(min=0), default=None, help="The caller's latency budget.")
@click.option("--cost-ceiling", "cost_ceiling_usd", type=click.FloatRange(min=0), default=None, help="Most a call may cost (USD).")
@click.option("--volume", type=click.Choice(["low", "medium", "high"]), default=None)
@click.option("--tag", "tags", multiple=True, help="A tag the call carries (repeatable).")
@click.option("--model", default=None, help="Override: pin this model.")
@click.option("--fallbacks", default=None, help="Override: comma-separated fallback chain ('' for none).")
@click.option("--forbid-provider", "forbid", default=None, help="Override: comma-separated providers not to use.")
@click.option("--policy", "policy_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Policy file (default policies/current.yaml).")
@click.option("--json", "as_json", is_flag=True, help="Print the decision as JSON.")
@project_option
def route_cmd(task, context_tokens, latency_ms, cost_ceiling_usd, volume, tags, model, fallbacks, forbid, policy_path,
              as_json, project_dir) -> None:
    """Print the model, endpoint, prompt variant and fallbacks a descriptor routes to, and why.

    \b
    Example:
      evals route --task classification --context-tokens 800 --volume high
      evals route --task writing --tag voice --forbid-provider anthropic
    """
    project = open_project(project_dir)
    router = load_router(policy_path or project.policy_file, project.models_file, project.prompts_dir)
    known = sorted({*get_args(TaskType), *(t for r in router.rules for t in _tasks(r[1].get("task")))})
    if task not in known:  # a typo would silently route to the default
        raise UsageError(f"--task {task!r} is not a task type the harness or a rule knows; use one of: {', '.join(known)}")
    overrides = {"model": model, "forbid_providers": split_list(forbid) or ()}
    if fallbacks is not None:
        overrides["fallbacks"] = split_list(fallbacks) or []
    try:
        decision = router.route(task=task, context_tokens=context_tokens, latency_ms=latency_ms,
                                cost_ceiling_usd=cost_ceiling_usd, volume=volume, tags=list(tags), **overrides)
    except (NoRoute, ValueError) as exc:
        raise UsageError(str(exc)) from None
    names = key_vars(extra=[m.get("api_key_env") for m in (router.models or {}).values() if isinstance(m, dict)])
    if as_json:
        click.echo(scrub(json.dumps({**asdict(decision), "model": decision.model, "endpoint": decision.endpoint,
                                      "fallbacks": decision.fallbacks}, indent=2), names))
    else:
        click.echo(scrub(format_decision(decision), names))
