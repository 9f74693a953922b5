"""The cascade threshold, chosen on evidence: sweep on dev, pick the cheapest non-inferior, confirm on test.

Pure functions over results frames (one row per example x model x repeat, ``evals/runner/store.py``).
A cascade of a cheap model A (whose answers carry a ``confidence``) and a strong model B answers each
call the way :class:`evals.client.Client` runs a cascade rule: A's answer is taken when A answered and
its confidence is at least the threshold ``t``; otherwise (below ``t``, no confidence, or a failed
call) the call goes to B. So, per call:

* quality: A's score where A's answer is taken, else B's (B's infrastructure failure: no score, left
  out of quality like any infrastructure failure);
* cost: A's cost, plus B's where the call was escalated (a failed call without reported usage cost
  nothing: :func:`evals.client.billable`; any other unknown cost makes the point's cost unknown);
* escalation share: the share of calls that went to B.

:func:`sweep` computes that curve on the dev split for every threshold A's confidences suggest (each
distinct confidence, and "always escalate"), compares each point with a reference model (the best
single model) on the same examples by :func:`evals.stats.paired_difference`, keeps the points whose
lower bound is at least ``-margin`` (:func:`non_inferior`, the recommender's rule for any switch),
picks the cheapest of them, and evaluates that one threshold again on the test split. The cascade is
proposed only when the test split confirms it: enough paired examples, non-inferior there too, and
cheaper per call than the reference there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np

from evals.client import billable
from evals.stats import PairedDiff, mean_ci, paired_difference

KEYS = ["suite", "example_id", "repeat"]
ALWAYS_ESCALATE = math.inf


def non_inferior(d: PairedDiff, margin: float) -> bool:
    """The switch rule: the paired difference's lower bound is at least ``-margin`` (NaN: no evidence).

    >>> non_inferior(PairedDiff(-0.01, -0.04, 0.02, 50), 0.05), non_inferior(PairedDiff(0.0, -0.06, 0.06, 50), 0.05)
    (True, False)
    """
    return bool(d.n > 0 and not math.isnan(d.ci_low) and d.ci_low >= -margin)


@dataclass(frozen=True)
class CurvePoint:
    """The cascade at one threshold on one split (``threshold`` inf: every call escalated)."""

    threshold: float
    quality: float
    quality_ci: tuple[float, float]
    cost_per_call: float | None  # None: some call's cost is unknown
    escalation_share: float
    calls: int
    diff: PairedDiff  # cascade minus reference, per example
    non_inferior: bool

    def as_row(self) -> dict[str, Any]:
        """A flat dict for a frame or a proposal (thresholds as numbers, inf as None)."""
        return {"threshold": None if math.isinf(self.threshold) else self.threshold, "quality": self.quality,
                "quality_ci_low": self.quality_ci[0], "quality_ci_high": self.quality_ci[1],
                "cost_per_call_usd": self.cost_per_call, "escalation_share": self.escalation_share,
                "calls": self.calls, "examples": self.diff.n, "diff": self.diff.diff, "diff_ci_low": self.diff.ci_low,
                "diff_ci_high": self.diff.ci_high, "diff_method": self.diff.method, "non_inferior": self.non_inferior}


@dataclass
class CascadeChoice:
    """The sweep's outcome: the dev curve, the chosen point, its confirmation on test, and the verdict."""

    cheap: str
    strong: str
    reference: str
    margin: float
    confidence: float
    curve: list[CurvePoint] = field(default_factory=list)
    chosen: CurvePoint | None = None
    confirmation: CurvePoint | None = None
    reference_cost_per_call: float | None = None  # on test
    proposed: bool = False
    reason: str = ""

    def curve_frame(self) -> Any:
        """The dev curve as a DataFrame, one row per threshold, highest threshold first."""
        import pandas as pd

        return pd.DataFrame([p.as_row() for p in self.curve])

    def evidence(self) -> dict[str, Any]:
        """What a proposal records: the pair, the chosen threshold, its dev and test numbers, and why."""
        return {"cheap": self.cheap, "strong": self.strong, "reference": self.reference, "margin": self.margin,
                "confidence": self.confidence, "proposed": self.proposed, "reason": self.reason,
                "threshold": self.chosen.as_row()["threshold"] if self.chosen else None,
                "dev": self.chosen.as_row() if self.chosen else None,
                "test": self.confirmation.as_row() if self.confirmation else None,
                "reference_cost_per_call_usd": self.reference_cost_per_call}


