"""Tool calls on every adapter, in each provider's wire format (MockTransport), and the local paths.

For each SDK adapter: a call (the request carries the tools, the reply's call is read), a call with
invalid arguments (kept as written: the model's answer, not a provider error), no call (a text reply,
``tool_calls == []``), and parallel calls. Then the call-object paths: the OpenAI-compatible
``tool_mode: call_object`` and completion templates, the fake, vLLM's sampling constraint, and the
llama-cpp grammar (whose regex escapes would crash llama.cpp's grammar parser).
"""

from __future__ import annotations

import json

import pytest

from evals.providers.anthropic import TOOL_NAME, AnthropicProvider
from evals.providers.base import GenerateResponse
from evals.providers.openai import OpenAICompatibleProvider, OpenAIProvider
from evals.tool_calls import ToolCall, call_object_schema, calls_json
from tests.providers.wire import (
    TOOLS, Recorder, anthropic_message, anthropic_tool_use, openai_chat, openai_completion, openai_tool_calls, respond,
    spec, tool_request,
)


@pytest.fixture(autouse=True)
def keys(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-openai")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")


def openai(rec: Recorder) -> OpenAIProvider:
    return OpenAIProvider(spec("openai", "gpt-4o"), http_client=rec.client())


def compatible(rec: Recorder, **options) -> OpenAICompatibleProvider:
    return OpenAICompatibleProvider(spec("openai-compatible", "llama", base_url="http://127.0.0.1:8000/v1",
                                         options=options), http_client=rec.client())


def anthropic(rec: Recorder) -> AnthropicProvider:
    return AnthropicProvider(spec("anthropic", "claude-sonnet-4-6"), http_client=rec.client())


# -- OpenAI ---------------------------------------------------------------------------------------------


async def test_openai_sends_tools_and_reads_a_call():
    rec = Recorder(respond(200, openai_tool_calls(("lookup_account", '{"account": "Kelpie"}'))))
    response = await openai(rec).generate(tool_request())
    sent = rec.json()
    assert sent["tool_choice"] == "auto"
    assert [t["function"]["name"] for t in sent["tools"]] == ["lookup_account", "log_call"]
    assert sent["tools"][0] == {"type": "function", "function": {
        "name": "lookup_account", "description": "Read one account.", "parameters": TOOLS[0]["parameters"]}}
    assert "strict" not in sent["tools"][0]["function"]  # optional properties: not strict-compatible
    assert "response_format" not in sent
    assert response.ok and response.text == "" and response.finish_reason == "tool_calls"
    assert response.tool_calls == [ToolCall("lookup_account", '{"account": "Kelpie"}', "call_0")]
    assert json.loads(calls_json(response.tool_calls)) == [{"name": "lookup_account", "arguments": {"account": "Kelpie"}}]


async def test_openai_invalid_arguments_are_the_answer_not_an_error():
    rec = Recorder(respond(200, openai_tool_calls(("log_call", '{"account": "Kelpie", "date": '))))
    response = await openai(rec).generate(tool_request())
    assert response.ok and response.error is None
    (call,) = response.tool_calls
    assert call.arguments == '{"account": "Kelpie", "date": ' and call.parsed() is None
    assert json.loads(calls_json(response.tool_calls))[0]["arguments"] == '{"account": "Kelpie", "date": '


async def test_openai_no_call_is_a_text_reply():
    rec = Recorder(respond(200, openai_chat("Which account do you mean?")))
    response = await openai(rec).generate(tool_request())
    assert response.ok and response.text == "Which account do you mean?" and response.tool_calls == []
    assert calls_json(response.tool_calls) == "[]"


async def test_openai_parallel_calls():
    rec = Recorder(respond(200, openai_tool_calls(("lookup_account", '{"account": "A"}'),
                                                  ("log_call", '{"account": "B", "date": "2026-03-03"}'))))
    response = await openai(rec).generate(tool_request())
    assert [(c.name, c.parsed()) for c in response.tool_calls] == [
        ("lookup_account", {"account": "A"}), ("log_call", {"account": "B", "date": "2026-03-03"})]


