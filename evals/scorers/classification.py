"""Classification: exact label after normalisation.

:func:`normalise_label` is THE label normalisation: the scorer applies it to the model's answer, to the
gold label and to the configured labels, and the metrics and the report import it from here. What it
does (the only leniency; nothing is ever mapped to the *nearest* label):

1. If the answer holds a Markdown code fence, read the fence's content.
2. If that is JSON, read the label from it: a JSON string (``"question"``), or an object's
   ``label``/``category``/``class``/``intent``/``answer``/... value (``{"label": "question"}``), or the
   value of a one-key object.
3. Take the first non-empty line, without Markdown decoration (``**``, ``#``, ``>``). A ``word:`` prefix of at most three words (``Intent: referral``,
   ``Label = spam``) is dropped, unless the word is itself a label (``support: the customer asks
   ...`` is ``support``); an empty remainder reads the next line.
4. Lower-case, strip surrounding quotes, brackets, Markdown emphasis and punctuation, and turn runs of
   spaces, hyphens and slashes into ``_`` (``Inbound Lead`` and ``inbound-lead`` are ``inbound_lead``).

An answer that is not then one of the labels is *invalid* (counted as such).

Labels come from the suite's top-level ``labels:`` (written once; templates see them too), unless
``scorer.settings.labels`` overrides them.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any, ClassVar, Iterable

from pydantic import Field

from evals.errors import ConfigError
from evals.scorers.base import Baseline, Score, Scorer, ScorerSettings

_FENCE = re.compile(r"```(?:[\w-]*[ \t]*\n)?(.*?)```", re.S)
_PREFIX = re.compile(r"^\s*([^\W\d][\w \t-]{0,40}?)\s*[:=]\s*(.*)$", re.S)
_KEYS = ("label", "category", "class", "classification", "intent", "answer", "prediction", "type")


_SEPARATORS = re.compile(r"[\s\-/_]+")


def _canonical(text: str) -> str:
    text = text.strip().casefold().strip(" \t\"'`*_.,;:!?()[]{}<>")
    return _SEPARATORS.sub("_", text).strip("_")


def _from_json(text: str) -> str | None:
    stripped = text.strip()
    if not stripped or stripped[0] not in "{[\"":
        return None
    try:
        value, _ = json.JSONDecoder().raw_decode(stripped)
    except json.JSONDecodeError:
        return None
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, dict):
        folded = {str(k).casefold(): v for k, v in value.items()}
        found = next((folded[k] for k in _KEYS if k in folded), None)
        if found is None and len(value) == 1:
            found = next(iter(value.values()))
        value = found
    return value if isinstance(value, str) else None


def normalise_label(text: Any, labels: Iterable[str] | None = None) -> str:
    """Normalise a model's answer, a gold label or a configured label to a label candidate.

    ``labels`` (already normalised, e.g. by this function) decides whether a ``word:`` prefix is a
    label to keep or a prefix to drop; without them every short prefix is dropped. Pure.

    >>> normalise_label('  "Inbound lead".\\nbecause...')
    'inbound_lead'
    >>> normalise_label('Label: spam-or-vendor'), normalise_label('Intent: referral')
    ('spam_or_vendor', 'referral')
    >>> normalise_label("answer-needed"), normalise_label("Inbound Lead")
    ('answer_needed', 'inbound_lead')
    >>> normalise_label('{"label": "question"}'), normalise_label('"question"')
    ('question', 'question')
    >>> normalise_label('```json\\n{"intent": "Referral"}\\n```'), normalise_label("```\\nsupport\\n```")
    ('referral', 'support')
    >>> normalise_label("support: asks about billing", ["support", "spam"])
    'support'
    >>> normalise_label("**Label:** Support"), normalise_label("## Category: spam")
    ('support', 'spam')
    """
    text = "" if text is None else str(text)
    known = labels if isinstance(labels, (set, frozenset)) or labels is None else set(labels)
    if known is not None and (whole := _canonical(text)) in known:
        return whole  # the answer is a label as it stands (the common case, and the fast one)
    if fenced := _FENCE.search(text):
        text = fenced.group(1)
    if (found := _from_json(text)) is not None:
        text = found
    # Markdown decoration (`**Label:** x`, `## Label: x`, `> x`) is never part of a label
    lines = [re.sub(r"^[#>\s]+", "", line).replace("*", "") for line in text.strip().splitlines()]
    lines = [line for line in lines if line.strip()]
    for _ in range(3):  # `Answer: Label: x` peels twice; an empty remainder reads the next line
        if not lines:
            return ""
        first = lines[0]
        m = _PREFIX.match(first)
        if not m or len(m[1].split()) > 3:
            break
        head = _canonical(m[1])
        if known is not None and head in known:
            return head
        rest = m[2].strip()
        if (found := _from_json(rest)) is not None:
            rest = found
        lines = [rest, *lines[1:]] if rest else lines[1:]
    return _canonical(lines[0]) if lines else ""


def normalise_labels(labels: Iterable[str]) -> list[str]:
    """Configured labels in normalised form, order kept.

    >>> normalise_labels(["Inbound Lead", "answer-needed"])
    ['inbound_lead', 'answer_needed']
    """
    return [normalise_label(label) for label in labels]


_MEMO_SIZE = 4096  # distinct texts a classification scorer remembers the label of
_MEMO_TEXT = 256  # longer texts are normalised each time


class ClassificationSettings(ScorerSettings):
    labels: list[str] | None = Field(
        default=None, min_length=2,
        description="Overrides the suite's top-level `labels:`; normally left out (labels are written once).")


class ClassificationScorer(Scorer):
    name: ClassVar[str] = "classification"
    Settings = ClassificationSettings

    def __init__(self, suite, settings: ClassificationSettings):
        super().__init__(suite, settings)
        spec = getattr(suite, "spec", None)
        raw = settings.labels if settings.labels is not None else getattr(spec, "labels", None)
        field = "scorer.settings.labels" if settings.labels is not None else "labels"
        where = getattr(suite, "path", "suite.yaml")
        if not raw:
            raise ConfigError(where, "a classification suite needs its labels: add `labels: [a, b, ...]` to "
                                     "suite.yaml", field="labels")
        self.labels = normalise_labels(raw)
        self._label_set = frozenset(self.labels)
        self._memo: dict[str, str] = {}
        if len(raw) < 2:
            raise ConfigError(where, "give at least two labels", field=field)
        empty = [r for r, n in zip(raw, self.labels) if not n]
        twins = sorted({n for n in self.labels if self.labels.count(n) > 1})
        if empty or twins:
            raise ConfigError(where, f"labels must stay distinct after normalisation: "
                                     f"{empty or twins} (see evals.scorers.classification.normalise_label)",
                              field=field)

    def normalise(self, text: Any) -> str:
        """:func:`normalise_label` with this suite's labels; a pure function, so the answers of short texts
        (labels, gold, a small model's few distinct replies) are remembered, up to :data:`_MEMO_SIZE`."""
        if not isinstance(text, str) or len(text) > _MEMO_TEXT:
            return normalise_label(text, self._label_set)
        found = self._memo.get(text)
        if found is None:
            found = normalise_label(text, self._label_set)
            if len(self._memo) < _MEMO_SIZE:
                self._memo[text] = found
        return found

    def info(self) -> dict:
        """The (normalised) label set, so aggregates compute macro-F1 over every label, even one never
        predicted."""
        return {"labels": list(self.labels)}

    def score(self, output, example) -> Score:
        predicted = self.normalise(output)
        gold = self.normalise(example.gold)
        valid = predicted in self.labels
        correct = valid and predicted == gold
        return Score(
            value=1.0 if correct else 0.0,
            subscores={"valid_label": 1.0 if valid else 0.0},
            detail={"predicted": predicted if valid else None, "gold": gold,
                    "raw": output[:200] if not valid else None},
        )

    def baseline(self, examples) -> Baseline:
        """The majority gold label for every example (a tie goes to the label listed first)."""
        counts = Counter(self.normalise(e.gold) for e in examples)
        order = {label: i for i, label in enumerate(self.labels)}
        majority = min(counts, key=lambda label: (-counts[label], order.get(label, len(order)), label)) if counts else ""
        return Baseline("majority label", {e.id: majority for e in examples})
