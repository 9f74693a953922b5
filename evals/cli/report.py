"""``evals report``."""

from __future__ import annotations

from pathlib import Path

import click

from evals.cli._common import open_project, project_option


@click.command("report")
@project_option
@click.argument("run_id", default="latest")
@click.option("--baseline", help="Compare against this run (a run id or folder; `last`: the previous run of the same "
                                 "suites and split; `approved`: the evidence run of the policy in force) and write "
                                 "reports/<run>/compare-<baseline>.html.")
@click.option("--logs", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Routing log(s) for the spend-by-family section; repeat for several files.")
def report_cmd(project_dir, run_id, baseline, logs) -> None:
    """Write report.html and summary.md for a run (default: the latest), or with --baseline its comparison
    page; rewrites reports/index.html.

    \b
    Example:
      evals report latest --baseline approved
      evals report latest --baseline 20261124-101500-ab12
      evals report 20261125-184501-3fa2 --logs logs/routing.jsonl
    """
    from evals.report import report_run

    project = open_project(project_dir)
    paths = report_run(project, run_id, baseline=baseline, logs=list(logs))
    click.echo(f"wrote {paths['html']}")
    click.echo(f"wrote {paths['markdown']}")
    click.echo(f"wrote {paths['index']}")
