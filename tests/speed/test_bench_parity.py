"""The benchmarks compare like with like: every side sends the request the harness sends (no timings)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import httpx
import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

from _common import MAX_TOKENS, SYSTEM, USER, triage_items, write_stub_project  # noqa: E402
from stub_server import StubServer  # noqa: E402


@pytest.fixture(scope="module")
def stub():
    with StubServer(label="customer_support") as base_url:
        yield base_url


def test_bare_loop_sends_the_harness_request(stub, tmp_path):
    from evals.config.models import load_models
    from evals.project import Project
    from evals.providers.base import GenerateRequest
    from evals.runner.run import SilentReporter, _providers, load_suites, plan

    items = triage_items(5)
    project = Project(write_stub_project(tmp_path / "proj", items, stub, 16))
    providers = _providers(load_models(project.models_file).models, None, SilentReporter())
    jobs = plan(project, load_suites(project, None, None, None), providers, 1, None)
    assert len(jobs) == 5
    for job, item in zip(jobs, items):
        _, body = providers["stub"].request_body(GenerateRequest(job.rendered))
        assert body["messages"] == [{"role": "system", "content": SYSTEM},
                                    {"role": "user", "content": USER.format(**item)}]
        assert (body["temperature"], body["max_tokens"]) == (0, MAX_TOKENS)


def test_items_are_distinct_prompts_with_gold_labels():
    items = triage_items(300)
    assert len({USER.format(**i) for i in items}) == 300
    assert {i["label"] for i in items} == {"inbound_lead", "customer_support", "outbound_reply", "spam_or_vendor"}


def test_stub_answers_like_an_openai_server(stub):
    body = {"model": "stub-model", "messages": [{"role": "user", "content": "x" * 400}], "max_tokens": 8}
    with httpx.Client(base_url=stub) as client:
        reply = client.post("/chat/completions", json=body).json()
        streamed = client.post("/chat/completions", json={**body, "stream": True}).text
        assert client.get("/models").json()["data"][0]["id"] == "stub-model"
        assert client.post("/nothing", json={}).status_code == 404
    assert reply["choices"][0]["message"]["content"] == "customer_support"
    assert reply["usage"] == {"prompt_tokens": 100, "completion_tokens": 1, "total_tokens": 101}
    events = [json.loads(line[6:]) for line in streamed.splitlines() if line.startswith("data: {")]
    assert events[0]["choices"][0]["delta"]["content"] == "customer_support" and streamed.endswith("data: [DONE]\n\n")
