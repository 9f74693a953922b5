"""One results row from one call: the failure rule, scoring (with the judge's tally) and the row itself.

The rule (the row contract in :data:`evals.runner.store.RESULT_COLUMNS`):

- an infrastructure failure (``error_class`` ``infra``: every :class:`~evals.providers.base.ErrorKind`
  but refused and truncated, and a scorer that raised) has ``score`` null: it is availability, kept out
  of quality;
- an answer failure (``answer``: a refusal, or a reply that stopped at ``max_tokens``, i.e.
  ``finish_reason == "length"``, or a local decode stopped in a loop, ``"repetition"``, both recorded as
  ``truncated``) scores 0.0 and is not shown to the scorer
  (a cut-off answer is not judged on what it might have said); its ``detail`` is what it misses
  (:meth:`~evals.scorers.base.Scorer.unanswered_detail`: every gold field), so per-field metrics count it;
- everything else is scored by the suite's scorer, which reads :func:`scorer_input` (for a request with
  tools, the calls and the text together).

``tool_calls`` holds the calls of a request with tools (:func:`evals.tool_calls.calls_json`; ``[]`` when
the model answered in text) and is null for a request without tools.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from evals.providers.base import (
    ErrorKind, GenerateResponse, answer_confidence, error_class, estimate_tokens,
)
from evals.providers.repetition import REPETITION
from evals.runner.calls import price
from evals.scorers.base import Score, Scorer
from evals.tool_calls import calls_json, scorer_text

if TYPE_CHECKING:
    from evals.runner.calls import JudgeCaller
    from evals.runner.run import Job


def overrides_ascore(scorer: Scorer) -> bool:
    """Whether ``scorer`` scores asynchronously (calls a model); if not, :meth:`Scorer.score` is called
    directly, which keeps a cached re-run free of per-row coroutines."""
    return type(scorer).ascore is not Scorer.ascore


def scorer_input(response: GenerateResponse) -> str:
    """What the scorer reads for a response: its text, with its tool calls where the request had tools."""
    return scorer_text(response.text, response.tool_calls)


def answer_failure(response: GenerateResponse, max_tokens: int) -> tuple[str, str] | None:
    """``(error, message)`` when the response is no answer to score (an error, or a cut-off reply).

    >>> answer_failure(GenerateResponse(text="{\\"a\\": ", finish_reason="length"), 5)[0]
    'truncated'
    >>> answer_failure(GenerateResponse(text="ok", finish_reason="stop"), 5) is None
    True
    >>> answer_failure(GenerateResponse(text="a a a a", finish_reason="repetition"), 5)[0]
    'truncated'
    """
    if response.error is not None:
        return response.error.value, response.error_message or response.error.value
    if response.finish_reason == "length":
        return ErrorKind.TRUNCATED.value, f"the answer stopped at max_tokens ({max_tokens}) before it ended"
    if response.finish_reason == REPETITION:  # a local decode stopped in a loop it would have run to max_tokens
        return ErrorKind.TRUNCATED.value, str(response.extra.get(REPETITION) or "stopped in a repetition loop")
    return None


class Scored:
    """What scoring one response gave: the score (or the error that replaced it) and the judge's tally."""

    __slots__ = ("score", "subscores", "detail", "error", "error_message", "judge")

    def __init__(self, score: float | None = None, subscores: Any = None, detail: Any = None,
                 error: str | None = None, error_message: str | None = None, judge: "JudgeCaller | None" = None):
        self.score, self.subscores, self.detail = score, subscores, detail
        self.error, self.error_message, self.judge = error, error_message, judge


def _from_score(result: Score, judge: "JudgeCaller | None" = None) -> Scored:
    return Scored(result.value, result.subscores, result.detail, judge=judge)


def _failed(exc: Exception, judge: "JudgeCaller | None" = None) -> Scored:
    # a scorer bug must not lose the paid-for answer: the row keeps it, marked scorer_error (infra)
    return Scored(error=ErrorKind.SCORER_ERROR.value, error_message=f"{type(exc).__name__}: {exc}"[:500], judge=judge)


def _not_scored(failure: tuple[str, str], scorer: Scorer, example: Any) -> Scored:
    error, message = failure
    if error_class(error) != "answer":
        return Scored(None, error=error, error_message=message)
    try:  # what the failed answer misses, for per-field metrics (never its text: it is not judged)
        detail = scorer.unanswered_detail(example)
    except Exception:
        detail = None
    return Scored(0.0, detail=detail, error=error, error_message=message)


def score_now(job: "Job", response: GenerateResponse) -> Scored:
    """Score with a scorer that makes no model calls (``score``, synchronously)."""
    return score_sync(job.scorer, scorer_input(response), job.example,
                      answer_failure(response, job.rendered.max_tokens))


def score_sync(scorer: Scorer, text: str, example: Any, failure: tuple[str, str] | None) -> Scored:
    """:func:`score_async` for a scorer that makes no model calls (see :func:`overrides_ascore`): no
    coroutine, no judge."""
    if failure is not None:
        return _not_scored(failure, scorer, example)
    try:
        return _from_score(scorer.score(text, example))
    except Exception as exc:
        return _failed(exc)


async def score_async(scorer: Scorer, text: str, example: Any, failure: tuple[str, str] | None,
                      judge: "JudgeCaller") -> Scored:
    """Score through ``await scorer.ascore(text, example, judge)``; ``judge`` tallies its model calls."""
    if failure is not None:
        return _not_scored(failure, scorer, example)
    try:
        return _from_score(await scorer.ascore(text, example, judge), judge)
    except Exception as exc:
        return _failed(exc, judge)


def build_row(job: "Job", response: GenerateResponse, cached: bool, scored: Scored) -> dict[str, Any]:
    """The results row of one job (columns: :data:`evals.runner.store.RESULT_COLUMNS`)."""
    spec = job.model
    prompt_text = job.rendered.text
    judge = scored.judge
    return {
        "suite": job.suite.name,
        "task": job.suite.spec.task,
        "split": job.suite.split,
        "example_id": job.example.id,
        "model": spec.id,
        "provider": spec.provider,
        "family": spec.family,
        "prompt": job.template.name,
        "variant": job.template.variant,
        "prompt_hash": job.rendered.sha256,
        "repeat": job.repeat,
        "output": response.text,
        "error": scored.error,
        "error_message": scored.error_message,
        "input_tokens": response.input_tokens,
        "output_tokens": response.output_tokens,
        "context_tokens": response.input_tokens if response.input_tokens is not None else estimate_tokens(prompt_text),
        "cost_usd": price(spec, response).usd,
        "latency_ms": response.latency_ms,
        "ttft_ms": response.ttft_ms,
        "finish_reason": response.finish_reason,
        "score": scored.score,
        "subscores": json.dumps(scored.subscores) if scored.subscores is not None else None,
        "detail": json.dumps(scored.detail, ensure_ascii=False, default=str) if scored.detail is not None else None,
        "cached": cached,
        "batch": bool(response.extra.get("batch_id")),  # answered by a provider batch job, priced at the batch rate
        "cache_key": job.key,
        "gold": json.dumps(job.example.gold, ensure_ascii=False, default=str),
        "prompt_text": prompt_text,
        "error_class": error_class(scored.error),
        "judge_cost_usd": judge.cost_usd if judge is not None else None,
        "judge_calls": judge.calls if judge is not None else 0,
        "tool_calls": calls_json(response.tool_calls),
        "confidence": answer_confidence(response),
    }

