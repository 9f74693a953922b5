"""``evals validate``."""

from __future__ import annotations

import click

from evals.cli._common import open_project, project_option
from evals.validate import validate_project


@click.command("validate")
@project_option
def validate_cmd(project_dir) -> None:
    """Check every file a user edits: models, suites and their data, prompts, the policy.

    Exits 2 with one line naming file, line and field at the first problem.

    \b
    Example:
      evals validate
    """
    project = open_project(project_dir)
    checked = validate_project(project)
    click.echo(f"ok: {checked.summary()}")
