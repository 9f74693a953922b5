"""``evals replay``: re-route logged calls under another policy and project weekly spend and quality."""

from __future__ import annotations

from pathlib import Path

import click

from evals.cli._common import open_project, project_option
from evals.policy.replay import render_markdown, replay
from evals.spend import read_logs


@click.command("replay")
@click.argument("logs", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--policy", "policy_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The policy to replay, e.g. a proposal.")
@click.option("--baseline", "baseline_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The policy the logs were routed under, for actual quality (default policies/current.yaml).")
@project_option
def replay_cmd(logs, policy_path, baseline_path, project_dir) -> None:
    """Project weekly spend (and quality, from the rules' evidence) of POLICY against what the LOGS spent.

    \b
    Example:
      evals replay logs/routing.jsonl --policy reports/latest/proposal.yaml
    """
    project = open_project(project_dir)
    if baseline_path is None and project.policy_file.is_file():
        baseline_path = project.policy_file
    result = replay(read_logs(logs), policy_path, models_path=project.models_file, baseline_path=baseline_path)
    click.echo(render_markdown(result))
