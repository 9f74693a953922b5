"""Per-model rate limits: requests and tokens per minute, from ``rate_limit`` in models.yaml.

A sliding one-minute window of what was sent. :meth:`RateLimiter.acquire` waits until one more
request with its estimated tokens fits; :meth:`RateLimiter.settle` replaces the estimate with the
usage the provider reported. Clock and sleep are injectable so tests run without waiting.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Awaitable, Callable

from evals.config.models import ModelSpec
from evals.prompts import RenderedPrompt

WINDOW_S = 60.0


def estimate_tokens(prompt: RenderedPrompt) -> int:
    """A conservative token estimate before the call: about 4 characters a token, plus ``max_tokens``.

    >>> from evals.prompts import RenderedPrompt
    >>> estimate_tokens(RenderedPrompt(messages=None, prompt="x" * 400, max_tokens=50, temperature=0.0))
    150
    """
    return len(prompt.text) // 4 + prompt.max_tokens


class _Grant:
    __slots__ = ("at", "tokens")

    def __init__(self, at: float, tokens: int):
        self.at = at
        self.tokens = tokens


class RateLimiter:
    """At most ``requests_per_minute`` requests and ``tokens_per_minute`` tokens in any 60 s window.

    ``None`` means no limit of that kind. One request larger than the whole token budget is let
    through alone (in an empty window) rather than blocking forever.
    """

    def __init__(self, requests_per_minute: int | None = None, tokens_per_minute: int | None = None, *,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep):
        self.rpm = requests_per_minute
        self.tpm = tokens_per_minute
        self.clock = clock
        self.sleep = sleep
        self._window: deque[_Grant] = deque()
        self._lock: asyncio.Lock | None = None
        self.waited_s = 0.0

    @classmethod
    def for_spec(cls, spec: ModelSpec, **kwargs) -> "RateLimiter":
        return cls(spec.rate_limit.requests_per_minute, spec.rate_limit.tokens_per_minute, **kwargs)

    @property
    def unlimited(self) -> bool:
        return self.rpm is None and self.tpm is None

    def _prune(self, now: float) -> None:
        while self._window and self._window[0].at <= now - WINDOW_S:
            self._window.popleft()

    def _wait_needed(self, now: float, tokens: int) -> float:
        self._prune(now)
        if not self._window:
            return 0.0
        if self.rpm is not None and len(self._window) >= self.rpm:
            return self._window[0].at + WINDOW_S - now
        if self.tpm is not None:
            used = sum(g.tokens for g in self._window)
            if used + tokens > self.tpm:
                # Wait until enough of the oldest grants leave the window.
                excess = used + tokens - self.tpm
                for grant in self._window:
                    excess -= grant.tokens
                    if excess <= 0:
                        return grant.at + WINDOW_S - now
                return self._window[-1].at + WINDOW_S - now
        return 0.0

    async def acquire(self, tokens: int = 0) -> _Grant | None:
        """Wait until a request of ``tokens`` fits; returns a grant for :meth:`settle`."""
        if self.unlimited:
            return None
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:  # first come, first served
            while True:
                now = self.clock()
                wait = self._wait_needed(now, tokens)
                if wait <= 0:
                    grant = _Grant(now, tokens)
                    self._window.append(grant)
                    return grant
                self.waited_s += wait
                await self.sleep(wait)

    def settle(self, grant: _Grant | None, actual_tokens: int | None) -> None:
        """Replace a grant's estimate with the tokens the provider reported."""
        if grant is not None and actual_tokens is not None:
            grant.tokens = actual_tokens
