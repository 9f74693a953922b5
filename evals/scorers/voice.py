"""Voice-matched writing: the brief's constraints.

Each brief carries ``must_include`` (one short literal per required fact, matched case-insensitively),
``min_words`` and ``max_words``; the suite lists banned phrases. The score is the mean of three parts:
the share of required facts present, whether the length is within bounds, and whether no banned phrase
appears.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from evals.config._yaml import read_text
from evals.scorers.base import Score, Scorer, ScorerSettings



def word_count(text: str) -> int:
    """Words as a reader counts them.

    >>> word_count("We cut the bill to $40 a month.")
    8
    """
    return len(text.split())


class VoiceSettings(ScorerSettings):
    banned_file: str | None = Field(default=None, description="One banned phrase per line.")
    banned: list[str] = Field(default_factory=list)
    references_file: str = "references.jsonl"
    contrast_file: str = "contrast.jsonl"


class VoiceScorer(Scorer):
    name: ClassVar[str] = "voice"
    Settings = VoiceSettings

    def __init__(self, suite, settings: VoiceSettings):
        super().__init__(suite, settings)
        banned = list(settings.banned)
        if settings.banned_file:
            banned += read_text(suite.folder / settings.banned_file).splitlines()
        self.banned = [b.strip().lower() for b in banned if b.strip()]

    def constraints(self, output: str, brief: dict[str, Any]) -> dict[str, Any]:
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

    def score(self, output, example) -> Score:
        c = self.constraints(output, example.inputs)
        parts = {"facts": c["facts"], "length": c["length"], "no_banned": c["no_banned"]}
        return Score(
            value=sum(parts.values()) / len(parts),
            subscores=parts,
            detail={"missing": c["missing"], "words": c["words"], "banned_found": c["banned_found"]},
        )
