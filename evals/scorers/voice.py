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
reply that cannot be parsed drops the judge part for that text rather than guessing it. The judge runs
only in :meth:`VoiceScorer.ascore` (what the runner awaits, with its ``ModelCaller``); :meth:`score`
is the judge-less path.

**Trivial answers do not clear the bar.** The constraints alone (facts, length, no banned phrase) are
0.6 of the weight, so rules apply after the weighted mean, and ``detail`` names the one that fired:

- *a text that is not a piece of writing for the brief scores 0, style included*
  (``detail["degenerate"]`` says why; no judge is asked about it), in this order:
  an empty or near-empty answer (fewer than ``min_answer_words`` words, or under a quarter of the
  brief's ``min_words``); one that repeats itself (at least ``max_repetition`` of its sentences repeat
  an earlier one, or that share of its word 3-grams does; real prose in the shipped references repeats
  at most 7% and 3%); a refusal or an assistant's disclaimer (:func:`refusal`); a list, not prose (at
  least ``max_list_share`` of its words on bullets, numbered items, table rows or short ``Label: value``
  lines; the references have none); the brief restated (at least ``max_brief_share`` of its words inside
  word 3-grams of the brief's topic, audience, facts and literals; answers written for the briefs reuse
  at most 44%, the brief's facts as a list or as prose 76-100%); a copy of any reference sample (the
  ones the prompt shows included): verbatim, at least ``copy_threshold`` of the word 5-grams of the
  shorter text found in the other, or edited and paraphrased, at least ``copy_vocabulary`` of the
  reference's IDF-weighted vocabulary present (answers written for the briefs reach at most 0.46, one
  reference against another 0.32, a copy with every third word replaced 0.63);
- *the facts gate the score*: with fewer than ``facts_gate`` (default half) of the brief's required
  facts present, the score is at most the share of facts present, so it clears no floor above that;
- *the length gates the score*: outside ``min_words``..``max_words`` the score is at most the length
  ratio (``words / min_words`` when short, ``max_words / words`` when long; ``length_gate`` sets the
  ratio below which this applies, default 1: always), so half the words asked earns at most 0.5.

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
import math
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from evals.config._yaml import read_text
from evals.scorers.base import Baseline, ModelCaller, Score, Scorer, ScorerSettings
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


def _words(text: str) -> list[str]:
    return re.findall(r"[^\W_]+", text.casefold())


def repetition(text: str) -> float:
    """How much a text repeats itself: the larger of the share of its sentences that repeat an earlier
    one and the share of its word 3-grams that do.

    >>> repetition("The team is going to be a team of 12. " * 8)
    0.875
    >>> repetition("We rent GPUs. Buying would cost more. We will look again in a year.")
    0.0
    """
    sentences = [" ".join(_words(s)) for s in re.split(r"[.!?\n]+", text)]
    sentences = [s for s in sentences if s]
    words = _words(text)
    grams = [tuple(words[i:i + 3]) for i in range(len(words) - 2)]
    shares = [1 - len(set(items)) / len(items) for items in (sentences, grams) if len(items) > 1]
    return max(shares, default=0.0)


def shingles(text: str, n: int = 5) -> set[tuple[str, ...]]:
    """The word n-grams of a text (case and punctuation ignored)."""
    words = _words(text)
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)} or ({tuple(words)} if words else set())


def copy_overlap(a: set[tuple[str, ...]], b: set[tuple[str, ...]]) -> float:
    """Share of the shorter text's word 5-grams found in the other: 1.0 for a verbatim copy or a text
    pasted inside another.

    >>> copy_overlap(shingles("one two three four five six"), shingles("zero one two three four five six seven"))
    1.0
    """
    return len(a & b) / min(len(a), len(b)) if a and b else 0.0


