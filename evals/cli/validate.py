"""``evals validate``."""

from __future__ import annotations

import click

from evals.cli._common import open_project, project_option
from evals.validate import validate_project


@click.command("validate")
@project_option
def validate_cmd(project_dir) -> None:
    """Check every file a user edits: models, suites and their data, prompts, the policy.

    Beyond loading each file as a run would, it checks each suite's data against the suite: gold labels
    against `labels:`, extraction gold against the suite's JSON schema, the answer schema's label enum
    against the labels, `rule:` against the policy, and shots taken from a scored split. Exits 2 with
    one line naming file, line and field at the first problem. Warnings (on stderr, exit 0): a model
    with no variant of its own for a prompt, and schema keywords its constrained decoding cannot
    enforce. On success it prints the examples of each suite and split.

    \b
    Example:
      evals validate
      evals validate --project path/to/project
    """
    project = open_project(project_dir)
    checked = validate_project(project)
    for warning in checked.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"ok: {checked.summary()}")
