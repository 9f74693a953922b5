"""Baselines: what a trivial answer scores on a suite, and whether a model beats it.

The runner scores each suite's trivial answer (:meth:`evals.scorers.base.Scorer.baseline`: the empty
object for extraction, the majority label for classification, a copied reference for voice) with the
suite's own scorer and writes ``reports/<run>/baselines.parquet`` (columns ``suite, example_id,
baseline, output, score, subscores, detail``). A model *beats* its suite's baseline when the lower
bound of the paired difference (model minus baseline, :func:`evals.stats.paired_difference` on the
examples both have) is above 0. A model that does not is flagged and gets no Pareto mark. When a suite
has several baselines, the strongest (highest mean) is the bar.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evals.metrics.estimate import Estimate
from evals.metrics.quality import mean_estimate

BASELINES_FILE = "baselines.parquet"


def read_baselines(folder: Path) -> Any:
    """``<folder>/baselines.parquet`` as a DataFrame, or None when the run has none."""
    path = Path(folder) / BASELINES_FILE
    if not path.is_file():
        return None
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pandas()


@dataclass(frozen=True)
class SuiteBaseline:
    """The bar of one suite: the baseline's name and its per-example scores (Series by suite, example_id)."""

    name: str
    scores: Any

    def quality(self, *, confidence: float = 0.95, n_boot: int = 2000, seed: int = 0) -> Estimate:
        """Mean baseline score over its examples, with :func:`evals.stats.mean_ci`."""
        return mean_estimate(self.scores.to_numpy(dtype=float), confidence=confidence, n_boot=n_boot, seed=seed,
                             note=f"{self.name}: what a trivial answer scores")


def suite_baseline(baselines: Any, suite: str, examples: Any = None) -> SuiteBaseline | None:
    """The strongest baseline of ``suite`` (restricted to ``examples``, an iterable of example ids, when
    given), or None when there is none."""
    import pandas as pd

    if baselines is None or not len(baselines) or "suite" not in baselines.columns:
        return None
    rows = baselines[baselines["suite"].astype(str) == str(suite)]
    if examples is not None:
        rows = rows[rows["example_id"].astype(str).isin({str(e) for e in examples})]
    rows = rows.assign(score=pd.to_numeric(rows["score"], errors="coerce")).dropna(subset=["score"])
    if rows.empty:
        return None
    best: SuiteBaseline | None = None
    best_mean = -1.0
    for name, group in rows.groupby(rows["baseline"].astype(str), sort=True):
        means = group.groupby(group["example_id"].astype(str))["score"].mean()
        series = pd.Series(means.to_numpy(dtype=float), dtype=float,
                           index=pd.MultiIndex.from_tuples([(str(suite), e) for e in means.index],
                                                           names=["suite", "example_id"])).sort_index()
        if series.mean() > best_mean:
            best, best_mean = SuiteBaseline(str(name), series), float(series.mean())
    return best


@dataclass(frozen=True)
class BaselineComparison:
    """A model against its suite's baseline: the paired difference and whether it beats the bar."""

    baseline: str
    diff: Any  # evals.stats.PairedDiff
    beats: bool | None  # None: no common examples

    @property
    def note(self) -> str:
        """One line a reader sees beside the model's score."""
        d = self.diff
        if self.beats is None:
            return f"no examples in common with the {self.baseline} baseline"
        verb = "beats" if self.beats else "does not beat"
        return (f"{verb} the {self.baseline} baseline: {d.diff:+.3f} [{d.ci_low:+.3f}, {d.ci_high:+.3f}] "
                f"on {d.n} examples")


def compare_to_baseline(scores: Any, baseline: SuiteBaseline, *, confidence: float = 0.95, n_boot: int = 2000,
                        seed: int = 0) -> BaselineComparison:
    """Paired difference of a model's per-example scores (Series by suite, example_id) minus the baseline's.

    >>> import pandas as pd
    >>> idx = pd.MultiIndex.from_tuples([("s", str(i)) for i in range(20)])
    >>> bar = SuiteBaseline("majority label", pd.Series([1.0] * 10 + [0.0] * 10, index=idx))
    >>> compare_to_baseline(pd.Series([1.0] * 10 + [0.0] * 10, index=idx), bar).beats
    False
    >>> compare_to_baseline(pd.Series([1.0] * 20, index=idx), bar).beats
    True
    """
    from evals.metrics.paired import paired_diff

    d = paired_diff(baseline.scores, scores, confidence=confidence, n_boot=n_boot, seed=seed)
    beats = None if d.n == 0 else bool(d.ci_low > 0)
    return BaselineComparison(baseline.name, d, beats)


def baseline_flags(scores: Any, baselines: Any, *, confidence: float = 0.95) -> list[str]:
    """For the recommender's diff: one line per suite of ``scores`` (a Series by suite, example_id, as
    :func:`evals.metrics.quality.example_scores` returns) whose baseline the model does not beat."""
    flags = []
    if baselines is None or scores is None or not len(scores):
        return flags
    for suite in sorted({s for s, _ in scores.index}):
        part = scores[scores.index.get_level_values(0) == suite]
        bar = suite_baseline(baselines, suite, part.index.get_level_values(1))
        if bar is None:
            continue
        result = compare_to_baseline(part, bar, confidence=confidence)
        if result.beats is False:
            flags.append(f"{suite}: {result.note}")
    return flags