def _calls(frame: Any, model: str, suites: Iterable[str] | None) -> Any:
    rows = frame[frame["model"] == model]
    if suites is not None:
        rows = rows[rows["suite"].isin(list(suites))]
    if "confidence" not in rows.columns:
        rows = rows.assign(confidence=np.nan)
    return rows


def _paid(rows: Any) -> np.ndarray:
    """Each call's cost: its ``cost_usd``, 0 for a failed call without usage (nothing was billed), NaN unknown."""
    cost = rows["cost_usd"].astype(float).to_numpy()
    failed = rows["error"].notna().to_numpy()
    no_usage = rows["input_tokens"].isna().to_numpy() if "input_tokens" in rows.columns else np.ones(len(rows), bool)
    free = np.array([not billable(not f, None if n else 0) for f, n in zip(failed, no_usage)], dtype=bool)
    return np.where(free, 0.0, cost)


def _per_example(keys: Any, scores: np.ndarray) -> Any:
    """Mean score per (suite, example_id) over repeats, ignoring calls without a score."""
    import pandas as pd

    data = pd.DataFrame({"suite": keys["suite"].to_numpy(), "example_id": keys["example_id"].to_numpy(),
                         "score": scores})
    return data.dropna(subset=["score"]).groupby(["suite", "example_id"], sort=True)["score"].mean()


def _mean_cost(costs: np.ndarray) -> float | None:
    if len(costs) == 0 or np.isnan(costs).any():
        return None
    return float(costs.mean())


class _Pair:
    """A's and B's calls on one split, aligned by (suite, example_id, repeat), and the reference's scores."""

    def __init__(self, frame: Any, cheap: str, strong: str, reference: str, suites: Iterable[str] | None):
        a, b = _calls(frame, cheap, suites), _calls(frame, strong, suites)
        a = a.assign(_paid=_paid(a))
        b = b.assign(_paid=_paid(b))
        joined = a[KEYS + ["score", "confidence", "error", "_paid"]].merge(
            b[KEYS + ["score", "_paid"]], on=KEYS, suffixes=("_a", "_b"), validate="one_to_one")
        self.keys = joined[KEYS]
        self.score_a = joined["score_a"].astype(float).to_numpy()
        self.score_b = joined["score_b"].astype(float).to_numpy()
        self.cost_a = joined["_paid_a"].to_numpy()
        self.cost_b = joined["_paid_b"].to_numpy()
        conf = joined["confidence"].astype(float).to_numpy()
        answered = joined["error"].isna().to_numpy()
        # Never taken: a failed call, or an answer without a confidence (the client escalates both).
        self.conf = np.where(answered & ~np.isnan(conf), conf, np.nan)
        ref = _calls(frame, reference, suites)
        self.reference = _per_example(ref[KEYS], ref["score"].astype(float).to_numpy())
        self.reference_cost = _mean_cost(_paid(ref))

    def thresholds(self) -> list[float]:
        """Every distinct confidence of A (taking A's answers from there up), highest first, then inf."""
        values = np.unique(self.conf[~np.isnan(self.conf)])
        return [ALWAYS_ESCALATE] + [float(v) for v in values[::-1]]

    def point(self, threshold: float, margin: float, confidence: float) -> CurvePoint:
        taken = ~np.isnan(self.conf) & (np.nan_to_num(self.conf, nan=-1.0) >= threshold)
        scores = np.where(taken, self.score_a, self.score_b)
        costs = self.cost_a + np.where(taken, 0.0, self.cost_b)
        cascade = _per_example(self.keys, scores)
        both = cascade.index.intersection(self.reference.index)
        d = paired_difference(self.reference.loc[both].to_numpy(), cascade.loc[both].to_numpy(), confidence=confidence)
        values = cascade.to_numpy()
        low, high = mean_ci(values, confidence=confidence) if len(values) else (math.nan, math.nan)
        return CurvePoint(threshold=threshold, quality=float(values.mean()) if len(values) else math.nan,
                          quality_ci=(low, high), cost_per_call=_mean_cost(costs),
                          escalation_share=float((~taken).mean()) if len(taken) else math.nan, calls=int(len(taken)),
                          diff=d, non_inferior=non_inferior(d, margin))


