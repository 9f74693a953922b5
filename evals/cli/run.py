"""``evals run``."""

from __future__ import annotations

import math
import shlex
import sys
import time
from pathlib import Path
from typing import Any, Callable, Mapping

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from evals.cli._common import literal, make_console, open_project, print_line, print_warning, project_option, split_list
from evals.cli.progress import Eta, advance, fmt_duration, make_reporter
from evals.errors import UsageError
from evals.runner.run import RunOptions, run


class RichReporter:
    """A progress bar on stderr and one line per notice; its ETA is :class:`~evals.cli.progress.Eta`'s, as
    in the plain lines of a log."""

    def __init__(self, console: Console, clock: Callable[[], float] = time.monotonic):
        self.console = console
        self.clock = clock
        self.warnings: list[str] = []
        self.progress: Progress | None = None
        self.task: Any = None
        self.eta: Eta | None = None
        self._next_eta = 0.0

    def warn(self, message: str) -> None:
        self.warnings.append(message)
        print_warning(self.console, message)

    def start(self, total: int, cached: int, calls: Mapping[tuple[Any, Any], int] | None = None) -> None:
        self.console.print(f"{total} calls planned, {cached} served from the cache")
        self.eta = Eta(total, cached, self.clock, calls)
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[info]}", markup=False), TimeElapsedColumn(),
            TextColumn("ETA {task.fields[eta]}", markup=False),
            console=self.console, transient=False,
        )
        self.progress.start()
        self.task = self.progress.add_task("running", total=total, info="", eta="?")

    def advance(self, row: dict[str, Any]) -> None:
        if self.progress is None or self.eta is None:
            return
        advance(self.eta, row)
        fields = {"info": f"{row['model']} · {row['suite']}"}
        now = self.clock()
        if now >= self._next_eta or self.eta.done == self.eta.total:  # twice a second at most
            self._next_eta = now + 0.5
            fields["eta"] = fmt_duration(self.eta.remaining(now))
        self.progress.update(self.task, advance=1, **fields)

    def finish(self) -> None:
        if self.progress is not None:
            self.progress.stop()


def _fmt(value: float | None, spec: str, missing: str = "-") -> str:
    return missing if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def _failures(r: dict[str, Any]) -> list[str]:
    """The failure cells of a row: infra failures and answer failures apart when the aggregates carry
    them (``infra_failures``, ``answer_failures``, ``truncated``, ``refused``), else the errors."""
    calls = f"/{r['calls']}" if r.get("calls") else ""
    if "infra_failures" not in r:
        return [f"{r['errors']}{calls}"]
    infra = f"{r['infra_failures']}{calls}"
    if r.get("availability") is not None and r["infra_failures"]:
        infra += f" ({_fmt(r['availability'], '.1%')} ok)"
    answer = f"{r['answer_failures']}{calls}"
    kinds = [f"{r[k]} {k}" for k in ("truncated", "refused") if r.get(k)]
    if kinds:
        answer += f" ({', '.join(kinds)})"
    return [infra, answer]


def render_summary(rows: list[dict[str, Any]]) -> Table:
    """The run's table: quality with its 95% interval, failures, cost per 1k calls, p50/p95 latency.

    Infrastructure failures (availability, left out of quality) and answer failures (truncated or
    refused answers, which score 0) are shown apart. An unknown price shows as a yellow warning, never as
    $0; the warnings (unpriced models, suites too small to detect a 0.05 difference) are listed under it.
    """
    apart = any("infra_failures" in r for r in rows)
    failures = ("infra failures", "answer failures") if apart else ("errors",)
    table = Table(title="quality, cost and latency per suite and model")
    for column in ("suite", "model", "n", "quality [95% CI]", *failures, "cost / 1k calls", "p50 ms", "p95 ms"):
        table.add_column(column, justify="left" if column in ("suite", "model") else "right")
    notes: list[str] = []
    for r in rows:
        if r["cost_per_1k_usd"] is None:
            cost = "[bold yellow]! unknown price[/]"
        else:
            cost = f"${r['cost_per_1k_usd']:.4f}"
        cells = _failures(r)
        cells += ["-"] * (len(failures) - len(cells))
        table.add_row(
            literal(r["suite"]), literal(r["model"]), str(r["n"]),
            f"{_fmt(r['quality'], '.3f')} [{_fmt(r['ci_low'], '.3f')}, {_fmt(r['ci_high'], '.3f')}]",
            *cells, cost, _fmt(r["p50_ms"], ".0f"), _fmt(r["p95_ms"], ".0f"),
        )
        notes += [f"{r['suite']} / {r['model']}: {w}" for w in r.get("warnings", []) if w not in notes]
    if notes:
        table.caption = "\n".join(f"[yellow]warning:[/] {escape(n)}" for n in dict.fromkeys(notes))
        table.caption_justify = "left"
    return table


@click.command("run")
@project_option
@click.option("--suites", help="Comma-separated suite names (default: all).")
@click.option("--models", help="Comma-separated model ids from policies/models.yaml (default: all).")
@click.option("--split", help="Data split to run (default: each suite's default_split, usually test).")
@click.option("--limit", type=int, help="Only the first N examples of each suite.")
@click.option("--repeats", type=int, default=1, show_default=True, help="Samples per example.")
@click.option("--concurrency", type=int,
              help="At most this many calls in flight at once (default: each model's `concurrency` in "
                   "models.yaml; this only lowers it).")
