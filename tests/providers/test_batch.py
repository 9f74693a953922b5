"""``evals run --batch`` against the OpenAI Batch and Anthropic Message Batches wire formats (MockTransport).

A restarted run resumes polling the batches it already submitted, and answers are priced at the batch rate.
"""

from __future__ import annotations

import asyncio
import json
import re

import pytest


httpx2 = pytest.importorskip("httpx2", reason="the anthropic/openai SDKs (and their httpx2) are not installed")

from evals.providers import anthropic as anthropic_module
from evals.providers import openai as openai_module
from evals.runner import batch as batch_module
from evals.runner.cache import ResponseCache
from evals.runner.run import RunOptions, run
from tests.conftest import write_project
from tests.providers.wire import anthropic_message, openai_chat

MODELS = """\
format_version: 1
models:
  - id: gpt-mini
    provider: openai
    model: gpt-4o-mini
    family: gpt
    context_window: 128000
    pricing: {tokens: {input_per_mtok: 0.15, output_per_mtok: 0.60, batch_price_share: 0.5}}
  - id: claude
    provider: anthropic
    model: claude-sonnet-4-6
    family: claude
    context_window: 200000
    pricing: {tokens: {input_per_mtok: 3.0, output_per_mtok: 15.0, batch_price_share: 0.5}}
"""


