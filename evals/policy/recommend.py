"""``evals recommend``: compile a run into a proposed policy and a rule-by-rule diff.

The decision rule is written down once, in :mod:`evals.policy.decide`; this module gathers each
rule's evidence from a run (the suites linked to it, each model measured on each suite), applies the
rule, and writes ``reports/<run-id>/proposal.yaml`` and ``diff.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import yaml

from evals.config.models import ModelsFile, load_models
from evals.config.policy import Evidence, Policy, PolicySettings, Rule, Source, Target, load_settings
from evals.config.suite import SuiteSpec
from evals.errors import UsageError
from evals.metrics import baseline_flags
from evals.policy.checks import context_bucket, load_checked_policy
from evals.policy.decide import Choice, RuleEvidence, Verdict, decide
from evals.policy.diff import CandidateRow, RuleRow, Spend, project_spend, render_diff, traffic_from_log
from evals.policy.eligibility import Limits, provider_key, suite_measures
from evals.policy.evidence import DEFAULT_ID, Measure, RunData, load_run, rule_suites, suite_specs
from evals.policy.requirements import proposal_requirements
from evals.project import Project
from evals.runner.store import write_text_atomic

Objective = Literal["cost", "quality"]

__all__ = ["Decision", "Recommendation", "RecommendOptions", "dump_policy", "provider_key", "recommend"]


@dataclass
class RecommendOptions:
    """How to choose; ``None`` takes the value from ``policies/gate.yaml``."""

    objective: Objective = "cost"
    budget_per_1k_usd: float | None = None
    tolerance: float | None = None
    min_examples: int | None = None
    routing_log: Path | None = None
    replace_unmeasured: bool = False


@dataclass
class Decision:
    """What the recommender decided for one rule, on what, and why (``kind``: :data:`evals.policy.decide.KINDS`)."""

    rule_id: str
    suites: list[str]
    current: Target
    proposed: Target
    reason: str
    kind: str = "no-evidence"
    measures: dict[str, Measure] = field(default_factory=dict)  # model -> the rule's figures (traffic-weighted)
    excluded: dict[str, str] = field(default_factory=dict)
    verdicts: dict[str, Verdict] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # warnings shown in diff.md under the rule
    unmeasured: list[str] = field(default_factory=list)  # proposed fallbacks the run could not judge

    @property
    def changed(self) -> bool:
        fields = ("model", "prompt", "fallbacks")
        return [getattr(self.current, f) for f in fields] != [getattr(self.proposed, f) for f in fields]


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


def _limits(target: Target, suites: list[SuiteSpec], min_examples: int, settings: PolicySettings) -> Limits:
    rule = target if isinstance(target, Rule) else None

    def limit(rule_value: float | None, shape_values: list[float | None]) -> float | None:
        if rule_value is not None:
            return rule_value
        given = [v for v in shape_values if v is not None]
        return min(given) if given else None

    floor = rule.require.quality_floor if rule is not None else None
    bucket = context_bucket(rule.when) if rule is not None else None
    return Limits(
        floor=floor if floor is not None else max(s.quality_floor for s in suites),
        p95_ms=limit(rule.require.p95_latency_ms if rule else None, [s.shape.latency_ms for s in suites]),
        ceiling_usd=limit(rule.require.max_cost_per_call_usd if rule else None,
                          [s.shape.cost_ceiling_usd for s in suites]),
        context_tokens=int(max([bucket or 0, *(s.shape.context_tokens for s in suites)])),
        min_examples=min_examples, max_infra_failure_rate=settings.max_infra_failure_rate,
    )


def _links(rule_id: str, target: Target, suites: list[SuiteSpec]) -> tuple[str | None, str | None, list[str]]:
    """(the prompt the evidence was measured with, why the evidence cannot change the rule, warnings)."""
    warnings = []
    shows = repr(target.prompt) if target.prompt is not None else "no prompt"
    for s in suites:
        if s.rule is None:
            text = f"suite {s.name} is evidence for this rule by its shape only (no `rule:` in its suite.yaml)"
            if s.prompt != target.prompt:
                text += f", and it renders prompt {s.prompt!r} where the rule ships {shows}"
            warnings.append(text)
    prompts = sorted({s.prompt for s in suites})
    if prompts == [target.prompt]:
        return target.prompt, None, warnings
    if len(prompts) == 1 and all(s.rule == rule_id for s in suites):
        return prompts[0], None, warnings
    stray = [s for s in suites if s.rule is None and s.prompt != target.prompt]
    if stray:
        s = stray[0]
        return None, (f"kept: the evidence was measured with prompt {s.prompt!r} (suite {s.name}, matched by shape), "
                      f"the rule ships {shows}: add `rule: {rule_id}` to the suite to propose both"), warnings
    return None, (f"kept: its suites were measured with prompts {', '.join(map(repr, prompts))}, the rule ships "
                  f"{shows}; one prompt per rule"), warnings


def _small_suite_notes(run: RunData, suites: list[str]) -> list[str]:
    """The runner's power warnings (aggregates ``min_detectable_difference`` notes) for these suites."""
    from evals.aggregates import read_aggregates

    if not (run.folder / "aggregates.parquet").is_file():
        return []
    try:
        frame = read_aggregates(run.folder)
    except UsageError:
        return []
    rows = frame[(frame["metric"] == "min_detectable_difference") & (frame["slice"] == "all")
                 & frame["suite"].isin(suites) & frame["note"].notna()]
    notes: dict[tuple[str, str], list[str]] = {}
    for r in rows.itertuples():
        notes.setdefault((r.suite, str(r.note)), []).append(r.model)
    return [f"{suite} ({', '.join(sorted(models))}): {note}" for (suite, note), models in notes.items()]