@click.option("--no-cache", is_flag=True, help="Call the models even where the cache has an answer.")
@click.option("--reuse-errors", is_flag=True,
              help="Serve the failures recorded by earlier runs (rate limits, timeouts, rejected requests, "
                   "malformed replies) instead of asking again; by default they are retried.")
@click.option("--batch", is_flag=True,
              help="Send OpenAI/Anthropic calls as provider batch jobs (about half price, up to 24 h); "
                   "a restarted run resumes polling. Other models run as usual.")
@click.option("--baseline", help="Then print the paired change per model against this run: `last` (the previous run "
                                 "of the same suites and split), `approved` (the policy in force's evidence run) or a run id.")
def run_cmd(project_dir, suites, models, split, limit, repeats, concurrency, no_cache, reuse_errors, batch,
            baseline) -> None:
    """Run the task suites against the candidate models and write reports/<run-id>/.

    \b
    Example:
      evals run --suites inbox-triage --models smollm2-135m --limit 5
      evals run --suites inbox-triage --split dev --baseline last
      evals run --models gpt-4o-mini,claude-sonnet-4-6 --batch
    """
    console = make_console(stderr=True)
    project = open_project(project_dir)
    options = RunOptions(suites=names(suites, "--suites"), models=names(models, "--models"), split=split,
                         limit=limit, repeats=repeats, concurrency=concurrency, use_cache=not no_cache, batch=batch,
                         reuse_errors=reuse_errors)
    try:
        result = run(project, options, reporter=make_reporter(console, RichReporter))
    except KeyboardInterrupt:
        # Caught here, before click turns it into "Aborted": the answers received are in the cache.
        click.echo(f"\ninterrupted: every answer received so far is in the response cache; resume with:\n"
                   f"  {resume_command(project.root, options, baseline)}", err=True)
        sys.exit(130)
    from evals.aggregates import read_aggregates, summary_table  # imported during the calls (run.AFTER_THE_CALLS)
    from evals.report import compare_with

    out = make_console()
    out.print(render_summary(summary_table(read_aggregates(result.folder))))
    print_line(out, closing_line(result.run_id, result.manifest, str(result.folder)))
    if baseline:
        click.echo(compare_with(project, result.folder, baseline)[0])


def names(value: str | None, flag: str) -> list[str] | None:
    """A comma-separated list of names; None when the flag is not given, an error when it names nothing.

    >>> names("a, b", "--models"), names(None, "--models")
    (['a', 'b'], None)
    """
    if value is None:
        return None
    listed = split_list(value)
    if not listed:
        raise UsageError(f"{flag} {value!r} names nothing; give comma-separated names, or leave {flag} out for all")
    return listed


def resume_command(root: Path, options: RunOptions, baseline: str | None = None) -> str:
    """The ``evals run`` command that resumes ``options`` from the cache (``--no-cache`` dropped, so the
    answers already received are served instead of asked again).

    >>> resume_command(Path("/p"), RunOptions(models=["a", "b c"], limit=5))
    "evals run --project /p --models 'a,b c' --limit 5"
    """
    args = ["evals", "run", "--project", str(root)]
    for flag, value in (("--suites", options.suites), ("--models", options.models)):
        if value:
            args += [flag, ",".join(value)]
    for flag, value, default in (("--split", options.split, None), ("--limit", options.limit, None),
                                 ("--repeats", options.repeats, 1), ("--concurrency", options.concurrency, None)):
        if value != default:
            args += [flag, str(value)]
    args += [flag for flag, on in (("--reuse-errors", options.reuse_errors), ("--batch", options.batch)) if on]
    if baseline:
        args += ["--baseline", baseline]
    return shlex.join(args)


def closing_line(run_id: str, manifest: dict[str, Any], folder: str) -> str:
    """The last line of ``evals run``: rows, cache, and failures by class, so "0 errors" is never printed
    over truncated answers.

    >>> closing_line("r1", {"rows": 16, "cached_rows": 0, "errors_by_class": {"infra": 1, "answer": 7},
    ...                     "errors_by_kind": {"timeout": 1, "truncated": 7}}, "reports/r1")
    'run r1: 16 rows, 0 from the cache, 1 infra failure (1 timeout; re-run to retry), 7 answer failures (7 truncated) -> reports/r1'
    """
    by_class = manifest.get("errors_by_class") or {}
    by_kind = manifest.get("errors_by_kind") or {}
    answer_kinds = {"truncated", "refused"}

    def part(count: int, what: str, kinds: list[str], tail: str = "") -> str:
        detail = ", ".join(f"{by_kind[k]} {k}" for k in kinds if by_kind.get(k))
        inner = "; ".join(x for x in (detail, tail) if x)
        return f"{count} {what}{'' if count == 1 else 's'}" + (f" ({inner})" if count and inner else "")

    infra, answer = int(by_class.get("infra", 0)), int(by_class.get("answer", 0))
    infra_kinds = sorted(k for k in by_kind if k not in answer_kinds)
    return (f"run {run_id}: {manifest['rows']} rows, {manifest['cached_rows']} from the cache, "
            f"{part(infra, 'infra failure', infra_kinds, 're-run to retry' if infra else '')}, "
            f"{part(answer, 'answer failure', sorted(answer_kinds))} -> {folder}")
