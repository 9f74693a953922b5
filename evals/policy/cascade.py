"""Cascades as candidates: measured like a model, threshold swept on dev, confirmed on test.

Pure functions over results frames (one row per example x model x repeat, ``evals/runner/store.py``).
A cascade (:class:`Cascade`) answers each call the way :class:`evals.client.Client` runs a cascade
rule: leg ``k``'s answer is taken when it answered (no error) with a confidence at least its
threshold; otherwise (below it, no confidence, any failure) the call goes to the next leg, and the
last leg answers whatever reaches it. :func:`cascade_rows` turns the legs' rows into the rows of one
virtual model (its calls as the cascade makes them), so the cascade is **measured like any model**
(:func:`cascade_measures`: :func:`evals.policy.evidence.measure` on those rows, per suite) and tested
with **the decision rule of any switch** (:func:`evals.policy.decide.compare`, whose per-suite test is
:func:`evals.policy.decide.paired_test`):

* quality: the taken leg's score (an infrastructure failure of the last leg: no score, left out);
* latency per call: the latencies of every leg the call reached, added (the legs run one after another);
* cost per call: :func:`evals.traffic.cascade_call_cost`, each leg's cost per call (the mean over its
  priced calls, :func:`evals.metrics.cost_per_call`, over the calls that reached it) times the share
  of calls that reached it: A + share x B for two legs. ``evals replay`` prices a moved call with the
  same function;
* escalation share: the share of calls the first leg passed on.

:func:`sweep` computes, for a cheap model A and a strong model B, the cascade at every threshold A's
dev confidences suggest (each distinct confidence rounded down to :data:`THRESHOLD_DIGITS` decimals, the
value written into the policy, and "always escalate"); keeps the points non-inferior to a reference (a
model, or the cascade in force) on the same examples, picks the cheapest, and evaluates that same
threshold on the test split: enough examples, no unresolved infrastructure failures, non-inferior,
meeting the rule (floor, latency, ceiling, context: :func:`evals.policy.eligibility.cascade_exclusion`)
and cheaper per call than the reference there. :func:`choose_cascade` applies it to a rule for the
recommender (the rule in :mod:`evals.policy.decide`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Iterable

import numpy as np

from evals.config.policy import CascadeEvidence, CascadePoint, Target
from evals.policy.decide import Verdict, compare, paired_test
from evals.policy.eligibility import Exclusion, Limits, cascade_exclusion, pool, suite_shares
from evals.policy.evidence import Measure, measure
from evals.report.format import fmt_ci, fmt_delta, fmt_ms, fmt_pct, fmt_usd
from evals.stats import PairedDiff
from evals.traffic import cascade_call_cost

KEYS = ["suite", "example_id", "repeat"]
ALWAYS_ESCALATE = math.inf
THRESHOLD_DIGITS = 4
MIN_THRESHOLD = 10 ** -THRESHOLD_DIGITS  # accept_if must be above 0
_LEG_COLUMNS = ["score", "error", "error_class", "confidence", "cost_usd", "latency_ms", "input_tokens",
                "output_tokens", "context_tokens", "variant", "split"]


def non_inferior(a: Any, b: Any, margin: float, confidence: float = 0.95) -> bool:
    """Whether scores ``b`` are non-inferior to ``a`` (paired, aligned): :func:`evals.policy.decide.paired_test`,
    the test of every switch. No pairs: no evidence.

    >>> non_inferior([1.0] * 40, [1.0] * 40, 0.1), non_inferior([1.0] * 40, [1.0] * 30 + [0.0] * 10, 0.1)
    (True, False)
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return bool(len(a)) and paired_test(a, b, margin, confidence)[0] == "non-inferior"


def threshold_value(confidence: float) -> float:
    """The threshold a confidence suggests, as written into a policy: rounded down, at least the minimum.

    >>> threshold_value(0.87349), threshold_value(0.00001), threshold_value(1.0)
    (0.8734, 0.0001, 1.0)
    """
    scale = 10 ** THRESHOLD_DIGITS
    return max(math.floor(confidence * scale + 1e-9) / scale, MIN_THRESHOLD)


