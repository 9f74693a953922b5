"""The cache writer commits the answers that arrive within a couple of milliseconds of each other in one
transaction (issue 16: at 16 calls in flight answers come about a millisecond apart, and a transaction
and an event-loop wake-up per answer cost the writer thread 0.2-0.3 ms of CPU a row). Each answer is
still durable before its row counts (tests/runner/test_durable_writes.py)."""

from __future__ import annotations

import asyncio
import queue

from evals.providers.base import GenerateResponse
from evals.runner import cache as cache_module
from evals.runner.cache import ResponseCache


class Arrivals:
    """A queue whose items arrive one by one while the writer waits (``get`` with a timeout)."""

    def __init__(self, items):
        self.items = list(items)
        self.waits = []

    def get(self, timeout=None):
        self.waits.append(timeout)
        if not self.items:
            raise queue.Empty
        return self.items.pop(0)

    def get_nowait(self):
        raise queue.Empty  # nothing is there yet: it arrives during the wait


def _writer(items):
    writer = cache_module._Writer.__new__(cache_module._Writer)
    writer.queue = Arrivals(items)
    return writer


def test_writes_arriving_during_the_linger_join_the_batch():
    writer = _writer(["a", "b", "c"])
    assert writer._gather() == ["a", "b", "c"]
    assert all(w is not None and 0 < w <= cache_module._LINGER for w in writer.queue.waits[1:])


def test_the_stop_marker_ends_a_batch_at_once():
    writer = _writer(["a", cache_module._STOP, "late"])
    assert writer._gather() == ["a", cache_module._STOP]


def test_answers_committed_together_all_resolve(tmp_path):
    sizes = []
    real = cache_module._Writer._write

    def counting(self, db, batch):
        sizes.append(len(batch))
        return real(self, db, batch)

    cache_module._Writer._write = counting
    try:
        async def main(cache):
            async def one(i):
                token = cache.queue_attempt(f"k{i}", "m")
                await cache.commit_record(token, f"k{i}", "m", GenerateResponse(text=str(i), finish_reason="stop"))
            await asyncio.gather(*(one(i) for i in range(20)))

        with ResponseCache(tmp_path / "c.sqlite") as cache:
            asyncio.run(main(cache))
            assert len(cache) == 20 and cache.attempts_per_key() == {f"k{i}": 1 for i in range(20)}
    finally:
        cache_module._Writer._write = real
    assert sum(sizes) == 40 and len(sizes) < 20  # begins and records, fewer transactions than answers
