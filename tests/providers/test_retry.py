"""Retries: backoff with full jitter, retry-after, budget from models.yaml, and the runner wiring."""

from __future__ import annotations

import pytest

from evals.providers import retry as retry_module
from evals.providers.base import ErrorKind, GenerateResponse
from evals.providers.fake import FakeProvider
from evals.providers.retry import RetryPolicy, backoff_delay, generate_with_retries, parse_retry_after
from evals.runner.cache import ResponseCache
from evals.runner.run import RunOptions, run


class Sleeps:
    def __init__(self):
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def scripted(*responses: GenerateResponse):
    queue = list(responses)
    calls = []

    async def call() -> GenerateResponse:
        calls.append(1)
        return queue.pop(0)

    return call, calls


def err(kind: ErrorKind, retry_after: float | None = None) -> GenerateResponse:
    return GenerateResponse(error=kind, error_message=kind.value, retry_after_s=retry_after)


async def test_transient_errors_are_retried_until_success():
    sleeps = Sleeps()
    call, calls = scripted(err(ErrorKind.TIMEOUT), err(ErrorKind.CONNECTION), err(ErrorKind.SERVER_ERROR),
                           GenerateResponse(text="ok"))
    out = await generate_with_retries(call, RetryPolicy(max_retries=5, sleep=sleeps, rand=lambda: 1.0, base_s=0.5))
    assert out.text == "ok" and out.attempts == 4 and len(calls) == 4
    assert sleeps.calls == [0.5, 1.0, 2.0]  # exponential, full jitter at its top


@pytest.mark.parametrize("kind", [ErrorKind.REFUSED, ErrorKind.INVALID_REQUEST, ErrorKind.AUTH,
                                  ErrorKind.CONTEXT_LENGTH])
async def test_permanent_errors_are_not_retried(kind):
    sleeps = Sleeps()
    call, calls = scripted(err(kind), GenerateResponse(text="never"))
    out = await generate_with_retries(call, RetryPolicy(max_retries=5, sleep=sleeps))
    assert out.error is kind and out.attempts == 1 and len(calls) == 1 and sleeps.calls == []


async def test_a_malformed_reply_is_asked_again():
    """A truncated body or an empty ``choices`` is a glitch of that response, not of the request."""
    sleeps = Sleeps()
    call, calls = scripted(err(ErrorKind.MALFORMED_RESPONSE), GenerateResponse(text="whole"))
    out = await generate_with_retries(call, RetryPolicy(max_retries=5, sleep=sleeps, rand=lambda: 1.0))
    assert out.text == "whole" and out.attempts == 2 and len(calls) == 2 and sleeps.calls == [1.0]


async def test_budget_is_bounded_and_retry_after_honoured_and_capped():
    sleeps = Sleeps()
    call, calls = scripted(err(ErrorKind.RATE_LIMITED, 12.0), err(ErrorKind.RATE_LIMITED, 9999.0),
                           err(ErrorKind.RATE_LIMITED, 1.0), GenerateResponse(text="late"))
    out = await generate_with_retries(call, RetryPolicy(max_retries=2, sleep=sleeps, max_wait_s=60.0))
    assert out.error is ErrorKind.RATE_LIMITED and out.attempts == 3 and len(calls) == 3
    assert sleeps.calls == [12.0, 60.0]


def test_backoff_is_jittered_within_bounds():
    import random

    rng = random.Random(0)
    delays = [backoff_delay(4, 1.0, 10.0, rng.random) for _ in range(200)]
    assert all(0 <= d <= 10.0 for d in delays) and len(set(delays)) > 150


def test_parse_retry_after_http_date():
    assert parse_retry_after({"Retry-After": "Wed, 25 Nov 2026 18:00:30 GMT"}, now=1795629600.0) == 30.0
    assert parse_retry_after({"retry-after": "soon"}) is None


def test_runner_retries_with_budget_from_models_yaml(project, monkeypatch):
    sleeps = Sleeps()
    monkeypatch.setattr(retry_module, "default_sleep", sleeps)
    text = project.models_file.read_text().replace("family: chatty\n", "family: chatty\n    max_retries: 2\n")
    project.models_file.write_text(text)
    # first example: two rate limits then an answer; second: three server errors (budget spent)
    FakeProvider.reset(script=[err(ErrorKind.RATE_LIMITED, 3.0), err(ErrorKind.RATE_LIMITED, 3.0), "lead",
                               err(ErrorKind.SERVER_ERROR), err(ErrorKind.SERVER_ERROR), err(ErrorKind.SERVER_ERROR)]
                       + ["lead"] * 10)
    frame = run(project, RunOptions(models=["fake-a"], concurrency=1)).results
    assert len(FakeProvider.calls) == 3 + 3 + 4
    assert frame.iloc[0]["output"] == "lead"
    assert frame.iloc[1]["error"] == "server_error"
    assert sleeps.calls[:2] == [3.0, 3.0] and len(sleeps.calls) == 4
    with ResponseCache(project.cache_file) as cache:
        assert cache.get(frame.iloc[0]["cache_key"]).attempts == 3
        assert cache.get(frame.iloc[1]["cache_key"]) is None  # a spent retry budget is not cached
