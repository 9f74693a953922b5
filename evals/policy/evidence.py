"""A run as evidence: its results hash, which rule each suite's shape routes to, and per-model measures.

Quality counts a failed call (an ``error`` row) as a score of 0, because a routed call that errors is
a failed call; repeats are averaged per example before any interval is computed.
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
from evals.stats import mean_ci, per_example_means, percentile
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


def load_run(project: Project, run: str) -> RunData:
    """Open ``reports/<run>/`` (a run id, a folder, or ``latest``)."""
    folder = run_dir(project.reports_dir, run)
    results = folder / "results.parquet"
    if not results.is_file():
        raise UsageError(f"{folder} has no results.parquet; the run did not finish")
    manifest = read_manifest(folder)
    return RunData(manifest.get("run_id", folder.name), folder, manifest, read_results(folder), file_sha256(results))


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
    """Measure ``model`` on the rows of ``suites``; None when the run has no such rows."""
    import pandas as pd

    rows = frame[(frame["model"] == model) & (frame["suite"].isin(suites))].copy()
    if rows.empty:
        return None
    rows["score"] = pd.to_numeric(rows["score"], errors="coerce")
    rows.loc[rows["error"].notna() | rows["score"].isna(), "score"] = 0.0
    means = per_example_means(rows, value="score").set_index(["suite", "example_id"])["score"].sort_index()
    ci = mean_ci(means.to_numpy(), confidence=confidence)
    costs = pd.to_numeric(rows["cost_usd"], errors="coerce")
    notes = []
    cost = None if costs.isna().all() else float(costs.mean())
    if costs.isna().any() and cost is not None:
        notes.append(f"{int(costs.isna().sum())} calls without a price")
        cost = None
    latency = pd.to_numeric(rows["latency_ms"], errors="coerce").dropna().to_numpy()
    p95 = percentile(latency, 95) if latency.size else None
    variants = sorted({str(v) for v in rows["variant"].dropna()}) if "variant" in rows else []
    providers = sorted({str(v) for v in rows["provider"].dropna()}) if "provider" in rows else []
    context = pd.to_numeric(rows["context_tokens"], errors="coerce").dropna()
    return Measure(
        model=model, variant=",".join(variants) or None, provider=providers[0] if providers else None,
        scores=means, quality=float(means.mean()) if len(means) else math.nan, ci=ci, cost_per_call=cost,
        p95_ms=p95, max_context_tokens=int(context.max()) if len(context) else 0,
        errors=int(rows["error"].notna().sum()), notes=notes,
    )


def aligned(a: Measure, b: Measure) -> tuple[Any, Any]:
    """The two models' per-example scores on the examples both have, in the same order."""
    common = a.scores.index.intersection(b.scores.index)
    return a.scores.loc[common].to_numpy(), b.scores.loc[common].to_numpy()
