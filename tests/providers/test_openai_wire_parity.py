"""The OpenAI providers post the body they build through the SDK client's ``post`` rather than
``chat.completions.create()`` (a third of the SDK's CPU a call; ``bench/README.md``). What goes on the wire
must not change: for every kind of request the providers make, the method, URL, headers that matter and
JSON body equal what ``create()`` sends for the same body, and the parsed answer equals the one read from
``create()``'s pydantic object."""

from __future__ import annotations

import json

import pytest

from evals.prompts import RenderedPrompt
from evals.providers.base import GenerateRequest
from evals.providers.openai import OpenAICompatibleProvider, OpenAIProvider, parse_completion
from tests.providers.wire import TOOLS, Recorder, chat_prompt, openai_chat, openai_completion, respond, spec

SCHEMA = {"type": "object", "properties": {"label": {"type": "string", "enum": ["lead", "support"]}},
          "required": ["label"], "additionalProperties": False}

#: headers ``create()`` and ``post`` must agree on (the SDK's per-request ones, such as retry counts and
#: the idempotency key, are the same kind on both paths but random or per-attempt)
HEADERS = ("authorization", "content-type", "accept", "user-agent", "x-stainless-lang", "x-stainless-package-version")


@pytest.fixture(autouse=True)
def key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-openai")


def _openai(rec: Recorder, **options) -> OpenAIProvider:
    return OpenAIProvider(spec("openai", "gpt-4o-mini", options=options), http_client=rec.client())


def _compat(rec: Recorder, **options) -> OpenAICompatibleProvider:
    return OpenAICompatibleProvider(spec("openai-compatible", "served", base_url="http://127.0.0.1:8000/v1",
                                         options=options), http_client=rec.client())


def _completion_prompt() -> RenderedPrompt:
    return RenderedPrompt(messages=None, prompt="Email: hi\nLabel:", max_tokens=8, temperature=0.0, stop=("\n",))


CASES = {
    "chat, stop and top_p": (_openai, {}, chat_prompt(stop=("\n",), top_p=0.9)),
    "chat, strict JSON schema": (_openai, {}, chat_prompt(json_output=True, schema=SCHEMA)),
    "chat, native tools": (_openai, {}, RenderedPrompt(messages=chat_prompt().messages, prompt=None, max_tokens=16,
                                                       temperature=0.0, tools=TOOLS)),
    "chat, confidence (logprobs)": (_openai, {}, RenderedPrompt(messages=chat_prompt().messages, prompt=None,
                                                                 max_tokens=4, temperature=0.0, confidence=True)),
    "extra_body beside the body": (_openai, {"extra_body": {"seed": 7, "temperature": 0.5}}, chat_prompt()),
    "compatible, guided_json": (_compat, {"json_mode": "guided_json", "extra_body": {"top_k": 1}},
                                chat_prompt(json_output=True, schema=SCHEMA)),
    "compatible, json_object": (_compat, {"json_mode": "json_object"}, chat_prompt(json_output=True, schema=SCHEMA)),
    "compatible, call object": (_compat, {"json_mode": "json_object", "tool_mode": "call_object"},
                                RenderedPrompt(messages=chat_prompt().messages, prompt=None, max_tokens=16,
                                               temperature=0.0, tools=TOOLS)),
    "compatible, completions": (_compat, {}, _completion_prompt()),
    "compatible, completions with confidence": (_compat, {}, RenderedPrompt(
        messages=None, prompt="Email: hi\nLabel:", max_tokens=4, temperature=0.0, confidence=True)),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_the_bytes_on_the_wire_are_the_ones_create_sends(case):
    make, options, prompt = CASES[case]
    answer = openai_completion() if prompt.prompt is not None else openai_chat("lead")
    ours, theirs = Recorder(respond(200, answer)), Recorder(respond(200, answer))
    request = GenerateRequest(prompt, request_id="r1")
    provider = make(ours, **options)
    got = await provider.generate(request)

    reference = make(theirs, **options)
    endpoint, body = reference.request_body(request)
    resource = reference.client.completions if endpoint == "completions" else reference.client.chat.completions
    out = await resource.create(**body)

    sent, expected = ours.requests[0], theirs.requests[0]
    assert (sent.method, str(sent.url)) == (expected.method, str(expected.url))
    assert json.loads(sent.content) == json.loads(expected.content)
    assert {h: sent.headers.get(h) for h in HEADERS} == {h: expected.headers.get(h) for h in HEADERS}
    assert got == parse_completion(out.model_dump(warnings=False), endpoint, got.latency_ms, provider.tool_mode(request))


async def test_the_request_does_not_go_through_create(monkeypatch):
    """The lever itself: reverting to ``create()`` (and its pydantic objects) fails here."""
    rec = Recorder(respond(200, openai_chat("lead")))
    provider = _openai(rec)

    def refuse(*args, **kwargs):
        raise AssertionError("chat.completions.create was called")

    monkeypatch.setattr(type(provider.client.chat.completions), "create", refuse)
    response = await provider.generate(GenerateRequest(chat_prompt(), request_id="r1"))
    assert response.ok and response.text == "lead"


async def test_a_batch_line_carries_the_body_a_single_request_posts():
    """A Batch file's ``body`` is the wire body: ``extra_body`` merged in at the top level (it used to
    travel as a literal ``extra_body`` field, which the Batch API rejects, with its settings unapplied)."""
    httpx2 = pytest.importorskip("httpx2")
    from tests.providers.test_batch import FakeBatchAPIs

    options = {"extra_body": {"seed": 7, "temperature": 0.5}}
    single = Recorder(respond(200, openai_chat("lead")))
    request = GenerateRequest(chat_prompt(), request_id="r1")
    await _openai(single, **options).generate(request)

    fake = FakeBatchAPIs()
    batching = OpenAIProvider(spec("openai", "gpt-4o-mini", options=options),
                              http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(fake)))
    await batching.submit_batch([("row-1", request)])
    (line,) = fake.uploads["file-1"]
    assert line["url"] == "/v1/chat/completions"
    assert line["body"] == json.loads(single.requests[0].content)
    assert "extra_body" not in line["body"] and line["body"]["seed"] == 7 and line["body"]["temperature"] == 0.5
