"""The in-process vLLM provider: availability here, request mapping, and real generation on a GPU box."""

from __future__ import annotations

import pytest

from evals.prompts import RenderedPrompt
from evals.providers import availability
from evals.providers.base import GenerateRequest
from evals.providers.vllm import VllmProvider, sampling_kwargs
from tests.providers.wire import spec

VLLM_SPEC = spec("vllm", "HuggingFaceTB/SmolLM2-135M-Instruct", options={"max_model_len": 2048, "batch_size": 8})
REASON = VllmProvider.unavailable_reason(VLLM_SPEC)


def test_unavailable_reason_is_specific():
    state = availability(VLLM_SPEC)
    if REASON is None:
        assert state.ready
    else:
        assert not state.ready
        assert "pip install 'portfolio-evals[vllm]'" in state.reason or "CUDA" in state.reason or "torch" in state.reason


def test_sampling_kwargs_map_the_template():
    p = RenderedPrompt(messages=None, prompt="x", max_tokens=7, temperature=0.2, top_p=0.9, stop=("\n",), seed=3)
    assert sampling_kwargs(GenerateRequest(p)) == {"max_tokens": 7, "temperature": 0.2, "top_p": 0.9,
                                                   "stop": ["\n"], "seed": 3}


def test_cache_identity_keeps_engine_options_not_batching():
    provider = VllmProvider(VLLM_SPEC)
    identity = provider.cache_identity()
    assert identity["options"] == {"max_model_len": 2048, "engine_args": {}} and "batch_size" not in str(identity)
    assert provider.batch_size == 8 and VLLM_SPEC.options.engine() == {"max_model_len": 2048}


@pytest.mark.slow
@pytest.mark.skipif(REASON is not None, reason=f"vllm unavailable here: {REASON}")
async def test_generates_a_batch_on_gpu():  # pragma: no cover - needs a GPU
    import asyncio

    provider = VllmProvider(VLLM_SPEC)
    chat = RenderedPrompt(messages=({"role": "user", "content": "Say hi"},), prompt=None, max_tokens=5, temperature=0)
    outs = await asyncio.gather(*(provider.generate(GenerateRequest(chat)) for _ in range(4)))
    assert all(o.ok and o.output_tokens and o.input_tokens for o in outs)
    assert outs[0].extra["batch_size"] >= 2  # gathered into one engine call
    await provider.aclose()
