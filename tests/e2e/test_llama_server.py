"""The openai-compatible provider against a real ``python -m llama_cpp.server`` serving SmolLM2 on loopback."""

from __future__ import annotations

import pytest

from evals.runner.cache import ResponseCache
from evals.runner.store import read_manifest, read_results
from tests.conftest import run_cli, write_project

pytestmark = pytest.mark.slow

FAKE_KEY = "sk-local-fake-0d6f2b8e41c94a7d"

MODELS = """\
format_version: 1
models:
  - id: smollm2-server
    provider: openai-compatible
    model: smollm2
    family: smollm2
    context_window: 2048
    base_url: {base_url}
    api_key_env: LOCAL_SERVER_KEY
    concurrency: 1
    timeout_s: 120
    pricing: {{self_hosted: {{hourly_usd: 0.096}}}}
  - id: smollm2-server-completion
    provider: openai-compatible
    model: smollm2
    family: terse
    context_window: 2048
    base_url: {base_url}
    concurrency: 1
    timeout_s: 120
    pricing: {{self_hosted: {{hourly_usd: 0.096}}}}
  - id: nothing-listening
    provider: openai-compatible
    model: x
    family: smollm2
    context_window: 2048
    base_url: http://127.0.0.1:9/v1
"""


def test_real_run_against_llama_cpp_server(llama_server, tmp_path):
    root = tmp_path / "proj"
    write_project(root, n_examples=3, models_yaml=MODELS.format(base_url=llama_server))
    env = {"EVALS_CACHE": str(tmp_path / "cache" / "responses.sqlite"), "LOCAL_SERVER_KEY": FAKE_KEY}

    models = run_cli("models", "--project", str(root), cwd=root, env={**env, "COLUMNS": "250"})
    assert models.returncode == 0, models.stderr
    assert "endpoint unreachable" in models.stdout and "http://127.0.0.1:9/v1" in models.stdout
    assert models.stdout.count("ready") == 2

    out = run_cli("run", "--project", str(root), cwd=root, env=env, timeout=600)
    assert out.returncode == 0, out.stderr
    skipped = [line for line in out.stderr.splitlines() if "skipping" in line]
    assert len(skipped) == 1 and "nothing-listening" in skipped[0] and "endpoint unreachable" in skipped[0]

    folder = sorted((root / "reports").glob("*/results.parquet"))[-1].parent
    frame = read_results(folder)
    assert len(frame) == 6 and set(frame["model"]) == {"smollm2-server", "smollm2-server-completion"}
    cut = frame["finish_reason"] == "length"  # max_tokens: 5, so an answer may be cut off: `truncated`
    assert (frame["error"].isna() | ((frame["error"] == "truncated") & cut)).all(), frame["error_message"].tolist()
    print(frame[["model", "example_id", "output", "input_tokens", "output_tokens", "latency_ms", "cost_usd"]]
          .to_string())
    # real usage and timings from the server
    assert (frame["input_tokens"] >= 3).all() and (frame["output_tokens"] >= 1).all()
    assert (frame["latency_ms"] > 0).all() and (frame["cost_usd"] > 0).all()
    chat = frame[frame.model == "smollm2-server"]
    completion = frame[frame.model == "smollm2-server-completion"]
    assert (chat["output_tokens"] <= 5).all()  # max_tokens: 5 from the chat template reached the server
    assert chat["variant"].unique().tolist() == ["default"] and completion["variant"].unique().tolist() == ["terse"]
    # the chat template adds role markup, so the same example costs more prompt tokens as chat
    assert (chat["input_tokens"].to_numpy() > completion["input_tokens"].to_numpy()).all()
    manifest = read_manifest(folder)
    assert manifest["models"]["smollm2-server"]["identity"]["base_url"] == llama_server

    # the fake key went nowhere
    cache_dir = tmp_path / "cache"
    files = [p for base in (root, cache_dir) for p in base.rglob("*") if p.is_file()]
    assert [str(p) for p in files if FAKE_KEY.encode() in p.read_bytes()] == []
    assert FAKE_KEY not in out.stdout + out.stderr

    again = run_cli("run", "--project", str(root), cwd=root, env=env)
    assert again.returncode == 0, again.stderr
    assert read_results(sorted((root / "reports").glob("*/results.parquet"))[-1].parent)["cached"].all()
    with ResponseCache(cache_dir / "responses.sqlite") as cache:
        assert set(cache.attempts_per_key().values()) == {1}


async def test_json_output_constrained_by_the_server(llama_server):
    """``json_mode: json_object`` sends llama.cpp's schema-carrying response_format; the answer obeys it."""
    import json

    import jsonschema

    from evals.config.models import ModelSpec
    from evals.prompts import RenderedPrompt
    from evals.providers.base import GenerateRequest
    from evals.providers.openai import OpenAICompatibleProvider

    schema = {"type": "object", "properties": {"label": {"type": "string", "enum": ["lead", "support"]}},
              "required": ["label"]}
    spec = ModelSpec(id="s", provider="openai-compatible", model="smollm2", family="smollm2", context_window=2048,
                     base_url=llama_server, options={"json_mode": "json_object"})
    prompt = RenderedPrompt(messages=({"role": "user", "content": "Label this email: 'Can I get a quote?'"},),
                            prompt=None, max_tokens=20, temperature=0.0, json_output=True, json_schema=schema)
    provider = OpenAICompatibleProvider(spec)
    try:
        out = await provider.generate(GenerateRequest(prompt))
    finally:
        await provider.aclose()
    assert out.ok, out.error_message
    jsonschema.validate(json.loads(out.text), schema)
    assert out.input_tokens > 5 and out.output_tokens > 0
