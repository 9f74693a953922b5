"""``evals run``: render every suite x model x example x repeat, call the models, score, write the run.

The response cache is the resume journal: answers are committed as they arrive, and a repeated command
serves them from the cache instead of calling the model again. Failures are journalled, not cached: a
re-run asks again (see :mod:`evals.runner.cache`). Every call, a candidate's or an LLM judge's, goes
through :class:`~evals.runner.calls.CallPath`; rows follow the rule in :mod:`evals.runner.rows`.

The reports folder and the cache are checked before any call is made. Artifacts are written results
first and ``manifest.json`` last, so a run interrupted while writing has no manifest: ``latest`` skips
it, and the same command run again completes that folder (see :mod:`evals.runner.store`). Everything
written passes :func:`evals.secrets.scrub`.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import json
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Protocol

from evals import __version__
from evals.config.models import ModelSpec, ModelsFile, load_models
from evals.config.suite import load_suite
from evals.errors import UsageError
from evals.machine import LoadMonitor
from evals.project import Project
from evals.prompts import PromptTemplate, RenderedPrompt
from evals.providers import Provider, ProviderRegistry, availability, create_provider
from evals.providers.base import GenerateResponse
from evals.requests import example_request, variant_for
from evals.runner.cache import ResponseCache, prompt_key
from evals.runner.calls import CallPath
from evals.runner.rows import (
    answer_failure, build_row, overrides_ascore, score_async, score_now, score_sync, scorer_input,
)
from evals.runner.windows import Exclusion, summarise, window_exclusion
from evals.runner.store import (
    BASELINE_COLUMNS, BASELINES_FORMAT, INCOMPLETE, MANIFEST_FORMAT, RESULT_COLUMNS, RESULTS_FORMAT, check_reports_dir,
    git_commit, mark_incomplete, new_run_id, resumable_run, write_json_atomic, write_parquet_atomic,
)
from evals.scorers import Scorer, ScorerRegistry, build_scorer
from evals.secrets import key_vars, scrub_data, scrub_frame
from evals.suites import Example, Suite, discover, open_suite


@dataclass
class RunOptions:
    """What ``evals run`` runs. ``None`` for suites or models means all of them."""

    suites: list[str] | None = None
    models: list[str] | None = None
    split: str | None = None
    limit: int | None = None
    repeats: int = 1
    #: At most this many calls in flight (all models together, and each model's ``concurrency`` capped to
    #: it); ``None``: each model's own ``concurrency`` from models.yaml, nothing lower.
    concurrency: int | None = None
    use_cache: bool = True
    run_id: str | None = None
    batch: bool = False  # submit provider batch jobs where supported (evals run --batch)
    reuse_errors: bool = False  # serve journalled failures instead of asking again (evals run --reuse-errors)


class Reporter(Protocol):
    """Progress and notices from a run; the CLI shows a progress bar, tests pass :class:`SilentReporter`."""

    def warn(self, message: str) -> None: ...
    def start(self, total: int, cached: int, calls: Mapping[tuple[str, str], int] | None = None) -> None:
        """``total`` rows, ``cached`` of them served from the cache; ``calls``: the calls the run makes
        (distinct requests), per (model, suite)."""
    def advance(self, row: dict[str, Any]) -> None: ...
    def finish(self) -> None: ...


class SilentReporter:
    def __init__(self) -> None:
        self.warnings: list[str] = []

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def start(self, total: int, cached: int, calls: Mapping[tuple[str, str], int] | None = None) -> None:
        pass

    def advance(self, row: dict[str, Any]) -> None:
        pass

    def finish(self) -> None:
        pass


@dataclass
class Job:
    suite: Suite
    scorer: Scorer
    example: Example
    model: ModelSpec
    template: PromptTemplate
    rendered: RenderedPrompt
    repeat: int
    key: str


@dataclass
class RunResult:
    run_id: str
    folder: Path
    results: Any  # pandas.DataFrame
    manifest: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


def _select(names: list[str] | None, available: list[str], what: str, hint: str) -> list[str]:
    if not names:
        return available
    unknown = [n for n in names if n not in available]
    if unknown:
        raise UsageError(f"unknown {what}: {', '.join(unknown)}; known: {', '.join(available)} ({hint})")
    return [n for n in available if n in names]


def load_suites(project: Project, names: list[str] | None, split: str | None, limit: int | None) -> list[Suite]:
    paths = discover(project.suites_dir)
    if not paths:
        raise UsageError(f"no suites found under {project.suites_dir} (expected <task>/<suite>/suite.yaml)")
    specs = {p: load_suite(p) for p in paths}
    chosen = _select(names, [s.name for s in specs.values()], "suite", "--suites")
    return [open_suite(p, split=split, limit=limit) for p, s in specs.items() if s.name in chosen]


def _providers(specs: list[ModelSpec], registry: ProviderRegistry | None, reporter: Reporter) -> dict[str, Provider]:
    providers: dict[str, Provider] = {}
    for spec in specs:
        state = availability(spec, registry)
        if not state.ready:
            reporter.warn(f"skipping {spec.id}: {state.reason}")
            continue
        providers[spec.id] = create_provider(spec, registry)
    if not providers:
        raise UsageError("no candidate model can run here; see `evals models` for what each one needs "
                         "(for the local models: pip install 'portfolio-evals[local]')")
    return providers


def build_scorers(suites: list[Suite], scorers: ScorerRegistry | None) -> dict[str, Scorer]:
    """One scorer per suite, by suite name (built once: the voice scorer trains a model)."""
    return {suite.name: build_scorer(suite, scorers) for suite in suites}


def plan(project: Project, suites: list[Suite], providers: dict[str, Provider], repeats: int,
         scorers: ScorerRegistry | None, built: dict[str, Scorer] | None = None,
         excluded: list[Exclusion] | None = None) -> list[Job]:
    """Render every prompt up front, so a template error stops the run before anything is paid for.

    A request larger than its model's context window is not planned: it goes to ``excluded``
    (:mod:`evals.runner.windows`)."""
    jobs: list[Job] = []
    built = built if built is not None else build_scorers(suites, scorers)
    for spec_id, provider in providers.items():
        spec = provider.spec
        identity = provider.cache_identity()
        for suite in suites:
            if not provider.serves(suite.name):
                continue
            scorer = built[suite.name]
            template = variant_for(project.prompts_dir, suite.spec.prompt, spec.id, spec.family)
            if template.mode == "completion" and not provider.supports_completion:
                raise UsageError(f"{template.path} is a completion template but {spec.id} ({spec.provider}) "
                                 f"only takes chat messages; add a chat variant {spec.id}.j2")
            for example in suite.examples:
                rendered = example_request(template, suite, example)
                too_long = window_exclusion(provider, suite.name, example.id, rendered)
                if too_long is not None:
                    if excluded is not None:
                        excluded.append(too_long)
                    continue
                for repeat in range(repeats):
                    key = prompt_key(identity, rendered, repeat)
                    jobs.append(Job(suite, scorer, example, spec, template, rendered, repeat, key))
    return jobs


async def execute(jobs: list[Job], calls: CallPath, *, reporter: Reporter, batch: bool = False
                  ) -> list[dict[str, Any]]:
    """Serve what the cache holds, call the models for the rest (each distinct request once), score, and
    return one row per job."""
    hits = calls.prefetch([j.key for j in jobs])
    rows: list[dict[str, Any] | None] = [None] * len(jobs)
    served = sum(1 for j in jobs if j.key in hits)  # rows served, not keys
    reporter.start(len(jobs), served, calls_to_make(jobs, hits))
    pending: list[Any] = []
    for index, job in enumerate(jobs):
        if job.key not in hits:
            continue
        if overrides_ascore(job.scorer):  # a judge: scored concurrently below
            pending.append(_finish(index, job, hits[job.key], True, calls, rows, reporter))
        else:  # the fast path of a cached re-run: no coroutine per row
            rows[index] = build_row(job, hits[job.key], True, score_now(job, hits[job.key]))
            reporter.advance(rows[index])
    batched: dict[str, GenerateResponse] = {}
    if batch:  # answered by provider batch jobs; the rest (and models without batch APIs) run below
        from evals.runner.batch import run_batches

        batched = await run_batches([j for j in jobs if j.key not in hits], calls.providers, calls.cache, reporter)
        first: set[str] = set()
        for index, job in enumerate(jobs):
            if job.key in batched and job.key not in hits:
                pending.append(_finish(index, job, batched[job.key], job.key in first, calls, rows, reporter))
                first.add(job.key)

    async def one(index: int, job: Job) -> None:
        response, shared = await calls.respond(calls.providers[job.model.id], job.key, job.rendered)
        await _finish(index, job, response, shared, calls, rows, reporter)

    pending += [one(i, j) for i, j in enumerate(jobs) if j.key not in hits and j.key not in batched]
    await asyncio.gather(*pending)
    reporter.finish()
    return [r for r in rows if r is not None]


def calls_to_make(jobs: list[Job], served: Mapping[str, Any]) -> dict[tuple[str, str], int]:
    """The calls a run makes, per (model, suite): its distinct requests the cache does not serve (the
    progress ETA prices each by the calls of the same model and suite so far)."""
    keys: dict[tuple[str, str], set[str]] = {}
    for job in jobs:
        if job.key not in served:
            keys.setdefault((job.model.id, job.suite.name), set()).add(job.key)
    return {group: len(distinct) for group, distinct in keys.items()}


async def _finish(index: int, job: Job, response: GenerateResponse, cached: bool, calls: CallPath,
                  rows: list[dict[str, Any] | None], reporter: Reporter) -> None:
    """Score one response (after its call released the model's slot, so a judge call cannot wait on it)."""
    if overrides_ascore(job.scorer):
        scored = await score_async(job.scorer, scorer_input(response), job.example,
                                   answer_failure(response, job.rendered.max_tokens), calls.caller())
    else:
        scored = score_now(job, response)
    rows[index] = build_row(job, response, cached, scored)
    reporter.advance(rows[index])


async def score_baselines(suites: list[Suite], scorers: dict[str, Scorer], calls: CallPath) -> list[dict[str, Any]]:
    """Score each suite's trivial answers (:meth:`Scorer.baseline`) with the suite's scorer; one row per
    example (columns :data:`~evals.runner.store.BASELINE_COLUMNS`)."""
    rows: list[dict[str, Any]] = []
    for suite in suites:
        scorer = scorers[suite.name]
        baseline = scorer.baseline(suite.examples)
        if baseline is None:
            continue
        examples = [e for e in suite.examples if e.id in baseline.outputs]
        if overrides_ascore(scorer):
            scored = await asyncio.gather(*(
                score_async(scorer, baseline.outputs[e.id], e, None, calls.caller()) for e in examples))
        else:  # no coroutine per example
            scored = [score_sync(scorer, baseline.outputs[e.id], e, None) for e in examples]
        for example, result in zip(examples, scored):
            detail = result.detail if result.error is None else {"error": result.error, "message": result.error_message}
            rows.append({
                "suite": suite.name, "example_id": example.id, "baseline": baseline.name,
                "output": baseline.outputs[example.id], "score": result.score,
                "subscores": json.dumps(result.subscores) if result.subscores is not None else None,
                "detail": json.dumps(detail, ensure_ascii=False, default=str) if detail is not None else None,
            })
    return rows


def _error_counts(frame: Any) -> dict[str, Any]:
    """Errors by class (``infra``, ``answer``) and by kind, for the manifest and the closing line."""
    if not len(frame):
        return {"errors": 0, "errors_by_class": {"infra": 0, "answer": 0}, "errors_by_kind": {}}
    failed = frame[frame["error"].notna()]
    by_class = Counter(failed["error_class"])
    return {"errors": int(len(failed)),
            "errors_by_class": {"infra": int(by_class.get("infra", 0)), "answer": int(by_class.get("answer", 0))},
            "errors_by_kind": {k: int(v) for k, v in sorted(Counter(failed["error"]).items())}}


def _manifest(run_id: str, project: Project, options: RunOptions, suites: list[Suite], jobs: list[Job],
              providers: dict[str, Provider], started: datetime, finished: datetime, frame: Any,
              scorer_info: dict[str, Any], judges: dict[str, Provider], baselines: Any,
              excluded: list[Exclusion] = ()) -> dict[str, Any]:
    prompts = {f"{j.template.name}/{j.template.variant}": j.template.sha256 for j in jobs}

    def model_entry(p: Provider) -> dict[str, Any]:
        return {"provider": p.spec.provider, "model": p.spec.model, "family": p.spec.family,
                "identity": p.cache_identity()}

    return {
        "format_version": MANIFEST_FORMAT,
        "results_format_version": RESULTS_FORMAT,
        "baselines_format_version": BASELINES_FORMAT,
        "run_id": run_id,
        "harness_version": __version__,
        "git": git_commit(project.root),
        "started_at": started.isoformat(),
        "finished_at": finished.isoformat(),
        "options": {
            "suites": options.suites, "models": options.models, "split": options.split, "limit": options.limit,
            "repeats": options.repeats, "concurrency": options.concurrency, "use_cache": options.use_cache,
            "reuse_errors": options.reuse_errors,
        },
        "suites": {
            s.name: {
                "task": s.spec.task, "path": str(s.path.relative_to(project.root)), "sha256": s.sha256,
                "split": s.split, "examples": len(s.examples), "scorer": scorer_info.get(s.name, {}),
            }
            for s in suites
        },
        "models": {mid: model_entry(p) for mid, p in providers.items()},
        "judge_models": {mid: model_entry(p) for mid, p in judges.items()},
        "prompts": prompts,
        "rows": int(len(frame)),
        **_error_counts(frame),
        "cached_rows": int(frame["cached"].sum()) if len(frame) else 0,
        "judge_calls": int(frame["judge_calls"].sum()) if len(frame) else 0,
        "baseline_rows": int(len(baselines)),
        "excluded": [e.to_json() for e in excluded],  # not run: the request exceeds the model's window
    }


async def _execute_run(jobs: list[Job], suites: list[Suite], scorers: dict[str, Scorer],
                       providers: dict[str, Provider], cache: ResponseCache, options: RunOptions,
                       models_file: ModelsFile, registry: ProviderRegistry | None, reporter: Reporter
                       ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Provider]]:
    """The run's event loop: the calls, the baselines, then every provider closed on this same loop."""
    calls = CallPath(cache, providers, concurrency=options.concurrency, use_cache=options.use_cache,
                     reuse_errors=options.reuse_errors, models=models_file, registry=registry)
    try:
        rows = await execute(jobs, calls, reporter=reporter, batch=options.batch)
        baselines = await score_baselines(suites, scorers, calls)
    finally:
        await calls.aclose()
    judges = {mid: p for mid, p in calls.providers.items() if mid not in providers}
    return rows, baselines, judges


