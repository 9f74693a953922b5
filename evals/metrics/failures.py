"""Failure accounting: availability and failure counts by class and kind.

The rule (CONTRACTS section 1, the README's "Failures" section): an *infrastructure failure* (rate
limit, timeout, server error, connection, auth, unavailable, rejected request, malformed reply, scorer
bug) is availability: counted here, per model, and left out of quality. An *answer failure* (a refusal,
an answer cut off at ``max_tokens``) is the model's answer: it counts here too, and scores 0 in quality.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from evals.metrics.calls import ANSWER, INFRA, Calls
from evals.metrics.estimate import Estimate


@dataclass(frozen=True)
class FailureCounts:
    """How many of ``calls`` failed, by class (``infra``, ``answer``) and by kind (``timeout``, ...)."""

    calls: int
    infra: int
    answer: int
    truncated: int
    refused: int
    by_kind: dict[str, int] = field(default_factory=dict)

    @property
    def errors(self) -> int:
        """Every failed call: infrastructure plus answer failures (so truncation is never "0 errors")."""
        return self.infra + self.answer


def failure_counts(frame: Any) -> FailureCounts:
    """Count the failures of a results frame (or :class:`~evals.metrics.calls.Calls`).

    >>> import pandas as pd
    >>> rows = pd.DataFrame({"suite": "s", "example_id": ["a", "b", "c", "d"], "score": [1.0, None, 0.0, None],
    ...                      "error": [None, "timeout", "truncated", "rate_limited"]})
    >>> c = failure_counts(rows)
    >>> c.calls, c.infra, c.answer, c.truncated, c.errors, c.by_kind
    (4, 2, 1, 1, 3, {'rate_limited': 1, 'timeout': 1, 'truncated': 1})
    """
    calls = Calls.of(frame)
    kinds: dict[str, int] = {}
    for kind in calls.kind[calls.failure != None]:  # noqa: E711
        kinds[str(kind)] = kinds.get(str(kind), 0) + 1
    return FailureCounts(
        calls=len(calls), infra=int(np.sum(calls.failure == INFRA)), answer=int(np.sum(calls.failure == ANSWER)),
        truncated=kinds.get("truncated", 0), refused=kinds.get("refused", 0), by_kind=dict(sorted(kinds.items())),
    )


def availability(frame: Any, *, confidence: float = 0.95) -> Estimate:
    """Share of calls without an infrastructure failure, with its Wilson interval (n = calls).

    >>> import pandas as pd
    >>> rows = pd.DataFrame({"suite": "s", "example_id": list("abcd"), "score": [1.0, None, 0.0, 1.0],
    ...                      "error": [None, "rate_limited", "refused", None]})
    >>> availability(rows).value
    0.75
    """
    from evals.stats import wilson_ci

    counts = failure_counts(frame)
    if not counts.calls:
        return Estimate(None, None, None, 0, "no calls")
    up = counts.calls - counts.infra
    low, high = wilson_ci(up, counts.calls, confidence=confidence)
    note = (f"{counts.infra} of {counts.calls} calls failed for infrastructure reasons (left out of quality; "
            "a re-run retries them)") if counts.infra else None
    return Estimate(up / counts.calls, low, high, counts.calls, note)


def error_rate(frame: Any, *, confidence: float = 0.95) -> Estimate:
    """Share of calls that failed for any reason (infrastructure or answer), with its Wilson interval."""
    from evals.stats import wilson_ci

    counts = failure_counts(frame)
    if not counts.calls:
        return Estimate(None, None, None, 0)
    low, high = wilson_ci(counts.errors, counts.calls, confidence=confidence)
    return Estimate(counts.errors / counts.calls, low, high, counts.calls,
                    "infrastructure and answer failures, among all calls")


def infra_failure_rate(counts: FailureCounts) -> float:
    """Share of calls that failed for infrastructure reasons (0 for no calls).

    >>> infra_failure_rate(FailureCounts(calls=50, infra=2, answer=0, truncated=0, refused=0))
    0.04
    """
    return counts.infra / counts.calls if counts.calls else 0.0
