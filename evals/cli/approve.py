"""``evals approve``."""

from __future__ import annotations

from pathlib import Path

import click

from evals.cli._common import open_project, project_option
from evals.policy.approve import approve


@click.command("approve")
@project_option
@click.argument("proposal", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--by", "by", required=True, help="Who approves (recorded in policies/approvals.jsonl).")
@click.option("--force-base", is_flag=True, help="Approve even if the policy in force changed since the proposal.")
def approve_cmd(project_dir, proposal, by, force_base) -> None:
    """Verify a proposal's evidence, write policies/current.yaml and record the approval.

    Exits 1 when the evidence run is missing or was altered since the proposal was compiled.

    \b
    Example:
      evals approve reports/20261125-184501-3fa2/proposal.yaml --by "Ada Lovelace"
    """
    project = open_project(project_dir)
    result = approve(project, proposal, by, force_base=force_base)
    record = result.record
    click.echo(f"approved by {record['approver']} on run {record['evidence']['run_id']}: "
               f"{len(record['diff'])} rule changes -> {result.policy_path}; recorded in {result.log_path}")
