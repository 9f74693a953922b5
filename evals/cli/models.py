"""``evals models``."""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from evals.cli._common import open_project, project_option
from evals.config.models import load_models
from evals.providers import availability


@click.command("models")
@project_option
def models_cmd(project_dir) -> None:
    """List the candidate models and whether each can run here (and if not, what to do).

    \b
    Example:
      evals models
    """
    project = open_project(project_dir)
    table = Table(title=str(project.models_file))
    for column in ("id", "provider", "model", "family", "context", "state"):
        table.add_column(column)
    for spec in load_models(project.models_file).models:
        state = availability(spec)
        table.add_row(spec.id, spec.provider, spec.model, spec.family, str(spec.context_window),
                      "[green]ready[/]" if state.ready else f"[red]{state.reason}[/]")
    Console().print(table)
