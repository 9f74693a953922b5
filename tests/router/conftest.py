"""Fixtures for the router tests: a policy and models file on disk, with prompts of two variants."""

from __future__ import annotations

from pathlib import Path

import pytest

MODELS = """\
format_version: 1
models:
  - {id: claude, provider: anthropic, model: claude-sonnet-4-5, family: claude, context_window: 200000}
  - {id: gpt4o, provider: openai, model: gpt-4o, family: gpt, context_window: 128000}
  - {id: gpt4o-mini, provider: openai, model: gpt-4o-mini, family: gpt, context_window: 128000}
  - id: llama
    provider: openai-compatible
    model: llama-3.1-70b
    family: llama
    context_window: 8192
    base_url: http://gpu-1:8000/v1
    pricing: {self_hosted: {hourly_usd: 3.6}}
"""

POLICY = """\
format_version: 1
rules:
  - id: voice
    description: voice-matched writing goes to Claude
    when: {task: writing, tags: [voice]}
    model: claude
    prompt: founder-voice
    fallbacks: [gpt4o]
  - id: long-context
    when: {context_tokens: {min: 32001}}
    model: claude
    prompt: synthesis
    fallbacks: [gpt4o]
  - id: bulk
    when: {task: classification, volume: high}
    model: llama
    prompt: triage
    fallbacks: [gpt4o-mini]
  - id: classify
    when: {task: [classification, tool-call], context_tokens: {max: 32000}}
    model: gpt4o-mini
    prompt: triage
    fallbacks: [llama, gpt4o]
  - id: fast
    when: {latency_ms: {max: 500}}
    model: gpt4o-mini
    prompt: generic
default:
  model: claude
  prompt: generic
  fallbacks: [gpt4o]
"""


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "models.yaml").write_text(MODELS)
    (tmp_path / "policy.yaml").write_text(POLICY)
    prompts = tmp_path / "prompts"
    for prompt in ("founder-voice", "synthesis", "triage", "generic"):
        (prompts / prompt).mkdir(parents=True)
        (prompts / prompt / "default.j2").write_text("{% block user %}{{ text }}{% endblock %}\n")
    (prompts / "triage" / "gpt.j2").write_text("{% block user %}[gpt] {{ text }}{% endblock %}\n")
    (prompts / "triage" / "llama.j2").write_text("{% block prompt %}[llama] {{ text }} ->{% endblock %}\n")
    return {"policy": tmp_path / "policy.yaml", "models": tmp_path / "models.yaml", "prompts": prompts}
