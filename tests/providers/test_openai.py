"""The OpenAI and OpenAI-compatible adapters against the documented wire format, offline (MockTransport)."""

from __future__ import annotations

import pytest

from evals.providers.base import ErrorKind
from evals.providers.openai import OpenAICompatibleProvider, OpenAIProvider, response_format, strict_compatible
from evals.providers.retry import RetryPolicy, generate_with_retries
from tests.providers.wire import (
    Recorder, openai_chat, openai_completion, openai_error, refused_connection, request, respond, spec, timeout,
)

SCHEMA = {"type": "object", "properties": {"label": {"type": "string", "enum": ["lead", "support"]}},
          "required": ["label"], "additionalProperties": False}


@pytest.fixture(autouse=True)
def key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-openai")


def provider(recorder: Recorder, **kwargs) -> OpenAIProvider:
    return OpenAIProvider(spec("openai", "gpt-4o-mini", **kwargs), http_client=recorder.client())


async def test_success_maps_text_usage_and_request():
    rec = Recorder(respond(200, openai_chat("lead", cached=1024)))
    response = await provider(rec).generate(request(stop=("\n",), top_p=0.9))
    assert response.ok and response.text == "lead"
    assert (response.input_tokens, response.output_tokens, response.cache_read_tokens) == (1200, 7, 1024)
    assert response.finish_reason == "stop" and response.raw_model == "gpt-4o-mini-2024-07-18"
    assert response.latency_ms is not None and response.latency_ms >= 0
    sent = rec.json()
    assert str(rec.requests[0].url) == "https://api.openai.com/v1/chat/completions"
    assert rec.requests[0].headers["authorization"] == "Bearer sk-test-openai"
    assert sent["model"] == "gpt-4o-mini" and sent["max_completion_tokens"] == 16 and sent["temperature"] == 0.0
    assert sent["stop"] == ["\n"] and sent["top_p"] == 0.9
    assert sent["messages"][0] == {"role": "system", "content": "You sort emails."}
    assert "response_format" not in sent


async def test_structured_outputs_json_schema_strict():
    rec = Recorder(respond(200, openai_chat('{"label": "lead"}')))
    response = await provider(rec).generate(request(json_output=True, schema=SCHEMA))
    assert response.text == '{"label": "lead"}'
    assert rec.json()["response_format"] == {
        "type": "json_schema", "json_schema": {"name": "output", "schema": SCHEMA, "strict": True}}


def test_strict_only_when_the_schema_allows_it():
    loose = {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "integer"}}, "required": ["a"]}
    assert not strict_compatible(loose)
    assert response_format(loose)["json_schema"]["strict"] is False
    assert response_format(None) == {"type": "json_object"}


async def test_refusal_field_is_refused_not_an_answer():
    rec = Recorder(respond(200, openai_chat(None, refusal="I'm sorry, I can't help with that.")))
    response = await provider(rec).generate(request(json_output=True, schema=SCHEMA))
    assert response.error is ErrorKind.REFUSED and "can't help" in response.error_message
    assert response.text == "" and response.input_tokens == 1200  # usage is still reported (it was billed)


async def test_content_filter_is_refused():
    rec = Recorder(respond(200, openai_chat("", finish="content_filter")))
    assert (await provider(rec).generate(request())).error is ErrorKind.REFUSED


async def test_429_with_retry_after_is_retried_and_counted_not_slept():
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    limited = respond(429, openai_error("Rate limit reached for gpt-4o-mini", "requests", "rate_limit_exceeded"),
                      headers={"retry-after": "7", "x-ratelimit-remaining-requests": "0"})
    rec = Recorder(limited, limited, respond(200, openai_chat("lead")))
    p = provider(rec)
    first = await p.generate(request())
    assert first.error is ErrorKind.RATE_LIMITED and first.retry_after_s == 7.0
    rec.queue = [limited, limited, respond(200, openai_chat("lead"))]
    final = await generate_with_retries(lambda: p.generate(request()), RetryPolicy(max_retries=4, sleep=fake_sleep))
    assert final.ok and final.attempts == 3 and slept == [7.0, 7.0]
    assert len(rec.requests) == 4  # the SDK did not retry on its own (max_retries=0)


async def test_retry_after_ms_header_wins():
    rec = Recorder(respond(429, openai_error("slow down", "requests"), headers={"retry-after-ms": "250",
                                                                                "retry-after": "1"}))
    assert (await provider(rec).generate(request())).retry_after_s == 0.25


async def test_insufficient_quota_is_not_retried():
    rec = Recorder(respond(429, openai_error("You exceeded your current quota", "insufficient_quota",
                                             "insufficient_quota")))
    response = await provider(rec).generate(request())
    assert response.error is ErrorKind.AUTH and not response.error.transient


@pytest.mark.parametrize("status,body,kind", [
    (500, openai_error("The server had an error", "server_error"), ErrorKind.SERVER_ERROR),
    (503, openai_error("overloaded", "server_error"), ErrorKind.SERVER_ERROR),
    (401, openai_error("Incorrect API key provided", "invalid_request_error", "invalid_api_key"), ErrorKind.AUTH),
    (400, openai_error("This model's maximum context length is 128000 tokens", "invalid_request_error",
                       "context_length_exceeded"), ErrorKind.CONTEXT_LENGTH),
    (400, openai_error("Invalid schema for response_format", "invalid_request_error"), ErrorKind.INVALID_REQUEST),
])
async def test_status_errors_map_to_kinds(status, body, kind):
    response = await provider(Recorder(respond(status, body))).generate(request())
    assert response.error is kind and response.text == ""
    assert len(response.error_message) <= 500


