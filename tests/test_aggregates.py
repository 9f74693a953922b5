"""Aggregates: checked against scikit-learn and scipy on a real (fake-provider) run and on frames built by hand."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from rich.console import Console
from sklearn.metrics import f1_score, precision_score, recall_score

from evals.aggregates import (
    AGGREGATE_COLUMNS, INVALID, aggregate, context_bucket, read_aggregates, summary_table, write_aggregates,
)
from evals.cli.run import render_summary
from evals.config.models import ModelSpec
from evals.errors import FormatVersionError
from evals.providers.fake import FakeProvider
from evals.runner.run import RunOptions, run
from evals.runner.store import RESULT_COLUMNS, write_parquet_atomic
from evals.stats import mcnemar, mean_ci, paired_difference
from tests.conftest import MODELS_YAML, write_project


def frame(rows: list[dict]) -> pd.DataFrame:
    """Result rows with defaults for the columns a test does not care about."""
    base = {c: None for c in RESULT_COLUMNS}
    base.update(task="classification", split="test", repeat=0, cached=False, context_tokens=100,
                latency_ms=10.0, cost_usd=0.001)
    return pd.DataFrame([{**base, **r} for r in rows], columns=RESULT_COLUMNS)


def metric(agg: pd.DataFrame, name: str, model: str | None = None, slice_: str = "all") -> pd.Series:
    rows = agg[(agg.metric == name) & (agg.slice == slice_) & ((agg.model == model) if model else True)]
    assert len(rows) == 1, (name, model, slice_, rows)
    return rows.iloc[0]


def classification_rows(model: str, gold: list[str], pred: list[str | None],
                        errors: tuple[int, ...] = ()) -> list[dict]:
    rows = []
    for i, (g, p) in enumerate(zip(gold, pred)):
        failed = i in errors
        rows.append({
            "suite": "triage", "model": model, "example_id": f"e{i}", "gold": json.dumps(g),
            "error": "timeout" if failed else None, "score": None if failed else float(p == g),
            "subscores": None if failed else json.dumps({"valid_label": float(p is not None)}),
            "detail": None if failed else json.dumps({"predicted": p}),
        })
    return rows


# -- the "done means" -----------------------------------------------------------------------


def test_macro_f1_in_a_runs_aggregates_equals_sklearn(project):
    answers = ["lead", "support", "lead", "billing question", "support", "lead", "support", "lead", "lead", "??"]
    FakeProvider.reset(responder=lambda request: answers[int(request.prompt.text.split("message ")[1][0]) % 10])
    write_project(project.root, n_examples=10)
    result = run(project, RunOptions(models=["fake-a"]))
    agg = read_aggregates(result.folder)
    assert list(agg.columns) == AGGREGATE_COLUMNS
    rows = result.results
    gold = [json.loads(g) for g in rows["gold"]]
    pred = [json.loads(d)["predicted"] or INVALID for d in rows["detail"]]
    assert set(pred) == {"lead", "support", INVALID} and 0 < np.mean(np.array(gold) == np.array(pred)) < 1
    expected = f1_score(gold, pred, labels=["lead", "support"], average="macro", zero_division=0)
    got = metric(agg, "macro_f1", "fake-a")
    assert got.value == pytest.approx(expected)
    assert got.ci_low <= got.value <= got.ci_high
    assert metric(agg, "accuracy", "fake-a").value == pytest.approx(np.mean(np.array(gold) == np.array(pred)))
    assert metric(agg, "invalid_label_rate", "fake-a").value == pytest.approx(pred.count(INVALID) / len(pred))


def test_every_interval_contains_its_point_and_quality_narrows_as_n_grows():
    rng = np.random.default_rng(0)
    widths = []
    for n in (20, 200, 2000):
        gold = ["a" if x else "b" for x in rng.integers(0, 2, n)]
        pred = [g if ok else ("b" if g == "a" else "a") for g, ok in zip(gold, rng.random(n) < 0.7)]
        agg = aggregate(frame(classification_rows("m", gold, pred)), n_boot=500)
        with_ci = agg.dropna(subset=["value", "ci_low", "ci_high"])
        assert len(with_ci) > 10
        assert (with_ci.ci_low <= with_ci.value + 1e-12).all() and (with_ci.value <= with_ci.ci_high + 1e-12).all()
        q = metric(agg, "quality")
        widths.append(q.ci_high - q.ci_low)
    assert widths[0] > widths[1] > widths[2] > 0


def test_unknown_price_shows_a_warning_in_the_printed_table_not_zero(project):
    unknown = MODELS_YAML.replace("pricing: {self_hosted: {hourly_usd: 3.6}}", "pricing: auto")
    write_project(project.root, models_yaml=unknown)
    result = run(project, RunOptions())
    agg = read_aggregates(result.folder)
    cost = metric(agg, "cost_per_1k_calls_usd", "fake-b")
    assert cost.value is None or math.isnan(cost.value)
    assert "genai-prices has no price" in cost.note
    console = Console(record=True, width=200)
    console.print(render_summary(summary_table(agg)))
    text = console.export_text()
    line = next(ln for ln in text.splitlines() if "fake-b" in ln and "tiny-triage" in ln)
    assert "unknown price" in line and "$0" not in line
    assert "genai-prices has no price for 'fake-b'" in text
    assert "$0.0" in next(ln for ln in text.splitlines() if "fake-a" in ln)  # the priced model still shows a price


# -- classification and extraction by hand ----------------------------------------------------------


def test_classification_metrics_match_sklearn_with_invalid_answers_and_failures():
    gold = ["a", "a", "b", "b", "c", "c", "a", "b", "c"]
    pred = ["a", "b", "b", None, "c", "a", "a", "b", "c"]
    rows = classification_rows("m", gold, pred, errors=(7,))  # row 7: a timeout (infrastructure)
    rows[8].update(error="refused", score=0.0, subscores=None, detail=None)  # row 8: an answer failure
    agg = aggregate(frame(rows))
    # the timeout is left out; the refusal is a miss, predicted <invalid>
    keep = [i for i in range(9) if i != 7]
    y_true = [gold[i] for i in keep]
    y_pred = [INVALID if pred[i] is None or i == 8 else pred[i] for i in keep]
    labels = ["a", "b", "c"]
    assert metric(agg, "macro_f1").value == pytest.approx(f1_score(y_true, y_pred, labels=labels, average="macro"))
    for label in labels:
        p = precision_score(y_true, y_pred, labels=[label], average="macro", zero_division=0)
        r = recall_score(y_true, y_pred, labels=[label], average="macro", zero_division=0)
        assert metric(agg, f"precision:{label}").value == pytest.approx(p)
        assert metric(agg, f"recall:{label}").value == pytest.approx(r)
    assert metric(agg, f"confusion:b->{INVALID}").value == 1  # the invalid answer; the timeout is not a prediction
    assert metric(agg, f"confusion:c->{INVALID}").value == 1  # the refusal
    assert metric(agg, "confusion:a->b").value == 1
    assert metric(agg, "invalid_label_rate").value == pytest.approx(1 / 7)  # of the 7 scored answers
    assert metric(agg, "accuracy").value == pytest.approx(4 / 8)
    assert metric(agg, "quality").value == pytest.approx(4 / 8) and metric(agg, "quality").n == 8
    assert metric(agg, "error_rate").value == pytest.approx(2 / 9)
    assert metric(agg, "availability").value == pytest.approx(8 / 9)
    counts = {m: metric(agg, m).value for m in ("calls", "errors", "infra_failures", "answer_failures", "refused",
                                                "truncated", "failures:timeout", "failures:refused")}
    assert counts == {"calls": 9, "errors": 2, "infra_failures": 1, "answer_failures": 1, "refused": 1,
                      "truncated": 0, "failures:timeout": 1, "failures:refused": 1}


def test_gold_labels_and_the_label_set_are_normalised_like_the_scorer():
    """Issue 12 item 3: aggregates compared raw gold with normalised predictions (quality 1.0, accuracy 0.0)."""
    from evals.scorers.classification import normalise_label

    gold = ["Inbound Lead", "Support", "Inbound Lead"]
    rows = classification_rows("m", gold, [normalise_label(g) for g in gold])
    for row in rows:
        row["score"] = 1.0  # the scorer normalises gold: every answer is right
    agg = aggregate(frame(rows), scorer_info={"triage": {"labels": ["Inbound Lead", "Support", "Spam"]}})
    assert metric(agg, "quality").value == 1.0
    assert metric(agg, "accuracy").value == 1.0
    assert metric(agg, "recall:inbound_lead").value == 1.0
    assert "over labels inbound_lead, spam, support" in metric(agg, "macro_f1").note


def test_macro_f1_uses_the_scorers_label_set():
    agg = aggregate(frame(classification_rows("m", ["a", "a"], ["a", "a"])),
                    scorer_info={"triage": {"labels": ["a", "b"]}})
    expected = f1_score(["a", "a"], ["a", "a"], labels=["a", "b"], average="macro", zero_division=0)
    assert metric(agg, "macro_f1").value == pytest.approx(expected) == 0.5


def extraction_row(i: int, fields: dict | None, subs: dict | None, model: str = "m", error: str | None = None) -> dict:
    return {"suite": "leads", "task": "extraction", "model": model, "example_id": f"e{i}", "error": error,
            "score": None if error else 0.5, "gold": "{}",
            "subscores": json.dumps(subs) if subs is not None else None,
            "detail": json.dumps({"fields": fields}) if fields is not None else None}


def test_extraction_field_precision_recall_f1_by_hand():
    t = {"gold": True, "pred": True, "correct": True}
    wrong = {"gold": True, "pred": True, "correct": False}
    missed = {"gold": True, "pred": False, "correct": False}
    spurious = {"gold": False, "pred": True, "correct": False}
    empty = {"gold": False, "pred": False, "correct": True}
    subs = {"parsed": 1.0, "schema_valid": 1.0, "exact_record": 0.0}
    rows = [
        extraction_row(0, {"name": t, "date": wrong, "seats": empty}, subs),
        extraction_row(1, {"name": t, "date": missed, "seats": spurious}, {**subs, "schema_valid": 0.0}),
        extraction_row(2, {"name": missed, "date": missed, "seats": empty}, {"parsed": 0.0, "schema_valid": 0.0,
                                                                              "field_accuracy": 0.0}),
        extraction_row(3, None, None, error="timeout"),
    ]
    agg = aggregate(frame(rows))
    # name: tp 2, fp 0, fn 1; date: tp 0, fp 1, fn 3; seats: tp 0, fp 1, fn 0
    assert metric(agg, "field_precision:name").value == 1.0
    assert metric(agg, "field_recall:name").value == pytest.approx(2 / 3)
    assert metric(agg, "field_f1:name").value == pytest.approx(0.8)
    assert metric(agg, "field_precision:date").value == 0.0
    assert metric(agg, "field_precision:seats").value == 0.0
    assert metric(agg, "field_recall:seats").value is None or math.isnan(metric(agg, "field_recall:seats").value)
    assert metric(agg, "field_precision").value == pytest.approx(2 / 4)
    assert metric(agg, "field_recall").value == pytest.approx(2 / 6)
    assert metric(agg, "field_f1").value == pytest.approx(2 * 2 / (2 * 2 + 2 + 4))
    # the timeout (row 3) is left out of every rate
    assert metric(agg, "parse_rate").value == pytest.approx(2 / 3)
    assert metric(agg, "schema_valid_rate").value == pytest.approx(1 / 3)
    assert metric(agg, "exact_record_rate").value == 0.0
    assert metric(agg, "both_null:seats").value == 2  # null on both sides: reported apart, never matched


def test_extraction_null_vs_null_fields_are_not_matches_and_answer_failures_miss_every_gold_field():
    t = {"gold": True, "pred": True, "correct": True}
    rows = [
        {**extraction_row(0, {"name": t}, {"parsed": 1.0}), "detail": json.dumps({"fields": {"name": t},
                                                                                  "both_null": ["phone"]})},
        {**extraction_row(1, None, None), "error": "truncated", "score": 0.0,
         "gold": json.dumps({"name": "Ada", "phone": None, "company": {"name": "Acme"}})},
    ]
    agg = aggregate(frame(rows))
    assert metric(agg, "both_null:phone").value == 1
    assert metric(agg, "field_recall:name").value == pytest.approx(1 / 2)  # the truncated answer missed it
    assert metric(agg, "field_recall:company.name").value == 0.0
    assert metric(agg, "field_recall").value == pytest.approx(1 / 3)
    assert metric(agg, "field_precision").value == 1.0
    assert metric(agg, "parse_rate").value == pytest.approx(1 / 2)
    assert metric(agg, "truncated").value == 1 and metric(agg, "answer_failures").value == 1


# -- statistics in the table ------------------------------------------------------------------------


def test_paired_comparison_and_mcnemar_match_the_stats_functions():
    gold = ["a"] * 12
    pa = ["a"] * 6 + ["b"] * 6
    pb = ["a"] * 10 + ["b"] * 2
    agg = aggregate(frame(classification_rows("ma", gold, pa) + classification_rows("mb", gold, pb)))
    a = np.array([float(p == "a") for p in pa])
    b = np.array([float(p == "a") for p in pb])
    expected = paired_difference(a, b)
    got = metric(agg, "paired_diff_vs:ma", "mb")
    assert (got.value, got.ci_low, got.ci_high, got.n) == pytest.approx((expected.diff, expected.ci_low,
                                                                         expected.ci_high, 12))
    assert metric(agg, "paired_diff_vs:mb", "ma").value == pytest.approx(-expected.diff)
    assert metric(agg, "mcnemar_p_vs:ma", "mb").value == pytest.approx(mcnemar(a > 0, b > 0).p_value)


def test_repeats_give_per_example_variance_and_resample_examples():
    rows = []
    for i in range(10):
        for r, ok in enumerate((True, i % 2 == 0)):
            row = classification_rows("m", ["a"], ["a" if ok else "b"])[0]
            rows.append({**row, "example_id": f"e{i}", "repeat": r})
    agg = aggregate(frame(rows))
    sd = metric(agg, "repeat_sd")
    assert sd.value == pytest.approx(np.mean([0.0] * 5 + [np.std([1, 0], ddof=1)] * 5))
    assert metric(agg, "quality").n == 10 and metric(agg, "calls").value == 20


def test_small_suite_warning_and_context_slices():
    rows = classification_rows("m", ["a", "b"] * 10, ["a", "a"] * 10)
    rows += classification_rows("other", ["a", "b"] * 10, ["b", "b"] * 10)
    for i, row in enumerate(rows):
        row["context_tokens"] = 100 if i % 20 < 10 else 3000
    agg = aggregate(frame(rows))
    mde = metric(agg, "min_detectable_difference", "m")
    assert mde.value > 0.05 and "suite too small" in mde.note and "sd of paired differences vs other" in mde.note
    assert metric(agg, "quality", "m", slice_="context:0-512").n == 10
    assert metric(agg, "quality", "m", slice_="context:2048-8192").n == 10
    assert context_bucket(511) == "context:0-512" and context_bucket(8192) == "context:8192-32768"


def test_the_power_warning_uses_the_sd_of_paired_differences():
    """Issue 11 item 4: min_detectable_difference was fed one model's score sd."""
    n = 200
    a = [("x" if i % 2 else "y") for i in range(n)]  # right on half the examples: score sd 0.5
    b = list(a)
    b[0] = "y" if a[0] == "x" else "x"  # the other model differs on one example only
    gold = ["x"] * n
    agg = aggregate(frame(classification_rows("a", gold, a) + classification_rows("b", gold, b)))
    mde = metric(agg, "min_detectable_difference", "a")
    diffs = np.zeros(n)
    diffs[0] = 1.0 if a[0] == "x" else -1.0
    from evals.stats import min_detectable_difference
    assert mde.value == pytest.approx(min_detectable_difference(n, float(np.std(diffs, ddof=1))))
    assert mde.value < 0.05 and not isinstance(mde.note, str)  # one model's sd (0.5) would have warned: 0.099 > 0.05


