"""Faults between the harness and a real OpenAI-compatible server: 30% of requests fail on purpose.

A :class:`~tests.hardening.fault_proxy.FaultProxy` sits in front of the session's llama.cpp server and
answers 429 (with retry-after), 500, a hang (the client times out) or a malformed body for 30% of
requests, chosen by seed. The run must complete with one row per job; each row's error kind must be
what the proxy did to that request's last attempt (transient faults and malformed bodies are retried;
a failure that outlives the retries is reported, and asked again by a re-run); no request that got an
answer is sent again, neither within the run nor by a re-run.
"""

from __future__ import annotations

from collections import defaultdict

import httpx
import pandas as pd
import pytest

from evals.project import Project
from evals.runner.cache import ResponseCache
from evals.runner.run import RunOptions, run
from tests.conftest import write_project
from tests.hardening.fault_proxy import FAULTS, FaultProxy

SEED = 18  # 16 faults in 46 requests (35%), every fault kind, four hangs, one request tried five times
EXAMPLES = 30
EXPECTED_KIND = {
    "forwarded": None,
    "forwarded_undelivered": "timeout",  # the server answered after the client had given up
    "rate_limited": "rate_limited",
    "server_error": "server_error",
    "timeout": "timeout",
    "malformed_truncated": "malformed_response",
    "malformed_shape": "malformed_response",
}
RETRIED = {"rate_limited", "server_error", "timeout", "malformed_response"}


def _models_yaml(base_url: str) -> str:
    return f"""\
format_version: 1
models:
  - id: smol-proxied
    provider: openai-compatible
    model: smollm2
    family: chatty
    context_window: 2048
    base_url: {base_url}
    timeout_s: 8
    max_retries: 4
    pricing: {{self_hosted: {{hourly_usd: 1.0}}}}
"""


def _user(prompt_text: str) -> str:
    return prompt_text.rsplit("[user]\n", 1)[-1]


def test_run_survives_thirty_percent_faults(llama_server, tmp_path, monkeypatch):
    upstream = llama_server.rsplit("/v1", 1)[0]
    monkeypatch.setenv("EVALS_CACHE", str(tmp_path / "cache.sqlite"))
    monkeypatch.setattr("evals.providers.retry.default_sleep", _short_sleep)
    # The first request after start-up can be slow on a busy machine; keep it out of the measured run.
    httpx.post(f"{llama_server}/chat/completions", timeout=120,
               json={"model": "smollm2", "max_tokens": 1, "messages": [{"role": "user", "content": "hi"}]})
    with FaultProxy(upstream, seed=SEED, fault_rate=0.3, hang_s=30) as proxy:
        project: Project = write_project(tmp_path / "proj", n_examples=EXAMPLES,
                                         models_yaml=_models_yaml(proxy.base_url))
        frame = run(project, RunOptions(concurrency=2)).results
        first_events = list(proxy.events)

        # --- the run completed with every row, and each failure is classified --------------------
        assert len(frame) == EXAMPLES and frame["example_id"].nunique() == EXAMPLES
        outcomes = {e.outcome for e in first_events}
        assert set(FAULTS) <= outcomes, f"seed {SEED} should exercise every fault kind, got {outcomes}"
        faults = sum(e.outcome != "forwarded" for e in first_events)
        assert 0.15 < faults / len(first_events) < 0.5
        by_user: dict[str, list] = defaultdict(list)
        for event in first_events:
            by_user[event.user].append(event)
        for _, row in frame.iterrows():
            user = _user(row["prompt_text"])
            events = sorted(by_user[user], key=lambda e: e.seen)
            assert [e.seen for e in events] == list(range(1, len(events) + 1)), f"no row lost: {row['example_id']}"
            for event in events:  # the proxy did what the seed says to the n-th attempt of this request
                decided = "forwarded" if event.outcome.startswith("forwarded") else event.outcome
                assert decided == proxy.choose(user.encode(), event.seen)
            kinds = [EXPECTED_KIND[e.outcome] for e in events]
            assert all(k in RETRIED for k in kinds[:-1]), "only transient failures and malformed bodies are retried"
            assert kinds[-1] not in RETRIED or len(events) == 1 + 4, "a retryable failure is retried 4 times"
            error = None if pd.isna(row["error"]) else row["error"]
            if kinds[-1] is None and row["finish_reason"] == "length":  # an answer, cut at max_tokens
                assert error == "truncated" and row["score"] == 0.0
            else:
                assert error == kinds[-1], (row["example_id"], [e.outcome for e in events])
            if error is None:
                assert row["output"] and row["score"] is not None
            else:
                assert row["error_message"]

        # --- nothing that got an answer was paid for twice ----------------------------------------
        delivered = defaultdict(int)
        for event in first_events:
            delivered[event.body_key] += event.outcome == "forwarded"
        assert max(delivered.values()) == 1
        with ResponseCache(project.cache_file) as cache:
            assert set(cache.attempts_per_key().values()) == {1}

        # --- a re-run only asks again where the answer never came ---------------------------------
        again = run(project, RunOptions(concurrency=2)).results
        new_events = proxy.events[len(first_events):]
        retried = {_user(t) for t, c in zip(frame["prompt_text"], frame["error_class"]) if c == "infra"}
        assert {e.user for e in new_events} == retried
        answered_before = {e.body_key for e in first_events if e.outcome == "forwarded"}
        assert not any(e.outcome == "forwarded" and e.body_key in answered_before for e in new_events)
        assert len(again) == EXAMPLES
        assert again["cached"].sum() == EXAMPLES - len(retried)


async def _short_sleep(seconds: float) -> None:
    """Retry waits cut to a tenth (still honouring their order), so the test stays quick."""
    import asyncio

    await asyncio.sleep(min(seconds, 10) / 10)


@pytest.mark.parametrize("seen", [1, 2, 3])
def test_fault_choice_is_deterministic(seen):
    a, b = FaultProxy("http://x", seed=SEED), FaultProxy("http://x", seed=SEED)
    bodies = [f'{{"n": {i}}}'.encode() for i in range(200)]
    choices = [a.choose(body, seen) for body in bodies]
    assert choices == [b.choose(body, seen) for body in bodies]
    share = sum(c != "forwarded" for c in choices) / len(choices)
    assert 0.2 < share < 0.4
