"""Live calls to the real Anthropic and OpenAI APIs: off unless ``--live`` and the key are given.

    pytest tests/live --live          # needs ANTHROPIC_API_KEY and/or OPENAI_API_KEY; costs a few cents

Each test makes one or two tiny calls (max_tokens <= 20) and checks the adapter's mapping on the real
wire: text, usage, stop reason, JSON output. Keys come from the environment and are never printed.
"""

from __future__ import annotations

import json

import pytest

from evals.config.models import ModelSpec
from evals.prompts import RenderedPrompt
from evals.providers import create_provider
from evals.providers.base import GenerateRequest

SCHEMA = {"type": "object", "properties": {"label": {"type": "string", "enum": ["lead", "support"]}},
          "required": ["label"], "additionalProperties": False}


def prompt(json_output: bool = False) -> RenderedPrompt:
    return RenderedPrompt(
        messages=({"role": "system", "content": "Classify the email as lead or support. Answer with the label only."},
                  {"role": "user", "content": "Hi, we'd like a quote for 40 seats."}),
        prompt=None, max_tokens=20, temperature=0.0, json_output=json_output,
        json_schema=SCHEMA if json_output else None)


def spec(provider: str, model: str) -> ModelSpec:
    return ModelSpec(id=f"live-{provider}", provider=provider, model=model, family="live", context_window=100000,
                     max_retries=2, timeout_s=60)


# live("<provider>"): the --live hook in tests/conftest.py skips the case unless that provider's key is set
CASES = [pytest.param("anthropic", "claude-haiku-4-5", marks=pytest.mark.live("anthropic"), id="anthropic"),
         pytest.param("openai", "gpt-4o-mini", marks=pytest.mark.live("openai"), id="openai")]


@pytest.mark.parametrize("provider,model", CASES)
async def test_live_text_answer_and_usage(provider, model):
    p = create_provider(spec(provider, model))
    try:
        out = await p.generate(GenerateRequest(prompt()))
    finally:
        await p.aclose()
    assert out.ok, out.error_message
    assert "lead" in out.text.lower()
    assert out.input_tokens and out.input_tokens > 10 and 0 < out.output_tokens <= 20
    assert out.latency_ms and out.latency_ms > 0 and out.finish_reason


@pytest.mark.parametrize("provider,model", CASES)
async def test_live_json_output(provider, model):
    p = create_provider(spec(provider, model))
    try:
        out = await p.generate(GenerateRequest(prompt(json_output=True)))
    finally:
        await p.aclose()
    assert out.ok, out.error_message
    assert json.loads(out.text) in ({"label": "lead"}, {"label": "support"})

