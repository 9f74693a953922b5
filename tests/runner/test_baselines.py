"""Baselines, runner side (CONTRACTS §3): each suite's trivial answers are scored with the suite's
scorer, written to ``baselines.parquet`` and handed to the aggregates."""

from __future__ import annotations

import json

import pyarrow.parquet as pq

from evals.runner.run import RunOptions, run
from evals.runner.store import BASELINE_COLUMNS, read_baselines
from evals.scorers.base import Baseline
from evals.scorers.classification import ClassificationScorer


class MajorityScorer(ClassificationScorer):
    def baseline(self, examples):
        return Baseline("majority label", {e.id: "lead" for e in examples})


def test_baselines_are_scored_written_and_aggregated(project, monkeypatch):
    seen = {}
    import evals.aggregates as aggregates_module  # run() imports it after the calls

    real = aggregates_module.aggregate

    def spy(frame, **kwargs):
        seen.update(kwargs)
        return real(frame, **kwargs)

    monkeypatch.setattr(aggregates_module, "aggregate", spy)
    result = run(project, RunOptions(models=["fake-a"]), scorers={"classification": MajorityScorer})
    path = result.folder / "baselines.parquet"
    meta = pq.read_table(path).schema.metadata
    assert meta[b"evals_format_version"] == b"1" and meta[b"evals_artifact"] == b"baselines"
    frame = read_baselines(result.folder)
    assert list(frame.columns) == BASELINE_COLUMNS and len(frame) == 6
    assert set(frame["baseline"]) == {"majority label"} and set(frame["output"]) == {"lead"}
    assert frame["score"].tolist() == [1.0, 0.0, 1.0, 0.0, 1.0, 0.0]  # scored by the suite's scorer
    assert json.loads(frame["detail"][0])["predicted"] == "lead"
    assert seen["baselines"].equals(frame)
    assert result.manifest["baseline_rows"] == 6


def test_no_baseline_writes_an_empty_table(project):
    from evals.scorers import ClassificationScorer

    class NoBaseline(ClassificationScorer):
        def baseline(self, examples):
            return None

    result = run(project, RunOptions(models=["fake-a"]), scorers={"classification": NoBaseline})
    frame = read_baselines(result.folder)
    assert list(frame.columns) == BASELINE_COLUMNS and len(frame) == 0


def test_a_run_without_baselines_file_reads_as_empty(project):
    result = run(project, RunOptions(models=["fake-a"]))
    (result.folder / "baselines.parquet").unlink()
    assert len(read_baselines(result.folder)) == 0
