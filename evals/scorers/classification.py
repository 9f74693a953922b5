"""Classification: exact label after normalisation.

Normalisation (documented, and the only leniency): take the first non-empty line, drop a leading
``label:``/``answer:``/``category:`` prefix, lowercase, strip surrounding quotes, brackets and
punctuation, turn spaces and hyphens into underscores. An answer that is not then one of the labels is
*invalid* (counted as such, never mapped to the nearest label).
"""

from __future__ import annotations

import re
from typing import ClassVar

from pydantic import Field

from evals.scorers.base import Score, Scorer, ScorerSettings

_PREFIX = re.compile(r"^\s*(label|answer|category|class|classification)\s*[:=-]\s*", re.I)


def normalise_label(text: str) -> str:
    """Normalise a model's answer to a label candidate.

    >>> normalise_label('  "Inbound lead".\\nbecause...')
    'inbound_lead'
    >>> normalise_label('Label: spam-or-vendor')
    'spam_or_vendor'
    """
    lines = [line for line in text.strip().splitlines() if line.strip()]
    first = lines[0] if lines else ""
    first = _PREFIX.sub("", first).strip().lower()
    first = first.strip(" \t\"'`*_.,;:!?()[]{}<>")
    return re.sub(r"[\s\-/]+", "_", first)


class ClassificationSettings(ScorerSettings):
    labels: list[str] = Field(min_length=2)


class ClassificationScorer(Scorer):
    name: ClassVar[str] = "classification"
    Settings = ClassificationSettings

    @classmethod
    def settings_data(cls, suite) -> dict:
        """``scorer.settings``, with ``labels`` from the suite's ``labels:`` unless the settings give them."""
        data = dict(suite.spec.scorer.settings)
        if "labels" not in data and suite.spec.labels is not None:
            data["labels"] = list(suite.spec.labels)
        return data

    def info(self) -> dict:
        """The label set, so aggregates compute macro-F1 over every label, even one never predicted."""
        return {"labels": list(self.settings.labels)}

    def score(self, output, example) -> Score:
        predicted = normalise_label(output)
        valid = predicted in self.settings.labels
        correct = valid and predicted == normalise_label(str(example.gold))
        return Score(
            value=1.0 if correct else 0.0,
            subscores={"valid_label": 1.0 if valid else 0.0},
            detail={"predicted": predicted if valid else None, "raw": output[:200] if not valid else None},
        )
