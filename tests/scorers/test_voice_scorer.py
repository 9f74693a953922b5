"""Voice scorer: the stylometric model on the shipped suite, the brief's constraints, the combined score."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from evals.scorers import build_scorer
from evals.scorers.voice import DEFAULT_WEIGHTS, StyleModel, combine, repetition
from evals.suites import open_suite

REPO = Path(__file__).resolve().parents[2]
SUITE = REPO / "suites" / "writing" / "founder-voice"


def samples(name: str) -> list[dict]:
    return [json.loads(line) for line in (SUITE / name).read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def scorer():
    return build_scorer(open_suite(SUITE / "suite.yaml"))


def test_voice_model_cv_auc_is_reported_and_shown_samples_excluded(scorer):
    info = scorer.info()["voice_model"]
    assert info["excluded_shown_samples"] == 3  # suite.yaml shows the first 3 references as style samples
    assert info["n_train"] == len(samples("references.jsonl")) - 3 + len(samples("contrast.jsonl"))
    assert len(info["cv_folds"]) == 5 and 0.0 <= info["cv_auc_low"] <= info["cv_auc"] <= info["cv_auc_high"] <= 1.0
    assert info["cv_auc"] > 0.8, info["note"]
    assert "CV AUC" in info["note"]


def test_held_out_reference_scores_higher_than_held_out_contrast():
    refs = [r["text"] for r in samples("references.jsonl")]
    contrast = [c["text"] for c in samples("contrast.jsonl")]
    held_refs, held_con = refs[::4], contrast[::4]
    model = StyleModel([t for i, t in enumerate(refs) if i % 4], [t for i, t in enumerate(contrast) if i % 4])
    ref_scores, con_scores = model.predict(held_refs), model.predict(held_con)
    assert np.mean(ref_scores) > np.mean(con_scores)
    # and per pair: the held-out AUC, computed by hand
    wins = sum((r > c) + 0.5 * (r == c) for r in ref_scores for c in con_scores)
    assert wins / (len(ref_scores) * len(con_scores)) > 0.8


def test_shown_samples_never_trained_on_still_score_as_the_voice(scorer):
    shown = [r["text"] for r in samples("references.jsonl")[:3]]
    contrast = [c["text"] for c in samples("contrast.jsonl")[:3]]
    assert min(scorer.style.predict(shown)) > max(scorer.style.predict(contrast))


def test_constraints_and_combined_score(scorer):
    brief = {"must_include": ["$320,000", "27 months"], "min_words": 5, "max_words": 40, "kind": "memo"}
    example = SimpleNamespace(inputs=brief, gold=brief["must_include"])
    text = "We keep renting. Buying costs $320,000 upfront and pays back in 27 months. We will look again."
    score = scorer.score(text, example)
    assert score.subscores["facts"] == 1.0 and score.subscores["length"] == 1.0
    assert score.subscores["no_banned"] == 1.0
    style = score.subscores["style"]
    expected = 0.4 * style + 0.3 + 0.15 + 0.15
    assert score.value == pytest.approx(expected)
    hype = scorer.score("We are thrilled to announce a seamless, game-changer move.", example)
    assert hype.subscores["no_banned"] == 0.0 and hype.subscores["facts"] == 0.0
    assert hype.detail["banned_found"] and hype.detail["missing"] == ["$320,000", "27 months"]
    assert hype.detail["voice_model_cv_auc"] == pytest.approx(scorer.style.cv_auc, abs=1e-4)
    assert hype.value < score.value
    assert scorer.score("", example).subscores["style"] == 0.0


def test_combine_renormalises_and_skips_missing_parts():
    parts = {"style": 0.5, "facts": 1.0, "length": 0.0, "no_banned": 1.0, "judge": 1.0}
    assert combine(parts, DEFAULT_WEIGHTS) == pytest.approx((0.2 + 0.3 + 0 + 0.15 + 0.25) / 1.25)
    assert combine({**parts, "judge": None}, DEFAULT_WEIGHTS) == pytest.approx(0.2 + 0.3 + 0 + 0.15)
    assert combine({}, DEFAULT_WEIGHTS) == 0.0


# -- trivial answers do not clear the bar (issue 12 item 1) ------------------------------------------------

GOOD = ("Decision: we keep renting GPUs. Buying two 8-GPU servers would cost about $320,000 upfront, and "
        "against what we pay for rental the payback would take about 27 months. That is too long for a company "
        "our size, and the hardware would be a generation old by then. Renting also lets us move capacity "
        "between regions when a client needs it. We will revisit this if rental prices rise more than 30%. "
        "Until then, nobody needs to spend time on racks, power or spares.")


@pytest.fixture(scope="module")
def briefs():
    return open_suite(SUITE / "suite.yaml").examples


def test_a_good_answer_is_not_flagged(scorer, briefs):
    brief = next(b for b in briefs if b.id == "brief-17")
    result = scorer.score(GOOD, brief)
    assert result.detail["degenerate"] is None and result.detail["copied_reference"] is None
    assert result.detail["facts_gate"] is False and result.subscores["facts"] == 1.0
    assert result.value == pytest.approx(0.4 * result.subscores["style"] + 0.6)


def test_no_reference_or_contrast_sample_reads_as_degenerate(scorer):
    """The repetition and near-empty rules do not fire on real prose (the false-positive side of the guard)."""
    brief = {"min_words": 60}
    for row in samples("references.jsonl") + samples("contrast.jsonl"):
        assert scorer.degenerate(row["text"], brief) is None, row["id"]
        assert repetition(row["text"]) < 0.1, row["id"]


@pytest.mark.parametrize("index", range(48))
def test_a_copy_of_any_reference_scores_0_for_style(scorer, briefs, index):
    """Issue 12 item 1: pasting a reference sample (the shown ones included) scored 0.693 over the 0.6 floor."""
    reference = samples("references.jsonl")[index]
    for text in (reference["text"], reference["text"].replace("We ", "we ").replace(".", "!") + " Thanks.",
                 reference["text"] + "\n\n" + GOOD):
        result = scorer.score(text, briefs[0])
        assert result.subscores["style"] == 0.0 and result.detail["copied_reference"] == reference["id"]


def test_pasting_a_shown_reference_sample_clears_no_floor(scorer, briefs):
    """Issue 12 item 1's exact case: the prompt shows the first references; pasting one, with 7% of the facts."""
    suite = open_suite(SUITE / "suite.yaml")
    shown = [r["text"] for r in suite.context["style_samples"]]
    for text in shown:
        results = [scorer.score(text, b) for b in briefs]
        assert max(r.value for r in results) < 0.5  # style 0, and the facts it happens to hold gate the rest
        assert sum(r.value for r in results) / len(results) < 0.1
        assert all(r.subscores["style"] == 0.0 for r in results)


