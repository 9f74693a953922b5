"""``evals recommend``: compile a run into a proposed policy and a rule-by-rule diff.

For every rule (and the default) the suites whose ``shape`` routes there are pooled. A candidate is
eligible when the lower bound of its quality interval clears the floor, its p95 latency meets the
requirement, its expected cost per call is under the ceiling and its context window fits. Then:

* objective ``cost`` (default): the cheapest eligible model whose paired difference to the best
  eligible model has a lower bound above ``-tolerance`` (non-inferior);
* objective ``quality``: the best eligible model costing at most ``budget`` per 1k calls.

A rule keeps its current model, and says why, when the run has too few examples, nothing is eligible,
or the evidence cannot separate the candidate from the incumbent. Fallbacks prefer another provider.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import yaml

from evals.config.models import ModelsFile, ModelSpec, load_models
from evals.config.policy import Evidence, Policy, PolicySettings, Rule, Source, Target, load_settings
from evals.config.suite import SuiteSpec
from evals.errors import UsageError
from evals.machine import latency_trust
from evals.metrics import baseline_flags
from evals.policy.checks import context_bucket, load_checked_policy
from evals.policy.diff import CandidateRow, RuleRow, Spend, project_spend, render_diff, traffic_from_log
from evals.policy.evidence import DEFAULT_ID, Measure, RunData, aligned, load_run, measure, route_slot, suite_specs
from evals.project import Project
from evals.report.recommendation import with_headline
from evals.runner.store import write_text_atomic
from evals.stats import paired_bootstrap

Objective = Literal["cost", "quality"]


@dataclass
class RecommendOptions:
    """How to choose; ``None`` takes the value from ``policies/gate.yaml``."""

    objective: Objective = "cost"
    budget_per_1k_usd: float | None = None
    tolerance: float | None = None
    min_examples: int | None = None
    routing_log: Path | None = None
    trust_latency: bool = False  # exclude on a local model's latency even when the machine was busier than its cores


@dataclass
class Decision:
    """What the recommender decided for one rule, and on what."""

    rule_id: str
    suites: list[str]
    current: Target
    proposed: Target
    reason: str
    measures: dict[str, Measure] = field(default_factory=dict)
    excluded: dict[str, str] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return (self.current.model, self.current.fallbacks) != (self.proposed.model, self.proposed.fallbacks)


@dataclass
class Recommendation:
    run: RunData
    current: Policy
    proposal: Policy
    decisions: list[Decision]
    spend: Spend
    diff_markdown: str
    proposal_path: Path | None = None
    diff_path: Path | None = None


def provider_key(spec: ModelSpec) -> str:
    """Models sharing this key fail together (same provider and endpoint)."""
    return f"{spec.provider}@{spec.base_url or ''}"


@dataclass
class _Slot:
    rule_id: str
    target: Target
    suites: list[SuiteSpec]

    @property
    def rule(self) -> Rule | None:
        return self.target if isinstance(self.target, Rule) else None


def _floor(slot: _Slot) -> float:
    rule = slot.rule
    if rule is not None and rule.require.quality_floor is not None:
        return rule.require.quality_floor
    return max(s.quality_floor for s in slot.suites)


def _limit(rule_value: float | None, shape_values: list[float | None]) -> float | None:
    if rule_value is not None:
        return rule_value
    given = [v for v in shape_values if v is not None]
    return min(given) if given else None


def _exclusion(m: Measure, spec: ModelSpec | None, slot: _Slot, floor: float, latency_ok: bool = True) -> str | None:
    """Why ``m`` is not eligible for ``slot``, or None."""
    if spec is None:
        return "not in policies/models.yaml"
    rule = slot.rule
    bucket = context_bucket(rule.when) if rule is not None else None
    need = max([bucket or 0, m.max_context_tokens, *(s.shape.context_tokens for s in slot.suites)])
    if spec.context_window < need:
        return f"context window {spec.context_window} < {need} tokens needed"
    latency = _limit(rule.require.p95_latency_ms if rule else None, [s.shape.latency_ms for s in slot.suites])
    if latency_ok and latency is not None and (m.p95_ms is None or m.p95_ms > latency):
        return f"p95 latency {m.p95_ms:.0f} ms > {latency:.0f} ms required" if m.p95_ms is not None else "no latency"
    ceiling = _limit(rule.require.max_cost_per_call_usd if rule else None, [s.shape.cost_ceiling_usd for s in slot.suites])
    if ceiling is not None and (m.cost_per_call is None or m.cost_per_call > ceiling):
        return ("unknown price, ceiling cannot be checked" if m.cost_per_call is None
                else f"cost per call ${m.cost_per_call:.6f} > ceiling ${ceiling:.6f}")
    if math.isnan(m.ci[0]) or m.ci[0] < floor:
        return f"quality {m.quality:.3f} [{m.ci[0]:.3f}, {m.ci[1]:.3f}]: lower bound below the floor {floor:.2f}"
    return None


def _cost_key(m: Measure) -> tuple[float, float]:
    return (m.cost_per_call if m.cost_per_call is not None else math.inf, -m.quality)


def _evidence(run: RunData, slot: _Slot, m: Measure, floor: float, reason: str,
              fallbacks: list[Measure]) -> Evidence:
    s = m.score()
    return Evidence(run_id=run.run_id, suite=",".join(x.name for x in slot.suites), model=m.model, variant=m.variant,
                    quality=s.quality, quality_ci=s.quality_ci, cost_per_1k_usd=s.cost_per_1k_usd,
                    p95_latency_ms=s.p95_latency_ms, n=m.n, floor=floor, results_sha256=run.results_sha256,
                    reason=reason, fallbacks=[f.score() for f in fallbacks])


def _choose(measures: dict[str, Measure], eligible: list[str], incumbent: str, settings: PolicySettings,
            options: RecommendOptions, tolerance: float) -> tuple[str | None, str]:
    """The model to route to (None: keep the incumbent) and why."""
    pool = [measures[m] for m in eligible]
    inc = measures.get(incumbent)
    if options.objective == "quality":
        budget = options.budget_per_1k_usd
        if budget is not None:
            pool = [m for m in pool if m.cost_per_1k is not None and m.cost_per_1k <= budget]
            if not pool:
                return None, f"no eligible model costs at most ${budget}/1k calls"
        best = max(pool, key=lambda m: (m.quality, -_cost_key(m)[0]))
        if best.model == incumbent:
            return incumbent, "best eligible quality" + (f" within ${budget}/1k" if budget is not None else "")
        if inc is not None and inc in pool:
            d = paired_bootstrap(*aligned(inc, best), confidence=settings.confidence)
            if not d.ci_low > 0:
                return None, (f"{best.model} is not significantly better than {incumbent} "
                              f"({d.diff:+.3f} [{d.ci_low:+.3f}, {d.ci_high:+.3f}])")
        return best.model, "best eligible quality" + (f" within ${budget}/1k" if budget is not None else "")
    best = max(pool, key=lambda m: (m.quality, -_cost_key(m)[0]))
    chosen, why = best, "best eligible quality"
    for rank, m in enumerate(sorted(pool, key=_cost_key)):
        if m.model == best.model:
            why += ", and the cheapest eligible" if rank == 0 else f"; {rank} cheaper models were inferior"
            break
        d = paired_bootstrap(*aligned(best, m), confidence=settings.confidence)
        if d.ci_low >= -tolerance:
            chosen = m
            why = (f"cheapest non-inferior to {best.model} within {tolerance:.3f} "
                   f"({d.diff:+.3f} [{d.ci_low:+.3f}, {d.ci_high:+.3f}])")
            break
    if chosen.model != incumbent and inc is not None and incumbent in eligible:
        if _cost_key(inc)[0] <= _cost_key(chosen)[0]:
            d = paired_bootstrap(*aligned(inc, chosen), confidence=settings.confidence)
            if not d.ci_low > 0:
                return None, (f"{chosen.model} costs more and is not significantly better than {incumbent} "
                              f"({d.diff:+.3f} [{d.ci_low:+.3f}, {d.ci_high:+.3f}]): intervals overlap")
            why = f"{incumbent} is significantly worse ({d.diff:+.3f} [{d.ci_low:+.3f}, {d.ci_high:+.3f}])"
    return chosen.model, why


def _infra_refusal(measures: dict[str, Measure], settings: PolicySettings) -> str | None:
    """Why a rule must keep its model while its evidence has unresolved infrastructure failures, or None."""
    failed = sum(m.infra_failures for m in measures.values())
    calls = sum(m.calls for m in measures.values())
    if calls and failed / calls > settings.max_infra_failure_rate:
        return (f"kept: re-run to retry {failed} failed calls ({failed} of {calls} calls failed for infrastructure "
                f"reasons, more than max_infra_failure_rate {settings.max_infra_failure_rate:g} in policies/gate.yaml)")
    return None


def _fallbacks(chosen: str, measures: dict[str, Measure], eligible: list[str], models: ModelsFile,
               excluded: dict[str, str], limit: int) -> tuple[list[str], str]:
    main = provider_key(models.get(chosen))
    pool = [m for m in measures if m != chosen and m in models.ids and not excluded.get(m, "").startswith("context")]
    pool.sort(key=lambda m: (m not in eligible, provider_key(models.get(m)) == main, -measures[m].quality))
    picked = pool[:limit]
    note = ""
    if picked and all(provider_key(models.get(m)) == main for m in picked):
        note = "; no fallback at another provider was measured"
    elif not picked and limit:
        note = "; no fallback measured"
    return picked, note


def _decide(slot: _Slot, run: RunData, models: ModelsFile, settings: PolicySettings, options: RecommendOptions,
            tolerance: float, min_examples: int) -> Decision:
    current = slot.target
    if not slot.suites:
        return Decision(slot.rule_id, [], current, current, "kept: no suite of this run routes to this rule")
    names = [s.name for s in slot.suites]
    floor = _floor(slot)
    measures: dict[str, Measure] = {}
    for model in sorted(set(run.frame.loc[run.frame["suite"].isin(names), "model"])):
        m = measure(run.frame, names, model, confidence=settings.confidence)
        if m is not None:
            measures[model] = m
    spec_of = {m.id: m for m in models.models}
    excluded = {k: why for k, m in measures.items() if (why := _exclusion(
        m, spec_of.get(k), slot, floor, options.trust_latency or latency_trust(run.manifest, spec_of.get(k))[0]))}
    eligible = [k for k in measures if k not in excluded]

    def keep(reason: str) -> Decision:
        inc = measures.get(current.model)
        fb = [measures[f] for f in current.fallbacks if f in measures]
        evidence = _evidence(run, slot, inc, floor, reason, fb) if inc is not None else current.evidence
        return Decision(slot.rule_id, names, current, current.model_copy(update={"evidence": evidence}), reason,
                        measures, excluded)

    refusal = _infra_refusal(measures, settings)
    if refusal is not None:
        return keep(refusal)
    n = min((m.n for m in measures.values()), default=0)
    if n < min_examples:
        return keep(f"kept: only {n} examples per model, {min_examples} needed to change a rule "
                    "(run more examples or lower min_examples in policies/gate.yaml)")
    if not eligible:
        return keep("kept: no model meets the constraints: " + "; ".join(f"{k}: {v}" for k, v in excluded.items()))
    chosen, why = _choose(measures, eligible, current.model, settings, options, tolerance)
    if chosen is None:
        return keep(f"kept: {why}")
    fallbacks, note = _fallbacks(chosen, measures, eligible, models, excluded, settings.max_fallbacks)
    verb = "kept" if chosen == current.model else "switched"
    reason = f"{verb}: {why}{note}"
    evidence = _evidence(run, slot, measures[chosen], floor, reason, [measures[f] for f in fallbacks])
    proposed = current.model_copy(update={"model": chosen, "fallbacks": fallbacks, "evidence": evidence})
    return Decision(slot.rule_id, names, current, proposed, reason, measures, excluded)


def _row(d: Decision, settings: PolicySettings) -> Any:
    cur, new = d.measures.get(d.current.model), d.measures.get(d.proposed.model)
    change = None
    if cur is not None and new is not None:
        change = paired_bootstrap(*aligned(cur, new), confidence=settings.confidence)
    return RuleRow(
        rule=d.rule_id, suites=d.suites, current_model=d.current.model, proposed_model=d.proposed.model,
        current_fallbacks=list(d.current.fallbacks), proposed_fallbacks=list(d.proposed.fallbacks),
        current_quality=cur.quality if cur else None, proposed_quality=new.quality if new else None,
        quality_change=change, current_cost_per_1k=cur.cost_per_1k if cur else None,
        proposed_cost_per_1k=new.cost_per_1k if new else None, current_p95_ms=cur.p95_ms if cur else None,
        proposed_p95_ms=new.p95_ms if new else None, reason=d.reason,
    )


def _spend(decisions: list[Decision], current: Policy, options: RecommendOptions, weights: dict[str, float]) -> Spend:
    def per_call(d: Decision, target: Target) -> float | None:
        m = d.measures.get(target.model)
        if m is not None:
            return m.cost_per_call
        ev = target.evidence
        if ev is not None and ev.model in (None, target.model) and ev.cost_per_1k_usd is not None:
            return ev.cost_per_1k_usd / 1000
        return None

    cur = {d.rule_id: per_call(d, d.current) for d in decisions}
    new = {d.rule_id: per_call(d, d.proposed) for d in decisions}
    if options.routing_log is not None:
        if not options.routing_log.is_file():
            raise UsageError(f"routing log {options.routing_log} not found (--routing-log)")
        calls, observed, notes = traffic_from_log(options.routing_log, current)
        for rule, spent in observed.items():
            if cur.get(rule) is None and calls.get(rule):
                cur[rule] = spent / calls[rule]
        spend = project_spend(calls, cur, new, f"routing log {options.routing_log.name}")
        spend.notes += notes
        return spend
    return project_spend({k: v for k, v in weights.items() if v}, cur, new, "suite weekly_calls")


def _whole(value: Any) -> Any:
    """Write 8000.0 as 8000 in conditions and requirements."""
    if isinstance(value, dict):
        return {k: _whole(v) for k, v in value.items()}
    return int(value) if isinstance(value, float) and value.is_integer() else value


def dump_policy(policy: Policy, header: str) -> str:
    """YAML text of a policy, rules written id first, with a comment header."""
    data = policy.model_dump(mode="json", exclude_defaults=True)
    data = {"format_version": policy.format_version, **data}
    order = ["id", "description", "when", "require", "model", "prompt", "fallbacks", "evidence"]
    data["rules"] = [{k: _whole(r[k]) if k in ("when", "require") else r[k] for k in order if k in r}
                     for r in data.get("rules", [])]
    data.setdefault("rules", [])
    lines = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
    return lines + yaml.safe_dump(data, sort_keys=False, width=110, allow_unicode=True)


def recommend(project: Project, run: str = "latest", options: RecommendOptions | None = None) -> Recommendation:
    """Compile run ``run`` into ``reports/<run-id>/proposal.yaml`` and ``diff.md``."""
    options = options or RecommendOptions()
    if options.objective not in ("cost", "quality"):
        raise UsageError(f"unknown objective {options.objective!r}; use cost or quality")
    if options.budget_per_1k_usd is not None and options.objective != "quality":
        raise UsageError("--budget applies to --objective quality")
    settings = load_settings(project.root / "policies" / "gate.yaml")
    tolerance = settings.quality_tolerance if options.tolerance is None else options.tolerance
    min_examples = settings.min_examples if options.min_examples is None else options.min_examples
    models = load_models(project.models_file)
    if not project.policy_file.is_file():
        raise UsageError(f"{project.policy_file} not found; write a starting policy first (see README)")
    current = load_checked_policy(project.policy_file, models)
    data = load_run(project, run)
    specs = suite_specs(project)
    by_slot: dict[str, list[SuiteSpec]] = {rule_id: [] for rule_id, _ in current.targets()}
    weights: dict[str, float] = {}
    for name in sorted(set(data.frame["suite"])):
        if name not in specs:
            continue
        slot = route_slot(current, specs[name].shape)
        by_slot[slot].append(specs[name])
        weights[slot] = weights.get(slot, 0.0) + specs[name].weekly_calls
    decisions = [_decide(_Slot(rule_id, target, by_slot[rule_id]), data, models, settings, options, tolerance,
                         min_examples) for rule_id, target in current.targets()]
    proposed = {d.rule_id: d.proposed for d in decisions}
    proposal = Policy(
        source=Source(run_id=data.run_id, results_sha256=data.results_sha256,
                      created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"), objective=options.objective,
                      base_policy_sha256=current.content_sha256()),
        rules=[proposed[r.id] for r in current.rules], default=proposed[DEFAULT_ID],
    )
    spend = _spend(decisions, current, options, weights)
    rows = [_row(d, settings) for d in decisions]
    candidates = [
        CandidateRow(d.rule_id, m.model, m.variant, m.n, m.quality, m.ci, m.cost_per_1k, m.p95_ms,
                     "chosen" if m.model == d.proposed.model else f"excluded: {d.excluded[m.model]}"
                     if m.model in d.excluded else "eligible",
                     baseline_flags(m.scores, data.baselines, confidence=settings.confidence))
        for d in decisions for m in d.measures.values()
    ]
    markdown = render_diff(rows, spend, run_id=data.run_id, candidates=candidates)
    markdown = with_headline(markdown, current, proposal, manifest=data.manifest, models={m.id: m for m in models.models})
    header = (f"Proposed routing policy, compiled by `evals recommend` from run {data.run_id}.\n"
              f"Review diff.md beside this file, then: evals approve reports/{data.folder.name}/proposal.yaml --by NAME")
    proposal_path, diff_path = data.folder / "proposal.yaml", data.folder / "diff.md"
    write_text_atomic(proposal_path, dump_policy(proposal, header))
    write_text_atomic(diff_path, markdown)
    return Recommendation(data, current, proposal, decisions, spend, markdown, proposal_path, diff_path)
