"""Baselines beside every score (issue 12): what a trivial answer scores, and no Pareto star for a model
that does not beat it. The issue's case: a constant label matched a model's score on a new
classification suite, and that model still got the Pareto star."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from evals.aggregates import aggregate, summary_table
from evals.metrics import baseline_flags, example_scores
from evals.report.html import ReportInputs, build_report, render_html
from evals.report.markdown import render_markdown
from evals.runner.store import RESULT_COLUMNS, write_parquet_atomic
from tests.report import report_data as data

N = 40
GOLD = ["lead"] * 30 + ["support"] * 10


def _rows(model: str, predicted: list[str], cost: float) -> list[dict]:
    rows = []
    for i, (g, p) in enumerate(zip(GOLD, predicted)):
        row = {c: None for c in RESULT_COLUMNS}
        row.update(suite="triage", task="classification", split="test", example_id=f"ex-{i:03d}", model=model,
                   family=model, repeat=0, output=p, gold=json.dumps(g), score=float(p == g),
                   subscores=json.dumps({"valid_label": 1.0}), detail=json.dumps({"predicted": p}),
                   cost_usd=cost, latency_ms=100.0, context_tokens=100, cached=False)
        rows.append(row)
    return rows


def _baselines() -> pd.DataFrame:
    return pd.DataFrame([{"suite": "triage", "example_id": f"ex-{i:03d}", "baseline": "majority label",
                          "output": "lead", "score": float(g == "lead"), "subscores": None, "detail": None}
                         for i, g in enumerate(GOLD)])


def _frame() -> pd.DataFrame:
    constant = ["lead"] * N  # the cheapest model answers the majority label every time: 0.75, like the baseline
    good = GOLD[:]
    good[0] = "support"  # right on 39 of 40
    marginal = ["lead"] * 30 + ["support"] * 2 + ["lead"] * 8  # two better than the baseline: not significant
    return pd.DataFrame(_rows("constant", constant, 0.0001) + _rows("good", good, 0.01)
                        + _rows("marginal", marginal, 0.001), columns=RESULT_COLUMNS)


def _metric(agg, model, name):
    rows = agg[(agg.model == model) & (agg.slice == "all") & (agg.metric == name)]
    assert len(rows) == 1, (model, name)
    return rows.iloc[0]


def test_a_model_no_better_than_the_constant_label_gets_no_pareto_star():
    agg = aggregate(_frame(), baselines=_baselines())
    base = _metric(agg, "constant", "baseline_quality")
    assert base.value == pytest.approx(0.75) and base.ci_low < 0.75 < base.ci_high and "majority label" in base.note
    assert _metric(agg, "constant", "quality").value == pytest.approx(0.75)
    assert _metric(agg, "constant", "paired_diff_vs_baseline").value == 0.0
    assert _metric(agg, "constant", "beats_baseline").value == 0.0
    assert "does not beat the majority label baseline" in _metric(agg, "constant", "beats_baseline").note
    assert _metric(agg, "constant", "pareto").value == 0.0  # cheapest, but no better than answering "lead"
    assert _metric(agg, "good", "beats_baseline").value == 1.0 and _metric(agg, "good", "pareto").value == 1.0
    marginal = _metric(agg, "marginal", "paired_diff_vs_baseline")
    assert marginal.value == pytest.approx(0.05) and marginal.ci_low <= 0 < marginal.ci_high
    assert _metric(agg, "marginal", "beats_baseline").value == 0.0 and _metric(agg, "marginal", "pareto").value == 0.0
    table = {r["model"]: r for r in summary_table(agg)}
    assert table["constant"]["beats_baseline"] is False and table["constant"]["pareto"] is False
    assert table["constant"]["baseline"] == "majority label" and table["constant"]["baseline_quality"] == 0.75
    assert any("does not beat the majority label baseline" in w for w in table["constant"]["warnings"])


def test_the_report_flags_it_and_shows_the_baseline(tmp_path):
    frame = _frame()
    report = build_report(ReportInputs(data.manifest(), frame, aggregates=aggregate(frame, baselines=_baselines())))
    view = report["suites"][0]
    assert view["frontier"] == ["good"] and view["below_baseline"] == ["constant", "marginal"]
    assert view["baseline"]["name"] == "majority label" and view["baseline"]["quality"] == pytest.approx(0.75)
    html = render_html(report)
    assert "Not better than the baseline: constant" in html and 'class="baseline"' in html
    markdown = render_markdown(report)
    assert "| constant ⚠ not better than baseline |" in markdown and "| good ★ |" in markdown
    assert "Baseline (majority label, what a trivial answer scores): 0.750" in markdown


def test_the_report_reads_baselines_parquet_from_the_run_folder(tmp_path):
    folder = data.write_run(tmp_path / "run", _frame())
    write_parquet_atomic(folder / "baselines.parquet", _baselines(), {"evals_format_version": "1"})
    from evals.report import write_report

    text = write_report(folder)["markdown"].read_text(encoding="utf-8")
    assert "constant ⚠ not better than baseline" in text


def test_baseline_flags_for_the_diff():
    frame, baselines = _frame(), _baselines()
    flags = baseline_flags(example_scores(frame[frame.model == "constant"]), baselines)
    assert flags == ["triage: does not beat the majority label baseline: +0.000 [" + flags[0].split("[")[1]]
    assert baseline_flags(example_scores(frame[frame.model == "good"]), baselines) == []
    assert baseline_flags(example_scores(frame[frame.model == "good"]), None) == []
