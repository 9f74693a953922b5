"""The recommender's cascade step: the dev run, the pairs to sweep for a rule, and the cascade to propose.

The rule is written in :mod:`evals.policy.decide` ("Cascades"); the sweep and the measures of a
cascade are :mod:`evals.policy.cascade`. The threshold is chosen on a **dev run** (``evals run --split
dev``) and confirmed on the **evidence run** (``evals run``, the suites' scored split, usually
``test``): two runs, given to ``evals recommend RUN --dev-run DEVRUN`` (``--dev-run latest``: the
newest run made with ``--split dev``). A pair is swept only where the dev run can speak for the
evidence run: the rule's suites have the same content hash in both manifests and were run on
different splits, and both legs have the same identity (a retrained classifier is another model).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from evals.config.models import ModelSpec
from evals.errors import UsageError
from evals.policy.cascade import Cascade, CascadeChoice, curve_markdown, sweep
from evals.policy.decide import Choice, RuleEvidence, best_eligible
from evals.policy.evidence import Measure, RunData, load_run
from evals.project import Project
from evals.report.format import fmt_usd
from evals.runner.store import read_manifest, run_dir

DEV_SPLIT = "dev"


def _dev_split_run(reports_dir: Path, evidence: Path) -> Path:
    """The newest run (other than ``evidence``) whose manifest shows every suite run on the dev split."""
    found = []
    for manifest in sorted(reports_dir.glob("*/manifest.json")):
        if manifest.parent.resolve() == evidence.resolve():
            continue
        try:
            suites = read_manifest(manifest.parent).get("suites") or {}
        except (OSError, ValueError, UsageError):
            continue
        if suites and all(isinstance(s, dict) and s.get("split") == DEV_SPLIT for s in suites.values()):
            found.append(manifest.parent)
    if not found:
        raise UsageError(f"--dev-run latest: no run in {reports_dir} was made on the dev split; run "
                         "`evals run --split dev` first (or name the run: --dev-run RUN)")
    return found[-1]


def load_dev_run(project: Project, ref: str | None, evidence: RunData) -> RunData | None:
    """The dev run ``--dev-run`` names (a run id, a folder, or ``latest``), or None without one."""
    if ref is None:
        return None
    folder = (_dev_split_run(project.reports_dir, evidence.folder) if ref == "latest"
              else run_dir(project.reports_dir, ref))
    if folder.resolve() == evidence.folder.resolve():
        raise UsageError(f"--dev-run {ref} is the evidence run {evidence.run_id} itself: a threshold chosen on a run "
                         "must be confirmed on another split (run `evals run --split dev` and pass that run)")
    return load_run(project, str(folder))


def _split_of(run: RunData, suite: str) -> str | None:
    entry = (run.manifest.get("suites") or {}).get(suite) or {}
    if entry.get("split"):
        return str(entry["split"])
    rows = run.frame.loc[run.frame["suite"] == suite, "split"].dropna() if "split" in run.frame else []
    values = sorted(set(map(str, rows)))
    return values[0] if len(values) == 1 else None


def mismatch(dev: RunData, test: RunData, suites: list[str], models: list[str]) -> str | None:
    """Why ``dev`` cannot choose a threshold that ``test`` confirms for these suites and legs, or None."""
    for s in suites:
        a = ((dev.manifest.get("suites") or {}).get(s) or {}).get("sha256")
        b = ((test.manifest.get("suites") or {}).get(s) or {}).get("sha256")
        if a != b:
            return f"suite {s} changed between dev run {dev.run_id} and run {test.run_id} (content hash)"
        split = _split_of(dev, s)
        if split is not None and split == _split_of(test, s):
            return (f"dev run {dev.run_id} ran {s} on split {split!r}, as run {test.run_id} did: a threshold must be "
                    "confirmed on other examples")
    for m in models:
        a = ((dev.manifest.get("models") or {}).get(m) or {}).get("identity")
        b = ((test.manifest.get("models") or {}).get(m) or {}).get("identity")
        if a != b:
            return f"{m} is not the same model in dev run {dev.run_id} and run {test.run_id} (its identity changed)"
    return None


def _confident(frame: Any, model: str, suites: list[str]) -> bool:
    rows = frame[(frame["model"] == model) & frame["suite"].isin(suites)]
    if "confidence" not in rows or rows.empty:
        return False
    conf = rows["confidence"].astype(float).to_numpy()
    return bool((~np.isnan(conf) & rows["error"].isna().to_numpy()).any())


def pairs(dev: RunData, ev: RuleEvidence, real: list[str]) -> list[tuple[str, str]]:
    """(cheap, strong) pairs to sweep: a cheap leg in models.yaml with confidences on dev, any other
    model in models.yaml measured on every suite of the rule in both runs."""
    on_dev = set(dev.frame.loc[dev.frame["suite"].isin(ev.suites), "model"])
    legs = [m for m in real if m in ev.specs and ev.measured(m) and m in on_dev]
    cheap = [m for m in legs if _confident(dev.frame, m, ev.suites)]
    return [(a, b) for a in cheap for b in legs if b != a]


@dataclass
class CascadeStep:
    """What the cascade step found for one rule: every sweep, the one proposed (if any), and the words."""

    choices: list[CascadeChoice] = field(default_factory=list)
    best: CascadeChoice | None = None
    measure: Measure | None = None  # the proposed cascade's figures on the evidence run (pooled)
    reason: str = ""  # why the best one replaces the single-model choice
    notes: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)  # Markdown for diff.md


def choose_cascade(ev: RuleEvidence, incumbent: str, subjects: dict[str, Cascade], choice: Choice, dev: RunData,
                   test: RunData, *, margin: float, confidence: float, real: list[str]) -> CascadeStep:
    """Sweep every pair for a rule and pick the cascade to propose (the rule: :mod:`evals.policy.decide`).

    ``incumbent`` is the rule's model (or the name of the cascade in force, ``subjects`` maps such names
    to their :class:`~evals.policy.cascade.Cascade`), ``choice`` the single-model decision, ``real`` the
    models (not cascades) the run measured for the rule.
    """
    step = CascadeStep()
    excluded = choice.excluded
    eligible = [m for m in ev.measures if m not in excluded]
    if ev.measured(incumbent):
        reference: str | Cascade = subjects.get(incumbent, incumbent)
    elif eligible:
        reference = subjects.get(best := best_eligible(ev, eligible), best)
    else:
        step.notes.append("cascades: no reference to hold them to (the incumbent is unmeasured and no measured model "
                          "meets the rule)")
        return step
    candidates = pairs(dev, ev, real)
    if not candidates:
        step.notes.append(f"cascades: no model answered the rule's suites with a confidence in dev run {dev.run_id}")
        return step
    single = ev.pooled(choice.model).cost_per_call if choice.model in ev.measures else None
    step.details.append(f"Swept on dev run `{dev.run_id}`, confirmed on run `{test.run_id}`; single-model choice "
                        f"{choice.model} ({fmt_usd(None if single is None else 1000 * single)} per 1k calls).")
    winners: list[CascadeChoice] = []
    for cheap, strong in candidates:
        problem = mismatch(dev, test, ev.suites, [cheap, strong])
        if problem is not None:
            step.notes.append(f"cascade {cheap} -> {strong} not swept: {problem}")
            continue
        c = sweep(dev.frame, test.frame, cheap=cheap, strong=strong, reference=reference, margin=margin,
                  confidence=confidence, min_examples=ev.limits.min_examples, suites=ev.suites, weights=ev.weights,
                  limits=ev.limits, specs=ev.specs, max_infra_failure_rate=ev.limits.max_infra_failure_rate,
                  latency_trusted=ev.latency_trusted is None or {cheap, strong} <= ev.latency_trusted)
        step.choices.append(c)
        cost = c.confirmation.cost_per_call if c.confirmation is not None else None
        if not c.proposed:
            continue
        if single is not None and cost is not None and cost < single:
            winners.append(c)
        else:
            c.proposed = False
            c.reason += (f"; but not cheaper than the single-model choice {choice.model} "
                         f"({fmt_usd(None if single is None else 1000 * single)} per 1k calls)")
    if winners:
        step.best = min(winners, key=lambda c: (c.confirmation.cost_per_call, -c.confirmation.quality, c.cheap, c.strong))
    shown = step.best or _most_promising(step.choices)
    for c in step.choices:
        if c is shown:
            step.details += [""] + curve_markdown(c)
        else:
            step.details.append(f"- {c.cheap} -> {c.strong}: {'proposed' if c.proposed else 'not proposed'}: {c.reason}")
    if step.best is not None:
        b = step.best
        per_suite = b.confirmation.measures
        from evals.policy.eligibility import pool

        step.measure = pool(per_suite, ev.weights)
        versus = (f"cheaper than the single-model choice {choice.model} "
                  f"({fmt_usd(1000 * b.confirmation.cost_per_call)} vs {fmt_usd(1000 * single)} per 1k calls)")
        step.reason = f"switched to the cascade {b.cascade.name}: {b.reason}; {versus}"
    return step


def _most_promising(choices: list[CascadeChoice]) -> CascadeChoice | None:
    """The sweep to draw when none is proposed: the one with a chosen dev point of lowest cost, else the first."""
    chosen = [c for c in choices if c.chosen is not None and c.chosen.cost_per_call is not None]
    if chosen:
        return min(chosen, key=lambda c: c.chosen.cost_per_call)
    return choices[0] if choices else None


def virtual_spec(cascade: Cascade, specs: dict[str, ModelSpec]) -> ModelSpec | None:
    """A spec standing for a cascade in the decision rule: the last leg's (its provider is where the cascade's
    answers fail over from), with the smallest context window of the legs; None when a leg is unknown."""
    legs = [specs.get(m) for m in cascade.models]
    if any(s is None for s in legs):
        return None
    window = min(s.context_window for s in legs)
    return legs[-1].model_copy(update={"id": cascade.name, "context_window": window})



__all__ = ["CascadeStep", "DEV_SPLIT", "choose_cascade", "load_dev_run", "mismatch", "pairs", "virtual_spec"]
