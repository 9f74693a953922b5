"""Reports of a run: a self-contained HTML page for reviewers and a Markdown summary for pull requests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evals.report.html import ReportInputs, build_report, render_html, write_report, write_run_report
from evals.report.markdown import render_markdown

__all__ = ["ReportInputs", "build_report", "render_html", "render_markdown", "report_run", "write_report",
           "write_run_report"]


def report_run(project: Any, run_id: str, *, baseline: str | None = None,
               logs: list[Path] | None = None, out: Path | None = None) -> dict[str, Path]:
    """Write the report of ``run_id`` (or ``latest``) in a project, optionally against a baseline run, into
    the run folder (or ``out``)."""
    from evals.errors import UsageError
    from evals.runner.store import run_dir

    folder = run_dir(project.reports_dir, run_id)
    baseline_folder = run_dir(project.reports_dir, baseline) if baseline else None
    if baseline_folder is not None and baseline_folder.resolve() == folder.resolve():
        raise UsageError(f"--baseline names the run itself ({folder.name}); pass an earlier run id")
    return write_report(folder, baseline_folder=baseline_folder, logs=logs, out=out)
