"""How the recommender decides: the rule, written down once. :mod:`evals.policy.recommend` applies it.

**Evidence.** A rule's evidence is the run's results on the suites that name it (``rule:``), else on
the suites without ``rule:`` whose ``shape`` routes to it (diff.md warns about a match by shape).
Evidence measured with a prompt other than the rule's is used only from suites that name the rule
and only with that prompt: a change made on it proposes the prompt too. Each model is measured on
each suite on its own (:func:`evals.policy.evidence.measure`, repeats averaged per example); suites
are never pooled into one sample. A rule's figures are its suites' weighted by traffic
(``weekly_calls``, :func:`evals.policy.eligibility.pool`).

**Eligibility**, for each model on its own (:func:`evals.policy.eligibility.exclusion`): in
``models.yaml``; at least ``min_examples`` examples on every suite; a context window that fits; p95
latency within the rule's ``p95_latency_ms`` (else its suites' ``latency_ms``); cost per call within
``max_cost_per_call_usd`` (else its suites' ``cost_ceiling_usd``; an unknown price fails a ceiling);
on every suite, the lower bound of the quality interval (:func:`evals.stats.mean_ci`) at or above
the floor (the rule's ``quality_floor``, else the highest of its suites').

**The paired test** of a candidate C against the incumbent I (:func:`compare`), on every suite, on
the examples both answered: ``paired_difference(I, C)`` has its lower bound at or above ``-margin``
(``quality_tolerance``) and, for pass/fail scores, the binomial test at the margin on the discordant
pairs agrees (:func:`evals.stats.noninferiority_exact` at ``(1 - confidence) / 2``): *non-inferior*.
An upper bound below ``-margin`` on some suite: *inferior*. Anything else: *undecidable*. Point
estimates never decide: a cheap model that is also the best point estimate is tested like any other.

**Objective cost** (default). The rule moves to the cheapest eligible candidate that is non-inferior
to the incumbent and, when the incumbent is eligible, has a known price below the incumbent's.
Otherwise it keeps its model and says which of these holds (:data:`KINDS`):

- ``unmeasured``: the incumbent has no results on the rule's suites in this run. With
  ``--replace-unmeasured`` the rule moves instead to the cheapest eligible model non-inferior to the
  best eligible one (highest quality);
- ``too-few``: the incumbent has fewer than ``min_examples`` examples on a suite;
- ``retry``: a comparison's evidence is incomplete: more than ``max_infra_failure_rate`` of the two
  models' calls failed for infrastructure reasons (left out of quality, so the pairs may be biased):
  re-run to retry them (:func:`incomplete`). Only pairs with the failing model wait; a third model
  freezes nothing;
- ``inferior``: every cheaper eligible candidate is inferior;
- ``undecidable``: a cheaper eligible candidate is neither (the reason says about how many examples
  would decide it at the observed difference and paired sd, :func:`examples_needed`);
- ``no-eligible``: no cheaper model is eligible;
- ``flagged``: the incumbent itself fails its rule and no eligible model is non-inferior to it: the
  model stays, the rule is flagged, and the gate fails it (:mod:`evals.policy.floors`);
- ``no-evidence`` and ``prompt``: no suite of the run can speak for the rule.

**Objective quality** (``--budget``): the eligible model with the highest quality costing at most the
budget per 1k calls; to replace an incumbent that is eligible and within the budget it must be
significantly better on every suite (paired lower bound above 0).

**Fallbacks**, for every rule decided on its evidence (:func:`evals.policy.eligibility.choose_fallbacks`):
eligible models only, at most ``max_fallbacks``, each picked first at a provider not yet in the chain,
then by quality, then by cost; current fallbacks the run cannot judge are kept after them and marked
unmeasured. A rule kept as ``unmeasured``, ``too-few``, ``retry``, ``no-evidence`` or ``prompt`` is left as
it is.

**Cascades** (objective cost, with a dev run: ``evals recommend RUN --dev-run DEVRUN``,
:func:`evals.policy.cascade_choice.choose_cascade`). A cascade is a candidate like a model: its calls
are simulated from its legs' rows (:func:`evals.policy.cascade.cascade_measures`), measured per suite
the same way, and tested with :func:`compare` against the same reference: the incumbent (a cascade in
force is measured as one), or, when the incumbent is unmeasured, the best eligible model
(:func:`best_eligible`, as ``--replace-unmeasured`` does). For each pair (a cheap leg whose answers
carry a confidence on dev, any other measured model as the strong leg) the threshold is swept on the
dev run and the cheapest non-inferior one (:func:`evals.policy.cascade.sweep`) is confirmed on the
evidence run: enough examples, no unresolved infrastructure failures, non-inferior, meeting the rule
(floor, latency, ceiling, the smallest context window of its legs) and cheaper than the reference.
The cheapest confirmed cascade replaces the single-model choice when it costs less per call than that
choice (a ``flagged`` incumbent included); the proposal carries the curve and both splits' figures.
Otherwise the rule gets the single-model choice and diff.md says why each cascade was not proposed.
A rule kept as ``unmeasured`` is left as it is, and its notes say what ``--replace-unmeasured`` would
choose, cascades included.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from evals.config.models import ModelSpec
from evals.policy.eligibility import Exclusion, Limits, choose_fallbacks, exclusion, pool
from evals.policy.evidence import Measure, aligned
from evals.report.format import fmt_delta, fmt_usd
from evals.stats import PairedDiff, noninferiority_exact, paired_difference

Kind = Literal["switched", "kept", "inferior", "undecidable", "unmeasured", "flagged", "too-few", "retry",
               "no-eligible", "no-evidence", "prompt"]
KINDS: tuple[str, ...] = ("switched", "kept", "inferior", "undecidable", "unmeasured", "flagged", "too-few", "retry",
                          "no-eligible", "no-evidence", "prompt")
UNMEASURED_REASON = ("incumbent not measured in this run: run it, or pass `--replace-unmeasured` to choose among "
                     "measured models")
Outcome = Literal["non-inferior", "inferior", "undecidable", "retry"]


def paired_test(a: np.ndarray, b: np.ndarray, margin: float, confidence: float) -> tuple[Outcome, PairedDiff, float]:
    """The paired test of scores ``b`` against ``a`` on one suite: (outcome, interval, exact p-value or NaN)."""
    d = paired_difference(a, b, confidence=confidence)
    p = noninferiority_exact(a == 1.0, b == 1.0, margin) if d.method == "tango" else math.nan
    if d.ci_high < -margin:
        return "inferior", d, p
    if d.ci_low >= -margin and (math.isnan(p) or p <= (1 - confidence) / 2):
        return "non-inferior", d, p
    return "undecidable", d, p


def examples_needed(a: np.ndarray, b: np.ndarray, margin: float, confidence: float) -> int | None:
    """About how many paired examples would decide the test, at the observed difference and spread.

    The observed pairs are stretched to n (each repeated about n / len times, so the mean difference,
    the paired sd and the share of discordant pairs stay as measured) until :func:`paired_test`, the
    test the decision uses, is no longer undecidable. None when the difference sits on the margin (no
    sample size decides it) or more than ten million examples would be needed.
    """
    diffs = b - a
    if not len(diffs) or abs(float(diffs.mean()) + margin) < 1e-9:
        return None

    def decided(n: int) -> bool:
        take = (np.arange(n) * len(diffs)) // n
        return paired_test(a[take], b[take], margin, confidence)[0] != "undecidable"

    low, high = len(diffs), 2 * len(diffs)
    while not decided(high):
        low, high = high, high * 2
        if high > 10_000_000:
            return None
    while high - low > max(1, low // 50):  # to 2%: it is an estimate
        mid = (low + high) // 2
        low, high = (low, mid) if decided(mid) else (mid, high)
    return high


@dataclass
class Verdict:
    """The paired test of ``model`` against ``against`` on each suite (:func:`compare`)."""

    model: str
    against: str
    outcome: Outcome
    diffs: dict[str, PairedDiff]
    margin: float = 0.0
    exact_p: dict[str, float] = field(default_factory=dict)
    needed: int | None = None  # examples per suite that would decide it, when undecidable
    sd: float | None = None  # the paired sd behind ``needed``
    note: str = ""

    def key_suite(self) -> str:
        """The suite that decided: inferior there, else the least favourable lower bound."""
        bad = [s for s, d in self.diffs.items() if self.outcome == "inferior" and d.ci_high < -self.margin]
        return bad[0] if bad else min(self.diffs, key=lambda s: self.diffs[s].ci_low)

    def interval(self) -> str:
        """``diff [low, high]`` of the deciding suite, named when there are several."""
        suite = self.key_suite()
        d = self.diffs[suite]
        where = f" on {suite}" if len(self.diffs) > 1 else ""
        return f"{fmt_delta(d.diff)} [{fmt_delta(d.ci_low)}, {fmt_delta(d.ci_high)}]{where}"


def incomplete(incumbent: dict[str, Measure], candidate: dict[str, Measure], suites: list[str],
               max_infra_failure_rate: float) -> str | None:
    """"re-run to retry N failed calls ..." when more than ``max_infra_failure_rate`` of the two models'
    calls on ``suites`` failed for infrastructure reasons (their examples are missing from the pairs), else None."""
    calls = sum(m[s].calls for m in (incumbent, candidate) for s in suites)
    failed = sum(m[s].infra_failures for m in (incumbent, candidate) for s in suites)
    if not calls or failed / calls <= max_infra_failure_rate:
        return None
    return (f"re-run to retry {failed} failed calls ({failed} of {calls} calls failed for infrastructure reasons, "
            f"more than max_infra_failure_rate {max_infra_failure_rate:g} in policies/gate.yaml)")


def compare(incumbent: dict[str, Measure], candidate: dict[str, Measure], suites: list[str], *, margin: float,
            confidence: float, min_examples: int, max_infra_failure_rate: float = 1.0,
            estimate_size: bool = True) -> Verdict:
    """The paired non-inferiority test of ``candidate`` against ``incumbent`` (module docstring).

    ``estimate_size`` False skips :func:`examples_needed` for an undecidable outcome (a threshold sweep
    tests dozens of points and reports the chosen one's)."""
    diffs, exact, outcomes = {}, {}, []
    needed, sd, note = None, None, ""
    for s in suites:
        a, b = aligned(incumbent[s], candidate[s])
        a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
        result, d, p = paired_test(a, b, margin, confidence)
        diffs[s], exact[s] = d, p
        if d.n < min_examples:
            result = "undecidable"
            note = f"only {d.n} examples of {s} answered by both, {min_examples} needed"
        elif result == "undecidable":
            n = examples_needed(a, b, margin, confidence) if estimate_size else None
            if needed is None or (n or math.inf) > needed:
                needed = n
                sd = float(np.std(b - a, ddof=1)) if len(a) > 1 else None
            if d.ci_low >= -margin:
                note = (f"{fmt_delta(d.diff)} [{fmt_delta(d.ci_low)}, {fmt_delta(d.ci_high)}] clears -{margin:.3f}, but "
                        f"the binomial test at the margin on its {d.discordant} discordant pairs gives p = {p:.3f} "
                        f"(> {(1 - confidence) / 2:.3f})")
        outcomes.append(result)
    outcome: Outcome = ("inferior" if "inferior" in outcomes else
                        "non-inferior" if all(o == "non-inferior" for o in outcomes) else "undecidable")
    retry = incomplete(incumbent, candidate, suites, max_infra_failure_rate)
    if retry is not None:
        outcome, note = "retry", retry
    return Verdict(candidate[suites[0]].model, incumbent[suites[0]].model, outcome, diffs, margin, exact, needed, sd,
                   note)


@dataclass
class RuleEvidence:
    """What the run says about one rule: each model's per-suite measures, and the rule's requirements."""

    suites: list[str]
    weights: dict[str, float]
    measures: dict[str, dict[str, Measure]]  # model -> suite -> measure
    specs: dict[str, ModelSpec]
    limits: Limits
    #: Models whose p95 latency the recommender may exclude on (None: every model); a local model measured
    #: on a machine busier than its cores is left out unless ``--trust-latency`` (evals.machine.latency_trust).
    latency_trusted: frozenset[str] | None = None

    def pooled(self, model: str) -> Measure:
        per_suite = self.measures[model]
        return pool({s: per_suite[s] for s in self.suites if s in per_suite}, self.weights)

    def measured(self, model: str) -> bool:
        per_suite = self.measures.get(model, {})
        return all(s in per_suite and per_suite[s].n > 0 for s in self.suites)

    def exclusions(self) -> dict[str, Exclusion]:
        out = {}
        for model, per_suite in self.measures.items():
            trusted = self.latency_trusted is None or model in self.latency_trusted
            why = exclusion(self.specs.get(model), per_suite, self.suites, self.weights, self.limits,
                            latency_trusted=trusted)
            if why is not None:
                out[model] = why
        return out


@dataclass
class Choice:
    """A rule's decision: the kind, the model, the reason, and the fallback chain (None: left as it is)."""

    kind: Kind
    model: str
    reason: str
    fallbacks: list[str] | None = None
    verdicts: dict[str, Verdict] = field(default_factory=dict)
    excluded: dict[str, Exclusion] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def decided(self) -> bool:
        """True when the rule was judged on its evidence (its fallbacks and evidence are new)."""
        return self.fallbacks is not None


def _cheaper_by(inc: Measure, new: Measure) -> str:
    if inc.cost_per_call is None or new.cost_per_call is None:
        return ""
    return f" and cheaper by {fmt_usd(1000 * (inc.cost_per_call - new.cost_per_call))} per 1k calls"


def _by_cost(models: list[str], ev: RuleEvidence) -> list[str]:
    def key(m: str) -> tuple[float, float, str]:
        p = ev.pooled(m)
        return (p.cost_per_call if p.cost_per_call is not None else math.inf, -p.quality, m)

    return sorted(models, key=key)


def _kept_reason(verdicts: list[Verdict], incumbent: str, margin: float) -> tuple[Kind, str]:
    retry = [v for v in verdicts if v.outcome == "retry"]
    if retry:
        return "retry", retry[0].note + (f" ({retry[0].model} against {incumbent})" if len(verdicts) > 1 else "")
    undecided = [v for v in verdicts if v.outcome == "undecidable"]
    if not undecided:
        shown = "; ".join(f"{v.model} {v.interval()}" for v in verdicts)
        return "inferior", f"cheaper models are inferior to {incumbent} (below -{margin:.3f}): {shown}"
    v = undecided[0]
    why = v.note or f"{v.interval()} straddles -{margin:.3f}"
    size = (f"; about {v.needed:,} examples per suite would decide it" + (f" (paired sd {v.sd:.2f})" if v.sd else "")
            if v.needed else "; no sample size decides a difference this close to the margin")
    others = len(verdicts) - 1
    more = f"; {others} other cheaper model{'s' if others > 1 else ''} not shown non-inferior either" if others else ""
    return "undecidable", f"cannot tell {v.model} from {incumbent}: {why}{size}{more}"


def _cost_choice(ev: RuleEvidence, incumbent: str, eligible: list[str], excluded: dict[str, Exclusion], *,
                 margin: float, confidence: float) -> Choice:
    inc = ev.pooled(incumbent)
    inc_ok = incumbent not in excluded
    pool_ = [m for m in eligible if m != incumbent]
    if inc_ok:
        pool_ = [m for m in pool_ if inc.cost_per_call is not None and ev.pooled(m).cost_per_call is not None
                 and ev.pooled(m).cost_per_call < inc.cost_per_call]
    verdicts: dict[str, Verdict] = {}
    for m in _by_cost(pool_, ev):
        v = compare(ev.measures[incumbent], ev.measures[m], ev.suites, margin=margin, confidence=confidence,
                    min_examples=ev.limits.min_examples, max_infra_failure_rate=ev.limits.max_infra_failure_rate)
        verdicts[m] = v
        if v.outcome == "non-inferior":
            new = ev.pooled(m)
            if inc_ok:
                why = f"{m} is non-inferior to {incumbent} within {margin:.3f} ({v.interval()}){_cheaper_by(inc, new)}"
            else:
                why = (f"{incumbent} fails its rule ({excluded[incumbent].text}); {m} meets it and is non-inferior "
                       f"within {margin:.3f} ({v.interval()})")
            return Choice("switched", m, f"switched: {why}", verdicts=verdicts)
    if not inc_ok:
        tail = ("no model that meets the rule is non-inferior to it" if verdicts else "no measured model meets the rule")
        return Choice("flagged", incumbent, f"flagged: {incumbent} fails its rule ({excluded[incumbent].text}); {tail}",
                      verdicts=verdicts)
    if not verdicts:
        if inc.cost_per_call is None:
            return Choice("no-eligible", incumbent, f"kept: {incumbent}'s price is unknown, so no model can be shown "
                                                    "cheaper", verdicts=verdicts)
        cheaper = [m for m in excluded if m in ev.measures and ev.pooled(m).cost_per_call is not None
                   and ev.pooled(m).cost_per_call < inc.cost_per_call]
        why = "; ".join(f"{m}: {excluded[m].text}" for m in _by_cost(cheaper, ev))
        return Choice("no-eligible", incumbent, "kept: no cheaper model meets the rule" + (f" ({why})" if why else ""),
                      verdicts=verdicts)
    kind, why = _kept_reason(list(verdicts.values()), incumbent, margin)
    return Choice(kind, incumbent, f"kept: {why}", verdicts=verdicts)


def best_eligible(ev: RuleEvidence, eligible: list[str]) -> str:
    """The eligible model with the best quality (ties: the cheaper, then by name): the reference when the
    incumbent is unmeasured."""
    return max(eligible, key=lambda m: (ev.pooled(m).quality, -(ev.pooled(m).cost_per_call or math.inf), m))


def _unmeasured_choice(ev: RuleEvidence, incumbent: str, eligible: list[str], *, margin: float,
                       confidence: float) -> Choice:
    """``--replace-unmeasured``: the cheapest eligible model non-inferior to the best eligible one."""
    if not eligible:
        return Choice("unmeasured", incumbent, f"kept: incumbent {incumbent} not measured in this run and no measured "
                                               "model meets the rule (--replace-unmeasured)")
    best = best_eligible(ev, eligible)
    verdicts: dict[str, Verdict] = {}
    for m in _by_cost(eligible, ev):
        if m == best:
            break
        v = compare(ev.measures[best], ev.measures[m], ev.suites, margin=margin, confidence=confidence,
                    min_examples=ev.limits.min_examples, max_infra_failure_rate=ev.limits.max_infra_failure_rate)
        verdicts[m] = v
        if v.outcome == "non-inferior":
            return Choice("switched", m, f"switched: incumbent {incumbent} not measured (--replace-unmeasured); {m} "
                                         f"is the cheapest eligible model non-inferior to the best measured, {best} "
                                         f"({v.interval()})", verdicts=verdicts)
    return Choice("switched", best, f"switched: incumbent {incumbent} not measured (--replace-unmeasured); {best} "
                                    "has the best eligible quality and no cheaper model is shown non-inferior to it",
                  verdicts=verdicts)


def _quality_choice(ev: RuleEvidence, incumbent: str, eligible: list[str], excluded: dict[str, Exclusion],
                    budget: float | None, *, confidence: float) -> Choice:
    within = f" within {fmt_usd(budget)}/1k calls" if budget is not None else ""
    if not ev.measured(incumbent):  # --replace-unmeasured
        within += f" (incumbent {incumbent} not measured, --replace-unmeasured)"
    pool_ = list(eligible)
    if budget is not None:
        pool_ = [m for m in pool_ if ev.pooled(m).cost_per_1k is not None and ev.pooled(m).cost_per_1k <= budget]
    if not pool_:
        none = "no model meets the rule" + (f" at most {fmt_usd(budget)}/1k calls" if budget is not None else "")
        if incumbent in excluded:
            return Choice("flagged", incumbent, f"flagged: {incumbent} fails its rule ({excluded[incumbent].text}); "
                                                f"{none}")
        kind: Kind = "unmeasured" if not ev.measured(incumbent) else "no-eligible"
        return Choice(kind, incumbent, f"kept: {none}")
    best = max(pool_, key=lambda m: (ev.pooled(m).quality, -(ev.pooled(m).cost_per_call or math.inf)))
    if best == incumbent:
        return Choice("kept", incumbent, f"kept: best eligible quality{within}")
    if incumbent in pool_:
        retry = incomplete(ev.measures[incumbent], ev.measures[best], ev.suites, ev.limits.max_infra_failure_rate)
        if retry is not None:
            return Choice("retry", incumbent, f"kept: {retry}")
        diffs = {s: paired_difference(*aligned(ev.measures[incumbent][s], ev.measures[best][s]), confidence=confidence)
                 for s in ev.suites}
        if not all(d.ci_low > 0 for d in diffs.values()):
            v = Verdict(best, incumbent, "undecidable", diffs)
            return Choice("undecidable", incumbent, f"kept: {best} is not significantly better than {incumbent} "
                                                    f"({v.interval()})", verdicts={best: v})
    return Choice("switched", best, f"switched: best eligible quality{within}")


def decide(ev: RuleEvidence, incumbent: str, current_fallbacks: list[str], *, objective: str = "cost",
           budget: float | None = None, margin: float, confidence: float, max_fallbacks: int,
           replace_unmeasured: bool = False) -> Choice:
    """Apply the decision rule (module docstring) to one rule's evidence."""
    excluded = ev.exclusions()
    eligible = [m for m in ev.measures if m not in excluded]
    if not ev.measured(incumbent):
        if not replace_unmeasured:
            choice = Choice("unmeasured", incumbent, f"kept: {UNMEASURED_REASON}")
            choice.notes = [f"fallback {f} would be dropped once {incumbent} is measured: {excluded[f].text}"
                            for f in current_fallbacks if f in excluded and excluded[f].kind == "constraint"]
            choice.excluded = excluded
            return choice
        choice = (_quality_choice(ev, incumbent, eligible, excluded, budget, confidence=confidence)
                  if objective == "quality" else
                  _unmeasured_choice(ev, incumbent, eligible, margin=margin, confidence=confidence))
    elif incumbent in excluded and excluded[incumbent].kind == "evidence":
        return Choice("too-few", incumbent, f"kept: {incumbent} has {excluded[incumbent].text} to change a rule "
                                            "(run more examples or lower min_examples in policies/gate.yaml)",
                      excluded=excluded)
    elif objective == "quality":
        choice = _quality_choice(ev, incumbent, eligible, excluded, budget, confidence=confidence)
    else:
        choice = _cost_choice(ev, incumbent, eligible, excluded, margin=margin, confidence=confidence)
    if choice.kind in ("unmeasured", "retry"):  # nothing judged: the rule stays as it is
        choice.excluded = excluded
        return choice
    pooled = {m: ev.pooled(m) for m in ev.measures}
    choice.fallbacks, notes = choose_fallbacks(choice.model, eligible, pooled, ev.specs, current_fallbacks, excluded,
                                               max_fallbacks)
    choice.notes += notes
    choice.excluded = excluded
    return choice


__all__ = ["Choice", "KINDS", "Kind", "RuleEvidence", "UNMEASURED_REASON", "Verdict", "best_eligible", "compare", "decide",
           "examples_needed", "incomplete", "paired_test"]
