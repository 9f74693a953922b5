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


# -- confidence (a classification request asks for the sampled tokens' log-probs) ------------------------

def _completion(text: str, tokens: list[tuple[int, str, float]], finish: str = "stop"):
    from types import SimpleNamespace as NS

    return NS(text=text, token_ids=[t for t, _, _ in tokens], finish_reason=finish,
              logprobs=[{t: NS(logprob=lp, rank=1, decoded_token=d)} for t, d, lp in tokens])


def test_a_classification_request_asks_for_the_sampled_tokens_logprobs():
    p = RenderedPrompt(messages=None, prompt="x", max_tokens=7, temperature=0.0, confidence=True)
    assert sampling_kwargs(GenerateRequest(p))["logprobs"] == 0


def test_completion_confidence_counts_the_answers_tokens_only():
    import math

    from evals.providers.vllm import completion_confidence

    # vLLM keeps the token that completed the stop string in token_ids; the text is cut before it
    cut = _completion(" lead", [(11, " le", -0.1), (12, "ad", -0.2), (13, "\n", -1.5)])
    assert completion_confidence(cut) == pytest.approx(math.exp(-0.3))
    eos = _completion("lead", [(12, "lead", -0.4), (2, "", -0.01)])
    assert completion_confidence(eos) == pytest.approx(math.exp(-0.4))
    assert completion_confidence(_completion("lead", [])) is None
    no_logprobs = _completion("lead", [(12, "lead", -0.4)])
    no_logprobs.logprobs = None
    assert completion_confidence(no_logprobs) is None


def test_generate_batch_puts_the_confidence_on_classification_answers_only(monkeypatch):
    import math
    from types import SimpleNamespace as NS

    import evals.providers.vllm as vllm_module

    monkeypatch.setattr(vllm_module, "sampling_params", sampling_kwargs)  # vllm is not installed here
    outputs = [_completion("lead", [(12, "lead", -0.7)]), _completion("lead", [(12, "lead", -0.7)])]

    class Engine:
        def generate(self, prompts, params, use_tqdm=False):
            assert [p.get("logprobs") for p in params] == [0, None]
            return [NS(prompt_token_ids=[1, 2], outputs=[o]) for o in outputs]

    provider = VllmProvider(VLLM_SPEC)
    provider._llm = Engine()
    asked = RenderedPrompt(messages=None, prompt="x", max_tokens=4, temperature=0.0, confidence=True)
    plain = RenderedPrompt(messages=None, prompt="x", max_tokens=4, temperature=0.0)
    first, second = provider.generate_batch([GenerateRequest(asked), GenerateRequest(plain)])
    assert first.extra["confidence"] == pytest.approx(math.exp(-0.7)) and "confidence" not in second.extra
