"""``evals run --batch``: send a model's calls as one provider batch job instead of one call each.

For models whose provider has ``supports_batch`` (OpenAI Batch API, Anthropic Message Batches), the
calls the cache does not already answer are submitted as batch jobs (at most ``max_batch`` requests
each; the cache key is the request's ``custom_id``). Each batch id is written to the cache's
``batches`` table the moment it is created, so a restarted run polls the batches it already paid for
instead of resubmitting them. Answers are committed to the response cache as each batch ends, marked
with ``extra["batch_id"]`` so they are priced at the batch rate (see :func:`evals.costs.call_cost`).

A request that a batch did not answer (expired, cancelled, errored) becomes an error row; it is
journalled, not cached, so the next ``--batch`` run submits it again. Models without batch support run
as usual.
"""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable

from evals.providers.base import ErrorKind, GenerateRequest, GenerateResponse, Provider

DEFAULT_POLL_S = 30.0
DEFAULT_MAX_BATCH = 10_000


def batch_capable(provider: Provider) -> bool:
    return bool(getattr(provider, "supports_batch", False))


async def poll_sleep(seconds: float) -> None:
    """How the poller waits between polls (tests replace this module attribute)."""
    await asyncio.sleep(seconds)


async def run_batches(jobs: list[Any], providers: dict[str, Provider], cache: Any, reporter: Any, *,
                      poll_s: float | None = None, max_batch: int = DEFAULT_MAX_BATCH,
                      sleep: Callable[[float], Awaitable[None]] | None = None) -> dict[str, GenerateResponse]:
    """Answer ``jobs`` of batch-capable models through batch jobs; returns responses by cache key.

    ``jobs`` are runner jobs (``.key``, ``.model``, ``.rendered``) the cache does not answer yet.
    ``poll_s`` defaults to ``DEFAULT_POLL_S``; ``sleep`` to :func:`poll_sleep`.
    """
    poll_s = DEFAULT_POLL_S if poll_s is None else poll_s
    sleep = sleep or poll_sleep
    by_model: dict[str, dict[str, GenerateRequest]] = {}
    for job in jobs:
        provider = providers.get(job.model.id)
        if provider is not None and batch_capable(provider):
            by_model.setdefault(job.model.id, {})[job.key] = GenerateRequest(job.rendered, request_id=job.key[:16])
    results: dict[str, GenerateResponse] = {}
    outcomes = await asyncio.gather(*(
        _model_batches(providers[model_id], requests, cache, reporter, poll_s, max_batch, sleep)
        for model_id, requests in by_model.items()
    ))
    for found in outcomes:
        results.update(found)
    return results


async def _model_batches(provider: Provider, requests: dict[str, GenerateRequest], cache: Any, reporter: Any,
                         poll_s: float, max_batch: int, sleep: Callable[[float], Awaitable[None]]
                         ) -> dict[str, GenerateResponse]:
    model_id = provider.spec.id
    pending: dict[str, list[str]] = {}
    for batch_id, keys in cache.open_batches(model_id):
        wanted = [k for k in keys if k in requests]
        if wanted:
            pending[batch_id] = wanted
            reporter.warn(f"{model_id}: resuming batch {batch_id} ({len(wanted)} requests)")
        else:  # nothing of this run is in it; leave it for the run that submitted it
            continue
    covered = {k for keys in pending.values() for k in keys}
    todo = [k for k in requests if k not in covered]
    for start in range(0, len(todo), max_batch):
        chunk = todo[start : start + max_batch]
        batch_id = await provider.submit_batch([(key, requests[key]) for key in chunk])  # type: ignore[attr-defined]
        cache.record_batch(batch_id, model_id, provider.spec.provider, chunk)
        pending[batch_id] = chunk
        reporter.warn(f"{model_id}: submitted batch {batch_id} ({len(chunk)} requests, billed at the batch rate)")

    results: dict[str, GenerateResponse] = {}
    while pending:
        for batch_id in list(pending):
            finished, status = await provider.poll_batch(batch_id)  # type: ignore[attr-defined]
            if not finished:
                continue
            keys = pending.pop(batch_id)
            subset = {k: requests[k] for k in keys}
            answers = await provider.batch_results(batch_id, subset)  # type: ignore[attr-defined]
            for key in keys:
                response = answers.get(key) or GenerateResponse(
                    error=ErrorKind.UNKNOWN, error_message=f"batch {batch_id} ended ({status}) without an answer")
                response.extra = {**response.extra, "batch_id": batch_id}
                attempt = cache.begin_attempt(key, model_id)
                cache.record(key, model_id, response, attempt)  # an answer is kept; a failure is asked again
                results[key] = response
            cache.finish_batch(batch_id, status)
            reporter.warn(f"{model_id}: batch {batch_id} {status}: "
                          f"{sum(1 for k in keys if results[k].ok)}/{len(keys)} answered")
        if pending:
            await sleep(poll_s)
    return results
