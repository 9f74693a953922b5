"""The judge behaves like a model call (issue 11, finding 6), runner side: a scorer that overrides
``ascore`` gets a ``call`` that goes through the run's cache, retries and limits, and is priced into the
row. The judge model is a FakeProvider entry of models.yaml that is not one of the run's candidates."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

import pytest

from evals.prompts import RenderedPrompt
from evals.providers.base import ErrorKind, GenerateResponse
from evals.providers.fake import FakeProvider
from evals.runner.cache import ResponseCache
from evals.runner.run import RunOptions, run
from evals.scorers.base import Score
from evals.scorers.classification import ClassificationScorer
from tests.conftest import MODELS_YAML

JUDGE = """\
  - id: judge-fake
    provider: fake
    model: judge-fake
    family: judge
    context_window: 4096
    pricing: {tokens: {input_per_mtok: 10.0, output_per_mtok: 20.0}}
"""


def judge_prompt(text: str) -> RenderedPrompt:
    return RenderedPrompt(messages=({"role": "user", "content": f"JUDGE this answer: {text}"},), prompt=None,
                          max_tokens=8, temperature=0.0)


class JudgedScorer(ClassificationScorer):
    """The classification score, plus what the judge said (as a judge scorer would)."""

    judge_id = "judge-fake"
    active = 0
    most_active = 0

    async def ascore(self, output, example, call=None):
        base = self.score(output, example)
        cls = type(self)
        cls.active += 1
        cls.most_active = max(cls.most_active, cls.active)
        try:
            response = await call(self.judge_id, judge_prompt(f"{example.id}: {output}"))
        finally:
            cls.active -= 1
        verdict = response.text if response.ok else None
        return Score(base.value, {"judge": 1.0 if verdict == "good" else 0.0},
                     {"judge_reply": verdict, "judge_error": response.error.value if response.error else None})


def is_judge(request) -> bool:
    return request.prompt.text.startswith("[user]\nJUDGE")


def answer(request):
    return "good" if is_judge(request) else "lead"


@pytest.fixture
def judged(project):
    Path(project.models_file).write_text(MODELS_YAML + JUDGE)
    JudgedScorer.active = JudgedScorer.most_active = 0
    FakeProvider.reset(responder=answer)
    return project


def judged_run(project, **options):
    return run(project, RunOptions(models=["fake-a"], **options), scorers={"classification": JudgedScorer})


def judge_calls() -> list:
    return [c for c in FakeProvider.calls if is_judge(c)]


def test_judge_calls_are_priced_into_the_row(judged):
    frame = judged_run(judged).results
    assert len(judge_calls()) == 6 and (frame["judge_calls"] == 1).all()
    assert frame["detail"].str.contains('"judge_reply": "good"').all()
    for request, cost in zip(sorted(judge_calls(), key=lambda r: r.prompt.text),
                             frame.sort_values("example_id")["judge_cost_usd"]):
        words_in, words_out = len(request.prompt.text.split()), 1  # what the fake reports as usage
        assert cost == pytest.approx((words_in * 10.0 + words_out * 20.0) / 1e6)
    a = frame.iloc[0]
    assert a.cost_usd == pytest.approx((a.input_tokens * 1.0 + a.output_tokens * 2.0) / 1e6)  # the model's own


def test_a_cached_rerun_makes_no_judge_call_and_keeps_the_judge_cost(judged):
    first = judged_run(judged).results
    FakeProvider.reset(responder=answer)
    again = judged_run(judged)
    assert FakeProvider.calls == []  # neither the model nor the judge was asked again
    assert again.results["cached"].all()
    assert again.results["judge_cost_usd"].tolist() == first["judge_cost_usd"].tolist()
    assert again.results["judge_calls"].tolist() == first["judge_calls"].tolist()
    assert again.manifest["judge_calls"] == 6 and "judge-fake" in again.manifest["judge_models"]


def test_judge_calls_are_retried_and_journalled(judged, monkeypatch):
    async def no_wait(seconds: float) -> None:
        pass

    monkeypatch.setattr("evals.providers.retry.default_sleep", no_wait)
    seen: Counter = Counter()

    def flaky_judge(request):
        if not is_judge(request):
            return "lead"
        seen[request.prompt.text] += 1
        return ErrorKind.RATE_LIMITED if seen[request.prompt.text] == 1 else "good"

    FakeProvider.reset(responder=flaky_judge)
    frame = judged_run(judged).results
    assert len(judge_calls()) == 12 and set(seen.values()) == {2}  # each judge prompt: one retry
    assert frame["detail"].str.contains('"judge_reply": "good"').all() and (frame["judge_calls"] == 1).all()
    with ResponseCache(judged.cache_file) as cache:
        assert len(cache) == 12  # six answers and six verdicts


def test_judge_calls_do_not_block_the_event_loop(judged):
    Path(judged.models_file).write_text(MODELS_YAML + JUDGE.replace("family: judge\n",
                                                                    "family: judge\n    options: {delay_s: 0.2}\n"))
    judged_run(judged, concurrency=4)
    assert JudgedScorer.most_active >= 2, "judge calls ran one at a time: something blocks the loop"


def test_identical_judge_prompts_are_sent_once(judged):
    class SamePrompt(JudgedScorer):
        async def ascore(self, output, example, call=None):
            response = await call(self.judge_id, judge_prompt("always the same"))
            return Score(1.0 if response.text == "good" else 0.0)

    frame = run(judged, RunOptions(models=["fake-a"]), scorers={"classification": SamePrompt}).results
    assert len(judge_calls()) == 1 and (frame["judge_calls"] == 1).all() and (frame["score"] == 1.0).all()
    assert frame["judge_cost_usd"].nunique() == 1


def test_an_unknown_or_unpriced_judge(judged):
    class Nobody(JudgedScorer):
        judge_id = "nobody"

    frame = run(judged, RunOptions(models=["fake-a"]), scorers={"classification": Nobody}).results
    assert frame["detail"].str.contains('"judge_error": "unavailable"').all()
    assert (frame["judge_calls"] == 0).all() and frame["judge_cost_usd"].isna().all() and judge_calls() == []
    Path(judged.models_file).write_text(MODELS_YAML + JUDGE.replace(
        "pricing: {tokens: {input_per_mtok: 10.0, output_per_mtok: 20.0}}", "pricing: auto"))
    frame = judged_run(judged).results
    assert (frame["judge_calls"] == 1).all() and frame["judge_cost_usd"].isna().all()  # unknown, never $0


def test_a_model_can_judge_itself_at_concurrency_one(judged):
    class SelfJudged(JudgedScorer):
        judge_id = "fake-a"

    Path(judged.models_file).write_text(MODELS_YAML.replace("family: chatty\n", "family: chatty\n    concurrency: 1\n"))
    done: list = []
    worker = threading.Thread(daemon=True, target=lambda: done.append(
        run(judged, RunOptions(models=["fake-a"], concurrency=1), scorers={"classification": SelfJudged})))
    worker.start()
    worker.join(30)
    assert done, "the run deadlocked: a row held the model's only slot while its judge call waited for it"
    assert (done[0].results["judge_calls"] == 1).all()


def test_a_judge_error_reaches_the_scorer_not_the_run(judged):
    project = judged
    Path(project.models_file).write_text(MODELS_YAML + JUDGE.replace("family: judge\n",
                                                                     "family: judge\n    max_retries: 0\n"))
    FakeProvider.reset(responder=lambda r: GenerateResponse(error=ErrorKind.SERVER_ERROR) if is_judge(r) else "lead")
    frame = judged_run(project).results
    assert frame["error"].isna().all() and frame["detail"].str.contains('"judge_error": "server_error"').all()
    # a failed call that reported no usage has no price to show: unknown, not $0
    assert frame["judge_cost_usd"].isna().all() and (frame["judge_calls"] == 1).all()


def test_one_unpriced_judge_answer_makes_the_row_judge_cost_unknown(judged):
    class TwoJudges(JudgedScorer):
        async def ascore(self, output, example, call=None):
            await call("judge-fake", judge_prompt("priced"))
            await call("judge-auto", judge_prompt("unpriced"))
            return Score(1.0)

    Path(judged.models_file).write_text(MODELS_YAML + JUDGE + JUDGE.replace("judge-fake", "judge-auto").replace(
        "pricing: {tokens: {input_per_mtok: 10.0, output_per_mtok: 20.0}}", "pricing: auto"))
    frame = run(judged, RunOptions(models=["fake-a"]), scorers={"classification": TwoJudges}).results
    assert (frame["judge_calls"] == 2).all() and frame["judge_cost_usd"].isna().all()  # part known is not known
