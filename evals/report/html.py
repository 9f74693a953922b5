"""Build a run's report: gather the views, render ``report.html`` (one self-contained file) and ``summary.md``.

The HTML is rendered by Jinja with autoescaping on; charts are inline SVG built in Python; the
drill-down rows travel as a JSON data island whose ``<``, ``>`` and ``&`` are escaped, and the page's
script writes every value with ``textContent``. Nothing on the page is fetched from a network.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evals.report import charts, format as fmt
from evals.report.compare import compare_runs
from evals.report.drill import DEFAULT_BYTE_BUDGET, DEFAULT_TEXT_LIMIT, drilldown
from evals.report.inputs import report_aggregates, read_proposal, read_spend
from evals.report.views import headline, suite_views

REPORT_FORMAT = 1
TEMPLATES = Path(__file__).parent / "templates"


@dataclass
class ReportInputs:
    """Everything one report is built from; only ``manifest`` and ``results`` are required.

    ``aggregates`` defaults to the folder's ``aggregates.parquet``, or is computed from ``results`` (and
    the folder's ``baselines.parquet``) by :func:`evals.aggregates.aggregate`: every number shown is an
    aggregates value.
    """

    manifest: dict[str, Any]
    results: Any  # pandas.DataFrame
    folder: Path | None = None
    baseline: Any = None  # pandas.DataFrame of the baseline run
    baseline_id: str | None = None
    logs: list[Path] = field(default_factory=list)
    byte_budget: int = DEFAULT_BYTE_BUDGET
    text_limit: int = DEFAULT_TEXT_LIMIT
    aggregates: Any = None  # pandas.DataFrame of aggregates.parquet
    project: Any = None  # the evals.project.Project the run belongs to: policy in force, approval log
    baseline_manifest: dict[str, Any] | None = None


def _clean(value: Any) -> Any:
    """NaN -> None throughout, so the data island is strict JSON."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def json_island(data: Any) -> str:
    """JSON safe to place inside ``<script type="application/json">``: no ``<``, ``>`` or ``&`` survive.

    >>> json_island({"x": "</script><b>&"})
    '{"x": "\\\\u003c/script\\\\u003e\\\\u003cb\\\\u003e\\\\u0026"}'
    """
    return _escape_island(json.dumps(_clean(data), ensure_ascii=False, allow_nan=False))


