"""Response bodies in the providers' documented wire formats, and a recording MockTransport.

The SDKs (anthropic 2.x, openai 3.x) are built on ``httpx2``; their ``http_client`` must be an
``httpx2.AsyncClient``, so the mock transport is httpx2's ``MockTransport``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

httpx2 = pytest.importorskip("httpx2", reason="the anthropic/openai SDKs (and their httpx2) are not installed")

from evals.config.models import ModelSpec
from evals.prompts import RenderedPrompt
from evals.providers.base import GenerateRequest


def chat_prompt(json_output: bool = False, schema: dict | None = None, stop: tuple[str, ...] = (),
                top_p: float | None = None) -> RenderedPrompt:
    return RenderedPrompt(
        messages=({"role": "system", "content": "You sort emails."}, {"role": "user", "content": "Hi there"}),
        prompt=None, max_tokens=16, temperature=0.0, top_p=top_p, stop=stop, json_schema=schema,
        json_output=json_output)


def request(**kwargs: Any) -> GenerateRequest:
    return GenerateRequest(chat_prompt(**kwargs), request_id="r1")


def spec(provider: str, model: str, **kwargs: Any) -> ModelSpec:
    return ModelSpec(id=kwargs.pop("id", "m"), provider=provider, model=model, family="f", context_window=8192,
                     **kwargs)


class Recorder:
    """A MockTransport handler fed a queue of responses (or callables); it records every request."""

    def __init__(self, *responses: Any):
        self.queue = list(responses)
        self.requests: list[httpx2.Request] = []

    def __call__(self, req: httpx2.Request) -> httpx2.Response:
        self.requests.append(req)
        item = self.queue.pop(0) if len(self.queue) > 1 else self.queue[0]
        if callable(item):
            return item(req)
        return item

    def client(self) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(transport=httpx2.MockTransport(self))

    def json(self, index: int = -1) -> dict[str, Any]:
        return json.loads(self.requests[index].content)


def respond(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx2.Response:
    if isinstance(body, (dict, list)):
        return httpx2.Response(status, json=body, headers=headers)
    return httpx2.Response(status, content=body, headers={"content-type": "application/json", **(headers or {})})


def timeout(req: httpx2.Request) -> httpx2.Response:
    raise httpx2.ReadTimeout("timed out", request=req)


def refused_connection(req: httpx2.Request) -> httpx2.Response:
    raise httpx2.ConnectError("connection refused", request=req)


# -- OpenAI (https://platform.openai.com/docs/api-reference/chat/object) ---------------------------------

def openai_chat(content: str | None = "lead", refusal: str | None = None, finish: str = "stop",
                cached: int = 0) -> dict[str, Any]:
    return {
        "id": "chatcmpl-abc123", "object": "chat.completion", "created": 1732550000, "model": "gpt-4o-mini-2024-07-18",
        "system_fingerprint": "fp_0ba0d124f1",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content, "refusal": refusal,
                                             "annotations": []},
                     "logprobs": None, "finish_reason": finish}],
        "usage": {"prompt_tokens": 1200, "completion_tokens": 7, "total_tokens": 1207,
                  "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
                  "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                                "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}},
        "service_tier": "default",
    }


def openai_completion(text: str = " lead") -> dict[str, Any]:
    return {"id": "cmpl-1", "object": "text_completion", "created": 1732550000, "model": "base",
            "choices": [{"text": text, "index": 0, "logprobs": None, "finish_reason": "length"}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}}


def openai_error(message: str, type_: str, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


# -- Anthropic (https://docs.anthropic.com/en/api/messages) ---------------------------------------------

def anthropic_message(content: list[dict[str, Any]] | None = None, stop_reason: str = "end_turn",
                      cache_read: int = 0, cache_write: int = 0) -> dict[str, Any]:
    return {
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
        "content": content if content is not None else [{"type": "text", "text": "lead"}],
        "stop_reason": stop_reason, "stop_sequence": None,
        "usage": {"input_tokens": 100, "output_tokens": 5, "cache_creation_input_tokens": cache_write,
                  "cache_read_input_tokens": cache_read, "service_tier": "standard"},
    }


def anthropic_error(type_: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": type_, "message": message}, "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy"}


# -- tool calls (a tool_call suite's requests) ----------------------------------------------------------

TOOLS = (
    {"name": "lookup_account", "description": "Read one account.",
     "parameters": {"type": "object", "additionalProperties": False, "required": ["account"],
                    "properties": {"account": {"type": "string", "minLength": 1},
                                   "sections": {"type": "array", "items": {"enum": ["contacts", "deals"]}}}}},
    {"name": "log_call", "description": "Log a call that happened.",
     "parameters": {"type": "object", "additionalProperties": False, "required": ["account", "date"],
                    "properties": {"account": {"type": "string"},
                                   "date": {"type": "string", "pattern": "^\\d{4}-\\d{2}-\\d{2}$"}}}},
)


def tool_request(prompt_text: str | None = None) -> GenerateRequest:
    """A chat request offering :data:`TOOLS` (or a completion request, given ``prompt_text``)."""
    base = chat_prompt()
    if prompt_text is not None:
        p = RenderedPrompt(messages=None, prompt=prompt_text, max_tokens=16, temperature=0.0, tools=TOOLS)
    else:
        p = RenderedPrompt(messages=base.messages, prompt=None, max_tokens=16, temperature=0.0, tools=TOOLS)
    return GenerateRequest(p, request_id="r1")


def openai_tool_calls(*calls: tuple[str, str], content: str | None = None) -> dict[str, Any]:
    """A chat completion whose message carries ``calls`` as ``(name, arguments JSON text)``."""
    body = openai_chat(content)
    message = body["choices"][0]["message"]
    message["tool_calls"] = [{"id": f"call_{i}", "type": "function", "function": {"name": n, "arguments": a}}
                             for i, (n, a) in enumerate(calls)]
    body["choices"][0]["finish_reason"] = "tool_calls"
    return body


def anthropic_tool_use(*calls: tuple[str, Any], text: str | None = None) -> dict[str, Any]:
    """A Messages response with one ``tool_use`` block per ``(name, input)``."""
    blocks: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    blocks += [{"type": "tool_use", "id": f"toolu_0{i}", "name": n, "input": inp} for i, (n, inp) in enumerate(calls)]
    return anthropic_message(blocks, stop_reason="tool_use")
