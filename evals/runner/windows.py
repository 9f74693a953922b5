"""Context windows: a request that cannot fit a model's window is left out, with the reason, not run.

A request needs its prompt tokens plus the answer room it asks for (``max_tokens``). When that is more
than the model can hold (:meth:`~evals.providers.base.Provider.context_limit`), the runner does not send
it: the example is *excluded* for that model, recorded in the manifest's ``excluded`` list and left out
of the model's quality (never scored 0, never an availability failure). Paired comparisons use only the
examples both models ran, as everywhere. This is the runtime router's rule too: a model whose window is
smaller than a call's context is skipped.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from evals.prompts import RenderedPrompt
from evals.providers.base import Provider


@dataclass(frozen=True)
class Exclusion:
    """One example a model was not run on, and why."""

    suite: str
    example_id: str
    model: str
    prompt_tokens: int
    max_tokens: int
    window: int

    @property
    def needed(self) -> int:
        return self.prompt_tokens + self.max_tokens

    @property
    def reason(self) -> str:
        """``context window 8,192 < 9,412 tokens (prompt 7,364 + max_tokens 2,048)``."""
        return (f"context window {self.window:,} < {self.needed:,} tokens "
                f"(prompt {self.prompt_tokens:,} + max_tokens {self.max_tokens:,})")

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "needed_tokens": self.needed, "reason": self.reason}


def window_exclusion(provider: Provider, suite: str, example_id: str, prompt: RenderedPrompt) -> Exclusion | None:
    """The :class:`Exclusion` of this request for ``provider``, or None when it fits."""
    window = provider.context_limit()
    tokens = provider.count_tokens(prompt)
    if tokens + prompt.max_tokens <= window:
        return None
    return Exclusion(suite, example_id, provider.spec.id, tokens, prompt.max_tokens, window)


def summarise(exclusions: list[Exclusion]) -> list[str]:
    """One line per suite and model: how many examples were left out and the largest need.

    >>> summarise([Exclusion("s", "a", "m", 9000, 2048, 8192), Exclusion("s", "b", "m", 9300, 2048, 8192)])
    ['m: 2 examples of s excluded (context window 8,192 < up to 11,348 tokens; not run, left out of quality)']
    """
    groups: dict[tuple[str, str], list[Exclusion]] = {}
    for item in exclusions:
        groups.setdefault((item.model, item.suite), []).append(item)
    lines = []
    for (model, suite), items in groups.items():
        worst = max(items, key=lambda e: e.needed)
        count = f"{len(items)} example{'s' if len(items) != 1 else ''}"
        lines.append(f"{model}: {count} of {suite} excluded (context window {worst.window:,} < up to "
                     f"{worst.needed:,} tokens; not run, left out of quality)")
    return lines