@dataclass(frozen=True)
class Cascade:
    """Legs in order, each ``(model, threshold)``; the last leg's threshold is None (it answers the rest)."""

    legs: tuple[tuple[str, float | None], ...]

    @classmethod
    def pair(cls, cheap: str, strong: str, threshold: float) -> "Cascade":
        return cls(((cheap, threshold), (strong, None)))

    @classmethod
    def of_target(cls, target: Target) -> "Cascade | None":
        """The cascade a policy rule names, or None for a single-model rule."""
        if not target.cascade:
            return None
        return cls(tuple((leg.model, leg.accept_if.confidence if leg.accept_if else None) for leg in target.cascade))

    @property
    def models(self) -> list[str]:
        return [m for m, _ in self.legs]

    @property
    def name(self) -> str:
        """How the cascade is shown, and its id as a virtual model: ``a (>= 0.85) -> b``."""
        return " -> ".join(m + (f" (>= {t:g})" if t is not None else "") for m, t in self.legs)

    def target_legs(self) -> list[dict[str, Any]]:
        """The rule's ``cascade:`` list."""
        return [{"model": m, **({"accept_if": {"confidence": t}} if t is not None else {})} for m, t in self.legs]


class _Joined:
    """The legs' calls on ``suites``, aligned by (suite, example_id, repeat): one row per call every leg made."""

    def __init__(self, frame: Any, models: list[str], suites: Iterable[str] | None):
        rows = frame if suites is None else frame[frame["suite"].isin(list(suites))]
        joined = None
        for k, model in enumerate(models):
            leg = rows[rows["model"] == model]
            leg = leg.assign(**{c: np.nan for c in _LEG_COLUMNS if c not in leg.columns})
            leg = leg[KEYS + _LEG_COLUMNS].rename(columns={c: f"{c}_{k}" for c in _LEG_COLUMNS})
            joined = leg if joined is None else joined.merge(leg, on=KEYS, validate="one_to_one")
        self.frame = joined.reset_index(drop=True)
        self.k = len(models)

    def leg(self, k: int, column: str) -> np.ndarray:
        return self.frame[f"{column}_{k}"].to_numpy()

    def confidences(self, k: int) -> np.ndarray:
        """Leg ``k``'s confidence where its answer may be taken (answered, with a confidence), else NaN."""
        conf = self.frame[f"confidence_{k}"].astype(float).to_numpy()
        answered = self.frame[f"error_{k}"].isna().to_numpy()
        return np.where(answered & ~np.isnan(conf), conf, np.nan)

    def taken_by(self, thresholds: list[float | None]) -> np.ndarray:
        """Per call, the index of the leg whose answer is taken."""
        taken = np.full(len(self.frame), self.k - 1)
        open_ = np.ones(len(self.frame), dtype=bool)
        for k, t in enumerate(thresholds[:-1]):
            conf = self.confidences(k)
            take = open_ & ~np.isnan(conf) & (np.nan_to_num(conf, nan=-1.0) >= t)
            taken[take] = k
            open_ &= ~take
        return taken

    def rows(self, cascade: Cascade) -> Any:
        """The cascade's calls as result rows of one model (``model`` = :attr:`Cascade.name`)."""
        import pandas as pd

        taken = self.taken_by([t for _, t in cascade.legs])
        out = self.frame[KEYS].copy()
        pick = lambda col: np.choose(taken, [self.leg(k, col) for k in range(self.k)])  # noqa: E731
        for col in ("score", "error", "error_class"):
            out[col] = pick(col)
        out["error"] = out["error"].where(pd.notna(out["error"]), None)
        reached = [taken >= k for k in range(self.k)]
        for col in ("latency_ms", "input_tokens", "output_tokens"):
            values = [pd.to_numeric(pd.Series(self.leg(k, col)), errors="coerce").to_numpy(float) for k in range(self.k)]
            out[col] = sum(np.where(reached[k], values[k], 0.0) for k in range(self.k))
        out["context_tokens"] = np.nanmax([pd.to_numeric(pd.Series(self.leg(k, "context_tokens")), errors="coerce")
                                           .to_numpy(float) for k in range(self.k)], axis=0) if len(out) else []
        out["cost_usd"] = np.nan  # a cascade's cost per call is per leg (cascade_cost), not a mean of row sums
        out["confidence"] = self.leg(0, "confidence")
        out["split"] = self.leg(0, "split")
        out["model"] = cascade.name
        out["provider"] = "cascade"
        out["variant"] = "+".join(str(v) for v in (self._variant(k) for k in range(self.k)))
        out["leg"] = taken
        return out

    def _variant(self, k: int) -> str:
        values = sorted({str(v) for v in self.frame[f"variant_{k}"].dropna()})
        return ",".join(values) or "-"

    def cost(self, cascade: Cascade, rows_of: Any, confidence: float) -> tuple[float | None, list[str]]:
        """The cascade's cost per call (:func:`evals.traffic.cascade_call_cost`) on ``rows_of`` (a mask)."""
        import pandas as pd

        from evals.metrics import cost_per_call

        taken = self.taken_by([t for _, t in cascade.legs])[rows_of]
        costs, reach, notes = [], [], []
        for k, model in enumerate(cascade.models):
            mask = taken >= k
            leg = pd.DataFrame({"suite": self.frame["suite"].to_numpy()[rows_of][mask],
                                "example_id": self.frame["example_id"].to_numpy()[rows_of][mask],
                                "score": self.leg(k, "score")[rows_of][mask],
                                "error": self.leg(k, "error")[rows_of][mask],
                                "cost_usd": pd.to_numeric(pd.Series(self.leg(k, "cost_usd")[rows_of][mask]),
                                                          errors="coerce").to_numpy(float)})
            estimate = cost_per_call(leg, confidence=confidence, n_boot=200)
            costs.append(estimate.value)
            reach.append(float(mask.mean()) if len(mask) else 0.0)
            if estimate.note and mask.any():
                notes.append(f"{model}: {estimate.note}")
        return cascade_call_cost(costs, reach), notes


