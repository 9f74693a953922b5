"""``evals recommend``: compile a run into a proposed policy and a rule-by-rule diff.

The decision rule is written down once, in :mod:`evals.policy.decide`; this module gathers each
rule's evidence from a run (the suites linked to it, each model measured on each suite), applies the
rule, and writes ``reports/<run-id>/proposal.yaml`` and ``diff.md``. With a dev run
(``RecommendOptions.dev_run``) it also sweeps cascades for each rule
(:func:`evals.policy.cascade_choice.choose_cascade`); a rule whose policy names a cascade has that
cascade as its incumbent, measured like a model (:func:`evals.policy.cascade.cascade_measures`).
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal, Mapping

import yaml

from evals.config.models import ModelsFile, load_models
from evals.config.policy import Evidence, Policy, PolicySettings, Rule, Source, Target, load_settings
from evals.config.suite import SuiteSpec
from evals.errors import UsageError
from evals.machine import latency_trust
from evals.metrics import baseline_flags
from evals.policy.cascade import Cascade, cascade_measures
from evals.policy.cascade_choice import CascadeStep, choose_cascade, load_dev_run, virtual_spec
from evals.policy.cascade_record import write_sweeps
from evals.policy.checks import context_bucket, load_checked_policy
from evals.policy.decide import Choice, RuleEvidence, Verdict, decide
from evals.policy.diff import CandidateRow, RuleRow, Spend, project_spend, render_diff, traffic_from_log
from evals.policy.eligibility import Limits, choose_fallbacks, provider_key, suite_measures
from evals.policy.evidence import DEFAULT_ID, Measure, RunData, load_run, rule_suites, suite_specs
from evals.policy.mdsafe import one_line
from evals.policy.requirements import proposal_requirements
from evals.project import Project
from evals.report.recommendation import with_headline
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
    trust_latency: bool = False  # exclude on a local model's latency even when the machine was busier than its cores
    dev_run: str | None = None  # a run on the dev split: cascade thresholds are chosen there


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
    cascades: CascadeStep | None = None  # the cascades swept for this rule (with a dev run)

    @property
    def changed(self) -> bool:
        fields = ("model", "prompt", "fallbacks", "cascade")
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


def _head(target: Target) -> str:
    """The name a target routes to first in the decision rule: its model, or its cascade's name."""
    cascade = Cascade.of_target(target)
    return cascade.name if cascade is not None else target.model


