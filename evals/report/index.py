"""Run history: every complete run under ``reports/``, the run the policy in force was approved on, and
``reports/index.html``.

A run is complete when its ``manifest.json`` is readable and its ``results.parquet`` exists (the
runner writes the manifest after the results). Quality per suite and model is the ``quality`` row of
each run's ``aggregates.parquet`` (slice ``all``): the number every other view shows, never recomputed.

Comparisons are files, not a server: ``reports/<run>/compare-<baseline>.html`` is written by
``evals report RUN --baseline OTHER`` and, after every run, against the previous run of the same
suites and split (:func:`previous_run`), so the question people ask after a change ("did it help?")
is one click from the index. Any other pair is one command, which the index prints.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

INDEX_FORMAT = 1
COMPARE_PREFIX = "compare-"


@dataclass
class RunEntry:
    """One complete run as the history shows it."""

    folder: str  # the folder name under reports/ (what links and commands use)
    run_id: str  # the manifest's run id (what is shown)
    started_at: str | None
    finished_at: str | None
    commit: str | None
    dirty: bool | None
    splits: dict[str, str]  # suite -> split
    models: list[str]
    rows: int
    infra_failures: int
    answer_failures: int
    quality: list[dict[str, Any]] = field(default_factory=list)  # suite, model, split, value, ci_low, ci_high, n
    report: str | None = None  # href of report.html, relative to reports/
    proposal: bool = False
    comparisons: dict[str, str] = field(default_factory=dict)  # baseline folder -> href of the comparison page
    approved: str | None = None  # "in force", "approved (superseded)" or None
    approval: str | None = None  # who approved it when
    notes: list[str] = field(default_factory=list)

    @property
    def suites(self) -> list[str]:
        return sorted(self.splits)

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "suites": self.suites}


def _href(*parts: str) -> str:
    """A relative link to a file under reports/, every segment percent-encoded (a folder name can hold
    anything; ``javascript:`` becomes a harmless relative path).

    >>> _href("run 1", "report.html"), _href("javascript:alert(1)", "report.html")
    ('run%201/report.html', 'javascript%3Aalert%281%29/report.html')
    """
    return "/".join(quote(p, safe="") for p in parts)


def _num(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def _quality(folder: Path, notes: list[str]) -> list[dict[str, Any]]:
    """The ``quality`` rows (slice ``all``) of a run's aggregates; none, with a note, when unreadable."""
    import pyarrow.parquet as pq

    from evals.aggregates import AGGREGATES_FORMAT

    path = folder / "aggregates.parquet"
    if not path.is_file():
        notes.append("no aggregates.parquet: quality not shown")
        return []
    try:
        table = pq.read_table(path, columns=["suite", "model", "slice", "metric", "value", "ci_low", "ci_high", "n"],
                              filters=[("metric", "=", "quality"), ("slice", "=", "all")])
        version = int((pq.read_schema(path).metadata or {}).get(b"evals_format_version", b"0"))
    except Exception as exc:  # an unreadable artifact is one note, never a broken index
        notes.append(f"aggregates.parquet unreadable ({type(exc).__name__}); quality not shown")
        return []
    if version != AGGREGATES_FORMAT:
        notes.append(f"aggregates format {version}, not {AGGREGATES_FORMAT}: quality by another definition, not shown")
        return []
    return [{"suite": str(r["suite"]), "model": str(r["model"]), "value": _num(r["value"]),
             "ci_low": _num(r["ci_low"]), "ci_high": _num(r["ci_high"]), "n": int(r["n"] or 0)}
            for r in table.to_pylist()]


def read_entry(folder: Path) -> RunEntry | None:
    """The history entry of one run folder, or None when the run is not complete."""
    from evals.runner.store import read_manifest

    if not (folder / "results.parquet").is_file() or not (folder / "manifest.json").is_file():
        return None
    try:
        manifest = read_manifest(folder)
    except Exception:  # unreadable or newer: not listed (list_runs says how many)
        return None
    suites = manifest.get("suites") if isinstance(manifest.get("suites"), dict) else {}
    splits = {str(s): str((m or {}).get("split") or "?") for s, m in suites.items() if isinstance(m, dict) or m is None}
    git = manifest.get("git") if isinstance(manifest.get("git"), dict) else {}
    by_class = manifest.get("errors_by_class") if isinstance(manifest.get("errors_by_class"), dict) else {}
    notes: list[str] = []
    quality = _quality(folder, notes)
    for q in quality:
        q["split"] = splits.get(q["suite"], "?")
    models = manifest.get("models") if isinstance(manifest.get("models"), dict) else {}
    comparisons = {p.stem[len(COMPARE_PREFIX):]: _href(folder.name, p.name)
                   for p in sorted(folder.glob(f"{COMPARE_PREFIX}*.html"))}
    return RunEntry(
        folder=folder.name, run_id=str(manifest.get("run_id") or folder.name),
        started_at=manifest.get("started_at"), finished_at=manifest.get("finished_at"),
        commit=git.get("commit"), dirty=git.get("dirty"), splits=splits,
        models=sorted(str(m) for m in models) or sorted({q["model"] for q in quality}),
        rows=int(manifest.get("rows") or 0), infra_failures=int(by_class.get("infra") or 0),
        answer_failures=int(by_class.get("answer") or 0), quality=quality,
        report=_href(folder.name, "report.html") if (folder / "report.html").is_file() else None,
        proposal=(folder / "proposal.yaml").is_file(), comparisons=comparisons, notes=notes,
    )


