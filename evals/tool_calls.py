"""Tool calls: the typed call a provider returns, and the *call object* format shared by every path.

A suite of task ``tool_call`` offers tools (``tools.json``: ``name``, ``description`` and ``parameters``,
a JSON Schema of the arguments, the neutral format both OpenAI and Anthropic take). They travel with the
request (:attr:`evals.prompts.RenderedPrompt.tools`, so they are in the cache key), and every provider
answers with :attr:`evals.providers.base.GenerateResponse.tool_calls`, a list of :class:`ToolCall`:

- OpenAI and Anthropic (and a vLLM server with tool calling) through their native ``tools`` parameter;
- where there is no native tool calling (the in-process llama-cpp and vLLM providers, a completion
  prompt), the model writes one **call object**, constrained by :func:`call_object_schema`:
  ``{"tool": "<name>", "arguments": {...}}`` to act, or ``{"tool": null, "reply": "..."}`` to answer in
  text (or ask a question). :func:`read_call_object` turns it into tool calls and text.

The scorer sees one text for a response: :func:`scorer_text` (``{"tool_calls": [...], "text": ...}``),
or the response's own text where a provider read no calls, in which case the scorer reads a call object
(or plain text: no call) from it (:func:`evals.scorers.tool_call.read_answer`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable

#: The property of a call object naming the tool (null: no call) and the one holding a text reply.
TOOL_KEY, ARGUMENTS_KEY, REPLY_KEY = "tool", "arguments", "reply"


@dataclass(frozen=True)
class ToolCall:
    """One call the model made: the tool's name and its arguments as the model wrote them (JSON text,
    which may be invalid JSON: that is the model's answer, scored, not a provider error)."""

    name: str
    arguments: str
    id: str | None = None

    def parsed(self) -> dict[str, Any] | None:
        """The arguments as an object, or None when they are not a JSON object.

        >>> ToolCall("f", '{"a": 1}').parsed(), ToolCall("f", '{"a": ').parsed()
        ({'a': 1}, None)
        """
        try:
            value = json.loads(self.arguments) if self.arguments.strip() else {}
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    def to_json(self) -> dict[str, Any]:
        """``{"name", "arguments"}`` for the results' ``tool_calls`` column: the arguments as an object
        where they parse as one, else the text as written."""
        parsed = self.parsed()
        return {"name": self.name, "arguments": parsed if parsed is not None else self.arguments}

    @classmethod
    def of(cls, name: str, arguments: Any, id: str | None = None) -> "ToolCall":
        """A call from arguments given as an object (Anthropic, a call object) or as text (OpenAI)."""
        text = arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)
        return cls(str(name), text, id)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ToolCall":
        """Inverse of :func:`dataclasses.asdict` (the response cache)."""
        return cls(str(data["name"]), str(data.get("arguments", "")), data.get("id"))


def tool_names(tools: Iterable[dict[str, Any]] | None) -> list[str]:
    return [str(t["name"]) for t in tools or ()]


def call_object_schema(tools: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The JSON Schema of a call object for ``tools``: one branch per tool (its name, its parameters),
    and a text reply.

    >>> s = call_object_schema([{"name": "f", "description": "", "parameters": {"type": "object"}}])
    >>> [b["properties"]["tool"] for b in s["anyOf"]]
    [{'const': 'f'}, {'type': 'null'}]
    """
    branches: list[dict[str, Any]] = []
    for tool in tools:
        parameters = tool.get("parameters") or {"type": "object"}
        branches.append({"type": "object", "additionalProperties": False, "required": [TOOL_KEY, ARGUMENTS_KEY],
                         "properties": {TOOL_KEY: {"const": tool["name"]}, ARGUMENTS_KEY: parameters}})
    branches.append({"type": "object", "additionalProperties": False, "required": [TOOL_KEY, REPLY_KEY],
                     "properties": {TOOL_KEY: {"type": "null"}, REPLY_KEY: {"type": "string"}}})
    return {"anyOf": branches}


def call_from_value(value: Any) -> tuple[list[ToolCall], str] | None:
    """``(calls, text)`` from a parsed call object, or None when ``value`` is not one.

    >>> call_from_value({"tool": "f", "arguments": {"a": 1}})
    ([ToolCall(name='f', arguments='{"a": 1}', id=None)], '')
    >>> call_from_value({"tool": None, "reply": "Which account?"})
    ([], 'Which account?')
    >>> call_from_value({"name": "f"}) is None
    True
    """
    if not isinstance(value, dict) or TOOL_KEY not in value:
        return None
    name = value.get(TOOL_KEY)
    if name is None or name == "":
        reply = value.get(REPLY_KEY)
        return [], reply if isinstance(reply, str) else ""
    arguments = value.get(ARGUMENTS_KEY)
    return [ToolCall.of(str(name), arguments if arguments is not None else {})], ""


def read_call_object(text: str) -> tuple[list[ToolCall], str] | None:
    """``(calls, text)`` from a reply that is exactly one call object (what constrained decoding or a
    few-shot completion writes), or None when it is not one: the reply then stays text.

    >>> read_call_object(' {"tool": "f", "arguments": {}}')
    ([ToolCall(name='f', arguments='{}', id=None)], '')
    >>> read_call_object("Sure, done.") is None
    True
    """
    try:
        value = json.loads(text.strip())
    except ValueError:
        return None
    return call_from_value(value)


def calls_json(calls: list[ToolCall] | None) -> str | None:
    """The results' ``tool_calls`` cell: a JSON list of ``{"name", "arguments"}`` (``[]``: no call), or
    None when the request offered no tools."""
    if calls is None:
        return None
    return json.dumps([c.to_json() for c in calls], ensure_ascii=False)


def scorer_text(text: str, calls: list[ToolCall] | None) -> str:
    """What the scorer reads for a response: its text when no tools were read, else an envelope
    ``{"tool_calls": [...], "text": ...}``."""
    if calls is None:
        return text
    return json.dumps({"tool_calls": [c.to_json() for c in calls], "text": text}, ensure_ascii=False)