# An assistant talking about itself or about the request, never a founder declining something in the piece
# ("I'm sorry, but we can't extend the pilot" is not a refusal): an AI self-reference, or an inability whose
# object is the piece, the request or the voice.
_REFUSAL = re.compile(
    r"\bas an ai\b|\b(?:ai|large) language model\b|\bi(?:'m| am) an ai\b"
    r"|\bi(?:\s+(?:can(?:'|no)?t|won't|will not|am unable to|am not able to)|'m (?:unable|not able) to)\s+"
    r"(?:help|assist|comply|write|create|produce|generate|draft|complete|fulfill?)\s+(?:\w+\s+){0,3}?"
    r"(?:(?:this|that|the|your|such)(?:\s+\w+)?\s+(?:request|memo|email|e-mail|post|piece|text|message|draft|letter"
    r"|content|excerpt|task)\b|(?:that|this|it)[.!]|in (?:the|your|her|his|their|a) (?:[\w']+ )?voice\b|content that\b)"
    r"|\bi (?:don't|do not) have enough (?:information|details|context) to (?:write|draft|complete)\b",
    re.IGNORECASE)
_LIST_LINE = re.compile(r"^\s*(?:[-*•+–]\s|\d{1,2}[.)]\s|\|.*\||.*\|.*\|)")
_LABEL_LINE = re.compile(r"^\s*[^\W\d][\w ]{0,24}:\s+(.*)$")


def refusal(text: str) -> str | None:
    """The phrase that makes ``text`` an assistant's refusal or disclaimer, or None.

    >>> refusal("I'm sorry, but I can't help with that.")
    "I can't help with that."
    >>> refusal("I'm sorry, but we can't extend the pilot. I can't help with the migration this quarter.") is None
    True
    """
    found = _REFUSAL.search(text.replace("\u2019", "'"))
    return found.group(0) if found else None


def list_share(text: str) -> float:
    """Share of the words on list-shaped lines: bullets, numbered items, table rows, and ``Label: value``
    lines whose value is shorter than a sentence (under 8 words).

    >>> list_share("- $320,000 upfront\\n- 27 months\\n- revisit at 30%")
    1.0
    >>> round(list_share("To: Team\\nRe: GPUs\\n\\nWe keep renting. Buying would cost $320,000 and pay back in 27 months."), 2)
    0.22
    """
    total = listed = 0
    for line in text.splitlines():
        n = len(_words(line))
        label = _LABEL_LINE.match(line)
        total += n
        if _LIST_LINE.match(line) or (label and len(_words(label.group(1))) < 8):
            listed += n
    return listed / total if total else 0.0


def brief_text(brief: dict[str, Any]) -> str:
    """The brief's own words (topic, audience, facts and required literals), which an answer may restate."""
    parts = [brief.get("topic"), brief.get("audience"), *(brief.get("facts") or []), *(brief.get("must_include") or [])]
    return "\n".join(str(p) for p in parts if p)


def borrowed_share(text: str, source: str, n: int = 3) -> float:
    """Share of the words of ``text`` inside a word ``n``-gram that also occurs in ``source``.

    >>> borrowed_share("Buying costs $320,000 upfront, so we rent.", "Buying costs $320,000 upfront.")
    0.625
    """
    words, theirs = _words(text), _words(source)
    grams = {tuple(theirs[i:i + n]) for i in range(len(theirs) - n + 1)}
    covered = [False] * len(words)
    for i in range(len(words) - n + 1):
        if tuple(words[i:i + n]) in grams:
            covered[i:i + n] = [True] * n
    return sum(covered) / len(words) if words else 0.0


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