async def test_openai_without_tools_has_no_tool_calls():
    rec = Recorder(respond(200, openai_chat("lead")))
    from tests.providers.wire import request

    response = await openai(rec).generate(request())
    assert response.tool_calls is None and "tools" not in rec.json()


async def test_openai_strict_when_the_tool_schema_allows_it():
    from evals.providers.openai import function_tools

    closed = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"],
              "additionalProperties": False}
    (tool,) = function_tools([{"name": "f", "description": "d", "parameters": closed}])
    assert tool["function"]["strict"] is True


# -- OpenAI-compatible (vLLM's native tool calling; llama.cpp's server through call objects) -----------------


async def test_compatible_native_tools_as_vllm_serves_them():
    rec = Recorder(respond(200, openai_tool_calls(("lookup_account", '{"account": "Kelpie"}'))))
    response = await compatible(rec, json_mode="guided_json").generate(tool_request())
    sent = rec.json()
    assert sent["tool_choice"] == "auto" and len(sent["tools"]) == 2
    assert "guided_json" not in sent and "response_format" not in sent
    assert [c.name for c in response.tool_calls] == ["lookup_account"]


async def test_compatible_call_object_mode_constrains_and_reads_the_call():
    text = '{"tool": "log_call", "arguments": {"account": "Kelpie", "date": "2026-03-03"}}'
    rec = Recorder(respond(200, openai_chat(text)))
    response = await compatible(rec, json_mode="json_object", tool_mode="call_object").generate(tool_request())
    sent = rec.json()
    assert "tools" not in sent and "tool_choice" not in sent
    from evals.providers.llama_cpp import portable_schema

    # the server builds its grammar with llama-cpp-python's converter: patterns go portable (no \d)
    assert sent["response_format"] == {"type": "json_object", "schema": portable_schema(call_object_schema(TOOLS))}
    assert "\\d" in json.dumps(call_object_schema(TOOLS)) and "\\d" not in json.dumps(sent["response_format"])
    assert response.text == "" and response.tool_calls == [
        ToolCall("log_call", '{"account": "Kelpie", "date": "2026-03-03"}')]


async def test_compatible_call_object_text_reply_and_not_a_call_object():
    rec = Recorder(respond(200, openai_chat('{"tool": null, "reply": "Which account?"}')),
                   respond(200, openai_chat("no JSON at all")))
    provider = compatible(rec, json_mode="json_object", tool_mode="call_object")
    first = await provider.generate(tool_request())
    assert (first.text, first.tool_calls) == ("Which account?", [])
    second = await provider.generate(tool_request())
    assert (second.text, second.tool_calls) == ("no JSON at all", [])


async def test_compatible_completion_template_reads_a_call_object():
    rec = Recorder(respond(200, openai_completion(' {"tool": "lookup_account", "arguments": {"account": "A"}}')))
    response = await compatible(rec, json_mode="guided_json").generate(tool_request("Request: A?\nJSON:"))
    sent = rec.json()
    assert str(rec.requests[0].url).endswith("/completions") and "tools" not in sent
    assert sent["guided_json"] == call_object_schema(TOOLS)
    assert response.tool_calls == [ToolCall("lookup_account", '{"account": "A"}')]


# -- Anthropic ------------------------------------------------------------------------------------------


async def test_anthropic_sends_tools_and_reads_a_call():
    rec = Recorder(respond(200, anthropic_tool_use(("lookup_account", {"account": "Kelpie"}), text="Looking.")))
    response = await anthropic(rec).generate(tool_request())
    sent = rec.json()
    assert sent["tool_choice"] == {"type": "auto"}
    assert sent["tools"][0] == {"name": "lookup_account", "description": "Read one account.",
                                "input_schema": TOOLS[0]["parameters"]}
    assert TOOL_NAME not in json.dumps(sent)  # the tools are the answer's format: no forced JSON tool
    assert response.ok and response.text == "Looking." and response.finish_reason == "tool_use"
    assert response.tool_calls == [ToolCall("lookup_account", '{"account": "Kelpie"}', "toolu_00")]


async def test_anthropic_invalid_arguments_are_kept():
    rec = Recorder(respond(200, anthropic_tool_use(("log_call", {"acct": "Kelpie"}))))
    response = await anthropic(rec).generate(tool_request())
    assert response.ok and [(c.name, c.parsed()) for c in response.tool_calls] == [("log_call", {"acct": "Kelpie"})]


