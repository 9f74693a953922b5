"""Per-model rate limits: requests and tokens per minute on a fake clock."""

from __future__ import annotations

import asyncio

from evals.prompts import RenderedPrompt
from evals.providers.base import GenerateRequest, GenerateResponse
from evals.providers.fake import FakeProvider
from evals.providers.limits import RateLimiter, estimate_tokens
from evals.providers.retry import reliable_generate
from tests.providers.wire import spec


class FakeClock:
    def __init__(self):
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def limiter(clock: FakeClock, rpm=None, tpm=None) -> RateLimiter:
    return RateLimiter(rpm, tpm, clock=clock, sleep=clock.sleep)


async def test_requests_per_minute():
    clock = FakeClock()
    lim = limiter(clock, rpm=3)
    starts = []
    for _ in range(7):
        await lim.acquire()
        starts.append(clock.now - 1000.0)
    assert starts == [0, 0, 0, 60, 60, 60, 120]


async def test_tokens_per_minute_and_settle():
    clock = FakeClock()
    lim = limiter(clock, tpm=1000)
    g1 = await lim.acquire(600)
    await lim.acquire(300)
    assert clock.sleeps == []
    await lim.acquire(200)  # 1100 > 1000: waits until the first grant leaves the window
    assert clock.now - 1000.0 == 60.0
    clock2 = FakeClock()
    lim2 = limiter(clock2, tpm=1000)
    g = await lim2.acquire(900)
    lim2.settle(g, 100)  # the call used far fewer tokens than estimated
    await lim2.acquire(800)
    assert clock2.sleeps == []
    assert g1.tokens == 600


async def test_oversized_request_passes_alone():
    clock = FakeClock()
    lim = limiter(clock, tpm=100)
    await lim.acquire(5000)
    assert clock.sleeps == []
    await lim.acquire(10)
    assert clock.now - 1000.0 == 60.0


async def test_concurrent_acquires_respect_the_limit():
    clock = FakeClock()
    lim = limiter(clock, rpm=2)
    times: list[float] = []

    async def one():
        await lim.acquire()
        times.append(clock.now - 1000.0)

    await asyncio.gather(*(one() for _ in range(5)))
    assert sorted(times) == [0, 0, 60, 60, 120]


async def test_unlimited_never_waits():
    clock = FakeClock()
    lim = limiter(clock)
    for _ in range(1000):
        assert await lim.acquire(10**6) is None
    assert clock.sleeps == []


def test_estimate_counts_prompt_and_max_tokens():
    p = RenderedPrompt(messages=({"role": "user", "content": "x" * 396},), prompt=None, max_tokens=50, temperature=0)
    assert estimate_tokens(p) == len(p.text) // 4 + 50


async def test_reliable_generate_goes_through_the_limiter():
    clock = FakeClock()
    s = spec("fake", "fake", rate_limit={"requests_per_minute": 2})
    provider = FakeProvider(s)
    FakeProvider.reset(script=["a", "b", "c"])
    lim = RateLimiter.for_spec(s, clock=clock, sleep=clock.sleep)
    prompt = RenderedPrompt(messages=None, prompt="hello", max_tokens=5, temperature=0)
    outs = [await reliable_generate(provider, GenerateRequest(prompt), limiter=lim) for _ in range(3)]
    assert [o.text for o in outs] == ["a", "b", "c"] and clock.sleeps == [60.0]
    assert isinstance(outs[0], GenerateResponse) and outs[0].attempts == 1