def _cheapest(points: list[CurvePoint]) -> CurvePoint | None:
    """The cheapest non-inferior point with a known cost (ties: higher quality, then higher threshold)."""
    ok = [p for p in points if p.non_inferior and p.cost_per_call is not None]
    if not ok:
        return None
    return min(ok, key=lambda p: (p.cost_per_call, -p.quality, -p.threshold))


def _fmt(d: PairedDiff) -> str:
    return f"{d.diff:+.3f} [{d.ci_low:+.3f}, {d.ci_high:+.3f}], n={d.n}"


def sweep(dev: Any, test: Any, *, cheap: str, strong: str, reference: str, margin: float, confidence: float = 0.95,
          min_examples: int = 20, suites: Iterable[str] | None = None) -> CascadeChoice:
    """Choose the threshold of the cascade ``cheap`` -> ``strong`` on ``dev`` and confirm it on ``test``.

    ``dev`` and ``test`` are results frames (the splits of one run, or two runs); ``reference`` is the
    model the cascade must be non-inferior to (the best single model), within ``margin`` at
    ``confidence``; ``suites`` restricts the rows (a rule's suites). A split with fewer than
    ``min_examples`` paired examples cannot choose or confirm anything. Returns every dev point, the
    chosen one, its test point and whether the cascade is proposed, with the reason in words.
    """
    suites = list(suites) if suites is not None else None
    choice = CascadeChoice(cheap, strong, reference, margin, confidence)
    pair = _Pair(dev, cheap, strong, reference, suites)
    choice.curve = [pair.point(t, margin, confidence) for t in pair.thresholds()]
    if not choice.curve or choice.curve[0].diff.n < min_examples:
        n = choice.curve[0].diff.n if choice.curve else 0
        choice.reason = (f"too few examples on dev: {n} paired with {reference} (at least {min_examples} needed "
                         f"to choose a threshold)")
        return choice
    if len(choice.curve) == 1:
        choice.reason = f"{cheap} gave no confidence on dev: a cascade on it would escalate every call"
        return choice
    choice.chosen = _cheapest(choice.curve)
    if choice.chosen is None:
        unknown = any(p.non_inferior and p.cost_per_call is None for p in choice.curve)
        choice.reason = ("no threshold has a known cost on dev" if unknown else
                         f"no threshold is non-inferior to {reference} on dev within {margin:.3f}")
        return choice
    t = choice.chosen.threshold
    shown = "always escalate" if math.isinf(t) else f"confidence >= {t:.4g}"
    test_pair = _Pair(test, cheap, strong, reference, suites)
    choice.confirmation = confirm = test_pair.point(t, margin, confidence)
    choice.reference_cost_per_call = test_pair.reference_cost
    dev_part = (f"on dev the cheapest non-inferior threshold is {shown}: {choice.chosen.escalation_share:.0%} "
                f"escalated, {_fmt(choice.chosen.diff)} vs {reference}")
    if confirm.diff.n < min_examples:
        choice.reason = f"{dev_part}; too few examples on test to confirm it ({confirm.diff.n} < {min_examples})"
    elif not confirm.non_inferior:
        choice.reason = f"{dev_part}; not confirmed on test: {_fmt(confirm.diff)}, lower bound below -{margin:.3f}"
    elif confirm.cost_per_call is None or choice.reference_cost_per_call is None:
        choice.reason = f"{dev_part}; confirmed on test, but a cost there is unknown, so it is not shown to be cheaper"
    elif confirm.cost_per_call >= choice.reference_cost_per_call:
        choice.reason = (f"{dev_part}; confirmed on test, but it costs ${confirm.cost_per_call:.6f} per call, no less "
                         f"than {reference} (${choice.reference_cost_per_call:.6f})")
    else:
        choice.proposed = True
        choice.reason = (f"{dev_part}; confirmed on test: {_fmt(confirm.diff)}, {confirm.escalation_share:.0%} "
                         f"escalated, ${confirm.cost_per_call:.6f} per call vs ${choice.reference_cost_per_call:.6f}")
    return choice


__all__ = ["ALWAYS_ESCALATE", "CascadeChoice", "CurvePoint", "non_inferior", "sweep"]
