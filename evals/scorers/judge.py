"""An LLM judge with a written rubric: any configured model, pointwise or pairwise.

Off by default. A suite turns it on in ``scorer.settings.judge``::

    scorer:
      name: voice
      settings:
        judge: {model: claude-sonnet, mode: pairwise}

``model`` is a model id from ``policies/models.yaml`` (checked when the scorer is built). The judge
never creates a provider: every judge request goes through the runner's ``ModelCaller``
(``await call(model, rendered)``), so it shares the run's response cache, retries and rate limits, and
the runner prices it into the row's ``judge_cost_usd`` and ``judge_calls``.

- **pointwise**: the judge reads the rubric, the brief and one text and answers ``SCORE: n`` with n
  from 1 to 5; the judge score is ``(n - 1) / 4``.
- **pairwise**: the judge compares the candidate with a baseline text (for the voice suite, a reference
  sample of the same kind that the model was not shown) and answers ``WINNER: A``, ``B`` or ``TIE``.
  It is asked twice, with the texts in both orders, to cancel position bias: the judge score is the
  candidate's mean result over the two orders (win 1, tie 0.5, loss 0), and ``position_agreement`` is 1
  when both orders name the same winner (after un-swapping), else 0. Low agreement across a run means
  the judge is reading positions, not texts.

A reply the judge does not format as asked, or a judge refusal or cut-off reply, yields no judge score
for that example (recorded in the detail), never a guessed one. A judge call that fails for a reason of
infrastructure (rate limit, timeout, ...) raises :class:`JudgeError`: the row becomes an infrastructure
failure (no score) instead of a score silently computed without its judge part.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from evals.scorers.base import ScorerSettings

if TYPE_CHECKING:
    from evals.prompts import RenderedPrompt
    from evals.scorers.base import ModelCaller

DEFAULT_RUBRIC = """\
You judge short business writing against a brief and a house voice.
The house voice is plain, concrete and direct: short sentences, specific numbers and names, first person,
no hype, no filler, no corporate cliches ("thrilled to announce", "leverage", "seamless").
Judge, in this order of weight:
1. Voice: does it sound like a person stating facts plainly, not like marketing copy?
2. Facts: are the brief's facts present and correct, with nothing invented?
3. Fit: does it suit the audience and kind of text the brief asks for, at the requested length?
Ignore formatting and which text comes first."""

_SCORE = re.compile(r"SCORE\s*[:=]\s*([1-5])\b", re.I)
_WINNER = re.compile(r"WINNER\s*[:=]\s*(A|B|TIE)\b", re.I)


class JudgeSettings(ScorerSettings):
    """``scorer.settings.judge`` in suite.yaml."""

    model: str = Field(description="Model id from policies/models.yaml that acts as the judge.")
    mode: Literal["pointwise", "pairwise"] = "pointwise"
    rubric: str = Field(default=DEFAULT_RUBRIC, description="The written rubric the judge applies.")
    max_tokens: int = Field(default=200, ge=1)


def pointwise_prompt(rubric: str, brief: str, text: str) -> str:
    """The pointwise judging prompt."""
    return (f"{rubric}\n\n## Brief\n{brief}\n\n## Text\n{text}\n\n"
            "Rate the text from 1 (poor) to 5 (excellent) against the rubric. "
            "Give one sentence of reasons, then a last line exactly `SCORE: n`.")


def pairwise_prompt(rubric: str, brief: str, first: str, second: str) -> str:
    """The pairwise judging prompt; ``first`` is shown as A, ``second`` as B."""
    return (f"{rubric}\n\n## Brief\n{brief}\n\n## Text A\n{first}\n\n## Text B\n{second}\n\n"
            "Which text better meets the rubric? Give one sentence of reasons, then a last line exactly "
            "`WINNER: A`, `WINNER: B` or `WINNER: TIE`.")


def parse_score(reply: str) -> float | None:
    """The judge score in [0, 1] from a pointwise reply, or None; the last ``SCORE:`` line counts.

    >>> parse_score("Plain and concrete.\\nSCORE: 4")
    0.75
    >>> parse_score("great") is None
    True
    """
    found = _SCORE.findall(reply)
    return (int(found[-1]) - 1) / 4 if found else None


def parse_winner(reply: str) -> str | None:
    """``A``, ``B`` or ``TIE`` from a pairwise reply, or None.

    >>> parse_winner("B is plainer. WINNER: b")
    'B'
    """
    found = _WINNER.findall(reply)
    return found[-1].upper() if found else None


@dataclass(frozen=True)
class PairwiseResult:
    """Both orders of one pairwise comparison of a candidate against a baseline."""

    candidate_first: str | None  # winner label with the candidate shown as A
    candidate_second: str | None  # winner label with the candidate shown as B
    score: float | None  # candidate's mean result over the two orders: win 1, tie 0.5, loss 0
    position_agreement: float | None  # 1.0 if both orders pick the same text (or both tie)


def combine_orders(candidate_first: str | None, candidate_second: str | None) -> PairwiseResult:
    """Un-swap the two orders and combine them.

    >>> combine_orders("A", "B").position_agreement, combine_orders("A", "B").score
    (1.0, 1.0)
    >>> combine_orders("A", "A").position_agreement, combine_orders("A", "A").score
    (0.0, 0.5)
    """
    if candidate_first is None or candidate_second is None:
        return PairwiseResult(candidate_first, candidate_second, None, None)
    as_candidate = {"A": 1.0, "TIE": 0.5, "B": 0.0}  # candidate shown as A
    first = as_candidate[candidate_first]
    second = 1.0 - as_candidate[candidate_second]  # candidate shown as B: B wins means the candidate won
    return PairwiseResult(candidate_first, candidate_second, (first + second) / 2,
                          1.0 if first == second else 0.0)


class JudgeError(RuntimeError):
    """A judge call failed for a reason of infrastructure (rate limit, timeout, server, auth, ...).

    The runner records the row as a ``scorer_error`` (an infrastructure failure: score null, left out
    of quality, retried on the next run), rather than scoring the text without its judge part.
    """


class Judge:
    """Judges texts with a rubric through the runner's model calls (``ModelCaller``); never creates a
    provider, never blocks the event loop. Build it with :meth:`from_settings`, which checks the model id."""

    def __init__(self, settings: JudgeSettings):
        self.settings = settings

    @classmethod
    def from_settings(cls, settings: JudgeSettings, suite: Any) -> "Judge":
        """Check that ``settings.model`` is a model id of the project's models.yaml (a ConfigError naming
        the suite file and ``scorer.settings.judge.model`` if not)."""
        from evals.config.models import load_models
        from evals.errors import ConfigError
        from evals.project import Project

        models = load_models(Project.find(suite.folder).models_file)
        if settings.model not in models.ids:
            raise ConfigError(suite.path, f"judge model {settings.model!r} is not in models.yaml; known: "
                              f"{', '.join(models.ids)}", field="scorer.settings.judge.model")
        return cls(settings)

    def request(self, prompt: str) -> "RenderedPrompt":
        """The judge's request for one judging prompt: one user message, temperature 0."""
        from evals.prompts import RenderedPrompt

        return RenderedPrompt(messages=({"role": "user", "content": prompt},), prompt=None,
                              max_tokens=self.settings.max_tokens, temperature=0.0)

    async def ask(self, call: "ModelCaller", prompt: str) -> tuple[str, str | None]:
        """One judge call: ``(reply text, None)``, or ``("", error kind)`` for an answer failure of the
        judge (a refusal, a reply cut off). Raises :class:`JudgeError` for an infrastructure failure."""
        response = await call(self.settings.model, self.request(prompt))
        if response.ok:
            return response.text, None
        from evals.providers.base import ErrorKind, error_class

        kind = ErrorKind(response.error).value
        if error_class(kind) == "infra":
            raise JudgeError(f"judge {self.settings.model} call failed: {kind}"
                             + (f" ({response.error_message})" if response.error_message else ""))
        return "", kind

    async def pointwise(self, call: "ModelCaller", brief: str, text: str) -> dict[str, Any]:
        """Judge one text: ``{"score": float | None, "reply": str, "error": str | None}``."""
        reply, error = await self.ask(call, pointwise_prompt(self.settings.rubric, brief, text))
        return {"score": parse_score(reply), "reply": reply[-300:], "error": error}

    async def pairwise(self, call: "ModelCaller", brief: str, candidate: str, baseline: str) -> dict[str, Any]:
        """Judge a candidate against a baseline in both orders (the two calls run concurrently)."""
        (first, e1), (second, e2) = await asyncio.gather(
            self.ask(call, pairwise_prompt(self.settings.rubric, brief, candidate, baseline)),
            self.ask(call, pairwise_prompt(self.settings.rubric, brief, baseline, candidate)))
        orders = [parse_winner(first), parse_winner(second)]
        result = combine_orders(*orders)
        return {"score": result.score, "position_agreement": result.position_agreement, "orders": orders,
                "error": e1 or e2}
