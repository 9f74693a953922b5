"""The Anthropic adapter against the Messages API wire format, offline (MockTransport)."""

from __future__ import annotations

import json

import pytest

from evals.providers.anthropic import TOOL_NAME, AnthropicProvider
from evals.providers.base import ErrorKind
from evals.providers.retry import RetryPolicy, generate_with_retries
from tests.providers.wire import (
    Recorder, anthropic_error, anthropic_message, refused_connection, request, respond, spec, timeout,
)

SCHEMA = {"type": "object", "properties": {"label": {"type": "string"}}, "required": ["label"]}


@pytest.fixture(autouse=True)
def key(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")


def provider(recorder: Recorder, **kwargs) -> AnthropicProvider:
    return AnthropicProvider(spec("anthropic", "claude-sonnet-4-6", **kwargs), http_client=recorder.client())


async def test_success_request_shape_and_usage():
    rec = Recorder(respond(200, anthropic_message(cache_read=2000, cache_write=300)))
    response = await provider(rec).generate(request(stop=("\n\n",)))
    assert response.ok and response.text == "lead" and response.finish_reason == "end_turn"
    # input_tokens is the whole prompt: uncached + cache read + cache write
    assert (response.input_tokens, response.output_tokens) == (2400, 5)
    assert (response.cache_read_tokens, response.cache_write_tokens) == (2000, 300)
    req = rec.requests[0]
    assert str(req.url) == "https://api.anthropic.com/v1/messages"
    assert req.headers["authorization"] == "Bearer sk-ant-test" and "anthropic-version" in req.headers
    sent = rec.json()
    assert sent["system"] == "You sort emails."
    assert sent["messages"] == [{"role": "user", "content": "Hi there"}]
    assert sent["max_tokens"] == 16 and sent["stop_sequences"] == ["\n\n"]
    # API version 2026-10-21 (the SDK default) rejects sampling parameters: not sent unless asked
    assert "temperature" not in sent and "top_p" not in sent and "tools" not in sent


async def test_sampling_params_and_version_when_asked():
    rec = Recorder(respond(200, anthropic_message()))
    p = provider(rec, options={"sampling_params": True, "anthropic_version": "2023-06-01"})
    await p.generate(request(top_p=0.9))
    assert rec.json()["temperature"] == 0.0 and rec.json()["top_p"] == 0.9
    assert rec.requests[0].headers["anthropic-version"] == "2023-06-01"


async def test_json_via_output_config_when_asked():
    rec = Recorder(respond(200, anthropic_message([{"type": "text", "text": '{"label": "lead"}'}])))
    response = await provider(rec, options={"json_mode": "output_format"}).generate(
        request(json_output=True, schema=SCHEMA))
    assert json.loads(response.text) == {"label": "lead"}
    assert rec.json()["output_config"] == {"format": {"type": "json_schema", "schema": SCHEMA}}
    assert "tools" not in rec.json()


async def test_json_output_is_a_forced_tool_call():
    tool = {"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": TOOL_NAME, "input": {"label": "lead"}}
    rec = Recorder(respond(200, anthropic_message([tool], stop_reason="tool_use")))
    response = await provider(rec).generate(request(json_output=True, schema=SCHEMA))
    assert json.loads(response.text) == {"label": "lead"} and response.finish_reason == "tool_use"
    sent = rec.json()
    assert sent["tools"][0]["name"] == TOOL_NAME and sent["tools"][0]["input_schema"] == SCHEMA
    assert sent["tool_choice"] == {"type": "tool", "name": TOOL_NAME}


async def test_non_object_schema_is_wrapped_and_unwrapped():
    tool = {"type": "tool_use", "id": "toolu_1", "name": TOOL_NAME, "input": {"value": ["a", "b"]}}
    rec = Recorder(respond(200, anthropic_message([tool], stop_reason="tool_use")))
    response = await provider(rec).generate(request(json_output=True, schema={"type": "array"}))
    assert json.loads(response.text) == ["a", "b"]
    assert rec.json()["tools"][0]["input_schema"]["properties"]["value"] == {"type": "array"}


async def test_json_without_tool_call_is_malformed():
    rec = Recorder(respond(200, anthropic_message([], stop_reason="end_turn")))
    response = await provider(rec).generate(request(json_output=True, schema=SCHEMA))
    assert response.error is ErrorKind.MALFORMED_RESPONSE


async def test_refusal_stop_reason():
    rec = Recorder(respond(200, anthropic_message([{"type": "text", "text": "I can't help with that."}],
                                                  stop_reason="refusal")))
    response = await provider(rec).generate(request())
    assert response.error is ErrorKind.REFUSED and response.text == "" and response.output_tokens == 5


async def test_429_retry_after_then_success_counted():
    slept: list[float] = []

    async def fake_sleep(s: float) -> None:
        slept.append(s)

    limited = respond(429, anthropic_error("rate_limit_error", "Number of request tokens has exceeded your per-minute "
                                           "rate limit"), headers={"retry-after": "3"})
    rec = Recorder(limited, respond(200, anthropic_message()))
    p = provider(rec)
    out = await generate_with_retries(lambda: p.generate(request()), RetryPolicy(max_retries=3, sleep=fake_sleep))
    assert out.ok and out.attempts == 2 and slept == [3.0] and len(rec.requests) == 2


async def test_retries_exhausted_keeps_the_error():
    rec = Recorder(respond(529, anthropic_error("overloaded_error", "Overloaded")))
    p = provider(rec)
    slept: list[float] = []

    async def fake_sleep(s: float) -> None:
        slept.append(s)

    out = await generate_with_retries(lambda: p.generate(request()),
                                      RetryPolicy(max_retries=2, sleep=fake_sleep, rand=lambda: 1.0, base_s=2.0))
    assert out.error is ErrorKind.SERVER_ERROR and out.attempts == 3 and slept == [2.0, 4.0]
    assert len(rec.requests) == 3


@pytest.mark.parametrize("status,type_,kind", [
    (500, "api_error", ErrorKind.SERVER_ERROR),
    (401, "authentication_error", ErrorKind.AUTH),
    (400, "invalid_request_error", ErrorKind.INVALID_REQUEST),
])
async def test_status_errors(status, type_, kind):
    response = await provider(Recorder(respond(status, anthropic_error(type_, "something")))).generate(request())
    assert response.error is kind


async def test_prompt_too_long_is_context_length():
    body = anthropic_error("invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum")
    assert (await provider(Recorder(respond(400, body))).generate(request())).error is ErrorKind.CONTEXT_LENGTH


async def test_timeout_connection_and_malformed():
    assert (await provider(Recorder(timeout)).generate(request())).error is ErrorKind.TIMEOUT
    assert (await provider(Recorder(refused_connection)).generate(request())).error is ErrorKind.CONNECTION
    bad = await provider(Recorder(respond(200, {"type": "message", "content": "oops"}))).generate(request())
    assert bad.error is ErrorKind.MALFORMED_RESPONSE
    garbage = await provider(Recorder(respond(200, b"not json at all"))).generate(request())
    assert garbage.error is ErrorKind.MALFORMED_RESPONSE


def test_unavailable_without_key(monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    assert AnthropicProvider.unavailable_reason(spec("anthropic", "claude-sonnet-4-6")) == \
        "missing key: set ANTHROPIC_API_KEY"


def test_completion_templates_are_not_supported():
    assert AnthropicProvider.supports_completion is False
