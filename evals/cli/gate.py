"""``evals gate``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from evals.cli._common import open_project, project_option
from evals.policy.gate import gate


@click.command("gate")
@project_option
@click.option("--base", help="Git revision to compare the policy with (e.g. origin/main).")
@click.option("--junit", type=click.Path(dir_okay=False, path_type=Path), help="Write JUnit XML here.")
def gate_cmd(project_dir, base, junit) -> None:
    """CI check: the policy in force is the approved one, changed rules carry evidence, spend is in budget.

    Prints a Markdown summary for a pull-request comment; exits 1 when a check fails.

    \b
    Example:
      evals gate --base origin/main --junit reports/policy-gate.xml
    """
    project = open_project(project_dir)
    result = gate(project, base=base, junit=junit)
    click.echo(result.markdown)
    sys.exit(result.exit_code)