#: What a run needs only after its calls (results frame, Parquet, aggregates, report): imported on a
#: background thread while the calls are in flight, so the import is off the critical path where the
#: event loop waits on the network (the results are written the same, whenever the import lands).
AFTER_THE_CALLS = ("pandas", "pyarrow.parquet", "evals.aggregates", "evals.report")


def _warm_imports() -> threading.Thread:
    def load() -> None:
        for name in AFTER_THE_CALLS:
            try:
                importlib.import_module(name)
            except Exception:  # the main thread's own import reports it, with its traceback
                return

    thread = threading.Thread(target=load, name="evals-warm-imports", daemon=True)
    thread.start()
    return thread
#: The result columns that hold what a model or provider sent back (the rest come from the project's own files).
RESPONSE_TEXT = ("output", "error_message", "detail", "subscores", "tool_calls")


def plan_signature(jobs: list[Job]) -> str:
    """What identifies a run's work: every row's suite, example, model, repeat and cache key (the same
    command on the same inputs gives the same signature)."""
    rows = sorted((j.suite.name, j.example.id, j.model.id, j.repeat, j.key) for j in jobs)
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()


def run(project: Project, options: RunOptions, *, reporter: Reporter | None = None,
        registry: ProviderRegistry | None = None, scorers: ScorerRegistry | None = None) -> RunResult:
    """Run suites against models and write ``reports/<run-id>/``; see :class:`RunOptions`."""
    reporter = reporter or SilentReporter()
    if options.repeats < 1 or (options.concurrency is not None and options.concurrency < 1) or (
            options.limit is not None and options.limit < 1):
        raise UsageError("--repeats, --concurrency and --limit must be at least 1")
    started = datetime.now(timezone.utc)
    models_file = load_models(project.models_file)
    chosen = _select(options.models, models_file.ids, "model", "--models, ids from policies/models.yaml")
    suites = load_suites(project, options.suites, options.split, options.limit)
    check_reports_dir(project.reports_dir)  # before anything is paid for
    if any(spec.provider == "sklearn" for spec in models_file.models):  # distilled models: built when missing or
        from evals.distill.ensure import ensure_artifacts  # stale (numpy and the trainer imported only for them)

        models_file = ensure_artifacts(project, models_file, chosen, [s.name for s in suites], reporter.warn)
    providers = _providers([models_file.get(m) for m in chosen], registry, reporter)
    built = build_scorers(suites, scorers)
    excluded: list[Exclusion] = []
    jobs = plan(project, suites, providers, options.repeats, scorers, built, excluded)
    for line in summarise(excluded):
        reporter.warn(line)
    for idle in sorted(set(providers) - {j.model.id for j in jobs}):  # Provider.serves said no to every suite
        reporter.warn(f"{idle}: not run: it serves none of this run's suites ({', '.join(s.name for s in suites)})")
    if not jobs:
        raise UsageError("nothing to run: no chosen model serves the chosen suites (a distilled classifier runs only on "
                         "the suite it was distilled for); see --suites and --models")
    names = key_vars(models_file)
    monitor = LoadMonitor().start()  # latency of local models means little on a machine busier than its cores
    warming = _warm_imports()
    try:
        with ResponseCache(project.cache_file, key_vars=names) as cache:
            rows, baseline_rows, judges = asyncio.run(
                _execute_run(jobs, suites, built, providers, cache, options, models_file, registry, reporter))
    except BaseException:
        reporter.finish()  # an interrupted run stops its progress display
        raise
    finally:
        machine = monitor.stop()
    warming.join()
    import pandas as pd

    from evals.aggregates import aggregate

    frame = scrub_frame(pd.DataFrame(rows, columns=RESULT_COLUMNS), names, RESPONSE_TEXT)
    baselines = scrub_frame(pd.DataFrame(baseline_rows, columns=BASELINE_COLUMNS), names, RESPONSE_TEXT)
    scorer_info = {name: scorer.info() for name, scorer in built.items()}
    signature = plan_signature(jobs)
    resumed = None if options.run_id else resumable_run(project.reports_dir, signature)
    run_id = resumed.name if resumed is not None else (options.run_id or new_run_id(started))
    if resumed is not None:
        reporter.warn(f"completing run {run_id}, interrupted while writing its artifacts")
    folder = project.reports_dir / run_id
    manifest = _manifest(run_id, project, options, suites, jobs, providers, started, datetime.now(timezone.utc),
                         frame, scorer_info, judges, baselines, excluded)
    manifest["machine"] = machine
    manifest = scrub_data(manifest, names)
    write_artifacts(folder, signature, manifest, frame, baselines,
                    aggregates=lambda: aggregate(frame, models={m: p.spec for m, p in providers.items()},
                                                 scorer_info=scorer_info, baselines=baselines),
                    warn=reporter.warn)
    return RunResult(run_id, folder, frame, manifest, getattr(reporter, "warnings", []))


def write_artifacts(folder: Path, signature: str, manifest: dict[str, Any], frame: Any, baselines: Any, *,
                    aggregates: Any, warn: Any) -> None:
    """Write a run's artifacts, ``manifest.json`` last: until it exists the folder is marked incomplete."""
    from evals.aggregates import write_aggregates

    mark_incomplete(folder, signature)
    write_parquet_atomic(folder / "results.parquet", frame, {"evals_format_version": str(RESULTS_FORMAT)})
    write_parquet_atomic(folder / "baselines.parquet", baselines,
                         {"evals_format_version": str(BASELINES_FORMAT), "evals_artifact": "baselines"})
    write_aggregates(folder, aggregates())
    from evals.report import write_run_report, write_run_views  # a failure of the report only warns

    paths = write_run_report(folder, manifest, frame, warn, views=False)
    write_json_atomic(folder / "manifest.json", manifest)  # the run is complete
    (folder / INCOMPLETE).unlink(missing_ok=True)
    write_run_views(folder, manifest, frame, warn, paths)  # the index and comparison list complete runs only