def test_latency_percentiles_ttft_and_costs():
    rows = classification_rows("m", ["a"] * 100, ["a"] * 100)
    for i, row in enumerate(rows):
        row.update(latency_ms=float(i + 1), ttft_ms=float(i) / 10, cost_usd=0.002)
    spec = ModelSpec(id="m", provider="fake", model="m", family="f", context_window=8,
                     pricing={"self_hosted": {"hourly_usd": 3.6}})
    agg = aggregate(frame(rows), models={"m": spec})
    for q in (50, 95, 99):
        row = metric(agg, f"latency_p{q}_ms")
        assert row.value == pytest.approx(np.percentile(np.arange(1, 101), q))
        assert row.ci_low <= row.value <= row.ci_high
    assert metric(agg, "ttft_p95_ms").value == pytest.approx(np.percentile(np.arange(100) / 10, 95))
    cost = metric(agg, "cost_per_1k_calls_usd")
    assert cost.value == pytest.approx(2.0) and cost.ci_low == pytest.approx(2.0)
    assert "self-hosted: $3.6/h" in cost.note


def test_partly_unpriced_calls_are_averaged_over_the_priced_ones():
    """Issue 11 item 2: the cost per call is the mean over priced calls; unknown only when none is priced."""
    rows = classification_rows("m", ["a"] * 4, ["a"] * 4)
    rows[0]["cost_usd"] = None
    rows[1]["cost_usd"] = 0.003
    cost = metric(aggregate(frame(rows)), "cost_per_call_usd")
    assert cost.value == pytest.approx((0.003 + 0.001 + 0.001) / 3) and cost.n == 3
    assert "1 of 4 calls had no price" in cost.note
    for row in rows:
        row["cost_usd"] = None
    unknown = metric(aggregate(frame(rows)), "cost_per_1k_calls_usd")
    assert unknown.value is None or math.isnan(unknown.value)
    assert "price unknown" in unknown.note


