"""Voice-matched writing: a stylometric voice model, the brief's constraints, and an optional LLM judge.

The score of one text is a weighted mean of its parts, each in [0, 1] (weights in
``scorer.settings.weights``; these are the defaults):

=============  ======  =============================================================================
part           weight  what it measures
=============  ======  =============================================================================
``style``      0.40    the voice model's probability that the text is the founder's (see below)
``facts``      0.30    share of the brief's ``must_include`` literals present (case-insensitive)
``length``     0.15    1 if the word count is within ``min_words``..``max_words``, else 0
``no_banned``  0.15    1 if no phrase of the banned list appears (case-insensitive), else 0
``judge``      0.25    the LLM judge's score, only when ``settings.judge`` is set (off by default)
=============  ======  =============================================================================

``score = sum(weight * part) / sum(weight)`` over the parts present, so without a judge the four
remaining weights (summing to 1.0) apply, and with one the five are renormalised (by 1.25). A judge
reply that cannot be parsed drops the judge part for that text rather than guessing it.

**The voice model** is a character n-gram (2-4, word-bounded) TF-IDF with logistic regression, trained
with scikit-learn on the suite's reference samples (the founder) against the contrast corpus (generic
prose on the same topics and kinds). Its stratified 5-fold cross-validated ROC AUC is recorded in the
scorer's ``info()`` (the run manifest and ``aggregates.parquet``, metric ``voice_model_cv_auc``) and in
every row's detail, so a reader knows how far to trust the ``style`` part. The prompt shows the model
the first reference samples as style examples (``context_files`` entries reading the references file,
with their ``limit``); those are **left out of training** (``exclude_shown_samples``), so a model that
copies them is not rewarded for memorised text the voice model was fit on.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from evals.config._yaml import read_text
from evals.scorers.base import Score, Scorer, ScorerSettings
from evals.scorers.judge import Judge, JudgeSettings

DEFAULT_WEIGHTS = {"style": 0.40, "facts": 0.30, "length": 0.15, "no_banned": 0.15, "judge": 0.25}


def word_count(text: str) -> int:
    """Words as a reader counts them.

    >>> word_count("We cut the bill to $40 a month.")
    8
    """
    return len(text.split())


def combine(parts: dict[str, float | None], weights: dict[str, float]) -> float:
    """Weighted mean of the parts present (None parts are left out).

    >>> round(combine({"style": 1.0, "facts": 0.0, "length": 1.0, "no_banned": 1.0}, DEFAULT_WEIGHTS), 6)
    0.7
    """
    present = {k: v for k, v in parts.items() if v is not None and weights.get(k, 0) > 0}
    total = sum(weights[k] for k in present)
    return sum(weights[k] * v for k, v in present.items()) / total if total else 0.0


class StyleModel:
    """Character n-gram TF-IDF + logistic regression: P(text is in the reference voice)."""

    def __init__(self, references: list[str], contrast: list[str], *, folds: int = 5, seed: int = 0):
        import numpy as np
        from sklearn.model_selection import StratifiedKFold, cross_val_score

        if len(references) < folds or len(contrast) < folds:
            raise ValueError(f"the voice model needs at least {folds} reference and {folds} contrast samples; "
                             f"got {len(references)} and {len(contrast)}")
        texts = list(references) + list(contrast)
        labels = np.array([1] * len(references) + [0] * len(contrast))
        cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        aucs = cross_val_score(self._pipeline(seed), texts, labels, cv=cv, scoring="roc_auc")
        self.cv_aucs = [float(a) for a in aucs]
        self.n_references, self.n_contrast = len(references), len(contrast)
        self.pipeline = self._pipeline(seed).fit(texts, labels)

    @staticmethod
    def _pipeline(seed: int) -> Any:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline

        return make_pipeline(
            TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True, min_df=2, lowercase=True),
            LogisticRegression(C=10.0, solver="liblinear", random_state=seed),
        )

    @property
    def cv_auc(self) -> float:
        return sum(self.cv_aucs) / len(self.cv_aucs)

    def predict(self, texts: list[str]) -> list[float]:
        """Probability, per text, that it is in the reference voice."""
        return [float(p) for p in self.pipeline.predict_proba(list(texts))[:, 1]]


def _read_samples(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in read_text(path).splitlines() if line.strip()]


@lru_cache(maxsize=8)
def _trained(ref_path: str, contrast_path: str, skip: int, stamp: tuple[float, float]) -> tuple[StyleModel, list[dict]]:
    references = _read_samples(Path(ref_path))
    contrast = _read_samples(Path(contrast_path))
    train = references[skip:]
    model = StyleModel([r["text"] for r in train], [c["text"] for c in contrast])
    return model, train


class VoiceSettings(ScorerSettings):
    banned_file: str | None = Field(default=None, description="One banned phrase per line.")
    banned: list[str] = Field(default_factory=list)
    references_file: str = "references.jsonl"
    contrast_file: str = "contrast.jsonl"
    exclude_shown_samples: bool = Field(
        default=True, description="Leave the reference samples the prompt shows out of the voice model's training.")
    weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_WEIGHTS),
                                      description="Weights of style, facts, length, no_banned and judge.")
    judge: JudgeSettings | None = Field(default=None, description="Optional LLM judge; off when absent.")


class VoiceScorer(Scorer):
    name: ClassVar[str] = "voice"
    Settings = VoiceSettings

    def __init__(self, suite, settings: VoiceSettings):
        super().__init__(suite, settings)
        unknown = set(settings.weights) - set(DEFAULT_WEIGHTS)
        if unknown:
            from evals.errors import ConfigError

            raise ConfigError(suite.path, f"unknown voice weights {sorted(unknown)}; known: {sorted(DEFAULT_WEIGHTS)}",
                              field="scorer.settings.weights")
        self.weights = {**DEFAULT_WEIGHTS, **settings.weights}
        banned = list(settings.banned)
        if settings.banned_file:
            banned += read_text(suite.folder / settings.banned_file).splitlines()
        self.banned = [b.strip().lower() for b in banned if b.strip()]
        self.shown = self._shown_samples() if settings.exclude_shown_samples else 0
        ref, con = suite.folder / settings.references_file, suite.folder / settings.contrast_file
        self.style, self.train_references = _trained(str(ref), str(con), self.shown,
                                                     (ref.stat().st_mtime, con.stat().st_mtime))
        self.judge = Judge.from_settings(settings.judge, suite) if settings.judge else None

    def _shown_samples(self) -> int:
        """How many leading reference samples the prompt shows (0 if none)."""
        shown = 0
        for ref in self.suite.spec.context_files.values():
            if ref.file == self.settings.references_file:
                total = len(_read_samples(self.suite.folder / ref.file))
                shown = max(shown, min(ref.limit, total) if ref.limit else total)
        return shown

    def info(self) -> dict[str, Any]:
        model = self.style
        note = (f"char 2-4-gram TF-IDF + logistic regression, {len(model.cv_aucs)}-fold CV AUC "
                f"{model.cv_auc:.3f} (folds {min(model.cv_aucs):.3f}-{max(model.cv_aucs):.3f}); trained on "
                f"{model.n_references} references vs {model.n_contrast} contrast samples"
                + (f", leaving out the {self.shown} references the prompt shows" if self.shown else ""))
        return {
            "voice_model": {"cv_auc": model.cv_auc, "cv_auc_low": min(model.cv_aucs), "cv_auc_high": max(model.cv_aucs),
                            "cv_folds": model.cv_aucs, "n_train": model.n_references + model.n_contrast,
                            "excluded_shown_samples": self.shown, "note": note},
            "weights": {k: v for k, v in self.weights.items() if k != "judge" or self.judge is not None},
            "judge": self.settings.judge.model_dump() if self.settings.judge else None,
        }

    def constraints(self, output: str, brief: dict[str, Any]) -> dict[str, Any]:
        """The brief's hard constraints: required facts, length bounds, banned phrases."""
        lowered = output.lower()
        required = [str(t) for t in brief.get("must_include") or []]
        missing = [t for t in required if t.lower() not in lowered]
        words = word_count(output)
        low, high = brief.get("min_words"), brief.get("max_words")
        length_ok = (low is None or words >= low) and (high is None or words <= high)
        banned_found = [b for b in self.banned if b in lowered]
        return {
            "facts": 1.0 - len(missing) / len(required) if required else 1.0,
            "length": 1.0 if length_ok else 0.0,
            "no_banned": 0.0 if banned_found else 1.0,
            "missing": missing,
            "words": words,
            "banned_found": banned_found,
        }

    def _baseline(self, brief: dict[str, Any]) -> str:
        kind = brief.get("kind")
        same = [r["text"] for r in self.train_references if r.get("kind") == kind]
        return (same or [r["text"] for r in self.train_references])[0]

    def _judge(self, output: str, brief: dict[str, Any]) -> dict[str, Any]:
        text = "\n".join(f"{k}: {brief[k]}" for k in ("kind", "audience", "topic", "facts", "min_words", "max_words")
                         if brief.get(k) is not None)
        if self.settings.judge.mode == "pairwise":
            return self.judge.pairwise(text, output, self._baseline(brief))
        return self.judge.pointwise(text, output)

    def score(self, output, example) -> Score:
        c = self.constraints(output, example.inputs)
        style = self.style.predict([output])[0] if output.strip() else 0.0
        parts: dict[str, float | None] = {"style": style, "facts": c["facts"], "length": c["length"],
                                          "no_banned": c["no_banned"]}
        detail: dict[str, Any] = {"missing": c["missing"], "words": c["words"], "banned_found": c["banned_found"],
                                  "voice_model_cv_auc": round(self.style.cv_auc, 4)}
        if self.judge is not None:
            verdict = self._judge(output, example.inputs)
            parts["judge"] = verdict["score"]
            detail["judge"] = verdict
        subscores = {k: v for k, v in parts.items() if v is not None}
        if "position_agreement" in detail.get("judge", {}) and detail["judge"]["position_agreement"] is not None:
            subscores["judge_position_agreement"] = detail["judge"]["position_agreement"]
        return Score(value=min(1.0, max(0.0, combine(parts, self.weights))), subscores=subscores, detail=detail)