def _escape_island(text: str) -> str:
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _meta(manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest fields the page shows, each None when an older or hand-written manifest lacks it."""
    git = manifest.get("git") if isinstance(manifest.get("git"), dict) else {}
    return {"commit": git.get("commit"), "dirty": git.get("dirty"), "started_at": manifest.get("started_at"),
            "finished_at": manifest.get("finished_at"), "harness_version": manifest.get("harness_version")}


def latency_untrusted(manifest: dict[str, Any]) -> dict[str, str]:
    """model -> why its latency in this run is not comparable (:func:`evals.machine.latency_trust`), for the
    models the manifest lists (their cache identity holds the provider and endpoint)."""
    from evals.machine import latency_trust

    models = manifest.get("models") if isinstance(manifest.get("models"), dict) else {}
    out = {}
    for model, entry in models.items():
        entry = entry if isinstance(entry, dict) else {}
        identity = entry.get("identity") if isinstance(entry.get("identity"), dict) else {}
        trusted, why = latency_trust(manifest, {**identity, **entry})
        if not trusted:
            out[str(model)] = why
    return out


def _after_rule_table(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """diff.md's blocks after its rule table: the headline and the table above it are the recommendation
    view's own (one row per rule, the change against the policy in force, the reasons), so the report
    shows them once. A report without the policy in force (a run folder from elsewhere) keeps them."""
    from evals.report.recommendation import rule_table_index

    at = rule_table_index(blocks)
    return blocks if at is None else blocks[at + 1:]


def build_report(inputs: ReportInputs) -> dict[str, Any]:
    """The report as plain data: headline, recommendation, per-suite views, comparison, drill-down."""
    from evals.report.cascades import read_sweeps
    from evals.report.recommendation import proposal_context, recommendation_view

    notes: list[str] = []
    frame = inputs.results
    aggregates = report_aggregates(inputs.folder, frame, notes, inputs.aggregates)
    suites = suite_views(aggregates, frame, inputs.manifest)
    latency = latency_untrusted(inputs.manifest)
    for view in suites:
        for m in view["models"]:
            m["latency_note"] = latency.get(m["model"])
            if m["latency_note"]:
                m["warnings"].append(f"p50/p95 {m['latency_note']}")
    comparison = None
    if inputs.baseline is not None:
        comparison = compare_runs(frame, inputs.baseline, baseline_id=inputs.baseline_id or "baseline",
                                  manifest=inputs.manifest, baseline_manifest=inputs.baseline_manifest)
    baseline_rows = comparison.pop("baseline_rows") if comparison else None
    drill = drilldown(frame, byte_budget=inputs.byte_budget, text_limit=inputs.text_limit,
                      baseline_rows=baseline_rows)
    proposal = read_proposal(inputs.folder, notes) if inputs.folder is not None else None
    recommendation = None
    if proposal is not None and isinstance(proposal.get("data"), dict):
        context = proposal_context(inputs.project, inputs.folder, notes)
        recommendation = recommendation_view(proposal["data"], proposal["diff_blocks"], context,
                                             str(inputs.manifest.get("run_id", "")), latency,
                                             read_sweeps(inputs.folder, notes))
        if context.get("changes") is not None:  # the view knows what changed: diff.md's table is said once
            proposal = {**proposal, "diff_blocks": _after_rule_table(proposal["diff_blocks"])}
    spend = read_spend(list(inputs.logs), notes)
    return {
        "format_version": REPORT_FORMAT,
        "run_id": inputs.manifest.get("run_id", "?"),
        "folder": inputs.folder.name if inputs.folder is not None else None,
        "meta": _meta(inputs.manifest),
        "headline": headline(aggregates, frame),
        "suites": suites, "comparison": comparison, "proposal": proposal, "recommendation": recommendation,
        "spend": spend, "drill": drill, "notes": notes,
    }


@functools.lru_cache(maxsize=None)
def _environment():
    """The reports' Jinja environment, made once per process: its templates are compiled once, not per page
    (a run writes its report, then its comparison page and the index)."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True, bytecode_cache=_bytecode_cache())
    from evals.report.recommendation import headline_title

    env.globals["headline_title"] = headline_title
    env.filters.update(num=fmt.fmt_num, ci=fmt.fmt_ci, usd=fmt.fmt_usd, pct=fmt.fmt_pct, ms=fmt.fmt_ms,
                       delta=fmt.fmt_delta, ms_unit=fmt.ms_unit)
    return env


def _bytecode_cache(directory: str | None = None) -> Any:
    """Jinja's cache of compiled templates in the user's private temporary folder (``_jinja2-cache-<uid>``,
    mode 0700, checked by Jinja): the report template took 70-100 ms to compile in every ``evals run``.
    An entry is keyed by the template's path and checked against its source, so an edited template is
    compiled again. ``EVALS_NO_TEMPLATE_CACHE=1`` turns it off; a folder that cannot be written only
    costs the compile."""
    import os

    from jinja2 import FileSystemBytecodeCache

    class Quiet(FileSystemBytecodeCache):
        def load_bytecode(self, bucket: Any) -> None:
            try:
                super().load_bytecode(bucket)
            except (OSError, ValueError, EOFError):  # unreadable or cut short: compiled again
                bucket.reset()

        def dump_bytecode(self, bucket: Any) -> None:
            try:
                super().dump_bytecode(bucket)
            except OSError:
                pass

    if os.environ.get("EVALS_NO_TEMPLATE_CACHE"):
        return None
    try:
        return Quiet(directory)
    except (OSError, RuntimeError):  # no safe temporary folder here
        return None


def _suite_charts(view: dict[str, Any]) -> dict[str, Any]:
    models = view["models"]
    return {
        "scatter": charts.quality_cost_svg(models, title=f"{view['suite']}: quality vs cost per 1k calls",
                                           floor=view.get("floor"), baseline=view.get("baseline")),
        "quality": charts.bars_svg([{"label": m["model"], "value": m["quality"], "low": m["ci_low"],
                                     "high": m["ci_high"]} for m in models],
                                   title=f"{view['suite']}: quality with 95% interval", maximum=1.0),
        "latency": charts.bars_svg([{"label": m["model"], "value": m["p95_ms"]} for m in models],
                                   title=f"{view['suite']}: p95 latency",
                                   fmt=lambda v, unit=fmt.ms_unit(m["p95_ms"] for m in models): fmt.fmt_ms(v, unit)),
        "unplotted": [m["model"] for m in models if m["cost_per_1k_usd"] is None or m["quality"] is None],
    }


def render_html(report: dict[str, Any]) -> str:
    """The self-contained HTML page of a report built by :func:`build_report`."""
    env = _environment()
    drill = report["drill"]
    rest = {"sampling": drill["sampling"],
            "suites": [s["suite"] for s in report["suites"]],
            "models": sorted({m["model"] for s in report["suites"] for m in s["models"]}),
            "baseline": (report["comparison"] or {}).get("baseline_id"),
            "latency_unit": fmt.ms_unit(r["l"] for r in drill["rows"])}
    rows_json = drill.get("rows_json")
    if rows_json is None:
        rows_json = json.dumps(_clean(drill["rows"]), ensure_ascii=False, allow_nan=False)
    # json_island({"rows": rows, **rest}), with the rows' JSON the drill-down already wrote
    data_json = _escape_island('{"rows": ' + rows_json + ", " + json.dumps(_clean(rest), ensure_ascii=False,
                                                                            allow_nan=False)[1:])
    return env.get_template("report.html.j2").render(
        r=report, charts={s["suite"]: _suite_charts(s) for s in report["suites"]}, data_json=data_json,
        script=(TEMPLATES / "report.js").read_text(encoding="utf-8"),
        style=(TEMPLATES / "report.css").read_text(encoding="utf-8"),
    )


def write_report(folder: Path, *, manifest: dict[str, Any] | None = None, results: Any = None,
                 baseline_folder: Path | None = None, logs: list[Path] | None = None,
                 byte_budget: int = DEFAULT_BYTE_BUDGET, project: Any = None,
                 paths: dict[str, Path] | None = None) -> dict[str, Path]:
    """Write ``report.html`` and ``summary.md`` into a run folder; returns their paths.

    ``manifest`` and ``results`` default to the ones stored in ``folder``; ``baseline_folder`` adds a
    comparison against another run; ``logs`` are routing logs for the spend section; ``project`` (by
    default the project the folder is in, when there is one) supplies the policy in force and the
    approval log for the recommendation's status; ``paths`` writes elsewhere (a comparison page).
    """
    from evals.report.markdown import render_markdown
    from evals.runner.store import read_manifest, read_results, write_text_atomic

    manifest = manifest if manifest is not None else read_manifest(folder)
    results = results if results is not None else read_results(folder)
    baseline = baseline_id = baseline_manifest = None
    if baseline_folder is not None:
        baseline = read_results(baseline_folder)
        baseline_manifest = read_manifest(baseline_folder)
        baseline_id = baseline_manifest.get("run_id", baseline_folder.name)
    project = project if project is not None else project_of(folder)
    report = build_report(ReportInputs(manifest, results, folder, baseline, baseline_id, list(logs or []),
                                       byte_budget, project=project, baseline_manifest=baseline_manifest))
    paths = paths or {"html": folder / "report.html", "markdown": folder / "summary.md"}
    write_text_atomic(paths["html"], render_html(report))
    write_text_atomic(paths["markdown"], render_markdown(report))
    return paths


def project_of(folder: Path) -> Any:
    """The project a run folder belongs to (``<project>/reports/<run>``), or None for a folder elsewhere."""
    from evals.project import MODELS_FILE, Project

    root = Path(folder).resolve().parent.parent
    return Project(root) if (root / MODELS_FILE).is_file() else None


def write_comparison(folder: Path, baseline_folder: Path, *, project: Any = None, results: Any = None,
                     manifest: dict[str, Any] | None = None, logs: list[Path] | None = None,
                     out: Path | None = None) -> dict[str, Path]:
    """Write the comparison page of run ``folder`` against ``baseline_folder``
    (``compare-<baseline>.html`` and ``.md`` in the run folder, or in ``out``,
    :func:`evals.report.index.compare_page`)."""
    from evals.errors import UsageError
    from evals.report.index import compare_page

    if Path(baseline_folder).resolve() == Path(folder).resolve():
        raise UsageError(f"--baseline names the run itself ({Path(folder).name}); pass an earlier run id")
    paths = compare_page(folder, baseline_folder)
    if out is not None:
        paths = {kind: out / path.name for kind, path in paths.items()}
    return write_report(folder, manifest=manifest, results=results, baseline_folder=baseline_folder, logs=logs,
                        project=project, paths=paths)


def write_run_report(folder: Path, manifest: dict[str, Any], results: Any, warn: Any, *,
                     views: bool = True) -> dict[str, Path] | None:
    """What ``evals run`` calls last: write the report, then (``views``) :func:`write_run_views`, turning any
    failure into a warning.

    The results are already on disk by then; a report failure must not lose them, so it is reported
    through ``warn`` with the command that retries it. The runner passes ``views=False`` and calls
    :func:`write_run_views` once the manifest is written (the index lists complete runs only).
    """
    try:
        paths = write_report(folder, manifest=manifest, results=results)
    except Exception as exc:
        warn(f"report not written ({type(exc).__name__}: {exc}); retry with `evals report {folder.name}`")
        return None
    return write_run_views(folder, manifest, results, warn, paths) if views else paths


def write_run_views(folder: Path, manifest: dict[str, Any], results: Any, warn: Any,
                    paths: dict[str, Path] | None = None) -> dict[str, Path]:
    """The comparison with the previous run of the same suites and split, and ``reports/index.html``;
    a failure is a warning."""
    paths = dict(paths or {})
    project = project_of(folder)
    try:
        from evals.report.index import list_runs, previous_run, write_index

        entries, _ = list_runs(folder.parent)
        prev = previous_run(entries, folder.name)
        if prev is not None:
            paths["compare"] = write_comparison(folder, folder.parent / prev.folder, project=project, results=results,
                                                manifest=manifest)["html"]
        paths["index"] = write_index(project, folder.parent)
    except Exception as exc:
        warn(f"run index or comparison not written ({type(exc).__name__}: {exc}); retry with `evals runs`")
    return paths