def cascade_rows(frame: Any, cascade: Cascade, suites: Iterable[str] | None = None) -> Any:
    """The cascade's calls as result rows of one virtual model named :attr:`Cascade.name` (module docstring):
    the taken leg's score and error, latencies and tokens of every leg reached, ``leg`` the taken leg's index.
    Row-level ``cost_usd`` is left unknown: a cascade's cost per call is :func:`cascade_measures`'."""
    return _Joined(frame, cascade.models, suites).rows(cascade)


def cascade_measures(frame: Any, suites: list[str], cascade: Cascade, *, confidence: float = 0.95,
                     joined: _Joined | None = None) -> dict[str, Measure]:
    """The cascade measured on each of ``suites`` on its own, like a model (module docstring).

    Calls that some leg never made are left out (the cascade cannot be simulated there). The one
    definition of a cascade's numbers: the recommender writes them and approve and the gate re-derive
    them with this function.
    """
    joined = joined or _Joined(frame, cascade.models, suites)
    rows = joined.rows(cascade)
    out = {}
    for s in suites:
        m = measure(rows, [s], cascade.name, confidence=confidence)
        if m is None:
            continue
        cost, notes = joined.cost(cascade, (joined.frame["suite"] == s).to_numpy(), confidence)
        kept = [n for n in m.notes if "without a price" not in n]
        out[s] = replace(m, cost_per_call=cost, notes=kept + notes)
    return out


def escalation_shares(frame: Any, suites: list[str], cascade: Cascade,
                      joined: _Joined | None = None) -> dict[str, float]:
    """Per suite, the share of the cascade's calls the first leg passed on."""
    joined = joined or _Joined(frame, cascade.models, suites)
    taken = joined.taken_by([t for _, t in cascade.legs])
    suite = joined.frame["suite"].to_numpy()
    return {s: float((taken[suite == s] > 0).mean()) for s in suites if (suite == s).any()}


@dataclass(frozen=True)
class CascadeFigures:
    """A cascade's figures for a rule: per suite, pooled by the suites' traffic, and its escalation share."""

    per_suite: dict[str, Measure]
    pooled: Measure
    escalation_share: float
    calls: int


def cascade_figures(frame: Any, suites: list[str], cascade: Cascade, weights: dict[str, float], *,
                    confidence: float = 0.95, joined: _Joined | None = None) -> CascadeFigures | None:
    """:func:`cascade_measures` pooled by ``weights`` (:func:`evals.policy.eligibility.pool`), with the share
    of calls escalated weighted the same way: the numbers of a sweep's point, hence of a cascade rule's
    evidence, which ``evals approve`` and the gate re-derive with this function. None without calls."""
    joined = joined or _Joined(frame, cascade.models, suites)
    per_suite = cascade_measures(frame, suites, cascade, confidence=confidence, joined=joined)
    if not per_suite:
        return None
    shares = escalation_shares(frame, suites, cascade, joined=joined)
    share_w = suite_shares(per_suite, weights)
    return CascadeFigures(per_suite, pool(per_suite, weights), sum(share_w[s] * shares[s] for s in per_suite),
                          sum(m.calls for m in per_suite.values()))


