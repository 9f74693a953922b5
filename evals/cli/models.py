"""``evals models``."""

from __future__ import annotations

import click
from rich.table import Table

from evals.cli._common import literal, make_console, open_project, project_option
from evals.config.models import load_models
from evals.providers import availability

_STATES = ("missing key", "endpoint unreachable", "extra not installed", "not built yet")


def state_label(ready: bool, reason: str) -> str:
    """A short state for the table: ``ready``, one of the known kinds, or ``unavailable``.

    >>> state_label(False, "missing key: set OPENAI_API_KEY")
    'missing key'
    >>> state_label(True, "")
    'ready'
    """
    if ready:
        return "ready"
    return next((s for s in _STATES if reason.startswith(s)), "unavailable")


@click.command("models")
@project_option
def models_cmd(project_dir) -> None:
    """List the candidate models and whether each can run here (and if not, what to do).

    States: ready; missing key (names the environment variable); endpoint unreachable (names the
    URL, probed with a 1 s TCP connect); extra not installed (names the pip command).

    \b
    Example:
      evals models
    """
    project = open_project(project_dir)
    table = Table(title=literal(project.models_file))
    for column in ("id", "provider", "model", "family", "context", "state", "what to do"):
        table.add_column(column)
    from evals.distill.ensure import resolve_artifacts  # a distilled model's folder is read from the project root

    for spec in resolve_artifacts(project, load_models(project.models_file)).models:
        state = availability(spec)
        label = state_label(state.ready, state.reason)
        fix = state.reason.split(": ", 1)[1] if ": " in state.reason and label != "unavailable" else state.reason
        table.add_row(literal(spec.id), spec.provider, literal(spec.model), literal(spec.family), str(spec.context_window),
                      "[green]ready[/]" if state.ready else f"[red]{label}[/]", literal(fix))
    make_console().print(table)
