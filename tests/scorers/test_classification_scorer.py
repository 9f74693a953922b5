"""Classification scorer: one label normaliser for answers, gold and labels; invalid labels counted, never mapped."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from evals.errors import ConfigError
from evals.scorers import build_scorer
from evals.scorers.classification import ClassificationScorer, ClassificationSettings, normalise_label
from evals.suites import open_suite
from tests.conftest import REPO


def suite(labels=None, path="suites/x/suite.yaml"):
    return SimpleNamespace(spec=SimpleNamespace(labels=labels), path=path)


def scorer(labels=("inbound_lead", "support", "spam"), *, settings_labels=None) -> ClassificationScorer:
    return ClassificationScorer(suite(list(labels) if labels else None),
                                ClassificationSettings(labels=settings_labels))


@pytest.mark.parametrize("answer, label", [
    ("Inbound lead", "inbound_lead"), ("label: SUPPORT.", "support"), ('"spam"\nbecause it sells', "spam"),
    ("inbound-lead", "inbound_lead"), ("", ""), ("answer-needed", "answer_needed"), ("Intent: referral", "referral"),
    ('{"label": "question"}', "question"), ('"question"', "question"), ("```\nsupport\n```", "support"),
    ('```json\n{"label": "Question"}\n```', "question"), ('Sure:\n```json\n"question"\n```', "question"),
    ("**Support**", "support"), ("Label:\nsupport", "support"), ("Final answer: Label: spam", "spam"),
    ('Answer: {"intent": "referral"}', "referral"), ('{"category": "spam", "reason": "sells"}', "spam"),
    ("Inbound / Lead", "inbound_lead"), ("**Label:** Support", "support"), ("## Category: spam", "spam"),
    ("> spam", "spam"), ("label=support", "support"), ('["support"]', "support"),
])
def test_normalise_label(answer, label):
    assert normalise_label(answer) == label


def test_answer_needed_keeps_its_first_word():
    """Issue 12 item 3: normalise_label("answer-needed") returned "needed"."""
    assert normalise_label("answer-needed") == "answer_needed"
    s = scorer(("answer_needed", "no_action"))
    assert s.score("answer-needed", SimpleNamespace(gold="answer_needed")).value == 1.0


def test_a_prefix_that_is_a_label_is_the_answer():
    s = scorer(("support", "spam"))
    assert s.score("support: asks about billing", SimpleNamespace(gold="support")).value == 1.0
    assert s.score("spam: sells us leads", SimpleNamespace(gold="spam")).value == 1.0
    assert s.score("Category: spam", SimpleNamespace(gold="spam")).value == 1.0


@pytest.mark.parametrize("answer", ["Intent: referral", '{"label": "referral"}', "```\nreferral\n```",
                                    '```json\n{"label": "referral"}\n```', '"referral"'])
def test_answers_people_write_score_1(answer):
    """Issue 12 item 3: `Intent: referral`, `{"label": "question"}` and a label in a fence scored 0."""
    s = scorer(("referral", "question"))
    assert s.score(answer, SimpleNamespace(gold="referral")).value == 1.0


def test_labels_written_with_spaces_and_capitals_work_on_both_sides():
    """Issue 12 item 3: labels written `Inbound Lead` made every answer invalid."""
    s = scorer(("Inbound Lead", "Customer Support"))
    assert s.labels == ["inbound_lead", "customer_support"] and s.info() == {"labels": s.labels}
    for answer in ("Inbound Lead", "inbound_lead", "inbound-lead", "Label: inbound lead"):
        result = s.score(answer, SimpleNamespace(gold="Inbound Lead"))
        assert result.value == 1.0 and result.subscores["valid_label"] == 1.0, answer
        assert result.detail == {"predicted": "inbound_lead", "gold": "inbound_lead", "raw": None}
    assert s.score("customer support", SimpleNamespace(gold="Inbound Lead")).value == 0.0


def test_score_correct_wrong_and_invalid():
    s = scorer()
    example = SimpleNamespace(gold="support")
    right = s.score("Support", example)
    assert right.value == 1.0 and right.subscores["valid_label"] == 1.0 and right.detail["predicted"] == "support"
    wrong = s.score("spam", example)
    assert wrong.value == 0.0 and wrong.detail["predicted"] == "spam"
    invalid = s.score("a customer support question", example)  # near a label, but not one: not mapped
    assert invalid.value == 0.0 and invalid.subscores["valid_label"] == 0.0 and invalid.detail["predicted"] is None
    # a label buried after a sentence is not an answer: only a short `word:` prefix is dropped
    invalid = s.score("So all in all: support", example)
    assert invalid.value == 0.0 and invalid.subscores["valid_label"] == 0.0 and invalid.detail["predicted"] is None
    assert s.info() == {"labels": ["inbound_lead", "support", "spam"]}


def test_labels_come_from_the_suite_unless_settings_override():
    assert scorer(("a", "b")).labels == ["a", "b"]
    assert scorer(("a", "b"), settings_labels=["x", "y"]).labels == ["x", "y"]
    with pytest.raises(ConfigError, match="needs its labels") as err:
        scorer(None)
    assert err.value.field == "labels" and err.value.path == "suites/x/suite.yaml"
    with pytest.raises(ConfigError, match="distinct after normalisation") as err:
        scorer(("Inbound Lead", "inbound-lead"))
    assert err.value.field == "labels"


def test_shipped_suite_with_labels_written_once_at_the_top(shipped_copy):
    path = shipped_copy.suites_dir / "classification" / "inbox-triage" / "suite.yaml"
    text = path.read_text()
    labels = "[inbound_lead, customer_support, outbound_reply, spam_or_vendor]"
    text = text.replace(f"scorer:\n  name: classification\n  settings:\n    labels: {labels}\n",
                        f"labels: {labels}\nscorer:\n  name: classification\n")
    assert "settings" not in text.split("scorer:")[1].split("shape:")[0]
    path.write_text(text)
    built = build_scorer(open_suite(path))
    assert built.labels == ["inbound_lead", "customer_support", "outbound_reply", "spam_or_vendor"]


def test_majority_baseline_and_its_score():
    s = scorer(("spam", "support", "inbound_lead"))
    examples = [SimpleNamespace(id=str(i), gold=g) for i, g in enumerate(["support", "Support", "spam", "inbound_lead"])]
    base = s.baseline(examples)
    assert base.name == "majority label" and set(base.outputs.values()) == {"support"}
    assert [s.score(base.outputs[e.id], e).value for e in examples] == [1.0, 1.0, 0.0, 0.0]
    tie = [SimpleNamespace(id=str(i), gold=g) for i, g in enumerate(["support", "spam", "inbound_lead", "spam",
                                                                     "support"])]
    assert set(s.baseline(tie).outputs.values()) == {"spam"}  # tie: the label listed first
    assert set(s.baseline(list(reversed(tie))).outputs.values()) == {"spam"}  # not the order of the examples


def test_shipped_triage_baseline_is_the_majority_share():
    triage = open_suite(REPO / "suites" / "classification" / "inbox-triage" / "suite.yaml")
    s = build_scorer(triage)
    base = s.baseline(triage.examples)
    golds = [s.normalise(e.gold) for e in triage.examples]
    majority = max(set(golds), key=golds.count)
    assert set(base.outputs.values()) == {majority}
    mean = sum(s.score(base.outputs[e.id], e).value for e in triage.examples) / len(triage.examples)
    assert mean == pytest.approx(golds.count(majority) / len(golds)) and mean < 0.5


def test_the_remembered_labels_are_the_normaliser_s_own():
    """``normalise`` remembers short texts' labels (a pure function); each answer equals a fresh
    :func:`normalise_label`, twice over, and the memory stays bounded and skips long texts."""
    from evals.scorers import classification

    s = scorer()
    texts = ["Inbound lead", "label: SUPPORT.", "support: asks", "**Support**", "", "spam", "x" * 300, None, 7]
    for _ in range(2):
        assert [s.normalise(t) for t in texts] == [normalise_label(t, s._label_set) for t in texts]
    assert "x" * 300 not in s._memo and None not in s._memo
    for i in range(classification._MEMO_SIZE + 10):
        s.normalise(f"reply {i}")
    assert len(s._memo) == classification._MEMO_SIZE