def subject_measures(frame: Any, suites: list[str], subject: "str | Cascade", *,
                     confidence: float = 0.95) -> dict[str, Measure]:
    """A model's per-suite measures (:func:`evals.policy.eligibility.suite_measures`), or a cascade's."""
    from evals.policy.eligibility import suite_measures

    if isinstance(subject, Cascade):
        return cascade_measures(frame, suites, subject, confidence=confidence)
    return suite_measures(frame, suites, subject, confidence=confidence)


@dataclass(frozen=True)
class CurvePoint:
    """The cascade at one threshold on one split (``threshold`` inf: every call escalated)."""

    threshold: float
    quality: float
    quality_ci: tuple[float, float]
    cost_per_call: float | None  # None: unknown
    p95_ms: float | None
    escalation_share: float
    calls: int
    diff: PairedDiff  # cascade minus reference, on the deciding suite
    outcome: str  # decide.paired_test's, against the reference (or "retry")
    measures: dict[str, Measure] = field(default_factory=dict, repr=False, compare=False)
    verdict: Verdict | None = field(default=None, repr=False, compare=False)

    @property
    def non_inferior(self) -> bool:
        return self.outcome == "non-inferior"

    @property
    def written_threshold(self) -> float | None:
        return None if math.isinf(self.threshold) else self.threshold

    def as_row(self) -> dict[str, Any]:
        """A flat dict for a frame (thresholds as numbers, inf as None)."""
        return {"threshold": self.written_threshold, "quality": self.quality,
                "quality_ci_low": self.quality_ci[0], "quality_ci_high": self.quality_ci[1],
                "cost_per_call_usd": self.cost_per_call, "p95_latency_ms": self.p95_ms,
                "escalation_share": self.escalation_share, "calls": self.calls, "examples": self.diff.n,
                "diff": self.diff.diff, "diff_ci_low": self.diff.ci_low, "diff_ci_high": self.diff.ci_high,
                "diff_method": self.diff.method, "outcome": self.outcome, "non_inferior": self.non_inferior}

    def as_point(self) -> CascadePoint:
        """The point as a policy's evidence records it."""
        from evals.policy.evidence import _ci, _num

        d = self.diff
        return CascadePoint(threshold=self.written_threshold, quality=_num(self.quality), quality_ci=_ci(self.quality_ci),
                            cost_per_1k_usd=_num(None if self.cost_per_call is None else 1000 * self.cost_per_call),
                            p95_latency_ms=_num(self.p95_ms), escalation_share=_num(self.escalation_share),
                            calls=self.calls, n=d.n, diff=_num(d.diff), diff_ci=_ci((d.ci_low, d.ci_high)),
                            outcome=self.outcome)


class _Split:
    """One split's frame for a pair: the legs joined once, the reference measured once."""

    def __init__(self, frame: Any, cheap: str, strong: str, reference: "str | Cascade", suites: list[str],
                 weights: dict[str, float], confidence: float):
        self.joined = _Joined(frame, [cheap, strong], suites)
        self.frame, self.cheap, self.strong, self.suites, self.weights = frame, cheap, strong, suites, weights
        self.reference = subject_measures(frame, suites, reference, confidence=confidence)

    def missing(self) -> list[str]:
        """Suites where the reference or the pair has no calls."""
        legs = set(self.joined.frame["suite"])
        return [s for s in self.suites if s not in self.reference or s not in legs]

    def thresholds(self) -> list[float]:
        """Every threshold the cheap leg's confidences suggest, highest first, after "always escalate"."""
        conf = self.joined.confidences(0)
        values = sorted({threshold_value(float(c)) for c in conf[~np.isnan(conf)]}, reverse=True)
        return [ALWAYS_ESCALATE] + values

    def point(self, threshold: float, margin: float, confidence: float, min_examples: int,
              max_infra_failure_rate: float, *, size: bool = False) -> CurvePoint:
        cascade = Cascade.pair(self.cheap, self.strong, threshold)
        figures = cascade_figures(self.frame, self.suites, cascade, self.weights, confidence=confidence,
                                  joined=self.joined)
        per_suite, pooled = figures.per_suite, figures.pooled
        v = compare(self.reference, {s: per_suite[s] for s in self.suites}, self.suites, margin=margin,
                    confidence=confidence, min_examples=min_examples, max_infra_failure_rate=max_infra_failure_rate,
                    estimate_size=size)
        return CurvePoint(threshold=threshold, quality=pooled.quality, quality_ci=pooled.ci,
                          cost_per_call=pooled.cost_per_call, p95_ms=pooled.p95_ms,
                          escalation_share=figures.escalation_share, calls=figures.calls, diff=v.diffs[v.key_suite()],
                          outcome=v.outcome, measures=per_suite, verdict=v)


