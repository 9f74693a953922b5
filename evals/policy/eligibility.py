"""What a model must meet to serve a rule, a rule's figures from its suites, and the fallback chain.

The decision rule that uses these is written down once, in :mod:`evals.policy.decide`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Literal

from evals.config.models import ModelSpec
from evals.policy.evidence import Measure, measure
from evals.report.format import fmt_ci, fmt_ms, fmt_usd


def provider_key(spec: ModelSpec) -> str:
    """Models sharing this key fail together (same provider and endpoint)."""
    return f"{spec.provider}@{spec.base_url or ''}"


@dataclass(frozen=True)
class Limits:
    """A rule's requirements, as the recommender holds every model to them."""

    floor: float
    p95_ms: float | None
    ceiling_usd: float | None  # per call
    context_tokens: int  # the rule's bucket and its suites' shapes; a model's own longest prompt is added
    min_examples: int
    max_infra_failure_rate: float = 1.0  # of a paired comparison's calls; more: re-run to retry them


@dataclass(frozen=True)
class Exclusion:
    """Why a model cannot serve a rule. ``evidence``: the run cannot tell (not measured, too few
    examples); ``constraint``: it was measured and fails the rule."""

    kind: Literal["evidence", "constraint"]
    text: str


def suite_shares(per_suite: dict[str, Any], weights: dict[str, float]) -> dict[str, float]:
    """Each suite's share of a rule's traffic (``weekly_calls``; equal shares when no suite states any).

    >>> suite_shares({"a": 1, "b": 2}, {"a": 3000, "b": 1000}), suite_shares({"a": 1, "b": 2}, {})
    ({'a': 0.75, 'b': 0.25}, {'a': 0.5, 'b': 0.5})
    """
    given = {s: max(float(weights.get(s, 0.0)), 0.0) for s in per_suite}
    total = sum(given.values())
    if total <= 0:  # no suite states its traffic: each counts the same
        return {s: 1 / len(given) for s in given}
    return {s: w / total for s, w in given.items()}