def _decide(rule_id: str, current: Target, suites: list[SuiteSpec], run: RunData, models: ModelsFile,
            settings: PolicySettings, options: RecommendOptions, tolerance: float, min_examples: int,
            dev: RunData | None = None) -> Decision:
    names = [s.name for s in suites]
    if not suites:
        return Decision(rule_id, [], current, current, "kept: no suite of this run is evidence for this rule")
    prompt, problem, notes = _links(rule_id, current, suites)
    notes += _small_suite_notes(run, names)
    real = sorted(set(run.frame.loc[run.frame["suite"].isin(names), "model"]))
    per_model = {model: suite_measures(run.frame, names, model, confidence=settings.confidence) for model in real}
    specs = {m.id: m for m in models.models}
    subjects: dict[str, Cascade] = {}
    in_force = Cascade.of_target(current)
    if in_force is not None:  # the cascade in force is the incumbent, measured like a model
        subjects[in_force.name] = in_force
        measured = (cascade_measures(run.frame, names, in_force, confidence=settings.confidence)
                    if all(m in per_model for m in in_force.models) else {})
        if measured and (spec := virtual_spec(in_force, specs)) is not None:
            per_model[in_force.name], specs[in_force.name] = measured, spec
    limits = _limits(current, suites, min_examples, settings)
    weights = {s.name: s.weekly_calls for s in suites}
    # A cascade's latency is trusted when every leg's is (its first leg may be local behind a remote last leg).
    legs = {m: (subjects[m].models if m in subjects else [m]) for m in per_model}
    trusted = None if options.trust_latency else frozenset(
        m for m in per_model
        if all(leg in specs and latency_trust(run.manifest, specs[leg])[0] for leg in legs[m]))
    ev = RuleEvidence(names, weights, per_model, specs, limits, latency_trusted=trusted)
    pooled = {m: ev.pooled(m) for m in per_model}  # = rule_measure(...), what approve checks
    if problem is not None:
        return Decision(rule_id, names, current, current, problem, "prompt", pooled, notes=notes)
    incumbent = _head(current)
    chosen_by = dict(objective=options.objective, budget=options.budget_per_1k_usd, margin=tolerance,
                     confidence=settings.confidence, max_fallbacks=settings.max_fallbacks)
    choice: Choice = decide(ev, incumbent, list(current.fallbacks), replace_unmeasured=options.replace_unmeasured,
                            **chosen_by)
    step = None
    if dev is not None and options.objective == "cost" and (choice.decided or choice.kind == "unmeasured"):
        judged = choice
        if not choice.decided:  # what --replace-unmeasured would choose, cascades included: shown, not proposed
            judged = decide(ev, incumbent, list(current.fallbacks), replace_unmeasured=True, **chosen_by)
        step = choose_cascade(ev, incumbent, subjects, judged, dev, run, margin=tolerance,
                              confidence=settings.confidence, real=[m for m in real if m in specs])
        if not choice.decided:
            if not options.replace_unmeasured:  # with the flag given, the choice above is already this one
                notes.append(f"with --replace-unmeasured: {step.reason or judged.reason}")
            step.best = None
    elif dev is not None and options.objective != "cost":
        notes.append("cascades are chosen under the cost objective only")
    elif dev is None and (confident := _confident_models(run.frame, names, specs)):
        notes.append(f"{', '.join(confident)} answer{'s' if len(confident) == 1 else ''} with a confidence: pass "
                     "--dev-run DEVRUN (a run made with `evals run --split dev`) to sweep cascades")
    excluded = {m: why.text for m, why in choice.excluded.items()}
    chain = choice.fallbacks if choice.decided else list(current.fallbacks)
    unmeasured = [f for f in chain if not ev.measured(f) or getattr(choice.excluded.get(f), "kind", "") == "evidence"]
    if step is not None:
        notes += step.notes
    if not choice.decided:
        return Decision(rule_id, names, current, current, choice.reason, choice.kind, pooled, excluded,
                        choice.verdicts, notes + choice.notes, unmeasured, cascades=step)
    update: dict[str, Any]
    if step is not None and step.best is not None:  # a cascade replaces the single-model choice
        best, cascade = step.best, step.best.cascade
        pooled[cascade.name] = step.measure
        eligible = [m for m in ev.measures if m not in choice.excluded and m not in subjects]
        fallbacks, fb_notes = choose_fallbacks(best.strong, [m for m in eligible if m != best.cheap], pooled, specs,
                                               [f for f in current.fallbacks if f not in cascade.models],
                                               choice.excluded, settings.max_fallbacks)
        reason = step.reason + "".join(f"; {n}" for n in fb_notes)
        verdicts = {**choice.verdicts, cascade.name: best.confirmation.verdict}
        update = {"model": cascade.models[0], "cascade": cascade.target_legs(), "fallbacks": fallbacks}
        kind = "switched"
        head = cascade.name
    else:
        head = choice.model
        fallbacks = [f for f in choice.fallbacks or [] if f not in subjects.get(head, Cascade(())).models]
        reason = choice.reason + "".join(f"; {n}" for n in choice.notes)
        verdicts, kind = choice.verdicts, choice.kind
        kept = subjects.get(head)
        update = {"model": kept.models[0] if kept else head, "fallbacks": fallbacks,
                  "cascade": kept.target_legs() if kept else None}
    base = {k: v for k, v in current.model_dump(mode="json").items() if k != "evidence"}

    def target(**more: Any) -> Target:
        return type(current).model_validate({**base, **update, **more})

    if _routing(target()) != _routing(current) and prompt != current.prompt:
        update["prompt"] = prompt
        reason += f"; prompt {prompt!r}, the one its evidence was measured with, proposed with it"
    elif prompt != current.prompt:
        notes.append(f"the evidence was measured with prompt {prompt!r}; the rule keeps {current.prompt!r}")
    scored = [pooled[f] for f in fallbacks if f in pooled]
    evidence = _evidence(run, names, pooled[head], limits.floor, reason, scored)
    cascade = subjects.get(head) or (step.best.cascade if step is not None and step.best is not None else None)
    if cascade is not None:  # the numbers are the cascade's; evidence.model is its first leg
        more: dict[str, Any] = {"model": cascade.models[0]}
        if step is not None and step.best is not None:
            single = ev.pooled(choice.model).cost_per_call if choice.model in ev.measures else None
            more["cascade"] = step.best.evidence(dev_run_id=dev.run_id, dev_results_sha256=dev.results_sha256,
                                                 single_cost_per_call=single)
        evidence = evidence.model_copy(update=more)
    proposed = target(evidence=evidence.model_dump(mode="json"))
    return Decision(rule_id, names, current, proposed, reason, kind, pooled, excluded, verdicts, notes, unmeasured,
                    cascades=step)


def _confident_models(frame: Any, suites: list[str], specs: dict[str, Any]) -> list[str]:
    """Models of models.yaml with a confidence on some answered call of ``suites``: possible cheap legs."""
    if "confidence" not in frame:
        return []
    rows = frame[frame["suite"].isin(suites) & frame["error"].isna() & frame["confidence"].notna()]
    return sorted(m for m in set(rows["model"]) if m in specs)


def _routing(target: Target) -> tuple:
    return (target.model, list(target.fallbacks), target.model_dump(mode="json").get("cascade"))


