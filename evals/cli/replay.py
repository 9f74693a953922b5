"""``evals replay``: re-route logged calls under another policy and project weekly spend and quality."""

from __future__ import annotations

from pathlib import Path

import click

from evals.cli._common import open_project, project_option
from evals.policy.replay import render_markdown, replay_project
from evals.spend import read_logs


@click.command("replay")
@click.argument("logs", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--policy", "policy_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The policy to replay, e.g. a proposal.")
@click.option("--baseline", "baseline_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The policy the logs were routed under, for actual quality (default policies/current.yaml).")
@click.option("--run", "run", default=None,
              help="The evidence run whose token counts price calls that move to another model "
                   "(default: the run the policy was compiled from, when it is in reports/).")
@project_option
def replay_cmd(logs, policy_path, baseline_path, run, project_dir) -> None:
    """Project weekly spend (and quality, from the rules' evidence) of POLICY against what the LOGS spent.

    Each call is re-priced from its own logged tokens; a call that moves to another model is priced
    from the token ratio between the two models in the evidence run. Unknown stays unknown.

    \b
    Example:
      evals replay logs/routing.jsonl --policy reports/latest/proposal.yaml
      evals replay logs/routing-*.jsonl --policy policies/current.yaml   # the unchanged policy
    """
    project = open_project(project_dir)
    if baseline_path is None and project.policy_file.is_file():
        baseline_path = project.policy_file
    result = replay_project(project, read_logs(logs), policy_path, baseline_path=baseline_path, run=run)
    click.echo(render_markdown(result))