class FakeBatchAPIs:
    """Both providers' batch endpoints, in their documented formats; a batch ends after ``polls`` polls."""

    def __init__(self, polls: int = 2):
        self.polls = polls
        self.created: dict[str, list[str]] = {}  # batch id -> custom ids
        self.retrieves: dict[str, int] = {}
        self.uploads: dict[str, list[dict]] = {}
        self.anthropic_params: list[dict] = []
        self.requests: list[httpx2.Request] = []

    def __call__(self, req: httpx2.Request) -> httpx2.Response:
        self.requests.append(req)
        path, method = req.url.path, req.method
        if req.url.host == "api.openai.com":
            return self._openai(req, path, method)
        return self._anthropic(req, path, method)

    # OpenAI: files + batches (https://platform.openai.com/docs/api-reference/batch)
    def _openai(self, req, path, method):
        if path == "/v1/files" and method == "POST":
            body = req.content.decode()
            lines = [json.loads(m) for m in re.findall(r'^(\{"custom_id".*\})\r?$', body, flags=re.M)]
            file_id = f"file-{len(self.uploads) + 1}"
            self.uploads[file_id] = lines
            return httpx2.Response(200, json={"id": file_id, "object": "file", "bytes": len(body),
                                              "created_at": 1732550000, "filename": "batch.jsonl", "purpose": "batch",
                                              "status": "processed", "expires_at": None})
        if path == "/v1/batches" and method == "POST":
            sent = json.loads(req.content)
            batch_id = f"batch_{len(self.created) + 1}"
            self.created[batch_id] = [line["custom_id"] for line in self.uploads[sent["input_file_id"]]]
            self.uploads[f"in-{batch_id}"] = self.uploads[sent["input_file_id"]]
            return httpx2.Response(200, json=self._openai_batch(batch_id, "validating", sent["input_file_id"]))
        m = re.fullmatch(r"/v1/batches/(\w+)", path)
        if m:
            batch_id = m.group(1)
            self.retrieves[batch_id] = self.retrieves.get(batch_id, 0) + 1
            done = self.retrieves[batch_id] > self.polls
            return httpx2.Response(200, json=self._openai_batch(batch_id, "completed" if done else "in_progress",
                                                                "file-x", output=f"out-{batch_id}" if done else None))
        m = re.fullmatch(r"/v1/files/out-(\w+)/content", path)
        if m:
            lines = []
            for i, item in enumerate(self.uploads[f"in-{m.group(1)}"]):
                assert item["url"] == "/v1/chat/completions" and item["body"]["model"] == "gpt-4o-mini"
                if i == 1:  # one request fails inside the batch
                    lines.append({"id": f"batch_req_{i}", "custom_id": item["custom_id"],
                                  "response": {"status_code": 400, "request_id": "r",
                                               "body": {"error": {"message": "Invalid 'messages'", "type":
                                                                  "invalid_request_error", "code": None}}},
                                  "error": None})
                else:
                    lines.append({"id": f"batch_req_{i}", "custom_id": item["custom_id"],
                                  "response": {"status_code": 200, "request_id": "r", "body": openai_chat("lead")},
                                  "error": None})
            return httpx2.Response(200, content="\n".join(json.dumps(x) for x in lines).encode())
        return httpx2.Response(404, json={"error": {"message": f"no route {method} {path}", "type": "invalid_request_error"}})

    @staticmethod
    def _openai_batch(batch_id, status, input_file, output=None):
        return {"id": batch_id, "object": "batch", "endpoint": "/v1/chat/completions", "errors": None,
                "input_file_id": input_file, "completion_window": "24h", "status": status,
                "output_file_id": output, "error_file_id": None, "created_at": 1732550000,
                "in_progress_at": None, "expires_at": 1732636400, "finalizing_at": None, "completed_at": None,
                "failed_at": None, "expired_at": None, "cancelling_at": None, "cancelled_at": None,
                "request_counts": {"total": 3, "completed": 3 if output else 0, "failed": 0}, "metadata": None}

    # Anthropic Message Batches (https://docs.anthropic.com/en/api/creating-message-batches)
    def _anthropic(self, req, path, method):
        if path == "/v1/messages/batches" and method == "POST":
            sent = json.loads(req.content)["requests"]
            self.anthropic_params.extend(sent)
            batch_id = f"msgbatch_{len(self.created) + 1:04d}"
            self.created[batch_id] = [r["custom_id"] for r in sent]
            return httpx2.Response(200, json=self._anthropic_batch(batch_id, "in_progress"))
        m = re.fullmatch(r"/v1/messages/batches/(\w+)", path)
        if m:
            batch_id = m.group(1)
            self.retrieves[batch_id] = self.retrieves.get(batch_id, 0) + 1
            ended = self.retrieves[batch_id] > self.polls
            return httpx2.Response(200, json=self._anthropic_batch(batch_id, "ended" if ended else "in_progress"))
        m = re.fullmatch(r"/v1/messages/batches/(\w+)/results", path)
        if m:
            lines = []
            for i, custom_id in enumerate(self.created[m.group(1)]):
                if i == 2:
                    result = {"type": "expired"}
                else:
                    result = {"type": "succeeded", "message": anthropic_message()}
                lines.append({"custom_id": custom_id, "result": result})
            return httpx2.Response(200, content="\n".join(json.dumps(x) for x in lines).encode(),
                                   headers={"content-type": "application/binary"})
        return httpx2.Response(404, json={"type": "error", "error": {"type": "not_found_error", "message": path}})

    @staticmethod
    def _anthropic_batch(batch_id, status):
        ended = status == "ended"
        return {"id": batch_id, "type": "message_batch", "processing_status": status,
                "request_counts": {"processing": 0 if ended else 3, "succeeded": 2 if ended else 0, "errored": 0,
                                   "canceled": 0, "expired": 1 if ended else 0},
                "ended_at": "2026-11-25T19:00:00Z" if ended else None, "created_at": "2026-11-25T18:00:00Z",
                "expires_at": "2026-11-26T18:00:00Z", "archived_at": None, "cancel_initiated_at": None,
                "results_url": f"https://api.anthropic.com/v1/messages/batches/{batch_id}/results" if ended else None}


class Crash(Exception):
    pass


@pytest.fixture
def apis(tmp_path, monkeypatch):
    monkeypatch.setenv("EVALS_CACHE", str(tmp_path / "cache.sqlite"))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-batch-test")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-batch-test")
    fake = FakeBatchAPIs(polls=2)
    factory = lambda: httpx2.AsyncClient(transport=httpx2.MockTransport(fake))  # noqa: E731
    monkeypatch.setattr(openai_module, "http_client_factory", factory)
    monkeypatch.setattr(anthropic_module, "http_client_factory", factory)
    return fake


