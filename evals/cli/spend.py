"""``evals spend``: share of spend and tokens per model family and model, per ISO week."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from evals.cli._common import literal, make_console
from evals.runner.store import write_text_atomic
from evals.spend import failover_counts, format_cell, read_logs, render_markdown, spend_breakdown, spend_chart_svg


def _table(title: str, frame) -> Table:
    table = Table(title=title)
    for column in frame.columns:
        table.add_column(column, justify="left" if frame[column].dtype == object else "right")
    for row in frame.itertuples(index=False):
        table.add_row(*(literal(format_cell(v, c)) for v, c in zip(row, frame.columns)))
    return table


@click.command("spend")
@click.argument("logs", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--week", default=None, help="Only this ISO week, e.g. 2026-W48.")
@click.option("--markdown", is_flag=True, help="Print Markdown instead of terminal tables.")
@click.option("--svg", "svg_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write a bar chart of the family shares (self-contained SVG).")
def spend_cmd(logs, week, markdown, svg_path) -> None:
    """Share of spend and of tokens per model family and per model, per week; failovers per rule.

    \b
    Example:
      evals spend logs/routing-*.jsonl --week 2026-W48 --markdown
    """
    frame = read_logs(logs)
    if markdown:
        click.echo(render_markdown(frame, week))
    else:
        console = make_console()
        for title, table in (("per model family", spend_breakdown(frame, "family", week)),
                             ("per model", spend_breakdown(frame, "model", week)),
                             ("failovers per rule", failover_counts(frame, week))):
            console.print(_table(title, table))
    if svg_path is not None:
        write_text_atomic(svg_path, spend_chart_svg(spend_breakdown(frame, "family", week), week=week) + "\n")
        click.echo(f"chart written to {svg_path}", err=True)