def _missing(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def pool(per_suite: dict[str, Measure], weights: dict[str, float]) -> Measure:
    """One model's figures for a rule from its per-suite measures, weighted by the suites' traffic.

    One suite: its measure unchanged (the numbers :func:`evals.policy.evidence.measure` gives). Several:
    quality and cost per call are the traffic-weighted means (``weekly_calls``; equal weights when no
    suite states any), the quality interval is the hull of the suites' intervals (it covers the
    weighted mean, and every suite's mean, at the suites' confidence), p95 and context are the worst
    suite's, counts are summed. A cost is unknown when any suite's is.
    """
    measures = list(per_suite.values())
    if len(measures) == 1:
        return measures[0]
    share = suite_shares(per_suite, weights)
    first = measures[0]
    lows, highs = [m.ci[0] for m in measures], [m.ci[1] for m in measures]
    ci = (math.nan, math.nan) if any(map(_missing, lows + highs)) else (min(lows), max(highs))
    costs = [m.cost_per_call for m in measures]
    p95s = [m.p95_ms for m in measures]
    import pandas as pd

    handled = {"model", "variant", "provider", "scores", "quality", "ci", "cost_per_call", "p95_ms",
               "max_context_tokens", "notes"}
    counts = {f.name: sum(getattr(m, f.name) for m in measures) for f in fields(Measure)
              if f.name not in handled and isinstance(getattr(first, f.name), int)}
    variants = sorted({v for m in measures for v in (m.variant or "").split(",") if v})
    return Measure(
        model=first.model, variant=",".join(variants) or None, provider=first.provider,
        scores=pd.concat([m.scores for m in measures]).sort_index(),
        quality=sum(share[s] * m.quality for s, m in per_suite.items()), ci=ci,
        cost_per_call=None if any(c is None for c in costs) else sum(share[s] * m.cost_per_call
                                                                     for s, m in per_suite.items()),
        p95_ms=None if any(p is None for p in p95s) else max(p95s),
        max_context_tokens=max(m.max_context_tokens for m in measures),
        notes=list(dict.fromkeys(n for m in measures for n in m.notes)), **counts,
    )


def suite_measures(frame: Any, suites: list[str], model: str, *, confidence: float = 0.95) -> dict[str, Measure]:
    """``model`` measured on each of ``suites`` on its own (:func:`evals.policy.evidence.measure`)."""
    return {s: m for s in suites if (m := measure(frame, [s], model, confidence=confidence)) is not None}


def rule_measure(frame: Any, suites: list[str], model: str, weights: dict[str, float], *,
                 confidence: float = 0.95) -> Measure | None:
    """A model's figures for a rule whose evidence is ``suites``: :func:`suite_measures`, :func:`pool`-ed
    by ``weights`` (suite -> weekly calls).

    The one definition of the numbers a rule's evidence states: ``evals recommend`` writes them and
    ``evals approve`` re-derives them. None when the run has no rows of ``model`` on these suites.
    """
    per_suite = suite_measures(frame, suites, model, confidence=confidence)
    return pool(per_suite, weights) if per_suite else None


def exclusion(spec: ModelSpec | None, per_suite: dict[str, Measure], suites: list[str], weights: dict[str, float],
              limits: Limits, *, latency_trusted: bool = True) -> Exclusion | None:
    """Why this model is not eligible for a rule with ``suites`` and ``limits``, or None (eligible).

    Checked for each model on its own: listed in models.yaml; measured on every suite with at least
    ``min_examples`` examples; context window; p95 latency; cost per call against the ceiling; the
    lower bound of the quality interval against the floor on every suite. With ``latency_trusted``
    False (a local model timed on an overloaded machine) the latency requirement is not applied.
    """
    if spec is None:
        return Exclusion("constraint", "not in policies/models.yaml")
    absent = [s for s in suites if s not in per_suite or per_suite[s].n == 0]
    if absent:
        return Exclusion("evidence", f"not measured on {', '.join(absent)}")
    few = [s for s in suites if per_suite[s].n < limits.min_examples]
    if few:
        counts = (f"{per_suite[few[0]].n} examples" if len(suites) == 1 else
                  ", ".join(f"{per_suite[s].n} examples on {s}" for s in few))
        return Exclusion("evidence", f"only {counts}, {limits.min_examples} needed")
    m = pool({s: per_suite[s] for s in suites}, weights)
    need = max(limits.context_tokens, m.max_context_tokens)
    if spec.context_window < need:
        return Exclusion("constraint", f"context window {spec.context_window:,} < {need:,} tokens needed")
    if latency_trusted and limits.p95_ms is not None and (m.p95_ms is None or m.p95_ms > limits.p95_ms):
        return Exclusion("constraint", "no latency measured" if m.p95_ms is None else
                         f"p95 latency {fmt_ms(m.p95_ms)} > {fmt_ms(limits.p95_ms)} required")
    if limits.ceiling_usd is not None and (m.cost_per_call is None or m.cost_per_call > limits.ceiling_usd):
        return Exclusion("constraint", "unknown price, the cost ceiling cannot be checked" if m.cost_per_call is None
                         else f"cost per call {fmt_usd(m.cost_per_call)} > ceiling {fmt_usd(limits.ceiling_usd)}")
    for s in suites:
        q = per_suite[s]
        if _missing(q.ci[0]) or q.ci[0] < limits.floor:
            where = f" on {s}" if len(suites) > 1 else ""
            return Exclusion("constraint", f"quality {fmt_ci(q.quality, *q.ci)}{where}: lower bound below the floor "
                                           f"{limits.floor:.2f}")
    return None


def cascade_exclusion(legs: list[ModelSpec | None], per_suite: dict[str, Measure], suites: list[str],
                      weights: dict[str, float], limits: Limits, *, latency_trusted: bool = True) -> Exclusion | None:
    """Why a cascade of ``legs`` (their specs, in order) cannot serve a rule, or None: every leg is in
    models.yaml, and the cascade's own measures (:func:`evals.policy.cascade.cascade_measures`) meet
    the rule as a model's would (:func:`exclusion`), held to the smallest context window of its legs.
    ``latency_trusted``: whether every leg's latency is (see :func:`exclusion`)."""
    if any(spec is None for spec in legs):
        return Exclusion("constraint", "a leg is not in policies/models.yaml")
    narrow = min(legs, key=lambda spec: spec.context_window)
    return exclusion(narrow, per_suite, suites, weights, limits, latency_trusted=latency_trusted)


def _cost(m: Measure) -> float:
    return m.cost_per_call if m.cost_per_call is not None else math.inf


def choose_fallbacks(primary: str, eligible: list[str], pooled: dict[str, Measure], specs: dict[str, ModelSpec],
                     current: list[str], excluded: dict[str, Exclusion], limit: int) -> tuple[list[str], list[str]]:
    """The fallback chain for ``primary`` and notes on it.

    Up to ``limit`` eligible models, each picked first at a provider (and endpoint) not yet in the
    chain, then by quality, then by cost; so the first fallback is at another provider whenever an
    eligible one exists. Current fallbacks the run cannot judge (not measured, too few examples) are
    kept after them and marked; current fallbacks that were measured and fail the rule are dropped.
    """
    chain = {provider_key(specs[primary])} if primary in specs else set()
    candidates = [m for m in eligible if m != primary]
    picked: list[str] = []
    while candidates and len(picked) < limit:
        best = min(candidates, key=lambda m: (provider_key(specs[m]) in chain, -pooled[m].quality,
                                              _cost(pooled[m]), m))
        picked.append(best)
        chain.add(provider_key(specs[best]))
        candidates.remove(best)
    kept, notes = [], []
    for f in current:
        if f == primary or f in picked:
            continue
        why = excluded.get(f)
        if f not in pooled or (why is not None and why.kind == "evidence"):
            kept.append(f)
            notes.append(f"fallback {f} kept, unmeasured" + (f" ({why.text})" if why is not None else ""))
        elif why is not None:
            notes.append(f"fallback {f} dropped: {why.text}")
        else:
            notes.append(f"fallback {f} dropped: {limit} eligible fallbacks rank above it")
    if picked and primary in specs and all(provider_key(specs[m]) == provider_key(specs[primary]) for m in picked):
        notes.append(f"no eligible fallback at another provider than {primary}'s")
    if not picked and not kept and limit:
        notes.append("no eligible fallback")
    return picked + kept, notes
