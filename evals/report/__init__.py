"""Reports of a run: a self-contained HTML page for reviewers and a Markdown summary for pull requests;
comparisons between two runs; the run history (``reports/index.html``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from evals.report.html import (ReportInputs, build_report, project_of, render_html, write_comparison, write_report,
                               write_run_report, write_run_views)
from evals.report.markdown import render_markdown

__all__ = ["ReportInputs", "build_report", "compare_with", "project_of", "refresh_reports", "render_html",
           "render_markdown", "report_run", "write_comparison", "write_report", "write_run_report", "write_run_views"]


def report_run(project: Any, run_id: str, *, baseline: str | None = None,
               logs: list[Path] | None = None, out: Path | None = None) -> dict[str, Path]:
    """Write the report of ``run_id`` (or ``latest``) in a project (into ``out`` when given) and rewrite
    ``reports/index.html``.

    With ``baseline`` (a run id, ``last`` for the previous run of the same suites and split, or
    ``approved`` for the evidence run of the policy in force) the comparison page
    ``compare-<baseline>.html`` (and ``.md``) is written instead, beside the run's own report.
    """
    from evals.report.index import resolve_baseline, write_index
    from evals.runner.store import run_dir

    folder = run_dir(project.reports_dir, run_id)
    if baseline:
        paths = write_comparison(folder, resolve_baseline(project, folder, baseline), project=project, logs=logs,
                                 out=out)
    else:
        target = {"html": out / "report.html", "markdown": out / "summary.md"} if out is not None else None
        paths = write_report(folder, logs=logs, project=project, paths=target)
    paths["index"] = write_index(project)
    return paths


def compare_with(project: Any, folder: Path, baseline: str) -> tuple[str, dict[str, Path]]:
    """``evals run --baseline``: the paired change per suite and model of run ``folder`` against
    ``baseline`` (``last``, ``approved`` or a run id) as terminal text, and the comparison page written."""
    from evals.report.compare import compare_runs, format_changes
    from evals.report.index import resolve_baseline, write_index
    from evals.runner.store import read_manifest, read_results

    base = resolve_baseline(project, folder, baseline)
    base_manifest, manifest, results = read_manifest(base), read_manifest(folder), read_results(folder)
    comparison = compare_runs(results, read_results(base), baseline_id=base_manifest.get("run_id", base.name),
                              manifest=manifest, baseline_manifest=base_manifest)
    paths = write_comparison(folder, base, project=project, results=results, manifest=manifest)
    paths["index"] = write_index(project)
    return format_changes(comparison), paths


def refresh_reports(project: Any, folder: Path, warn: Callable[[str], None] | None = None) -> dict[str, Path] | None:
    """Rewrite a run's ``report.html`` and ``summary.md`` and ``reports/index.html``: what ``evals recommend``
    calls last, so the report opens with the proposal it just wrote. A failure is a warning (the proposal
    is written already) naming the command that retries it; without ``warn`` it raises."""
    from evals.report.index import write_index

    try:
        paths = write_report(folder, project=project)
        paths["index"] = write_index(project)
        return paths
    except Exception as exc:
        if warn is None:
            raise
        warn(f"report not refreshed ({type(exc).__name__}: {exc}); retry with `evals report {folder.name}`")
        return None