async def test_500_then_success_is_retried():
    rec = Recorder(respond(500, openai_error("boom", "server_error")), respond(200, openai_chat("support")))
    slept: list[float] = []

    async def fake_sleep(s: float) -> None:
        slept.append(s)

    p = provider(rec)
    out = await generate_with_retries(lambda: p.generate(request()),
                                      RetryPolicy(max_retries=2, sleep=fake_sleep, rand=lambda: 0.5))
    assert out.text == "support" and out.attempts == 2 and slept == [0.5]


async def test_timeout_and_connection_errors():
    assert (await provider(Recorder(timeout), timeout_s=1).generate(request())).error is ErrorKind.TIMEOUT
    assert (await provider(Recorder(refused_connection)).generate(request())).error is ErrorKind.CONNECTION


@pytest.mark.parametrize("body", [b"<html>502 Bad Gateway</html>", {"id": "x", "object": "chat.completion"},
                                  {"choices": []}])
async def test_malformed_body(body):
    response = await provider(Recorder(respond(200, body))).generate(request())
    assert response.error is ErrorKind.MALFORMED_RESPONSE


async def test_key_never_in_error_messages(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-value-123")
    rec = Recorder(respond(401, openai_error("Incorrect API key provided: sk-secret-value-123", "invalid_request_error",
                                             "invalid_api_key")))
    response = await provider(rec).generate(request())
    assert "sk-secret-value-123" not in (response.error_message or "")
    assert "sk-secret" not in str(provider(rec).cache_identity())


def test_unavailable_without_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    assert OpenAIProvider.unavailable_reason(spec("openai", "gpt-4o")) == "missing key: set OPENAI_API_KEY"
    assert OpenAIProvider.unavailable_reason(spec("openai", "gpt-4o", api_key_env="MY_KEY")) == "missing key: set MY_KEY"


# -- OpenAI-compatible ---------------------------------------------------------------------------------

def compat(recorder: Recorder, **kwargs) -> OpenAICompatibleProvider:
    kwargs.setdefault("base_url", "http://127.0.0.1:9/v1")
    return OpenAICompatibleProvider(spec("openai-compatible", "served-model", **kwargs), http_client=recorder.client())


async def test_compatible_uses_base_url_dummy_key_and_max_tokens(monkeypatch):
    rec = Recorder(respond(200, openai_chat("lead")))
    response = await compat(rec, api_key_env="LOCAL_KEY_UNSET").generate(request())
    assert response.ok and response.input_tokens == 1200
    req = rec.requests[0]
    assert str(req.url) == "http://127.0.0.1:9/v1/chat/completions"
    assert req.headers["authorization"] == "Bearer not-needed"
    assert rec.json()["max_tokens"] == 16 and "max_completion_tokens" not in rec.json()


async def test_compatible_guided_json_only_when_asked():
    rec = Recorder(respond(200, openai_chat('{"label": "lead"}')))
    await compat(rec).generate(request(json_output=True, schema=SCHEMA))
    assert "guided_json" not in rec.json() and rec.json()["response_format"]["type"] == "json_schema"
    await compat(rec, options={"json_mode": "guided_json"}).generate(request(json_output=True, schema=SCHEMA))
    assert rec.json()["guided_json"] == SCHEMA and rec.json()["response_format"]["json_schema"]["schema"] == SCHEMA


async def test_compatible_completion_template_goes_to_completions():
    from evals.prompts import RenderedPrompt
    from evals.providers.base import GenerateRequest

    rec = Recorder(respond(200, openai_completion(" lead")))
    prompt = RenderedPrompt(messages=None, prompt="Email: hi\nLabel:", max_tokens=3, temperature=0.0, stop=("\n",))
    response = await compat(rec).generate(GenerateRequest(prompt))
    assert response.text == " lead" and (response.input_tokens, response.output_tokens) == (12, 3)
    assert str(rec.requests[0].url).endswith("/v1/completions")
    assert rec.json()["prompt"] == "Email: hi\nLabel:" and rec.json()["max_tokens"] == 3


def test_compatible_availability_names_url_and_key(monkeypatch):
    monkeypatch.delenv("REMOTE_KEY", raising=False)
    unreachable = OpenAICompatibleProvider.unavailable_reason(
        spec("openai-compatible", "m", base_url="http://127.0.0.1:9/v1"))
    assert unreachable.startswith("endpoint unreachable: http://127.0.0.1:9/v1")
    remote = spec("openai-compatible", "m", base_url="https://vllm.internal.example:8443/v1", api_key_env="REMOTE_KEY")
    assert OpenAICompatibleProvider.unavailable_reason(remote) == "missing key: set REMOTE_KEY"
    assert "base_url" in OpenAICompatibleProvider.unavailable_reason(spec("openai-compatible", "m"))


async def test_compatible_json_object_mode_for_llama_cpp_servers():
    rec = Recorder(respond(200, openai_chat('{"label": "lead"}')))
    await compat(rec, options={"json_mode": "json_object"}).generate(request(json_output=True, schema=SCHEMA))
    assert rec.json()["response_format"] == {"type": "json_object", "schema": SCHEMA}
    await compat(rec, options={"json_mode": "none"}).generate(request(json_output=True, schema=SCHEMA))
    assert "response_format" not in rec.json()
