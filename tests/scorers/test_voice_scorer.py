"""Voice scorer: the stylometric model on the shipped suite, the brief's constraints, the combined score."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from evals.scorers import build_scorer
from evals.scorers.voice import DEFAULT_WEIGHTS, StyleModel, combine
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