# -- edges and the artifact -------------------------------------------------------------------------


def test_empty_and_single_example():
    empty = aggregate(frame([]))
    assert empty.empty and list(empty.columns) == AGGREGATE_COLUMNS
    assert summary_table(empty) == []
    one = aggregate(frame(classification_rows("m", ["a"], ["a"])))
    q = metric(one, "quality")
    # one right answer is not certainty: the pass-rate interval of 1/1
    assert (q.value, q.n) == (1.0, 1) and (q.ci_low, q.ci_high) == pytest.approx(mean_ci([1.0]))
    assert metric(one, "macro_f1").value == 1.0
    assert metric(one, "min_detectable_difference").note.startswith("suite too small")


def test_write_read_roundtrip_and_newer_version_refused(tmp_path):
    agg = aggregate(frame(classification_rows("m", ["a", "b"], ["a", "a"])))
    write_aggregates(tmp_path, agg)
    back = read_aggregates(tmp_path)
    pd.testing.assert_frame_equal(back, agg, check_dtype=False)
    write_parquet_atomic(tmp_path / "aggregates.parquet", agg, {"evals_format_version": "99"})
    with pytest.raises(FormatVersionError):
        read_aggregates(tmp_path)


def test_summary_table_accepts_results_too():
    rows = classification_rows("m", ["a", "b"], ["a", "a"])
    by_results = summary_table(frame(rows))
    assert by_results == summary_table(aggregate(frame(rows)))
    assert by_results[0]["quality"] == 0.5 and by_results[0]["calls"] == 2


