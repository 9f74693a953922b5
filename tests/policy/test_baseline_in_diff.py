"""The diff flags a candidate that does not beat its suite's baseline (issue 12)."""

from __future__ import annotations

import pandas as pd

from evals.policy.recommend import recommend
from evals.runner.store import write_parquet_atomic
from tests.policy.runs import model_rows, ones, write_run

N = 40


def test_the_diff_flags_a_candidate_that_does_not_beat_its_baseline(pproject):
    rows = model_rows("triage", "premium", ones(N, 38), cost=0.01, latency=900)
    rows += model_rows("triage", "cheap", ones(N, 30), cost=0.0001, latency=100)
    folder = write_run(pproject, "r1", rows)
    bar = pd.DataFrame([{"suite": "triage", "example_id": f"ex-{i:03d}", "baseline": "majority label", "output": "x",
                         "score": 1.0 if i < 30 else 0.0, "subscores": None, "detail": None} for i in range(N)])
    write_parquet_atomic(folder / "baselines.parquet", bar, {"evals_format_version": "1"})
    diff = recommend(pproject, "r1").diff_markdown
    cheap = next(line for line in diff.splitlines() if line.startswith("| triage | cheap"))
    assert "⚠ triage: does not beat the majority label baseline" in cheap
    premium = next(line for line in diff.splitlines() if line.startswith("| triage | premium"))
    assert "baseline" not in premium