def _evidence(run: RunData, suites: list[str], m: Measure, floor: float, reason: str,
              fallbacks: list[Measure]) -> Evidence:
    s = m.score()
    return Evidence(run_id=run.run_id, suite=",".join(suites), model=m.model, variant=m.variant,
                    quality=s.quality, quality_ci=s.quality_ci, cost_per_1k_usd=s.cost_per_1k_usd,
                    p95_latency_ms=s.p95_latency_ms, n=m.n, floor=floor, results_sha256=run.results_sha256,
                    reason=reason, fallbacks=[f.score() for f in fallbacks])


def _decide(rule_id: str, current: Target, suites: list[SuiteSpec], run: RunData, models: ModelsFile,
            settings: PolicySettings, options: RecommendOptions, tolerance: float, min_examples: int) -> Decision:
    names = [s.name for s in suites]
    if not suites:
        return Decision(rule_id, [], current, current, "kept: no suite of this run is evidence for this rule")
    prompt, problem, notes = _links(rule_id, current, suites)
    notes += _small_suite_notes(run, names)
    per_model = {model: suite_measures(run.frame, names, model, confidence=settings.confidence)
                 for model in sorted(set(run.frame.loc[run.frame["suite"].isin(names), "model"]))}
    limits = _limits(current, suites, min_examples, settings)
    weights = {s.name: s.weekly_calls for s in suites}
    ev = RuleEvidence(names, weights, per_model, {m.id: m for m in models.models}, limits)
    pooled = {m: ev.pooled(m) for m in per_model}  # = rule_measure(run.frame, names, m, weights), what approve checks
    if problem is not None:
        return Decision(rule_id, names, current, current, problem, "prompt", pooled, notes=notes)
    choice: Choice = decide(ev, current.model, list(current.fallbacks), objective=options.objective,
                            budget=options.budget_per_1k_usd, margin=tolerance, confidence=settings.confidence,
                            max_fallbacks=settings.max_fallbacks, replace_unmeasured=options.replace_unmeasured)
    excluded = {m: why.text for m, why in choice.excluded.items()}
    chain = choice.fallbacks if choice.decided else list(current.fallbacks)
    unmeasured = [f for f in chain if not ev.measured(f) or getattr(choice.excluded.get(f), "kind", "") == "evidence"]
    if not choice.decided:
        return Decision(rule_id, names, current, current, choice.reason, choice.kind, pooled, excluded,
                        choice.verdicts, notes + choice.notes, unmeasured)
    fallbacks = choice.fallbacks or []
    reason = choice.reason + "".join(f"; {n}" for n in choice.notes)
    update: dict[str, Any] = {"model": choice.model, "fallbacks": fallbacks}
    if (choice.model, fallbacks) != (current.model, list(current.fallbacks)) and prompt != current.prompt:
        update["prompt"] = prompt
        reason += f"; prompt {prompt!r}, the one its evidence was measured with, proposed with it"
    elif prompt != current.prompt:
        notes.append(f"the evidence was measured with prompt {prompt!r}; the rule keeps {current.prompt!r}")
    scored = [pooled[f] for f in fallbacks if f in pooled]
    update["evidence"] = _evidence(run, names, pooled[choice.model], limits.floor, reason, scored)
    return Decision(rule_id, names, current, current.model_copy(update=update), reason, choice.kind, pooled,
                    excluded, choice.verdicts, notes, unmeasured)