def test_repetition_scores_0(scorer, briefs):
    """Issue 12 item 1: "The team is going to be a team of 12." eight times scored 0.547."""
    text = "The team is going to be a team of 12. " * 8
    result = scorer.score(text, briefs[0])
    assert result.value == 0.0 and result.detail["degenerate"].startswith("repetitive")
    loop = " ".join(["We will rent GPUs and we will"] * 12)  # an n-gram loop without sentence ends
    assert scorer.score(loop, briefs[0]).value == 0.0
    brief = next(b for b in briefs if b.id == "brief-17")
    for with_facts in (GOOD + " " + " ".join(["We keep renting."] * 12),
                       "We keep renting: $320,000 now, 27 months to pay back, revisit at 30%. " * 8):
        result = scorer.score(with_facts, brief)
        assert result.subscores["facts"] == 1.0 and result.value == 0.0  # the facts do not rescue a loop


@pytest.mark.parametrize("text", ["", "   ", "OK.", "Here is the memo:", "We keep renting. $320,000, 27 months, 30%."])
def test_empty_and_near_empty_answers_score_0(scorer, briefs, text):
    brief = next(b for b in briefs if b.id == "brief-17")
    result = scorer.score(text, brief)
    assert result.value == 0.0 and result.detail["degenerate"].startswith("near-empty")


@pytest.mark.parametrize("text", ["I'm sorry, but I can't help with that.",
                                  "I'm sorry, but I can't write this memo because I do not have enough information "
                                  "about the decision or the people it is for, so I would rather not guess at it."])
def test_a_refusal_scores_far_below_the_old_0_407(scorer, briefs, text):
    """Issue 12 item 1: a bare refusal scored 0.407."""
    results = [scorer.score(text, b) for b in briefs]
    assert max(r.value for r in results) < 0.1


def test_fewer_than_half_the_facts_cannot_clear_a_floor(scorer, briefs):
    brief = next(b for b in briefs if b.id == "brief-17")
    one_fact = GOOD.replace("$320,000", "a lot").replace("27 months", "over two years")
    result = scorer.score(one_fact, brief)
    assert result.subscores["facts"] == pytest.approx(1 / 3) and result.detail["facts_gate"] is True
    assert result.value == pytest.approx(1 / 3)  # capped at the facts share: style, length and no_banned are 1
    two_facts = GOOD.replace("$320,000", "a lot")
    assert scorer.score(two_facts, brief).detail["facts_gate"] is False


def test_copied_reference_baseline_scores_low(scorer, briefs):
    base = scorer.baseline(briefs)
    first = samples("references.jsonl")[0]["text"]
    assert base.name == "copied reference" and set(base.outputs.values()) == {first}
    results = [scorer.score(base.outputs[b.id], b) for b in briefs]
    assert all(r.subscores["style"] == 0.0 for r in results)
    assert sum(r.value for r in results) / len(results) < 0.1
