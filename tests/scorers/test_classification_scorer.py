"""Classification scorer: label normalisation and invalid labels counted, never mapped."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from evals.scorers.classification import ClassificationScorer, ClassificationSettings, normalise_label


def scorer() -> ClassificationScorer:
    return ClassificationScorer(SimpleNamespace(), ClassificationSettings(labels=["inbound_lead", "support", "spam"]))


@pytest.mark.parametrize("answer, label", [
    ("Inbound lead", "inbound_lead"), ("label: SUPPORT.", "support"), ('"spam"\nbecause it sells', "spam"),
    ("inbound-lead", "inbound_lead"), ("", ""),
])
def test_normalise_label(answer, label):
    assert normalise_label(answer) == label


def test_score_correct_wrong_and_invalid():
    s = scorer()
    example = SimpleNamespace(gold="support")
    right = s.score("Support", example)
    assert right.value == 1.0 and right.subscores["valid_label"] == 1.0 and right.detail["predicted"] == "support"
    wrong = s.score("spam", example)
    assert wrong.value == 0.0 and wrong.detail["predicted"] == "spam"
    invalid = s.score("a customer support question", example)  # near a label, but not one: not mapped
    assert invalid.value == 0.0 and invalid.subscores["valid_label"] == 0.0 and invalid.detail["predicted"] is None
    assert s.info() == {"labels": ["inbound_lead", "support", "spam"]}