def _row(d: Decision) -> RuleRow:
    cur, new = d.measures.get(d.current.model), d.measures.get(d.proposed.model)
    verdict = d.verdicts.get(d.proposed.model) if d.proposed.model != d.current.model else None
    change = verdict.diffs[verdict.key_suite()] if verdict is not None else None
    return RuleRow(
        rule=d.rule_id, suites=d.suites, current_model=d.current.model, proposed_model=d.proposed.model,
        current_fallbacks=list(d.current.fallbacks), proposed_fallbacks=list(d.proposed.fallbacks),
        current_quality=cur.quality if cur else None, proposed_quality=new.quality if new else None,
        quality_change=change, current_cost_per_1k=cur.cost_per_1k if cur else None,
        proposed_cost_per_1k=new.cost_per_1k if new else None, current_p95_ms=cur.p95_ms if cur else None,
        proposed_p95_ms=new.p95_ms if new else None, reason=d.reason, kind=d.kind, notes=list(d.notes),
        unmeasured_fallbacks=list(d.unmeasured), prompt_change=(d.current.prompt, d.proposed.prompt)
        if d.current.prompt != d.proposed.prompt else None,
    )


def _status(d: Decision, model: str) -> str:
    v = d.verdicts.get(model)
    test = f"{v.outcome} vs {v.against}: {v.interval()}" if v is not None else ""
    if model == d.proposed.model:
        status = "chosen" if model != d.current.model else ("incumbent, flagged" if d.kind == "flagged" else "incumbent")
    elif model in d.proposed.fallbacks:
        status = f"fallback {d.proposed.fallbacks.index(model) + 1}"
    elif model in d.excluded:
        return f"excluded: {d.excluded[model]}"
    else:
        return test or "eligible"
    return f"{status}; {test}" if test else status


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
    in_run = set(data.frame["suite"])
    linked = {rule_id: [s for s in specs if s.name in in_run]
              for rule_id, specs in rule_suites(current, suite_specs(project).values()).items()}
    weights = {rule_id: sum(s.weekly_calls for s in specs) for rule_id, specs in linked.items()}
    decisions = [_decide(rule_id, target, linked[rule_id], data, models, settings, options, tolerance, min_examples)
                 for rule_id, target in current.targets()]
    proposed = {d.rule_id: d.proposed for d in decisions}
    proposal = Policy(
        source=Source(run_id=data.run_id, results_sha256=data.results_sha256,
                      created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"), objective=options.objective,
                      base_policy_sha256=current.content_sha256()),
        rules=[proposed[r.id] for r in current.rules], default=proposed[DEFAULT_ID],
    )
    spend = _spend(decisions, current, options, weights)
    candidates = [CandidateRow(d.rule_id, m.model, m.variant, m.n, m.quality, m.ci, m.cost_per_1k, m.p95_ms,
                               _status(d, m.model), baseline_flags(m.scores, data.baselines,
                                                                   confidence=settings.confidence))
                  for d in decisions for m in d.measures.values()]
    requirements, in_force = proposal_requirements(project, current, proposal, settings)
    markdown = render_diff([_row(d) for d in decisions], spend, run_id=data.run_id, candidates=candidates,
                           confidence=settings.confidence, requirements=requirements, in_force=in_force)
    header = (f"Proposed routing policy, compiled by `evals recommend` from run {data.run_id}.\n"
              f"Review diff.md beside this file, then: evals approve reports/{data.folder.name}/proposal.yaml --by NAME")
    proposal_path, diff_path = data.folder / "proposal.yaml", data.folder / "diff.md"
    write_text_atomic(proposal_path, dump_policy(proposal, header))
    write_text_atomic(diff_path, markdown)
    return Recommendation(data, current, proposal, decisions, spend, markdown, proposal_path, diff_path)
