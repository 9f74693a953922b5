"""``evals run``: render every suite x model x example x repeat, call the models, score, write the run.

The response cache is the resume journal: answers are committed as they arrive, and a repeated command
serves them from the cache instead of calling the model again.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from evals import __version__
from evals.aggregates import aggregate, summary_table, write_aggregates  # noqa: F401 (summary_table: CLI)
from evals.config.models import ModelSpec, load_models
from evals.config.suite import load_suite
from evals.costs import response_cost
from evals.errors import UsageError
from evals.project import Project
from evals.prompts import PromptTemplate, RenderedPrompt
from evals.providers import Provider, ProviderRegistry, availability, create_provider
from evals.providers.base import ErrorKind, GenerateRequest, GenerateResponse
from evals.providers.limits import RateLimiter
from evals.requests import build_request, variant_for
from evals.providers.retry import reliable_generate
from evals.runner.cache import ResponseCache, cache_key
from evals.runner.store import (
    MANIFEST_FORMAT, RESULT_COLUMNS, RESULTS_FORMAT, git_commit, new_run_id, write_json_atomic,
    write_parquet_atomic,
)
from evals.scorers import Scorer, ScorerRegistry, build_scorer
from evals.suites import Example, Suite, discover, open_suite


@dataclass
class RunOptions:
    """What ``evals run`` runs. ``None`` for suites or models means all of them."""

    suites: list[str] | None = None
    models: list[str] | None = None
    split: str | None = None
    limit: int | None = None
    repeats: int = 1
    concurrency: int = 4
    use_cache: bool = True
    run_id: str | None = None
    batch: bool = False  # submit provider batch jobs where supported (evals run --batch)


class Reporter(Protocol):
    """Progress and notices from a run; the CLI shows a progress bar, tests pass :class:`SilentReporter`."""

    def warn(self, message: str) -> None: ...
    def start(self, total: int, cached: int) -> None: ...
    def advance(self, row: dict[str, Any]) -> None: ...
    def finish(self) -> None: ...


class SilentReporter:
    def __init__(self) -> None:
        self.warnings: list[str] = []

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def start(self, total: int, cached: int) -> None:
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


def plan(project: Project, suites: list[Suite], providers: dict[str, Provider], repeats: int,
         scorers: ScorerRegistry | None) -> list[Job]:
    """Render every prompt up front, so a template error stops the run before anything is paid for."""
    jobs: list[Job] = []
    built = {suite.name: build_scorer(suite, scorers) for suite in suites}  # one per suite (voice trains a model)
    for spec_id, provider in providers.items():
        spec = provider.spec
        identity = provider.cache_identity()
        for suite in suites:
            scorer = built[suite.name]
            template = variant_for(project.prompts_dir, suite.spec.prompt, spec.id, spec.family)
            if template.mode == "completion" and not provider.supports_completion:
                raise UsageError(f"{template.path} is a completion template but {spec.id} ({spec.provider}) "
                                 f"only takes chat messages; add a chat variant {spec.id}.j2")
            for example in suite.examples:
                rendered = build_request(template, suite.variables(example), suite.schema)
                for repeat in range(repeats):
                    key = cache_key(identity, rendered.canonical(), repeat)
                    jobs.append(Job(suite, scorer, example, spec, template, rendered, repeat, key))
    return jobs


def _row(job: Job, response: GenerateResponse, cached: bool) -> dict[str, Any]:
    spec = job.model
    batch = bool(response.extra.get("batch_id"))  # answered by a provider batch job: batch price
    cost = response_cost(spec, response, batch=batch)
    score = subscores = detail = None
    error = response.error.value if response.error else None
    error_message = response.error_message
    if response.ok:
        try:
            result = job.scorer.score(response.text, job.example)
            score, subscores, detail = result.value, result.subscores, result.detail
        except Exception as exc:  # a scorer bug must not lose the paid-for answer
            error, error_message = "scorer_error", f"{type(exc).__name__}: {exc}"
    prompt_text = job.rendered.text
    return {
        "suite": job.suite.name,
        "task": job.suite.spec.task,
        "split": job.suite.split,
        "example_id": job.example.id,
        "model": spec.id,
        "provider": spec.provider,
        "family": spec.family,
        "prompt": job.template.name,
        "variant": job.template.variant,
        "prompt_hash": job.rendered.sha256,
        "repeat": job.repeat,
        "output": response.text,
        "error": error,
        "error_message": error_message,
        "input_tokens": response.input_tokens,
        "output_tokens": response.output_tokens,
        "context_tokens": response.input_tokens if response.input_tokens is not None else len(prompt_text) // 4,
        "cost_usd": cost.usd,
        "latency_ms": response.latency_ms,
        "ttft_ms": response.ttft_ms,
        "finish_reason": response.finish_reason,
        "score": score,
        "subscores": json.dumps(subscores) if subscores is not None else None,
        "detail": json.dumps(detail, ensure_ascii=False, default=str) if detail is not None else None,
        "cached": cached,
        "batch": batch,  # answered by a provider batch job, priced at the batch rate
        "cache_key": job.key,
        "gold": json.dumps(job.example.gold, ensure_ascii=False, default=str),
        "prompt_text": prompt_text,
    }


async def _call(provider: Provider, job: Job) -> GenerateResponse:
    try:
        return await provider.generate(GenerateRequest(job.rendered, request_id=job.key[:16]))
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # a provider bug becomes a row with an error, not a lost run
        return GenerateResponse(error=ErrorKind.UNKNOWN, error_message=f"{type(exc).__name__}: {exc}"[:500])


async def execute(jobs: list[Job], providers: dict[str, Provider], cache: ResponseCache, *, use_cache: bool,
                  concurrency: int, reporter: Reporter, batch: bool = False) -> list[dict[str, Any]]:
    """Serve what the cache holds, call the models for the rest, and return one row per job."""
    hits = cache.get_many(j.key for j in jobs) if use_cache else {}
    rows: list[dict[str, Any] | None] = [None] * len(jobs)
    reporter.start(len(jobs), len(hits))
    for index, job in enumerate(jobs):
        if job.key in hits:
            rows[index] = _row(job, hits[job.key], cached=True)
            reporter.advance(rows[index])
    overall = asyncio.Semaphore(max(1, concurrency))
    per_model = {
        model_id: asyncio.Semaphore(max(1, min(p.spec.concurrency, p.max_parallel or p.spec.concurrency, concurrency)))
        for model_id, p in providers.items()
    }

    limiters = {model_id: RateLimiter.for_spec(p.spec) for model_id, p in providers.items()}
    batched: dict[str, GenerateResponse] = {}
    if batch:  # answered by provider batch jobs; the rest (and models without batch APIs) run below
        from evals.runner.batch import run_batches

        batched = await run_batches([j for j in jobs if j.key not in hits], providers, cache, reporter)
        for index, job in enumerate(jobs):
            if job.key in batched and job.key not in hits:
                rows[index] = _row(job, batched[job.key], cached=False)
                reporter.advance(rows[index])

    async def one(index: int, job: Job) -> None:
        async with per_model[job.model.id], overall:
            attempt = cache.begin_attempt(job.key, job.model.id)
            request = GenerateRequest(job.rendered, request_id=job.key[:16])  # retried and rate-limited
            response = await reliable_generate(providers[job.model.id], request, limiter=limiters[job.model.id],
                                               call=lambda _request: _call(providers[job.model.id], job))
            if response.ok or not response.error.transient:
                cache.put(job.key, job.model.id, response, attempt)
            else:
                cache.finish_attempt(attempt, response.error.value)
        rows[index] = _row(job, response, cached=False)
        reporter.advance(rows[index])

    await asyncio.gather(*(one(i, j) for i, j in enumerate(jobs) if j.key not in hits and j.key not in batched))
    reporter.finish()
    return [r for r in rows if r is not None]


def _manifest(run_id: str, project: Project, options: RunOptions, suites: list[Suite], jobs: list[Job],
              providers: dict[str, Provider], started: datetime, finished: datetime, frame: Any,
              scorer_info: dict[str, Any]) -> dict[str, Any]:
    prompts = {f"{j.template.name}/{j.template.variant}": j.template.sha256 for j in jobs}
    return {
        "format_version": MANIFEST_FORMAT,
        "results_format_version": RESULTS_FORMAT,
        "run_id": run_id,
        "harness_version": __version__,
        "git": git_commit(project.root),
        "started_at": started.isoformat(),
        "finished_at": finished.isoformat(),
        "options": {
            "suites": options.suites, "models": options.models, "split": options.split, "limit": options.limit,
            "repeats": options.repeats, "concurrency": options.concurrency, "use_cache": options.use_cache,
        },
        "suites": {
            s.name: {
                "task": s.spec.task, "path": str(s.path.relative_to(project.root)), "sha256": s.sha256,
                "split": s.split, "examples": len(s.examples), "scorer": scorer_info.get(s.name, {}),
            }
            for s in suites
        },
        "models": {
            mid: {"provider": p.spec.provider, "model": p.spec.model, "family": p.spec.family,
                  "identity": p.cache_identity()}
            for mid, p in providers.items()
        },
        "prompts": prompts,
        "rows": int(len(frame)),
        "errors": int(frame["error"].notna().sum()) if len(frame) else 0,
        "cached_rows": int(frame["cached"].sum()) if len(frame) else 0,
    }


def run(project: Project, options: RunOptions, *, reporter: Reporter | None = None,
        registry: ProviderRegistry | None = None, scorers: ScorerRegistry | None = None) -> RunResult:
    """Run suites against models and write ``reports/<run-id>/``; see :class:`RunOptions`."""
    import pandas as pd

    reporter = reporter or SilentReporter()
    if options.repeats < 1 or options.concurrency < 1 or (options.limit is not None and options.limit < 1):
        raise UsageError("--repeats, --concurrency and --limit must be at least 1")
    started = datetime.now(timezone.utc)
    models_file = load_models(project.models_file)
    chosen = _select(options.models, models_file.ids, "model", "--models, ids from policies/models.yaml")
    suites = load_suites(project, options.suites, options.split, options.limit)
    providers = _providers([models_file.get(m) for m in chosen], registry, reporter)
    jobs = plan(project, suites, providers, options.repeats, scorers)
    run_id = options.run_id or new_run_id(started)
    with ResponseCache(project.cache_file) as cache:
        try:
            rows = asyncio.run(execute(jobs, providers, cache, use_cache=options.use_cache,
                                       concurrency=options.concurrency, reporter=reporter, batch=options.batch))
        finally:
            for provider in providers.values():
                try:
                    asyncio.run(provider.aclose())
                except Exception:
                    pass
    frame = pd.DataFrame(rows, columns=RESULT_COLUMNS)
    scorer_info = {name: scorer.info() for name, scorer in {j.suite.name: j.scorer for j in jobs}.items()}
    folder = project.reports_dir / run_id
    manifest = _manifest(run_id, project, options, suites, jobs, providers, started, datetime.now(timezone.utc),
                         frame, scorer_info)
    write_parquet_atomic(folder / "results.parquet", frame, {"evals_format_version": str(RESULTS_FORMAT)})
    write_json_atomic(folder / "manifest.json", manifest)
    write_aggregates(folder, aggregate(frame, models={m: p.spec for m, p in providers.items()}, scorer_info=scorer_info))
    from evals.report import write_run_report  # the report last: a failure there only warns

    write_run_report(folder, manifest, frame, reporter.warn)
    return RunResult(run_id, folder, frame, manifest, getattr(reporter, "warnings", []))
