"""A run as evidence: its results hash, which rule each suite's shape routes to, and per-model measures.

Every number of a :class:`Measure` comes from :mod:`evals.metrics`, the definitions the aggregates and
the report use: quality is the mean over examples of the per-example mean score (an answer failure
scores 0, an infrastructure failure is left out and counted in ``infra_failures``), cost per call is the
mean over priced calls (unknown only when no call has a price), latency is the p95 over calls.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from evals.config.descriptor import TaskDescriptor
from evals.config.policy import ModelScore, Policy
from evals.config.suite import SuiteSpec, load_suite
from evals.errors import UsageError
from evals.project import Project
from evals.runner.store import read_manifest, read_results, run_dir
from evals.suites import discover

DEFAULT_ID = "default"


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class RunData:
    """One run's manifest, results and the hash the evidence is pinned to."""

    run_id: str
    folder: Path
    manifest: dict[str, Any]
    frame: Any  # pandas.DataFrame
    results_sha256: str
    baselines: Any = None  # pandas.DataFrame of baselines.parquet, when the run has one


def load_run(project: Project, run: str) -> RunData:
    """Open ``reports/<run>/`` (a run id, a folder, or ``latest``)."""
    folder = run_dir(project.reports_dir, run)
    results = folder / "results.parquet"
    if not results.is_file():
        raise UsageError(f"{folder} has no results.parquet; the run did not finish")
    manifest = read_manifest(folder)
    from evals.metrics import read_baselines

    return RunData(manifest.get("run_id", folder.name), folder, manifest, read_results(folder), file_sha256(results),
                   read_baselines(folder))


def suite_specs(project: Project) -> dict[str, SuiteSpec]:
    """Every suite of the project by name."""
    specs = (load_suite(p) for p in discover(project.suites_dir))
    return {s.name: s for s in specs}


def route_slot(policy: Policy, shape: TaskDescriptor) -> str:
    """The id of the first rule whose ``when`` matches ``shape``, or ``default``."""
    for rule in policy.rules:
        if rule.when.matches(shape):
            return rule.id
    return DEFAULT_ID


def rule_suites(policy: Policy, specs: Iterable[SuiteSpec]) -> dict[str, list[SuiteSpec]]:
    """The suites that are evidence for each rule id (and ``default``), in the order given.

    A suite whose ``rule:`` names a rule of ``policy`` is evidence for that rule only. A rule that no
    suite names takes the suites without ``rule:`` whose ``shape`` routes to it (:func:`route_slot`).
    """
    specs = list(specs)
    known = {rule_id for rule_id, _ in policy.targets()}
    named: dict[str, list[SuiteSpec]] = {rule_id: [] for rule_id in known}
    shaped: dict[str, list[SuiteSpec]] = {rule_id: [] for rule_id in known}
    for spec in specs:
        if spec.rule is not None:
            if spec.rule in known:
                named[spec.rule].append(spec)
        else:
            shaped[route_slot(policy, spec.shape)].append(spec)
    return {rule_id: named[rule_id] or shaped[rule_id] for rule_id, _ in policy.targets()}


@dataclass
class Measure:
    """One model on a set of suites: aligned per-example scores and the summary numbers."""

    model: str
    variant: str | None
    provider: str | None
    scores: Any  # pandas.Series indexed by (suite, example_id)
    quality: float
    ci: tuple[float, float]
    cost_per_call: float | None
    p95_ms: float | None
    max_context_tokens: int
    errors: int
    notes: list[str] = field(default_factory=list)
    calls: int = 0
    infra_failures: int = 0

    @property
    def n(self) -> int:
        return int(len(self.scores))

    @property
    def cost_per_1k(self) -> float | None:
        return None if self.cost_per_call is None else self.cost_per_call * 1000

    def score(self) -> ModelScore:
        """The summary as stored in a policy's evidence."""
        return ModelScore(model=self.model, variant=self.variant, quality=_num(self.quality), quality_ci=_ci(self.ci),
                          cost_per_1k_usd=_num(self.cost_per_1k), p95_latency_ms=_num(self.p95_ms), n=self.n)


def _num(value: float | None, digits: int = 6) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return round(float(value), digits)


def _ci(ci: tuple[float, float]) -> tuple[float, float] | None:
    low, high = _num(ci[0]), _num(ci[1])
    return None if low is None or high is None else (low, high)


def measure(frame: Any, suites: list[str], model: str, *, confidence: float = 0.95) -> Measure | None:
    """Measure ``model`` on the rows of ``suites``; None when the run has no such rows.

    ``scores`` are the per-example quality scores indexed by (suite, example_id): examples whose every
    call failed for infrastructure reasons are absent, so paired comparisons use answered examples only.
    """
    import pandas as pd

    from evals.metrics import Calls, cost_per_call, example_scores, failure_counts, latency_percentiles, quality

    rows = frame[(frame["model"] == model) & (frame["suite"].isin(suites))]
    if rows.empty:
        return None
    calls = Calls.of(rows)
    q = quality(calls, confidence=confidence)
    cost = cost_per_call(calls, confidence=confidence)
    counts = failure_counts(calls)
    notes = []
    if cost.value is not None and cost.n < counts.calls:
        notes.append(f"{counts.calls - cost.n} calls without a price; cost is the mean over {cost.n} priced calls")
    if counts.infra:
        notes.append(f"{counts.infra} of {counts.calls} calls failed for infrastructure reasons (left out of quality)")
    p95 = latency_percentiles(calls, (95,), confidence=confidence).get(95)
    variants = sorted({str(v) for v in rows["variant"].dropna()}) if "variant" in rows else []
    providers = sorted({str(v) for v in rows["provider"].dropna()}) if "provider" in rows else []
    context = pd.to_numeric(rows["context_tokens"], errors="coerce").dropna()
    return Measure(
        model=model, variant=",".join(variants) or None, provider=providers[0] if providers else None,
        scores=example_scores(calls), quality=q.value if q.value is not None else math.nan,
        ci=(q.ci_low if q.ci_low is not None else math.nan, q.ci_high if q.ci_high is not None else math.nan),
        cost_per_call=cost.value, p95_ms=p95.value if p95 is not None else None,
        max_context_tokens=int(context.max()) if len(context) else 0,
        errors=counts.errors, notes=notes, calls=counts.calls, infra_failures=counts.infra,
    )


def aligned(a: Measure, b: Measure) -> tuple[Any, Any]:
    """The two models' per-example scores on the examples both have, in the same order."""
    from evals.metrics import align

    return align(a.scores, b.scores)
