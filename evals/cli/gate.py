"""``evals gate``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from evals.cli._common import open_project, project_option
from evals.errors import EvalsError
from evals.policy.gate import error_markdown, gate
from evals.runner.store import write_text_atomic


@click.command("gate")
@project_option
@click.option("--base", help="Git revision to compare with (e.g. origin/main); signatures are checked against "
                             "policies/allowed_signers as it was there.")
@click.option("--junit", type=click.Path(dir_okay=False, path_type=Path), help="Write JUnit XML here.")
@click.option("--markdown", "markdown_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the pull-request comment here (the error line too, when the gate cannot run).")
def gate_cmd(project_dir, base, junit, markdown_path) -> None:
    """CI check: the policy in force is the approved one, approvals are signed and chained, every rule's
    evidence re-derives from its bundle on unchanged inputs, spend is in budget.

    Prints a Markdown summary for a pull-request comment; exits 1 when a check fails, 2 on bad input.

    \b
    Example:
      evals gate --base origin/main --junit reports/policy-gate.xml --markdown gate.md
    """
    try:
        result = gate(open_project(project_dir), base=base, junit=junit)
    except EvalsError as exc:
        if markdown_path is not None:
            write_text_atomic(markdown_path, error_markdown(str(exc)))
        raise
    if markdown_path is not None:
        write_text_atomic(markdown_path, result.markdown)
    click.echo(result.markdown)
    sys.exit(result.exit_code)
