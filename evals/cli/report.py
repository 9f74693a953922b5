"""``evals report``."""

from __future__ import annotations

from pathlib import Path

import click

from evals.cli._common import open_project, project_option
from evals.errors import UsageError


@click.command("report")
@project_option
@click.argument("run_id", default="latest")
@click.option("--baseline", help="Compare against this run (a run id or folder; `last`: the previous run of the same "
                                 "suites and split; `approved`: the evidence run of the policy in force) and write "
                                 "reports/<run>/compare-<baseline>.html.")
@click.option("--logs", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Routing log(s) for the spend-by-family section; repeat for several files.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write the report into (default: the run's folder, which must be under reports/).")
def report_cmd(project_dir, run_id, baseline, logs, out) -> None:
    """Write report.html and summary.md for a run (default: the latest), or with --baseline its comparison
    page; rewrites reports/index.html.

    A run folder outside the project's reports/ is read, but its report is written only where --out says.

    \b
    Example:
      evals report latest --baseline approved
      evals report latest --baseline 20261124-101500-ab12
      evals report 20261125-184501-3fa2 --logs logs/routing.jsonl
      evals report /tmp/ci-artifacts/20261125-184501-3fa2 --out /tmp/review
    """
    from evals.report import report_run
    from evals.runner.store import run_dir

    project = open_project(project_dir)
    if out is None:
        folder = run_dir(project.reports_dir, run_id).resolve()
        if project.reports_dir.resolve() not in folder.parents:
            raise UsageError(f"{folder}: outside {project.reports_dir}; its report is written there only with "
                             "--out DIR (or copy the run under reports/)")
    paths = report_run(project, run_id, baseline=baseline, logs=list(logs), out=out)
    click.echo(f"wrote {paths['html']}")
    click.echo(f"wrote {paths['markdown']}")
    click.echo(f"wrote {paths['index']}")