def _weighted_vocabularies(references: list[dict], contrast: list[dict]) -> list[tuple[str, dict[str, float]]]:
    """Per reference sample, its distinct words weighted by IDF over references and contrast, summing to 1:
    the rare words (names, figures, the topic's nouns) that an edited or paraphrased copy keeps."""
    docs = [set(_words(d["text"])) for d in references + contrast]
    df: dict[str, int] = {}
    for doc in docs:
        for word in doc:
            df[word] = df.get(word, 0) + 1
    out = []
    for i, (ref, doc) in enumerate(zip(references, docs)):
        weights = {w: math.log((len(docs) + 1) / (df[w] + 1)) + 1 for w in doc}
        total = sum(weights.values()) or 1.0
        out.append((ref.get("id", str(i)), {w: v / total for w, v in weights.items()}))
    return out


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
    copy_threshold: float = Field(default=0.5, gt=0, le=1, description=(
        "Share of shared word 5-grams with a reference sample at which a text is a copy (style 0)."))
    facts_gate: float = Field(default=0.5, ge=0, le=1, description=(
        "Below this share of required facts, the score is at most the share of facts present."))
    min_answer_words: int = Field(default=5, ge=0, description="Fewer words than this is an empty answer (score 0).")
    max_repetition: float = Field(default=0.3, gt=0, le=1, description=(
        "Share of repeated sentences or word 3-grams at which a text is degenerate (score 0)."))
    copy_vocabulary: float = Field(default=0.6, gt=0, le=1, description=(
        "IDF-weighted share of a reference sample's vocabulary found in a text at which the text is an edited "
        "or paraphrased copy of it (score 0)."))
    max_brief_share: float = Field(default=0.6, gt=0, le=1, description=(
        "Share of a text's words inside word 3-grams of the brief at which it restates the brief (score 0)."))
    max_list_share: float = Field(default=0.5, gt=0, le=1, description=(
        "Share of a text's words on list-shaped lines (bullets, numbers, table rows, short label lines) at "
        "which it is a list, not prose (score 0)."))
    length_gate: float = Field(default=1.0, ge=0, le=1, description=(
        "With a length ratio (words / min_words when shorter, max_words / words when longer) below this, the "
        "score is at most the ratio; the default 1 applies it to every answer outside the bounds, 0 never."))


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
        # every reference, shown ones included: a near-copy of any of them is not the model's own voice
        self.references = _read_samples(ref)
        self._reference_shingles = [(r.get("id", str(i)), shingles(r["text"])) for i, r in enumerate(self.references)]
        self._reference_vocabulary = _weighted_vocabularies(self.references, _read_samples(con))
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

    def degenerate(self, output: str, brief: dict[str, Any]) -> str | None:
        """Why a text is not a piece of writing for the brief, or None: empty or near-empty, repetitive, a
        refusal, a list rather than prose, or the brief restated. (A copied reference: :meth:`copy_of`.)"""
        words = word_count(output)
        floor = max(self.settings.min_answer_words, math.ceil(0.25 * (brief.get("min_words") or 0)))
        if words < floor:
            return f"near-empty: {words} words (fewer than {floor})"
        repeated = repetition(output)
        if repeated >= self.settings.max_repetition:
            return f"repetitive: {repeated:.0%} of its sentences or word 3-grams repeat"
        refused = refusal(output)
        if refused:
            return f"refusal: {refused!r}"
        listed = list_share(output)
        if listed >= self.settings.max_list_share:
            return f"a list, not prose: {listed:.0%} of its words are on list-shaped lines"
        restated = borrowed_share(output, brief_text(brief))
        if restated >= self.settings.max_brief_share:
            return f"restates the brief: {restated:.0%} of its words are in word 3-grams of the brief"
        return None

    def copy_of(self, output: str) -> tuple[str, str] | None:
        """``(reference id, how)`` for the reference sample ``output`` copies, verbatim (shared word 5-grams)
        or edited and paraphrased (its weighted vocabulary), or None."""
        mine = shingles(output)
        verbatim = max(((copy_overlap(mine, theirs), ref_id) for ref_id, theirs in self._reference_shingles),
                       default=(0.0, None))
        if verbatim[0] >= self.settings.copy_threshold:
            return verbatim[1], f"{verbatim[0]:.0%} of the word 5-grams shared"
        vocabulary = set(_words(output))
        edited = max(((sum(w for word, w in theirs.items() if word in vocabulary), ref_id)
                      for ref_id, theirs in self._reference_vocabulary), default=(0.0, None))
        if edited[0] >= self.settings.copy_vocabulary:
            return edited[1], f"{edited[0]:.0%} of its weighted vocabulary present"
        return None

    def copied_reference(self, output: str) -> str | None:
        """The id of the reference sample ``output`` copies (see :meth:`copy_of`), or None."""
        found = self.copy_of(output)
        return found[0] if found else None

    def _pairwise_reference(self, brief: dict[str, Any]) -> str:
        kind = brief.get("kind")
        same = [r["text"] for r in self.train_references if r.get("kind") == kind]
        return (same or [r["text"] for r in self.train_references])[0]

    async def _judge(self, call: ModelCaller, output: str, brief: dict[str, Any]) -> dict[str, Any]:
        text = "\n".join(f"{k}: {brief[k]}" for k in ("kind", "audience", "topic", "facts", "min_words", "max_words")
                         if brief.get(k) is not None)
        if self.settings.judge.mode == "pairwise":
            return await self.judge.pairwise(call, text, output, self._pairwise_reference(brief))
        return await self.judge.pointwise(call, text, output)

    def _parts(self, output: str, example: Any) -> tuple[dict[str, float | None], dict[str, Any]]:
        c = self.constraints(output, example.inputs)
        copy = self.copy_of(output) if output.strip() else None
        degenerate = self.degenerate(output, example.inputs)
        if degenerate is None and copy is not None:
            degenerate = f"copies reference {copy[0]}: {copy[1]}"
        # no voice credit for a text that is not the model's own piece: a reader sees style 0 beside the reason
        style = self.style.predict([output])[0] if degenerate is None else 0.0
        parts: dict[str, float | None] = {"style": style, "facts": c["facts"], "length": c["length"],
                                          "no_banned": c["no_banned"]}
        detail: dict[str, Any] = {"missing": c["missing"], "words": c["words"], "banned_found": c["banned_found"],
                                  "voice_model_cv_auc": round(self.style.cv_auc, 4),
                                  "degenerate": degenerate, "copied_reference": copy[0] if copy else None,
                                  "length_ratio": self._length_ratio(c["words"], example.inputs)}
        return parts, detail

    def _length_ratio(self, words: int, brief: dict[str, Any]) -> float:
        """words / min_words when shorter, max_words / words when longer, else 1 (capped at 1)."""
        low, high = brief.get("min_words"), brief.get("max_words")
        if low and words < low:
            return words / low
        if high and words > high:
            return high / words
        return 1.0

    def _finish(self, parts: dict[str, float | None], detail: dict[str, Any]) -> Score:
        subscores = {k: v for k, v in parts.items() if v is not None}
        if (detail.get("judge") or {}).get("position_agreement") is not None:
            subscores["judge_position_agreement"] = detail["judge"]["position_agreement"]
        value = combine(parts, self.weights)
        facts = parts["facts"] or 0.0
        detail["facts_gate"] = facts < self.settings.facts_gate
        if detail["facts_gate"]:
            value = min(value, facts)
        detail["length_gate"] = detail["length_ratio"] < self.settings.length_gate
        if detail["length_gate"]:
            value = min(value, detail["length_ratio"])
        if detail["degenerate"]:
            value = 0.0
        return Score(value=min(1.0, max(0.0, value)), subscores=subscores, detail=detail)

    def score(self, output, example) -> Score:
        """The judge-less score (style, facts, length, banned phrases and the rules above)."""
        parts, detail = self._parts(output, example)
        return self._finish(parts, detail)

    async def ascore(self, output, example, call: ModelCaller | None = None) -> Score:
        """The score with the judge part when a judge is configured (its calls go through ``call``)."""
        parts, detail = self._parts(output, example)
        if self.judge is not None and call is not None and not detail["degenerate"]:
            verdict = await self._judge(call, output, example.inputs)
            parts["judge"] = verdict["score"]
            detail["judge"] = verdict
        return self._finish(parts, detail)

    def baseline(self, examples) -> Baseline:
        """The first reference sample (the first one the prompt shows) pasted as every answer. The copy rule
        scores it 0 on every brief (it scored 0.07 on average, at most 0.45, before copies scored 0)."""
        return Baseline("copied reference", {e.id: self.references[0]["text"] for e in examples})