async def test_anthropic_no_call_is_a_text_reply():
    rec = Recorder(respond(200, anthropic_message([{"type": "text", "text": "Which account?"}])))
    response = await anthropic(rec).generate(tool_request())
    assert response.ok and response.text == "Which account?" and response.tool_calls == []


async def test_anthropic_parallel_calls():
    rec = Recorder(respond(200, anthropic_tool_use(("lookup_account", {"account": "A"}),
                                                   ("log_call", {"account": "B", "date": "2026-03-03"}))))
    response = await anthropic(rec).generate(tool_request())
    assert [c.name for c in response.tool_calls] == ["lookup_account", "log_call"]
    assert [c.id for c in response.tool_calls] == ["toolu_00", "toolu_01"]


def test_anthropic_batch_result_reads_tool_calls():
    from evals.providers.anthropic import parse_batch_result

    result = {"type": "succeeded", "message": anthropic_tool_use(("lookup_account", {"account": "A"}))}
    assert [c.name for c in parse_batch_result(result, tools=True).tool_calls] == ["lookup_account"]


def test_openai_batch_line_reads_tool_calls():
    from evals.providers.openai import NATIVE, parse_batch_line

    body = openai_tool_calls(("lookup_account", '{"account": "A"}'))
    line = {"custom_id": "k", "response": {"status_code": 200, "body": body}}
    assert [c.name for c in parse_batch_line(line, NATIVE)[1].tool_calls] == ["lookup_account"]


# -- the cache keeps them -------------------------------------------------------------------------------


def test_tool_calls_survive_the_cache_round_trip():
    response = GenerateResponse(text="", tool_calls=[ToolCall("f", '{"a": 1}', "c1")])
    back = GenerateResponse.from_dict(json.loads(json.dumps(response.to_dict())))
    assert back.tool_calls == response.tool_calls
    assert GenerateResponse.from_dict(GenerateResponse(text="x").to_dict()).tool_calls is None


# -- the fake and vLLM (call objects) -------------------------------------------------------------------


async def test_fake_reads_a_call_object_when_the_request_has_tools():
    from evals.providers.fake import FakeProvider

    FakeProvider.reset(['{"tool": "lookup_account", "arguments": {"account": "A"}}', "plain words"])
    provider = FakeProvider(spec("fake", "f"))
    first, second = await provider.generate(tool_request()), await provider.generate(tool_request())
    assert first.tool_calls == [ToolCall("lookup_account", '{"account": "A"}')] and first.text == ""
    assert (second.tool_calls, second.text) == ([], "plain words")


def test_vllm_constrains_a_tool_request_to_a_call_object(monkeypatch):
    import sys
    import types

    captured = {}

    class Params:
        def __init__(self, **kwargs):
            captured.update(kwargs)

    class Structured:
        def __init__(self, json):
            self.json = json

    vllm = types.ModuleType("vllm")
    vllm.SamplingParams = Params
    sampling = types.ModuleType("vllm.sampling_params")
    sampling.StructuredOutputsParams = Structured
    monkeypatch.setitem(sys.modules, "vllm", vllm)
    monkeypatch.setitem(sys.modules, "vllm.sampling_params", sampling)
    from evals.providers.vllm import sampling_params

    sampling_params(tool_request())
    assert captured["structured_outputs"].json == call_object_schema(TOOLS)


# -- llama-cpp: the grammar llama.cpp can parse ---------------------------------------------------------


def test_regex_escapes_become_character_classes():
    from evals.providers.llama_cpp import portable_pattern

    assert portable_pattern(r"^\d{4}-\d{2}$") == "^[0-9]{4}-[0-9]{2}$"
    # a negated class never takes a raw quote or backslash: it would end or escape the JSON string
    assert portable_pattern(r"^[^@\s]+@[^@\s]+\.[^@\s]+$") == \
        r'^[^"\\@ \t\n\r]+@[^"\\@ \t\n\r]+[.][^"\\@ \t\n\r]+$'
    assert portable_pattern(r"^[A-Za-z_]+(/[A-Za-z_+-]+)+$") == r"^[A-Za-z_]+(/[A-Za-z_+-]+)+$"
    assert portable_pattern(r"^a\-b[\-x\]]$") == r"^a[-]b[\x2Dx\]]$"
    assert portable_pattern(r"^[]a]\d$") == "^[]a][0-9]$"  # a "]" first in a class is a member


