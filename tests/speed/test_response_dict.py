"""``GenerateResponse.to_dict`` (the response cache's stored form) is built field by field instead of with
``dataclasses.asdict``, which deep-copies; the form must stay what ``asdict`` gave, so caches written
before read back the same and new entries equal old ones byte for byte."""

from __future__ import annotations

import dataclasses
import json

import pytest

from evals.providers.base import ErrorKind, GenerateResponse
from evals.tool_calls import ToolCall

RESPONSES = [
    GenerateResponse(text="lead", input_tokens=12, output_tokens=1, latency_ms=3.5, finish_reason="stop",
                     raw_model="m", extra={"confidence": 0.93}),
    GenerateResponse(text="", tool_calls=[ToolCall("lookup", '{"a": 1}', "call_1"), ToolCall("log", "{")],
                     extra={"repetition": {"span": 3, "times": [1, 2]}}),
    GenerateResponse(error=ErrorKind.RATE_LIMITED, error_message="429", retry_after_s=2.0, attempts=3),
    GenerateResponse(),
]


def _asdict_form(response: GenerateResponse) -> dict:
    data = dataclasses.asdict(response)
    data["error"] = response.error.value if response.error else None
    return data


@pytest.mark.parametrize("response", RESPONSES)
def test_the_stored_form_is_the_one_asdict_gave(response):
    assert json.dumps(response.to_dict()) == json.dumps(_asdict_form(response))
    assert GenerateResponse.from_dict(json.loads(json.dumps(response.to_dict()))) == response


def test_changing_the_dict_leaves_the_response_alone():
    response = RESPONSES[1]
    data = response.to_dict()
    data["extra"]["confidence"] = 1.0
    data["tool_calls"].append({"name": "x"})
    data["tool_calls"][0]["name"] = "changed"
    assert "confidence" not in response.extra and len(response.tool_calls) == 2
    assert response.tool_calls[0].name == "lookup"