@dataclass
class CascadeChoice:
    """The sweep's outcome: the dev curve, the chosen point, its confirmation on test, and the verdict."""

    cheap: str
    strong: str
    reference: str  # its name (a model id, or a cascade's name)
    margin: float
    confidence: float
    curve: list[CurvePoint] = field(default_factory=list)
    chosen: CurvePoint | None = None
    confirmation: CurvePoint | None = None
    reference_cost_per_call: float | None = None  # on test
    reference_measures: dict[str, Measure] = field(default_factory=dict, repr=False)  # on test
    proposed: bool = False
    reason: str = ""

    @property
    def cascade(self) -> Cascade | None:
        return Cascade.pair(self.cheap, self.strong, self.chosen.threshold) if self.chosen else None

    def curve_frame(self) -> Any:
        """The dev curve as a DataFrame, one row per threshold (highest first), ``chosen`` marking the pick."""
        import pandas as pd

        frame = pd.DataFrame([p.as_row() for p in self.curve])
        if len(frame):
            frame["chosen"] = [self.chosen is not None and p.threshold == self.chosen.threshold for p in self.curve]
        return frame

    def evidence(self, *, dev_run_id: str, dev_results_sha256: str | None,
                 single_cost_per_call: float | None = None) -> CascadeEvidence:
        """What a proposal records (:class:`evals.config.policy.CascadeEvidence`); needs a chosen, confirmed point."""
        if self.chosen is None or self.confirmation is None or math.isinf(self.chosen.threshold):
            raise ValueError(f"cascade {self.cheap} -> {self.strong}: no confirmed threshold to record")

        def k(value: float | None) -> float | None:
            return None if value is None else round(1000 * value, 6)

        return CascadeEvidence(cheap=self.cheap, strong=self.strong, threshold=self.chosen.threshold,
                               reference=self.reference, margin=self.margin, confidence=self.confidence,
                               dev_run_id=dev_run_id, dev_results_sha256=dev_results_sha256,
                               dev=self.chosen.as_point(), test=self.confirmation.as_point(),
                               reference_cost_per_1k_usd=k(self.reference_cost_per_call),
                               single_cost_per_1k_usd=k(single_cost_per_call),
                               curve=[p.as_point() for p in self.curve])


def _cheapest(points: list[CurvePoint]) -> CurvePoint | None:
    """The cheapest non-inferior point with a known cost (ties: higher quality, then higher threshold)."""
    ok = [p for p in points if p.non_inferior and p.cost_per_call is not None]
    if not ok:
        return None
    return min(ok, key=lambda p: (p.cost_per_call, -p.quality, -p.threshold))


def _fmt(d: PairedDiff) -> str:
    return f"{fmt_delta(d.diff)} [{fmt_delta(d.ci_low)}, {fmt_delta(d.ci_high)}], n={d.n}"


def _shown(t: float) -> str:
    return "always escalate" if math.isinf(t) else f"confidence >= {t:g}"