def test_grammar_of_the_shipped_tools_has_no_escape_llama_cpp_rejects():
    pytest.importorskip("llama_cpp")
    from evals.config.suite import load_tools
    from evals.providers.llama_cpp import bad_escapes, gbnf
    from tests.conftest import REPO

    folder = REPO / "suites" / "tool_call" / "crm-actions"
    tools = load_tools(folder / "tools.json", folder / "suite.yaml")
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    raw = json_schema_to_gbnf(json.dumps(call_object_schema(tools)))
    assert bad_escapes(raw)  # what llama-cpp-python's converter writes: llama.cpp would crash on it
    grammar = gbnf(call_object_schema(tools))
    assert bad_escapes(grammar) == []
    assert '"\\"log_call\\""' in grammar and "[0-9]" in grammar


def test_a_completion_may_start_its_call_object_with_a_space():
    pytest.importorskip("llama_cpp")
    from evals.providers.llama_cpp import gbnf

    schema = call_object_schema(TOOLS)
    assert gbnf(schema).count("root ::= alternative-0 |") == 1
    assert 'root ::= " "? (alternative-0 |' in gbnf(schema, leading_space=True)  # "JSON: {" as the shots write it


def test_llama_cpp_gives_the_leading_space_only_to_a_completion_prompt(monkeypatch, tmp_path):
    """A completion template ends in ``JSON:`` and its shots continue ``JSON: {``: that request's grammar
    allows the space; a chat request's answer starts at ``{`` as before. The spaced call is read back."""
    pytest.importorskip("llama_cpp")
    import evals.providers.llama_cpp as llama_cpp

    seen: list[tuple[str, object]] = []
    reply = ' {"tool": "lookup_account", "arguments": {"account": "Kelpie"}}'

    class Loaded:  # stands in for the loaded GGUF: records the grammar each call is given
        def create_completion(self, prompt, **kwargs):
            seen.append(("completion", kwargs["grammar"]))
            return {"choices": [{"text": reply, "finish_reason": "stop"}], "usage": {}}

        def create_chat_completion(self, messages, **kwargs):
            seen.append(("chat", kwargs["grammar"]))
            return {"choices": [{"message": {"content": reply.strip()}, "finish_reason": "stop"}], "usage": {}}

    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"")
    monkeypatch.setattr(llama_cpp, "_load", lambda path, options: Loaded())
    monkeypatch.setattr(llama_cpp.LlamaCppProvider, "_grammar", lambda self, schema, leading_space=False: leading_space)
    provider = llama_cpp.LlamaCppProvider(spec("llama-cpp", str(gguf)))
    completion = provider._generate_sync(tool_request(prompt_text="Request: pull up Kelpie\nJSON:"))
    chat = provider._generate_sync(tool_request())
    assert seen == [("completion", True), ("chat", False)]
    for response in (completion, chat):
        assert [(c.name, c.parsed()) for c in response.tool_calls] == [("lookup_account", {"account": "Kelpie"})]


def test_a_grammar_llama_cpp_cannot_parse_is_refused_not_sent():
    pytest.importorskip("llama_cpp")
    from evals.providers.llama_cpp import gbnf

    with pytest.raises(ValueError, match="cannot parse"):
        gbnf({"type": "object", "properties": {"a": {"type": "string", "pattern": r"^[\D]$"}}, "required": ["a"]})


def test_llama_cpp_window_is_the_loaded_context():
    from evals.providers.llama_cpp import LlamaCppProvider

    small = spec("llama-cpp", "/nonexistent.gguf", options={"n_ctx": 2048})
    provider = LlamaCppProvider.__new__(LlamaCppProvider)  # no GGUF needed to read the window
    provider.spec = small
    assert provider.context_limit() == 2048
    provider.spec = spec("llama-cpp", "/nonexistent.gguf", options={"n_ctx": 32768})
    assert provider.context_limit() == 8192  # the spec's context_window (8192 in tests.providers.wire.spec)