def test_batch_run_crash_then_resume_without_resubmitting(tmp_path, apis, monkeypatch):
    project = write_project(tmp_path / "proj", n_examples=3, models_yaml=MODELS)
    polls: list[float] = []

    async def crash_while_polling(seconds: float) -> None:
        """Die in the first poll wait once both models' batches are recorded (the two pollers interleave)."""
        polls.append(seconds)
        for _ in range(500):
            with ResponseCache(project.cache_file) as cache:
                if len(cache.batches()) == 2:
                    break
            await asyncio.sleep(0.01)
        raise Crash("killed while waiting for the batch")

    monkeypatch.setattr(batch_module, "poll_sleep", crash_while_polling)
    with pytest.raises(Crash):
        run(project, RunOptions(batch=True))
    assert len(apis.created) == 2 and polls and set(polls) == {batch_module.DEFAULT_POLL_S}
    with ResponseCache(project.cache_file) as cache:
        recorded = cache.batches()
    assert {b["batch_id"] for b in recorded} == set(apis.created)
    assert all(b["finished_at"] is None and len(b["keys"]) == 3 for b in recorded)

    async def no_wait(seconds: float) -> None:
        polls.append(seconds)

    monkeypatch.setattr(batch_module, "poll_sleep", no_wait)
    result = run(project, RunOptions(batch=True))
    assert len(apis.created) == 2  # resumed polling, nothing submitted again
    assert len(result.results) == 6 and not result.results["cached"].any()

    gpt = result.results[result.results.model == "gpt-mini"].reset_index(drop=True)
    assert gpt["error"].fillna("").tolist() == ["", "invalid_request", ""]
    ok = gpt.iloc[0]
    assert ok.input_tokens == 1200 and ok.output_tokens == 7
    assert ok.cost_usd == pytest.approx(0.5 * (1200 * 0.15 + 7 * 0.60) / 1e6)  # the batch rate

    claude = result.results[result.results.model == "claude"].reset_index(drop=True)
    assert claude["output"].tolist()[:2] == ["lead", "lead"] and claude.iloc[2]["error"] == "server_error"
    assert claude.iloc[0].cost_usd == pytest.approx(0.5 * (100 * 3.0 + 5 * 15.0) / 1e6)
    # the Anthropic batch carried Messages API params, keyed by the cache key
    params = apis.anthropic_params[0]["params"]
    assert params["model"] == "claude-sonnet-4-6" and params["max_tokens"] == 5
    assert set(apis.created[next(b for b in apis.created if b.startswith("msgbatch"))]) == set(claude["cache_key"])

    with ResponseCache(project.cache_file) as cache:
        assert all(b["finished_at"] is not None for b in cache.batches())
        assert {b["status"] for b in cache.batches()} == {"completed", "ended"}
    # a third run: answers come from the cache (still priced at the batch rate); the failures, the
    # expired request and the rejected one alike (journalled, not cached), are all that is submitted again
    before = set(apis.created)
    third = run(project, RunOptions(batch=True))
    new = set(apis.created) - before
    assert sorted(apis.created[b][0] for b in new) == sorted([claude.iloc[2]["cache_key"], gpt.iloc[1]["cache_key"]])
    assert all(len(apis.created[b]) == 1 for b in new)
    again = third.results[third.results.model == "gpt-mini"].reset_index(drop=True)
    assert again["cached"].tolist() == [True, False, True] and again.iloc[0].cost_usd == pytest.approx(ok.cost_usd)


def test_models_without_batch_support_run_normally(project, monkeypatch):
    monkeypatch.setattr(batch_module, "poll_sleep", lambda s: (_ for _ in ()).throw(AssertionError("no polling")))
    frame = run(project, RunOptions(batch=True)).results
    assert len(frame) == 12 and frame["error"].isna().all()