def _row(d: Decision) -> RuleRow:
    current, proposed = _head(d.current), _head(d.proposed)
    cur, new = d.measures.get(current), d.measures.get(proposed)
    verdict = d.verdicts.get(proposed) if proposed != current else None
    change = verdict.diffs[verdict.key_suite()] if verdict is not None else None
    details = d.cascades.details if d.cascades is not None and d.cascades.choices else []
    return RuleRow(
        rule=d.rule_id, suites=d.suites, current_model=current, proposed_model=proposed, details=list(details),
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
    if model == _head(d.proposed):
        status = "chosen" if model != _head(d.current) else ("incumbent, flagged" if d.kind == "flagged" else "incumbent")
    elif model in d.proposed.fallbacks:
        status = f"fallback {d.proposed.fallbacks.index(model) + 1}"
    elif model in d.excluded:
        return f"excluded: {d.excluded[model]}"
    else:
        return test or "eligible"
    return f"{status}; {test}" if test else status


def _spend(decisions: list[Decision], current: Policy, options: RecommendOptions, weights: dict[str, float]) -> Spend:
    def per_call(d: Decision, target: Target) -> float | None:
        m = d.measures.get(_head(target))  # a cascade's: A + share x B (evals.traffic.cascade_call_cost)
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


def dump_policy(policy: Policy, header: str, notes: Mapping[str, str] | None = None) -> str:
    """YAML text of a policy, rules written id first, with a comment header; ``notes`` (rule id, or
    ``default``, -> text) are written as comments above their rules (why a proposal keeps a rule: a kept
    rule carries no evidence block, whose ``reason`` says why a changed one changed)."""
    data = policy.model_dump(mode="json", exclude_defaults=True)
    data = {"format_version": policy.format_version, **data}
    order = ["id", "description", "when", "require", "model", "cascade", "prompt", "fallbacks", "evidence"]
    data["rules"] = [{k: _whole(r[k]) if k in ("when", "require") else r[k] for k in order if k in r}
                     for r in data.get("rules", [])]
    data.setdefault("rules", [])
    lines = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
    body = yaml.safe_dump(data, sort_keys=False, width=110, allow_unicode=True)
    if notes:
        at = {"- " + yaml.safe_dump({"id": rule_id}, width=110, allow_unicode=True).rstrip("\n"): text
              for rule_id, text in notes.items() if rule_id != DEFAULT_ID}
        if DEFAULT_ID in notes:
            at["default:"] = notes[DEFAULT_ID]
        out = []
        for line in body.splitlines(keepends=True):
            text = at.pop(line.rstrip("\n"), None)  # top-level lines only: a rule's `- id:` and `default:`
            if text is not None:
                out.append(comment_lines(text))
            out.append(line)
        body = "".join(out)
    return lines + body


def comment_lines(text: str, width: int = 110) -> str:
    """``text`` as YAML comment lines: every line break inside it (which would end the comment and let the
    rest be read as YAML; YAML 1.1 also breaks at NEL and the Unicode separators) and every other
    character that is not printable made a space (:func:`~evals.policy.mdsafe.one_line`), then wrapped.

    >>> print(comment_lines("kept: a\\nrules: []"), end="")
    # kept: a rules: []
    """
    flat = "".join(ch if ch.isprintable() else " " for ch in one_line(text))
    lines = textwrap.wrap(flat, width - 2, break_on_hyphens=False, break_long_words=False)
    return "".join(f"# {line}\n" for line in lines or [""])


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
    dev = load_dev_run(project, options.dev_run, data)
    in_run = set(data.frame["suite"])
    linked = {rule_id: [s for s in specs if s.name in in_run]
              for rule_id, specs in rule_suites(current, suite_specs(project).values()).items()}
    weights = {rule_id: sum(s.weekly_calls for s in specs) for rule_id, specs in linked.items()}
    decisions = [_decide(rule_id, target, linked[rule_id], data, models, settings, options, tolerance, min_examples,
                         dev)
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
    markdown = with_headline(markdown, current, proposal, manifest=data.manifest, models={m.id: m for m in models.models})
    header = (f"Proposed routing policy, compiled by `evals recommend` from run {data.run_id}.\n"
              f"Review diff.md beside this file, then: evals approve reports/{data.folder.name}/proposal.yaml --by NAME")
    proposal_path, diff_path = data.folder / "proposal.yaml", data.folder / "diff.md"
    kept = {d.rule_id: d.reason for d in decisions if not d.changed and d.reason}
    write_text_atomic(proposal_path, dump_policy(proposal, header, kept))
    write_text_atomic(diff_path, markdown)
    write_sweeps(data.folder, data.run_id, dev.run_id if dev is not None else None, decisions)  # the report's curves
    return Recommendation(data, current, proposal, decisions, spend, markdown, proposal_path, diff_path)