def list_runs(reports_dir: Path) -> tuple[list[RunEntry], int]:
    """Every complete run, oldest first (by start time, then folder name), and how many folders were skipped
    (runs in progress, interrupted, or unreadable)."""
    entries, skipped = [], 0
    if not reports_dir.is_dir():
        return [], 0
    for folder in sorted(p for p in reports_dir.iterdir() if p.is_dir()):
        if not (folder / "manifest.json").exists() and not (folder / "results.parquet").exists():
            continue  # not a run folder (screenshots, caches)
        entry = read_entry(folder)
        if entry is None:
            skipped += 1
        else:
            entries.append(entry)
    entries.sort(key=lambda e: (e.started_at or "", e.folder))
    return entries, skipped


@dataclass
class PolicyState:
    """The run the policy in force was approved on, and who approved which run."""

    in_force_run: str | None = None
    approvals: dict[str, list[str]] = field(default_factory=dict)  # run id -> "by X at T" per approval
    notes: list[str] = field(default_factory=list)


def policy_state(project: Any) -> PolicyState:
    """Read ``policies/current.yaml`` (its ``source.run_id``: the run the policy in force was compiled
    from) and the approval log (who approved which run). Problems become notes; nothing here fails."""
    from evals.config.policy import load_policy
    from evals.policy.approvals import read_log

    state = PolicyState()
    if project is None:
        return state
    current_sha = None
    if project.policy_file.is_file():
        try:
            current = load_policy(project.policy_file)
        except Exception as exc:
            state.notes.append(f"{project.policy_file.name} unreadable ({type(exc).__name__}): approved run not marked")
        else:
            current_sha = current.content_sha256()
            state.in_force_run = current.source.run_id if current.source is not None else None
    try:
        entries = read_log(project.approvals_file)
    except Exception as exc:
        state.notes.append(f"approval log unreadable: {exc}")
        entries = []
    for entry in entries:
        record = entry.record
        evidence = record.get("evidence") if isinstance(record.get("evidence"), dict) else {}
        run_id = evidence.get("run_id")
        if not isinstance(run_id, str):
            continue
        state.approvals.setdefault(run_id, []).append(
            f"approved by {record.get('approver')} at {record.get('time')} (approvals.jsonl line {entry.number})")
        if current_sha is not None and record.get("policy_sha256") == current_sha:
            state.in_force_run = run_id
    return state


def mark_approved(entries: list[RunEntry], state: PolicyState) -> None:
    """Set each entry's ``approved`` and ``approval`` from the policy state."""
    for e in entries:
        said = state.approvals.get(e.run_id) or state.approvals.get(e.folder)
        if state.in_force_run in (e.run_id, e.folder):
            e.approved = "in force"
        elif said:
            e.approved = "approved (superseded)"
        e.approval = said[-1] if said else None


def previous_run(entries: list[RunEntry], folder: str) -> RunEntry | None:
    """The latest run before ``folder`` that measured one of its suites on the same split with one of its
    models: what "the previous run" means for ``--baseline last`` and the pre-rendered comparison."""
    names = [e.folder for e in entries]
    if folder not in names:
        return None
    at = names.index(folder)
    this = entries[at]
    pairs = set(this.splits.items())
    for other in reversed(entries[:at]):
        if pairs & set(other.splits.items()) and set(this.models) & set(other.models):
            return other
    return None


def resolve_baseline(project: Any, folder: Path, spec: str) -> Path:
    """The baseline run folder ``spec`` names for run ``folder``: ``last`` (the previous run of the same
    suites and split), ``approved`` (the evidence run of the policy in force), or a run id / folder."""
    from evals.errors import UsageError
    from evals.runner.store import run_dir

    reports = project.reports_dir
    if spec == "last":
        entries, _ = list_runs(reports)
        prev = previous_run(entries, folder.name)
        if prev is None:
            raise UsageError(f"--baseline last: no earlier complete run in {reports} measured a suite of "
                             f"{folder.name} on the same split; run it once more, or name a run id")
        return reports / prev.folder
    if spec == "approved":
        state = policy_state(project)
        if state.in_force_run is None:
            raise UsageError(f"--baseline approved: {project.policy_file} names no evidence run (no `source:`); "
                             "approve a proposal first (`evals approve`), or name a run id")
        target = reports / state.in_force_run
        if not (target / "results.parquet").is_file():
            raise UsageError(f"--baseline approved: the evidence run {state.in_force_run} of the policy in force is "
                             f"not in {reports} (the evidence bundle keeps scores, not outputs); copy the run "
                             "folder here from where it was approved")
        return target
    return run_dir(reports, spec)


