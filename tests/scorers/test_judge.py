"""The LLM judge through a fake ModelCaller: parsing, both orders, position agreement, weights, errors, and
that it never blocks the event loop nor creates a provider."""

from __future__ import annotations

import asyncio
import threading
import time
from types import SimpleNamespace

import pytest

from evals.errors import ConfigError
from evals.providers.base import ErrorKind, GenerateResponse
from evals.scorers.judge import Judge, JudgeError, JudgeSettings, combine_orders, parse_score, parse_winner
from evals.scorers.voice import VoiceScorer, VoiceSettings
from evals.suites import open_suite

JUDGE_MODEL = """
  - id: judge-fake
    provider: fake
    model: judge-fake
    family: judge
    context_window: 8192
    pricing: {tokens: {input_per_mtok: 1.0, output_per_mtok: 1.0}}
"""

TEXT = ("We keep renting GPUs. Buying would cost $320,000 upfront and pay back in 27 months, which is too long "
        "for us. We will look again if rental prices rise more than 30%.")


class FakeCall:
    """A ModelCaller: answers from a queue (strings or GenerateResponses), records what it was asked."""

    def __init__(self, *replies, delay_s: float = 0.0):
        self.replies = list(replies)
        self.calls: list[tuple[str, object]] = []
        self.delay_s = delay_s

    async def __call__(self, model_id, prompt):
        self.calls.append((model_id, prompt))
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        reply = self.replies.pop(0) if self.replies else "SCORE: 3"
        return reply if isinstance(reply, GenerateResponse) else GenerateResponse(text=reply, finish_reason="stop")

    def prompts(self) -> list[str]:
        return [p.messages[0]["content"] for _, p in self.calls]


@pytest.fixture
def suite(shipped_copy):
    with open(shipped_copy.models_file, "a") as handle:
        handle.write(JUDGE_MODEL)
    return open_suite(shipped_copy.suites_dir / "writing" / "founder-voice" / "suite.yaml")


def voice(suite, **judge) -> VoiceScorer:
    return VoiceScorer(suite, VoiceSettings(banned_file="banned.txt", judge=JudgeSettings(model="judge-fake", **judge)))


def brief_example():
    brief = {"kind": "memo", "audience": "team", "topic": "GPUs", "facts": ["rent"], "must_include": ["rent"],
             "min_words": 1, "max_words": 50}
    return SimpleNamespace(inputs=brief, gold=brief["must_include"])


def test_parsers_and_order_combination():
    assert parse_score("ok\nSCORE: 5") == 1.0 and parse_score("SCORE: 1") == 0.0 and parse_score("7/10") is None
    assert parse_winner("WINNER: tie") == "TIE" and parse_winner("no verdict") is None
    assert combine_orders("A", "B").score == 1.0 and combine_orders("B", "A").score == 0.0
    both_first = combine_orders("A", "A")  # always picks the first text: a position-biased judge
    assert both_first.position_agreement == 0.0 and both_first.score == 0.5
    assert combine_orders("TIE", "TIE").position_agreement == 1.0
    assert combine_orders(None, "A").score is None


async def test_pointwise_judge_feeds_the_combined_score(suite):
    scorer = voice(suite)
    call = FakeCall("Plain and concrete.\nSCORE: 5")
    score = await scorer.ascore(TEXT, brief_example(), call)
    assert score.subscores["judge"] == 1.0
    assert len(call.calls) == 1 and call.calls[0][0] == "judge-fake"
    rendered = call.calls[0][1]
    assert rendered.temperature == 0.0 and rendered.max_tokens == 200 and rendered.prompt is None
    prompt = call.prompts()[0]
    assert TEXT in prompt and "house voice" in prompt and "SCORE: n" in prompt
    parts = score.subscores
    expected = (0.4 * parts["style"] + 0.3 * parts["facts"] + 0.15 * parts["length"] + 0.15 * parts["no_banned"]
                + 0.25 * 1.0) / 1.25
    assert score.value == pytest.approx(expected)
    assert scorer.info()["weights"]["judge"] == 0.25 and scorer.info()["judge"]["model"] == "judge-fake"


