"""``evals approve``."""

from __future__ import annotations

from pathlib import Path

import click

from evals.cli._common import open_project, project_option
from evals.policy.approve import approve


@click.command("approve")
@project_option
@click.argument("proposal", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--by", "by", required=True,
              help="Who approves: your principal in policies/allowed_signers (recorded in policies/approvals.jsonl).")
@click.option("--key", type=click.Path(dir_okay=False, path_type=Path),
              help="SSH key that signs the approval (private key, or public key held by ssh-agent).")
@click.option("--accept-lower-floor", is_flag=True,
              help="Approve rules whose require.quality_floor is below their suites' quality_floor.")
@click.option("--force-base", is_flag=True, help="Approve even if the policy in force changed since the proposal.")
def approve_cmd(project_dir, proposal, by, key, accept_lower_floor, force_base) -> None:
    """Verify a proposal's evidence, record the signed approval, then write policies/current.yaml.

    Also writes the evidence bundle under policies/evidence/: commit it with approvals.jsonl and
    current.yaml. Exits 1 when the evidence run is missing or was altered since the proposal was compiled.

    \b
    Example:
      evals approve reports/20261125-184501-3fa2/proposal.yaml --by ada@example.com --key ~/.ssh/id_ed25519
    """
    project = open_project(project_dir)
    result = approve(project, proposal, by, key=key, force_base=force_base, accept_lower_floor=accept_lower_floor)
    record = result.record
    if result.resumed:
        click.echo(f"finished the approval recorded by {record['approver']} at {record['time']}: "
                   f"{result.policy_path} written")
        return
    signed = "signed" if record.get("signature") else "unsigned"
    click.echo(f"approved by {record['approver']} ({signed}) on run {record['evidence']['run_id']}: "
               f"{len(record['diff'])} rule changes -> {result.policy_path}; recorded in {result.log_path}; "
               f"evidence bundle {record['evidence']['bundle']}")