def sweep(dev: Any, test: Any, *, cheap: str, strong: str, reference: "str | Cascade", margin: float,
          confidence: float = 0.95, min_examples: int = 20, suites: Iterable[str] | None = None,
          weights: dict[str, float] | None = None, limits: Limits | None = None, specs: dict[str, Any] | None = None,
          max_infra_failure_rate: float = 1.0, latency_trusted: bool = True) -> CascadeChoice:
    """Choose the threshold of the cascade ``cheap`` -> ``strong`` on ``dev`` and confirm it on ``test``.

    ``dev`` and ``test`` are results frames (two runs, one per split); ``reference`` is the model (or
    cascade) it must be non-inferior to within ``margin`` at ``confidence``, by
    :func:`evals.policy.decide.compare`; ``suites`` the rule's suites (default: every suite of ``dev``),
    ``weights`` their traffic. With ``limits`` and ``specs`` (model id -> spec) the cascade must also meet
    the rule on test (:func:`evals.policy.eligibility.cascade_exclusion`; its p95 only where
    ``latency_trusted``: every leg's latency was measured on a machine that can be trusted). A split
    with fewer than ``min_examples`` paired examples on a suite cannot choose or confirm anything.
    Returns every dev point, the chosen one, its test point and whether the cascade is proposed, with
    the reason in words.
    """
    suites = sorted(set(dev["suite"])) if suites is None else list(suites)
    weights = weights or {}
    ref_name = reference.name if isinstance(reference, Cascade) else reference
    choice = CascadeChoice(cheap, strong, ref_name, margin, confidence)
    args = (margin, confidence, min_examples, max_infra_failure_rate)
    d = _Split(dev, cheap, strong, reference, suites, weights, confidence)
    if d.missing():
        choice.reason = f"not measured on dev: {', '.join(d.missing())} (the pair or {ref_name})"
        return choice
    choice.curve = [d.point(t, *args) for t in d.thresholds()]
    few = min(p.diff.n for p in choice.curve[:1]) if choice.curve else 0
    if min(len(m.scores) for m in choice.curve[0].measures.values()) < min_examples or few < min_examples:
        choice.reason = (f"too few examples on dev: {few} paired with {ref_name} (at least {min_examples} needed "
                         f"to choose a threshold)")
        return choice
    if len(choice.curve) == 1:
        choice.reason = f"{cheap} gave no confidence on dev: a cascade on it would escalate every call"
        return choice
    choice.chosen = _cheapest(choice.curve)
    if choice.chosen is None:
        unknown = any(p.non_inferior and p.cost_per_call is None for p in choice.curve)
        retry = next((p.verdict.note for p in choice.curve if p.outcome == "retry" and p.verdict), None)
        choice.reason = ("no threshold has a known cost on dev" if unknown else
                         f"{retry} on dev" if retry else
                         f"no threshold is non-inferior to {ref_name} on dev within {margin:.3f}")
        return choice
    t = choice.chosen.threshold
    dev_part = (f"on dev the cheapest non-inferior threshold is {_shown(t)}: {fmt_pct(choice.chosen.escalation_share)} "
                f"escalated, {_fmt(choice.chosen.diff)} vs {ref_name}")
    e = _Split(test, cheap, strong, reference, suites, weights, confidence)
    if e.missing():
        choice.reason = f"{dev_part}; not measured on test: {', '.join(e.missing())}"
        return choice
    choice.confirmation = confirm = e.point(t, *args, size=True)
    choice.reference_measures = e.reference
    choice.reference_cost_per_call = pool(e.reference, weights).cost_per_call
    ref_cost = choice.reference_cost_per_call
    why: Exclusion | None = None
    if limits is not None and specs is not None:
        why = cascade_exclusion([specs.get(cheap), specs.get(strong)], confirm.measures, suites, weights, limits,
                                latency_trusted=latency_trusted)
    if confirm.diff.n < min_examples:
        choice.reason = f"{dev_part}; too few examples on test to confirm it ({confirm.diff.n} < {min_examples})"
    elif confirm.outcome == "retry":
        choice.reason = f"{dev_part}; on test: {confirm.verdict.note if confirm.verdict else 'retry'}"
    elif not confirm.non_inferior:
        choice.reason = f"{dev_part}; not confirmed on test: {_fmt(confirm.diff)} ({confirm.outcome} at -{margin:.3f})"
    elif why is not None:
        choice.reason = f"{dev_part}; confirmed on test, but the cascade fails the rule there: {why.text}"
    elif confirm.cost_per_call is None or ref_cost is None:
        choice.reason = f"{dev_part}; confirmed on test, but a cost there is unknown, so it is not shown to be cheaper"
    elif confirm.cost_per_call >= ref_cost:
        choice.reason = (f"{dev_part}; confirmed on test, but it costs {fmt_usd(1000 * confirm.cost_per_call)} per 1k "
                         f"calls, no less than {ref_name} ({fmt_usd(1000 * ref_cost)})")
    else:
        choice.proposed = True
        choice.reason = (f"{dev_part}; confirmed on test: {_fmt(confirm.diff)}, {fmt_pct(confirm.escalation_share)} "
                         f"escalated, {fmt_usd(1000 * confirm.cost_per_call)} per 1k calls vs "
                         f"{fmt_usd(1000 * ref_cost)}")
    return choice