def compare_page(folder: Path, baseline_folder: Path) -> dict[str, Path]:
    """Where the comparison of run ``folder`` against ``baseline_folder`` is written."""
    stem = f"{COMPARE_PREFIX}{baseline_folder.name}"
    return {"html": folder / f"{stem}.html", "markdown": folder / f"{stem}.md"}


def history(project: Any, reports_dir: Path | None = None) -> dict[str, Any]:
    """The run history as plain data: runs newest first, trend series per suite and model, notes."""
    reports_dir = reports_dir if reports_dir is not None else project.reports_dir
    entries, skipped = list_runs(reports_dir)
    state = policy_state(project)
    mark_approved(entries, state)
    notes = list(state.notes)
    if skipped:
        notes.append(f"{skipped} run folder(s) not listed: in progress, interrupted or unreadable (no manifest)")
    if state.in_force_run and not any(state.in_force_run in (e.run_id, e.folder) for e in entries):
        notes.append(f"the policy in force was approved on run {state.in_force_run}, which is not in this folder")
    series: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for order, e in enumerate(entries):
        for q in e.quality:
            series.setdefault((q["suite"], q["model"]), []).append(
                {**q, "run": e.run_id, "folder": e.folder, "order": order, "approved": e.approved == "in force"})
    return {"format_version": INDEX_FORMAT, "runs": [e.as_json() for e in reversed(entries)],
            "in_force_run": state.in_force_run, "notes": notes,
            "n_runs": len(entries),
            "trends": [{"suite": s, "model": m, "points": pts} for (s, m), pts in sorted(series.items())]}


def approved_comparison_markdown(project: Any) -> str:
    """For the gate's pull-request comment: where the comparison of the newest run with the evidence run of
    the policy in force is (``evals report RUN --baseline approved`` writes it), or how to make it. Empty
    when no run is present or no policy was approved; names from files are escaped."""
    from evals.policy.mdsafe import md_text

    entries, _ = list_runs(project.reports_dir)
    state = policy_state(project)
    if not entries or state.in_force_run is None:
        return ""
    latest, approved = entries[-1], state.in_force_run
    head = "\n**Against the approved evidence run:** "
    if approved in (latest.run_id, latest.folder):
        return head + f"The run present, {md_text(latest.run_id)}, is the evidence run of the policy in force.\n"
    if approved in latest.comparisons:
        page = f"reports/{latest.folder}/{COMPARE_PREFIX}{approved}.html"
        return head + (f"Run {md_text(latest.run_id)} against {md_text(approved)}, example by example: "
                       f"`{md_text(page)}` (in the run's report artifact).\n")
    return head + (f"No comparison of run {md_text(latest.run_id)} with {md_text(approved)} yet: "
                   f"`evals report {md_text(latest.folder)} --baseline approved` writes it.\n")


def render_index(data: dict[str, Any]) -> str:
    """The self-contained ``index.html`` of :func:`history` data: the run table is written by the page's
    script from a JSON island (every value with ``textContent``); trend charts are inline SVG."""
    from evals.report.charts import trend_svg
    from evals.report.html import TEMPLATES, _environment, json_island

    by_suite: dict[str, list[tuple[str, Any]]] = {}
    for t in data["trends"]:
        svg = trend_svg(t["points"], title=f"{t['suite']} / {t['model']}: quality over runs", n_runs=data["n_runs"])
        by_suite.setdefault(t["suite"], []).append((t["model"], svg))
    return _environment().get_template("index.html.j2").render(
        h=data, trend_charts=sorted(by_suite.items()), data_json=json_island({"runs": data["runs"]}),
        script=(TEMPLATES / "index.js").read_text(encoding="utf-8"),
        style=(TEMPLATES / "report.css").read_text(encoding="utf-8"))


def write_index(project: Any, reports_dir: Path | None = None) -> Path:
    """Rewrite ``reports/index.html`` atomically from every complete run; returns its path."""
    from evals.runner.store import write_text_atomic

    reports_dir = reports_dir if reports_dir is not None else project.reports_dir
    path = reports_dir / "index.html"
    write_text_atomic(path, render_index(history(project, reports_dir)))
    return path


__all__ = ["COMPARE_PREFIX", "approved_comparison_markdown", "INDEX_FORMAT", "PolicyState", "RunEntry", "compare_page", "history", "list_runs",
           "mark_approved", "policy_state", "previous_run", "read_entry", "render_index", "resolve_baseline",
           "write_index"]
