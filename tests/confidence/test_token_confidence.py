"""The one definition of an LLM answer's confidence (:func:`evals.providers.confidence.token_confidence`)."""

from __future__ import annotations

import math

import pytest

from evals.config.models import ModelSpec
from evals.prompts import RenderedPrompt
from evals.providers.base import GenerateRequest, answer_confidence
from evals.providers.confidence import token_confidence
from evals.providers.fake import FakeProvider


def test_it_is_the_product_of_the_answers_token_probabilities():
    assert token_confidence([('"', -0.1), ("lead", -0.2), ('"', -0.3)], '"lead"') == pytest.approx(math.exp(-0.6))


def test_tokens_that_begin_at_or_after_the_answers_end_are_left_out():
    # the stop "\n" and what followed it; the end-of-sequence token (no text)
    assert token_confidence([(" lead", -0.5), ("\n", -9.0), ("Email", -3.0)], " lead") == pytest.approx(math.exp(-0.5))
    assert token_confidence([("lead", -0.5), ("", -4.0)], "lead") == pytest.approx(math.exp(-0.5))


def test_a_token_the_stop_cut_inside_is_part_of_the_answer():
    assert token_confidence([("le", -0.1), ("ad\n", -0.2)], "lead") == pytest.approx(math.exp(-0.3))


def test_bytes_are_compared_as_bytes():
    answer = "façade"
    raw = answer.encode()
    split = raw.index(b"\xa7")  # inside the two-byte "ç"
    assert token_confidence([(raw[:split], -0.1), (raw[split:], -0.1)], answer) == pytest.approx(math.exp(-0.2))


@pytest.mark.parametrize("tokens, answer", [
    ([], "lead"),  # nothing reported
    ([("lead", -0.1)], ""),  # no answer
    ([("lead", None)], "lead"),  # a log-prob missing
    ([("lead", float("nan"))], "lead"),
    ([("lead", 0.5)], "lead"),  # not a log-probability
    ([("le", -0.1)], "lead"),  # the tokens end before the answer does
    ([("support", -0.1)], "lead"),  # the tokens spell another text
    ([("le", -0.1), (None, None)], "lead"),  # the last token is unknown
])
def test_unknown_stays_unknown(tokens, answer):
    assert token_confidence(tokens, answer) is None


def test_a_very_unlikely_answer_is_a_small_probability_not_unknown():
    assert token_confidence([("lead", -800.0)], "lead") == 0.0
    assert token_confidence([("lead", float("-inf"))], "lead") == 0.0


async def test_the_fake_provider_reports_its_configured_confidence_only_when_asked():
    spec = ModelSpec(id="f", provider="fake", model="f", family="f", context_window=100,
                     options={"answer": "lead", "confidence": 0.7})
    FakeProvider.reset()
    prompt = RenderedPrompt(None, "x", 4, 0.0)
    asked = await FakeProvider(spec).generate(GenerateRequest(RenderedPrompt(None, "x", 4, 0.0, confidence=True)))
    plain = await FakeProvider(spec).generate(GenerateRequest(prompt))
    assert answer_confidence(asked) == 0.7 and answer_confidence(plain) is None
