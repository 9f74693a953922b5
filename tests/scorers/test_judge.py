"""The LLM judge, with the fake provider as judge: parsing, both orders, position agreement, weights."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from evals.errors import ConfigError
from evals.providers.fake import FakeProvider
from evals.scorers.judge import JudgeSettings, combine_orders, parse_score, parse_winner
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


def test_pointwise_judge_feeds_the_combined_score(suite):
    FakeProvider.reset(script=["Plain and concrete.\nSCORE: 5"])
    scorer = voice(suite)
    score = scorer.score("We rent GPUs.", brief_example())
    assert score.subscores["judge"] == 1.0
    assert len(FakeProvider.calls) == 1
    prompt = FakeProvider.calls[0].prompt.messages[0]["content"]
    assert "We rent GPUs." in prompt and "house voice" in prompt and "SCORE: n" in prompt
    parts = score.subscores
    expected = (0.4 * parts["style"] + 0.3 * parts["facts"] + 0.15 * parts["length"] + 0.15 * parts["no_banned"]
                + 0.25 * 1.0) / 1.25
    assert score.value == pytest.approx(expected)
    assert scorer.info()["weights"]["judge"] == 0.25 and scorer.info()["judge"]["model"] == "judge-fake"


def test_pairwise_runs_both_orders_and_reports_position_agreement(suite):
    scorer = voice(suite, mode="pairwise")
    FakeProvider.reset(script=["WINNER: A", "WINNER: B"])  # candidate wins in both orders
    agreed = scorer.score("We rent GPUs.", brief_example())
    assert len(FakeProvider.calls) == 2
    first, second = (c.prompt.messages[0]["content"] for c in FakeProvider.calls)
    assert first.index("We rent GPUs.") < first.index("## Text B")  # candidate shown as A first ...
    assert second.index("We rent GPUs.") > second.index("## Text B")  # ... then as B
    assert agreed.subscores["judge"] == 1.0 and agreed.subscores["judge_position_agreement"] == 1.0
    FakeProvider.reset(script=["WINNER: A", "WINNER: A"])  # always the first text: position bias
    biased = scorer.score("We rent GPUs.", brief_example())
    assert biased.subscores["judge"] == 0.5 and biased.subscores["judge_position_agreement"] == 0.0
    assert biased.detail["judge"]["orders"] == ["A", "A"]


def test_unparseable_verdict_drops_the_judge_part(suite):
    FakeProvider.reset(script=["I like it"])
    score = voice(suite).score("We rent GPUs.", brief_example())
    assert "judge" not in score.subscores and score.detail["judge"]["score"] is None


def test_unknown_judge_model_is_a_config_error(suite):
    with pytest.raises(ConfigError, match="judge model"):
        VoiceScorer(suite, VoiceSettings(judge=JudgeSettings(model="nobody")))


def test_judge_is_off_by_default(suite):
    FakeProvider.reset()
    scorer = VoiceScorer(suite, VoiceSettings(banned_file="banned.txt"))
    assert scorer.judge is None and "judge" not in scorer.score("We rent.", brief_example()).subscores
    assert FakeProvider.calls == []
