"""The response cache key holds everything that can change an answer (issue 11, finding 1).

The identity is the whole model spec minus an explicit exclude list, so these tests walk the fields:
every field of ModelSpec and of each provider's options model is either changed and seen to change the
key, or named as answer-neutral and seen not to. A field added later without a line here fails
``test_every_field_is_accounted_for``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from evals.config.models import OPTIONS, ModelSpec, load_models
from evals.errors import ConfigError
from evals.providers.fake import FakeProvider
from evals.runner.cache import cache_key
from evals.runner.run import RunOptions, run
from tests.conftest import MODELS_YAML

BASE = {"id": "m", "model": "some-model", "family": "f", "context_window": 8192}

#: A changed value for every option of every provider (all of them must change the key, unless the
#: options model lists them as answer-neutral, in which case they must not).
OPTION_CHANGES: dict[str, dict[str, Any]] = {
    "llama-cpp": {"n_ctx": 2048, "seed": 7, "n_batch": 64, "n_gpu_layers": -1, "n_threads": 1,
                  "stop_repetition": False},
    "openai": {"extra_body": {"top_k": 5}, "logprobs": False},
    "openai-compatible": {"extra_body": {"top_k": 5}, "logprobs": False, "json_mode": "guided_json",
                          "tool_mode": "call_object", "probe_timeout_s": 9.0},
    "anthropic": {"json_mode": "output_format", "sampling_params": True, "anthropic_version": "2023-06-01"},
    "vllm": {"tensor_parallel_size": 2, "pipeline_parallel_size": 2, "max_model_len": 4096,
             "gpu_memory_utilization": 0.5, "max_num_seqs": 8, "dtype": "half", "quantization": "awq", "seed": 3,
             "revision": "main", "tokenizer": "other/tokenizer", "trust_remote_code": True, "enforce_eager": True,
             "enable_prefix_caching": True, "engine_args": {"swap_space": 8}, "batch_size": 8, "batch_wait_s": 1.0},
    "sklearn": {"sha256": "a" * 64, "distill": {"suite": "inbox-triage"}},  # the artifact's sha256 is the identity
    "fake": {"answer": "lead", "delay_s": 0.5, "confidence": 0.5},
}

#: A changed value for every ModelSpec field but ``options`` (covered above).
SPEC_CHANGES: dict[str, Any] = {
    "provider": "openai-compatible", "model": "other-model", "family": "g", "context_window": 4096,
    "base_url": "http://127.0.0.1:9/v1",
    # answer-neutral: must not change the key
    "id": "other-id", "description": "a note", "concurrency": 1, "rate_limit": {"requests_per_minute": 5},
    "timeout_s": 3.0, "max_retries": 0, "pricing": {"tokens": {"input_per_mtok": 1.0, "output_per_mtok": 2.0}},
    "api_key_env": "OTHER_KEY",
}


def key_of(spec: ModelSpec) -> str:
    return cache_key(spec.cache_identity(), {"prompt": "x"}, 0)


def make(provider: str, options: dict[str, Any] | None = None, **fields: Any) -> ModelSpec:
    return ModelSpec(**{**BASE, "provider": provider, "options": options or {}, **fields})


def test_every_field_is_accounted_for():
    assert set(OPTION_CHANGES) == set(OPTIONS)
    for provider, model in OPTIONS.items():
        assert set(OPTION_CHANGES[provider]) == set(model.model_fields), provider
    assert set(SPEC_CHANGES) == set(ModelSpec.model_fields) - {"options"}


@pytest.mark.parametrize("provider,option", [(p, o) for p, changes in OPTION_CHANGES.items() for o in changes])
def test_each_option_changes_the_key_unless_it_cannot_change_an_answer(provider, option):
    before, after = make(provider), make(provider, {option: OPTION_CHANGES[provider][option]})
    assert getattr(after.options, option) != getattr(before.options, option)
    if option in OPTIONS[provider].answer_neutral:
        assert key_of(after) == key_of(before), f"{provider}.{option} cannot change an answer"
    else:
        assert key_of(after) != key_of(before), f"{provider}.{option} changes answers but not the key"


@pytest.mark.parametrize("field", sorted(SPEC_CHANGES))
def test_each_spec_field_changes_the_key_unless_it_cannot_change_an_answer(field):
    base = {**BASE, "provider": "openai", "base_url": "http://127.0.0.1:8/v1"}
    before, after = ModelSpec(**base), ModelSpec(**{**base, field: SPEC_CHANGES[field]})
    if field in ModelSpec.answer_neutral:
        assert key_of(after) == key_of(before), f"{field} cannot change an answer"
    else:
        assert key_of(after) != key_of(before), f"{field} changes answers but not the key"


def test_the_exclude_list_is_short_and_explicit():
    assert ModelSpec.answer_neutral == {"id", "description", "concurrency", "rate_limit", "timeout_s",
                                        "max_retries", "pricing", "api_key_env"}
    neutral = {p: set(m.answer_neutral) for p, m in OPTIONS.items() if m.answer_neutral}
    assert neutral == {"llama-cpp": {"n_threads"}, "openai-compatible": {"probe_timeout_s"},
                       "vllm": {"batch_size", "batch_wait_s"}, "sklearn": {"sha256", "distill"},
                       "fake": {"delay_s"}}


def test_identity_never_holds_credentials():
    spec = make("openai-compatible", base_url="http://user:s3cret@127.0.0.1:8000/v1", api_key_env="SECRET_ENV")
    text = str(spec.cache_identity())
    assert "s3cret" not in text and "SECRET_ENV" not in text and "127.0.0.1:8000/v1" in text


def test_providers_build_on_the_spec_identity(tmp_path):
    from evals.providers.llama_cpp import LlamaCppProvider

    gguf = tmp_path / "tiny.gguf"
    gguf.write_bytes(b"GGUF" + b"\0" * 60)
    spec = make("llama-cpp", model=str(gguf))
    identity = LlamaCppProvider(spec).cache_identity()
    from evals.providers.llama_cpp import SCHEMA_RULE
    from evals.providers.repetition import RULE

    assert identity == {**spec.cache_identity(), "file": "tiny.gguf", "size": 64, "repetition_stop": RULE,
                        "schema_rule": SCHEMA_RULE}
    assert FakeProvider(make("fake")).cache_identity() == make("fake").cache_identity()


def test_a_new_schema_rewrite_is_a_new_identity_where_llama_cpp_builds_the_grammar(tmp_path, monkeypatch):
    """A cached JSON answer was decoded under the grammar its schema became then: when
    ``portable_schema`` changes (``SCHEMA_RULE``), the in-process model and a llama-cpp-python server
    (``json_mode: json_object``) are asked again; other servers are not."""
    from evals.providers import llama_cpp
    from evals.providers.openai import OpenAICompatibleProvider

    gguf = tmp_path / "tiny.gguf"
    gguf.write_bytes(b"GGUF" + b"\0" * 60)
    local = llama_cpp.LlamaCppProvider(make("llama-cpp", model=str(gguf)))
    url = "http://127.0.0.1:9/v1"
    server = OpenAICompatibleProvider(make("openai-compatible", {"json_mode": "json_object"}, base_url=url))
    vllm = OpenAICompatibleProvider(make("openai-compatible", {"json_mode": "guided_json"}, base_url=url))
    before = [local.cache_identity(), server.cache_identity(), vllm.cache_identity()]
    assert before[1]["schema_rule"] == llama_cpp.SCHEMA_RULE and "schema_rule" not in before[2]
    monkeypatch.setattr(llama_cpp, "SCHEMA_RULE", "a later rewrite")
    after = [local.cache_identity(), server.cache_identity(), vllm.cache_identity()]
    assert after[0] != before[0] and after[1] != before[1] and after[2] == before[2]


@pytest.mark.parametrize("provider,options,field", [
    ("fake", "{answr: lead}", "models[0].options.answr"),
    ("llama-cpp", "{n_ctx: 2048, sede: 1}", "models[0].options.sede"),
    ("openai", "{json_mode: none}", "models[0].options.json_mode"),  # only openai-compatible has json_mode
    ("anthropic", "{json_mode: tools}", "models[0].options.json_mode"),
])
def test_an_unknown_or_wrong_option_names_file_line_and_field(tmp_path, provider, options, field):
    path = tmp_path / "models.yaml"
    path.write_text(f"format_version: 1\nmodels:\n  - id: m\n    provider: {provider}\n    model: x\n"
                    f"    family: f\n    context_window: 8\n    options: {options}\n")
    with pytest.raises(ConfigError) as caught:
        load_models(path)
    assert caught.value.line == 8 and caught.value.field == field and str(path) in str(caught.value)


def test_a_bad_provider_is_reported_not_its_options(tmp_path):
    path = tmp_path / "models.yaml"
    path.write_text("format_version: 1\nmodels:\n  - id: m\n    provider: nope\n    model: x\n"
                    "    family: f\n    context_window: 8\n    options: {bogus: x}\n")
    with pytest.raises(ConfigError) as caught:
        load_models(path)
    assert caught.value.field == "models[0].provider"


def test_changing_an_option_calls_the_model_again(project):
    """The issue's reproduction: an option changed in models.yaml, then the same command."""
    models = Path(project.models_file)
    models.write_text(MODELS_YAML.replace("family: chatty\n", "family: chatty\n    options: {answer: lead}\n"))
    first = run(project, RunOptions(models=["fake-a"])).results
    assert (first["output"] == "lead").all() and not first["cached"].any()
    models.write_text(MODELS_YAML.replace("family: chatty\n", "family: chatty\n    options: {answer: support}\n"))
    FakeProvider.reset()
    second = run(project, RunOptions(models=["fake-a"])).results
    assert len(FakeProvider.calls) == 6 and not second["cached"].any()  # 6 of 6 asked again
    assert (second["output"] == "support").all()


def test_answer_neutral_changes_keep_the_cache(project):
    models = Path(project.models_file)
    run(project, RunOptions(models=["fake-a"]))
    models.write_text(MODELS_YAML.replace(
        "family: chatty\n", "family: chatty\n    concurrency: 1\n    timeout_s: 5\n    max_retries: 0\n"
                            "    description: renamed\n    options: {delay_s: 0.001}\n"))
    FakeProvider.reset()
    again = run(project, RunOptions(models=["fake-a"])).results
    assert FakeProvider.calls == [] and again["cached"].all()


def test_vllm_engine_args_cannot_shadow_a_typed_option():
    with pytest.raises(ValueError, match="max_model_len"):
        make("vllm", {"engine_args": {"max_model_len": 10}})
    assert make("vllm", {"seed": 1, "engine_args": {"swap_space": 4}}).options.engine() == {"seed": 1, "swap_space": 4}
