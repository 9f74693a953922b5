"""Retries with exponential backoff and full jitter on retryable errors, honouring ``retry-after``.

A provider returns rate limits, timeouts, server errors, dropped connections and malformed replies as
``GenerateResponse(error=...)`` with :attr:`~evals.providers.base.ErrorKind.retryable` set, and
``retry_after_s`` when the server said how long to wait. :func:`generate_with_retries` calls again up
to ``max_retries`` times, sleeping ``retry_after_s`` when given and otherwise a full-jitter delay
(uniform in ``[0, min(cap, base * 2**n)]``; AWS Architecture Blog, "Exponential Backoff and Jitter").
Sleep, clock and randomness are injectable so tests count retries without waiting.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from dataclasses import dataclass, field
from typing import Awaitable, Callable, Mapping

from evals.providers.base import GenerateResponse

Sleep = Callable[[float], Awaitable[None]]


async def default_sleep(seconds: float) -> None:
    """What a retry waits with unless a policy brings its own (tests replace this module attribute)."""
    await asyncio.sleep(seconds)


def parse_retry_after(headers: Mapping[str, str] | None, now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date).

    >>> parse_retry_after({"retry-after": "2"})
    2.0
    >>> parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"})
    1.5
    >>> parse_retry_after({}) is None
    True
    """
    if not headers:
        return None
    lower = {str(k).lower(): str(v) for k, v in headers.items()}
    raw_ms = lower.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000)
        except ValueError:
            pass
    raw = lower.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def backoff_delay(retry: int, base_s: float, cap_s: float, rand: Callable[[], float] = random.random) -> float:
    """Full-jitter delay before retry number ``retry`` (0-based).

    >>> backoff_delay(3, 1.0, 60.0, rand=lambda: 1.0)
    8.0
    >>> backoff_delay(10, 1.0, 60.0, rand=lambda: 0.5)
    30.0
    """
    return rand() * min(cap_s, base_s * (2 ** retry))


@dataclass
class RetryPolicy:
    """How to retry: at most ``max_retries`` extra calls after the first one.

    ``max_wait_s`` caps a server's ``retry-after`` so a bad header cannot stall a run for hours.
    """

    max_retries: int = 4
    base_s: float = 1.0
    cap_s: float = 60.0
    max_wait_s: float = 300.0
    sleep: Sleep | None = field(default=None, repr=False)  # None: module-level ``default_sleep``
    rand: Callable[[], float] = field(default=random.random, repr=False)

    def delay(self, retry: int, response: GenerateResponse) -> float:
        if response.retry_after_s is not None:
            return min(self.max_wait_s, max(0.0, response.retry_after_s))
        return backoff_delay(retry, self.base_s, self.cap_s, self.rand)


async def generate_with_retries(call: Callable[[], Awaitable[GenerateResponse]], policy: RetryPolicy,
                                on_retry: Callable[[int, GenerateResponse, float], None] | None = None
                                ) -> GenerateResponse:
    """Call until an answer, a permanent error, or the retry budget is spent.

    Returns the last response with ``attempts`` set to the number of calls made. ``on_retry`` is told
    (retry number, failed response, delay) before each wait.
    """
    retry = 0
    while True:
        response = await call()
        response.attempts = retry + 1
        if response.ok or response.error is None or not response.error.retryable or retry >= policy.max_retries:
            return response
        wait = policy.delay(retry, response)
        if on_retry is not None:
            on_retry(retry, response, wait)
        await (policy.sleep or default_sleep)(wait)
        retry += 1


async def reliable_generate(provider, request, *, limiter=None, policy: RetryPolicy | None = None,
                            call=None) -> GenerateResponse:
    """One request through the model's rate limiter and the retry policy.

    Every attempt waits for the rate limiter; the limiter learns the real token usage afterwards.
    ``call`` (default ``provider.generate``) lets the runner wrap the provider call.
    """
    from evals.providers.limits import estimate_tokens

    policy = policy or RetryPolicy(max_retries=provider.spec.max_retries)
    call = call or provider.generate

    async def attempt() -> GenerateResponse:
        grant = await limiter.acquire(estimate_tokens(request.prompt)) if limiter is not None else None
        response = await call(request)
        if limiter is not None and response.input_tokens is not None:
            limiter.settle(grant, response.input_tokens + (response.output_tokens or 0))
        return response

    return await generate_with_retries(attempt, policy)
