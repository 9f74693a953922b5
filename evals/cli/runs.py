"""``evals runs``: the run history in a terminal (the list ``reports/index.html`` shows)."""

from __future__ import annotations

import json

import click

from evals.cli._common import open_project, project_option


def format_runs(data: dict) -> str:
    """The history as aligned text, newest first: one line per run, one indented line per suite and model.

    >>> print(format_runs({"runs": [{"folder": "r2", "run_id": "r2", "started_at": "2026-01-02T10:00:00+00:00",
    ...     "splits": {"s": "dev"}, "suites": ["s"], "models": ["m"], "commit": "0123456789abcdef", "dirty": False,
    ...     "rows": 4, "infra_failures": 0, "answer_failures": 1, "approved": "in force", "proposal": True,
    ...     "quality": [{"suite": "s", "model": "m", "split": "dev", "value": 0.5, "ci_low": 0.2, "ci_high": 0.8, "n": 4}],
    ...     "comparisons": {"r1": "r2/compare-r1.html"}, "report": "r2/report.html", "notes": []}], "notes": []}))
    r2  2026-01-02 10:00  dev  s  m  commit 0123456789ab  4 rows, 0 infra / 1 answer failures  ✔ in force  proposal
        s / m (dev): 0.500 [0.200, 0.800] n=4
        compared with: r1
    """
    from evals.report.format import fmt_ci

    lines = []
    for r in data["runs"]:
        splits = ", ".join(sorted(set(r["splits"].values()))) or "-"
        commit = f"commit {r['commit'][:12]}{' (dirty)' if r.get('dirty') else ''}" if r.get("commit") else "no commit"
        marks = [m for m in (("✔ in force" if r.get("approved") == "in force" else r.get("approved")),
                             "proposal" if r.get("proposal") else None) if m]
        started = (r.get("started_at") or "-").replace("T", " ")[:16]
        head = (f"{r['run_id']}  {started}  {splits}  {','.join(r['suites']) or '-'}  {','.join(r['models']) or '-'}  "
                f"{commit}  {r['rows']} rows, {r['infra_failures']} infra / {r['answer_failures']} answer failures")
        lines.append("  ".join([head, *marks]))
        for q in r["quality"]:
            lines.append(f"    {q['suite']} / {q['model']} ({q['split']}): {fmt_ci(q['value'], q['ci_low'], q['ci_high'])} "
                         f"n={q['n']}")
        if not r["quality"] and r.get("notes"):
            lines.append(f"    {r['notes'][0]}")
        if r.get("comparisons"):
            lines.append("    compared with: " + ", ".join(sorted(r["comparisons"])))
    if not data["runs"]:
        lines.append("no complete run yet; `evals run` writes one")
    lines += [f"note: {n}" for n in data.get("notes", [])]
    return "\n".join(lines)


@click.command("runs")
@project_option
@click.option("--json", "as_json", is_flag=True, help="Print the history as JSON (for scripts).")
def runs_cmd(project_dir, as_json) -> None:
    """List every complete run, newest first: suites, split, models, commit, quality per suite and model
    with its 95% interval, and the run the policy in force was approved on. Rewrites reports/index.html.

    \b
    Example:
      evals runs
      evals runs --json | jq '.runs[0].quality'
    """
    from evals.report.index import history, render_index
    from evals.runner.store import write_text_atomic

    project = open_project(project_dir)
    data = history(project)
    if project.reports_dir.is_dir():
        write_text_atomic(project.reports_dir / "index.html", render_index(data))
    if as_json:
        out = {k: v for k, v in data.items() if k != "trends"}  # the trends repeat each run's quality
        click.echo(json.dumps(out, indent=2, ensure_ascii=False, allow_nan=False))
    else:
        click.echo(format_runs(data))