def test_evals_run_prints_the_warning_for_an_unpriced_model(project):
    from click.testing import CliRunner

    from evals.cli.main import cli

    write_project(project.root, models_yaml=MODELS_YAML.replace("pricing: {self_hosted: {hourly_usd: 3.6}}",
                                                                "pricing: auto"))
    result = CliRunner().invoke(cli, ["run", "--project", str(project.root)], catch_exceptions=False,
                                env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    row = next(ln for ln in result.output.splitlines() if "fake-b" in ln and "tiny-triage" in ln and "│" in ln)
    assert "unknown price" in row and "$0" not in row
    assert "genai-prices has no price for 'fake-b'" in result.output
    assert (project.reports_dir / result.output.split("run ")[-1].split(":")[0] / "aggregates.parquet").is_file()


def test_a_voice_run_reports_the_voice_models_auc_and_the_judge(shipped_copy):
    with open(shipped_copy.models_file, "a") as handle:
        handle.write("\n  - id: writer-fake\n    provider: fake\n    model: writer-fake\n    family: fake\n"
                     "    context_window: 8192\n    pricing: {tokens: {input_per_mtok: 1.0, output_per_mtok: 1.0}}\n")
    suite_yaml = shipped_copy.suites_dir / "writing" / "founder-voice" / "suite.yaml"
    text = suite_yaml.read_text().replace("    contrast_file: contrast.jsonl\n",
                                          "    contrast_file: contrast.jsonl\n"
                                          "    judge: {model: writer-fake, mode: pairwise}\n")
    suite_yaml.write_text(text)

    def answer(request) -> str:
        prompt = request.prompt.text
        if "## Text A" in prompt:  # the judge: always picks the first text, a position-biased judge
            return "A reads better.\nWINNER: A"
        return "We rent GPUs. Buying would cost $320,000 upfront and pay back in 27 months. We will look again at 30%."

    FakeProvider.reset(responder=answer)
    result = run(shipped_copy, RunOptions(suites=["founder-voice"], models=["writer-fake"], limit=3))
    info = result.manifest["suites"]["founder-voice"]["scorer"]
    assert info["voice_model"]["cv_auc"] > 0.8 and info["judge"]["mode"] == "pairwise"
    agg = read_aggregates(result.folder)
    auc = metric(agg, "voice_model_cv_auc", "writer-fake")
    assert auc.value == pytest.approx(info["voice_model"]["cv_auc"]) and "CV AUC" in auc.note
    assert metric(agg, "subscore:judge", "writer-fake").value == 0.5
    assert metric(agg, "subscore:judge_position_agreement", "writer-fake").value == 0.0
    style = metric(agg, "subscore:style", "writer-fake")
    assert 0.0 <= style.ci_low <= style.value <= style.ci_high <= 1.0


def test_a_failed_call_without_usage_does_not_make_a_known_price_unknown():
    rows = classification_rows("m", ["a"] * 4, ["a"] * 4, errors=(0,))
    rows[0]["cost_usd"] = None
    cost = metric(aggregate(frame(rows)), "cost_per_call_usd")
    assert cost.value == pytest.approx(0.001) and cost.n == 3


def test_macro_f1_of_twenty_right_answers_is_not_certain():
    """20 of 20 right is not macro-F1 [1, 1]: the interval is as honest as accuracy's (issue 11 item 4's
    small-sample finding, for the one statistic that is not a mean)."""
    labels = ["a", "b", "c", "d"] * 5
    agg = aggregate(frame(classification_rows("m", labels, labels)))
    f1, acc = metric(agg, "macro_f1"), metric(agg, "accuracy")
    assert f1.value == 1.0 and f1.ci_high == 1.0
    assert f1.ci_low == pytest.approx(acc.ci_low) and f1.ci_low < 0.85