async def test_pairwise_runs_both_orders_and_reports_position_agreement(suite):
    scorer = voice(suite, mode="pairwise")
    call = FakeCall("WINNER: A", "WINNER: B")  # candidate wins in both orders
    agreed = await scorer.ascore(TEXT, brief_example(), call)
    assert len(call.calls) == 2
    first, second = call.prompts()
    assert first.index(TEXT) < first.index("## Text B")  # candidate shown as A first ...
    assert second.index(TEXT) > second.index("## Text B")  # ... then as B
    assert agreed.subscores["judge"] == 1.0 and agreed.subscores["judge_position_agreement"] == 1.0
    biased = await scorer.ascore(TEXT, brief_example(), FakeCall("WINNER: A", "WINNER: A"))  # position bias
    assert biased.subscores["judge"] == 0.5 and biased.subscores["judge_position_agreement"] == 0.0
    assert biased.detail["judge"]["orders"] == ["A", "A"]


async def test_unparseable_verdict_drops_the_judge_part(suite):
    score = await voice(suite).ascore(TEXT, brief_example(), FakeCall("I like it"))
    assert "judge" not in score.subscores and score.detail["judge"]["score"] is None
    assert score.value == pytest.approx(voice(suite).score(TEXT, brief_example()).value)


async def test_a_judge_refusal_drops_the_judge_part_and_says_so(suite):
    refused = GenerateResponse(error=ErrorKind.REFUSED, error_message="content policy")
    score = await voice(suite).ascore(TEXT, brief_example(), FakeCall(refused))
    assert "judge" not in score.subscores and score.detail["judge"]["error"] == "refused"


@pytest.mark.parametrize("kind", [ErrorKind.RATE_LIMITED, ErrorKind.TIMEOUT, ErrorKind.SERVER_ERROR, ErrorKind.AUTH])
async def test_an_infrastructure_error_of_the_judge_is_not_a_score(suite, kind):
    """A judge that could not be reached must not leave a score computed without its part: the runner records
    the row as a scorer error (infra), and a re-run retries the judge."""
    failed = GenerateResponse(error=kind, error_message="HTTP 429")
    with pytest.raises(JudgeError, match=f"judge judge-fake call failed: {kind.value}"):
        await voice(suite).ascore(TEXT, brief_example(), FakeCall(failed))
    with pytest.raises(JudgeError):
        await voice(suite, mode="pairwise").ascore(TEXT, brief_example(), FakeCall("WINNER: A", failed))


async def test_sync_score_is_the_judge_less_path(suite):
    scorer = voice(suite)
    score = scorer.score(TEXT, brief_example())
    assert "judge" not in score.subscores and "judge" not in score.detail
    no_caller = await scorer.ascore(TEXT, brief_example(), None)
    assert "judge" not in no_caller.subscores


async def test_a_degenerate_text_is_not_sent_to_the_judge(suite):
    call = FakeCall("SCORE: 5")
    score = await voice(suite).ascore("rent " * 40, brief_example(), call)
    assert score.value == 0.0 and call.calls == []


async def test_the_judge_never_blocks_the_event_loop(suite):
    """Issue 11 item 6: the judge ran `run_coroutine_threadsafe(...).result()` inside the runner's coroutine."""
    scorer = voice(suite, mode="pairwise")
    threads = threading.active_count()
    call = FakeCall(*["WINNER: A", "WINNER: B"] * 4, delay_s=0.2)
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    tick = asyncio.create_task(ticker())
    start = time.perf_counter()
    scores = await asyncio.gather(*(scorer.ascore(TEXT, brief_example(), call) for _ in range(4)))
    elapsed = time.perf_counter() - start
    tick.cancel()
    assert all(s.subscores["judge"] == 1.0 for s in scores) and len(call.calls) == 8
    assert elapsed < 0.6  # 8 calls of 0.2 s, concurrent: one call's time, not 1.6 s
    assert ticks >= 10  # the loop kept running other tasks while the judge waited
    assert threading.active_count() == threads  # no judge thread


def test_the_judge_never_creates_a_provider(suite, monkeypatch):
    import evals.providers

    def forbidden(*args, **kwargs):
        raise AssertionError("the judge must not create providers")

    monkeypatch.setattr(evals.providers, "create_provider", forbidden)
    scorer = voice(suite)
    assert isinstance(scorer.judge, Judge) and not hasattr(scorer.judge, "provider")


def test_unknown_judge_model_is_a_config_error(suite):
    with pytest.raises(ConfigError, match="judge model 'nobody' is not in models.yaml") as err:
        VoiceScorer(suite, VoiceSettings(judge=JudgeSettings(model="nobody")))
    assert err.value.field == "scorer.settings.judge.model" and err.value.path == str(suite.path)


def test_judge_is_off_by_default(suite):
    scorer = VoiceScorer(suite, VoiceSettings(banned_file="banned.txt"))
    assert scorer.judge is None and "judge" not in scorer.score(TEXT, brief_example()).subscores
    assert "judge" not in scorer.info()["weights"]
