"""``evals recommend``."""

from __future__ import annotations

from pathlib import Path

import click

from evals.cli._common import open_project, project_option
from evals.policy.recommend import RecommendOptions, recommend
from evals.report import refresh_reports


@click.command("recommend")
@project_option
@click.argument("run", default="latest")
@click.option("--objective", type=click.Choice(["cost", "quality"]), default="cost", show_default=True,
              help="cost: the cheapest model non-inferior to the current one; quality: the best model under --budget.")
@click.option("--budget", type=click.FloatRange(min=0), help="With --objective quality: most a model may cost per 1k "
                                                             "calls (USD).")
@click.option("--tolerance", type=click.FloatRange(0, 1),
              help="Non-inferiority margin, 0 to 1 (default: policies/gate.yaml).")
@click.option("--min-examples", type=click.IntRange(min=1),
              help="Fewer examples than this keep a rule (default: policies/gate.yaml).")
@click.option("--routing-log", type=click.Path(dir_okay=False, path_type=Path),
              help="Project weekly spend from a routing log (JSON lines) instead of suite weekly_calls.")
@click.option("--replace-unmeasured", is_flag=True,
              help="A rule whose model this run did not measure chooses among the measured models (still held "
                   "to the rule's floor, latency, ceiling and context window) instead of keeping its model.")
@click.option("--trust-latency", is_flag=True,
              help="Exclude on a local model's latency even when the run measured it on a machine busier than its cores.")
@click.option("--dev-run", "dev_run", metavar="RUN",
              help="A run on the dev split (`evals run --split dev`; `latest`: the newest such run): cascade "
                   "thresholds are chosen there and confirmed on RUN.")
def recommend_cmd(project_dir, run, objective, budget, tolerance, min_examples, routing_log,
                  replace_unmeasured, trust_latency, dev_run) -> None:
    """Compile a run into reports/<run-id>/proposal.yaml and diff.md against the policy in force.

    A rule moves only to a cheaper model shown non-inferior to its current one on paired examples
    (see "How the recommender decides" in the README); every other rule keeps its model and diff.md
    says why.

    \b
    Example:
      evals recommend latest
      evals recommend 20261125-184501-3fa2 --objective quality --budget 2.50
      evals recommend latest --replace-unmeasured
      evals recommend latest --dev-run latest     # cascades: thresholds chosen on the dev run
    """
    project = open_project(project_dir)
    options = RecommendOptions(objective=objective, budget_per_1k_usd=budget, tolerance=tolerance,
                               min_examples=min_examples, routing_log=routing_log,
                               replace_unmeasured=replace_unmeasured, trust_latency=trust_latency,
                               dev_run=dev_run)
    result = recommend(project, run, options)
    click.echo(result.diff_markdown)
    changed = sum(d.changed for d in result.decisions)
    kinds: dict[str, int] = {}
    for d in result.decisions:
        kinds[d.kind] = kinds.get(d.kind, 0) + 1
    click.echo(f"{changed} of {len(result.decisions)} rules change ({', '.join(f'{k}: {n}' for k, n in kinds.items())}) "
               f"-> {result.proposal_path}")
    click.echo(f"approve with: evals approve {result.proposal_path} --by NAME")
    refresh_reports(project, result.run.folder, warn=lambda m: click.echo(f"warning: {m}", err=True))