def curve_markdown(choice: CascadeChoice) -> list[str]:
    """The dev curve as a small Markdown table (at most 12 rows: the ends, the chosen point and its
    neighbours), then the test confirmation. Numbers through :mod:`evals.report.format`."""
    points = choice.curve
    if not points:
        return [f"- {choice.cheap} -> {choice.strong}: {choice.reason}"]
    keep = set(range(min(3, len(points)))) | set(range(max(0, len(points) - 3), len(points)))
    if choice.chosen is not None:
        at = next(i for i, p in enumerate(points) if p.threshold == choice.chosen.threshold)
        keep |= {i for i in range(at - 2, at + 3) if 0 <= i < len(points)}
    keep = set(sorted(keep)[:12])
    lines = [f"**{choice.cheap} -> {choice.strong}** vs {choice.reference} (dev):", "",
             "| threshold | escalated | quality [CI] | Δ vs reference [CI] | paired test | cost / 1k calls | p95 |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    previous = -1
    for i, p in enumerate(points):
        if i not in keep:
            continue
        if i != previous + 1:
            lines.append(f"| … {i - previous - 1} more | | | | | | |")
        mark = " **chosen**" if choice.chosen is not None and p.threshold == choice.chosen.threshold else ""
        lines.append(f"| {_shown(p.threshold)}{mark} | {fmt_pct(p.escalation_share)} | {fmt_ci(p.quality, *p.quality_ci)} "
                     f"| {fmt_delta(p.diff.diff)} [{fmt_delta(p.diff.ci_low)}, {fmt_delta(p.diff.ci_high)}] | {p.outcome} "
                     f"| {fmt_usd(None if p.cost_per_call is None else 1000 * p.cost_per_call)} | {fmt_ms(p.p95_ms)} |")
        previous = i
    if previous < len(points) - 1:
        lines.append(f"| … {len(points) - 1 - previous} more | | | | | | |")
    c = choice.confirmation
    if c is not None:
        lines += ["", f"On test at {_shown(c.threshold)}: quality {fmt_ci(c.quality, *c.quality_ci)}, "
                      f"{fmt_pct(c.escalation_share)} escalated, {_fmt(c.diff)} vs {choice.reference} ({c.outcome}), "
                      f"{fmt_usd(None if c.cost_per_call is None else 1000 * c.cost_per_call)} per 1k calls "
                      f"(reference {fmt_usd(None if choice.reference_cost_per_call is None else 1000 * choice.reference_cost_per_call)}), "
                      f"p95 {fmt_ms(c.p95_ms)}."]
    lines += ["", f"Verdict: {'proposed' if choice.proposed else 'not proposed'}: {choice.reason}."]
    return lines


def curve_points(choice: CascadeChoice) -> list[dict[str, Any]]:
    """The report's view of a cascade: one dict per dev point (cost per 1k, quality and its interval,
    escalation share, threshold, outcome, chosen), highest threshold first; the test point last with
    ``split: test``. Pure: a template draws it."""
    def row(p: CurvePoint, split: str) -> dict[str, Any]:
        return {"split": split, "threshold": p.written_threshold, "label": _shown(p.threshold),
                "quality": p.quality, "ci_low": p.quality_ci[0], "ci_high": p.quality_ci[1],
                "cost_per_1k": None if p.cost_per_call is None else 1000 * p.cost_per_call,
                "escalation_share": p.escalation_share, "outcome": p.outcome,
                "chosen": choice.chosen is not None and p.threshold == choice.chosen.threshold}

    out = [row(p, "dev") for p in choice.curve]
    if choice.confirmation is not None:
        out.append(row(choice.confirmation, "test"))
    return out


__all__ = ["ALWAYS_ESCALATE", "Cascade", "CascadeChoice", "CascadeFigures", "CurvePoint", "THRESHOLD_DIGITS",
           "cascade_figures", "cascade_measures",
           "cascade_rows", "curve_markdown", "curve_points", "escalation_shares", "non_inferior", "subject_measures",
           "sweep", "threshold_value"]

