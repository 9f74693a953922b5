"""The report's numbers: per-suite views, Pareto frontier, comparison, drill-down sampling, safe JSON."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from tests.report import report_data as data
from evals.report.compare import compare_runs, verdict
from evals.report.drill import drilldown, example_priorities
from evals.report.html import ReportInputs, build_report, json_island, render_html
from evals.aggregates import aggregate
from evals.metrics import pareto_frontier
from evals.report.views import suite_views


def _suite(views, name):
    return next(v for v in views if v["suite"] == name)


def _agg(frame, name, suite, model):
    rows = frame[(frame.suite == suite) & (frame.model == model) & (frame.slice == "all") & (frame.metric == name)]
    assert len(rows) == 1, (name, suite, model)
    return rows.iloc[0]


def test_suite_views_show_the_aggregates():
    frame = data.results(12)
    agg = aggregate(frame)
    views = suite_views(agg, frame, data.manifest())
    assert [v["suite"] for v in views] == ["leads", "triage", "voice"]
    triage = _suite(views, "triage")
    small = next(m for m in triage["models"] if m["model"] == "model-small")
    rows = frame[(frame.suite == "triage") & (frame.model == "model-small")]
    q = _agg(agg, "quality", "triage", "model-small")
    assert (small["quality"], small["ci_low"], small["ci_high"], small["n"]) == (q.value, q.ci_low, q.ci_high, q.n)
    # the timeout and the scorer error are infrastructure failures: left out of quality, counted apart
    assert small["n"] == 10 and small["quality"] == pytest.approx(rows["score"].dropna().mean())
    assert small["errors"] == rows["error"].notna().sum() == 2 == small["infra_failures"]
    assert small["availability"] == pytest.approx(10 / 12)
    assert small["errors_by_kind"] == {"scorer_error": 1, "timeout": 1}
    assert small["cost_per_1k_usd"] == pytest.approx(rows["cost_usd"].mean() * 1000)
    assert small["p95_ms"] == pytest.approx(np.percentile(rows["latency_ms"], 95))
    assert small["ci_low"] <= small["quality"] <= small["ci_high"]
    assert small["family"] == "smollm2"


def test_per_class_and_per_field_views():
    frame = data.results(12)
    views = suite_views(aggregate(frame), frame, data.manifest())
    classes = _suite(views, "triage")["classes"]
    assert [r["class"] for r in classes["rows"]] == ["lead", "spam", "support"]
    ok = frame[(frame.suite == "triage") & (frame.model == "model-big") & frame.error.isna()]
    gold = ok["gold"].map(json.loads)
    lead = next(r for r in classes["rows"] if r["class"] == "lead")
    expected = (ok["output"][gold == "lead"] == "lead").mean()
    assert lead["recall"]["model-big"] == pytest.approx(expected)
    fields = _suite(views, "leads")["fields"]
    name = next(r for r in fields["rows"] if r["field"] == "name")
    assert name["f1"] == {"model-big": 1.0, "model-mid": 1.0, "model-small": 1.0}
    assert _suite(views, "voice")["fields"] is None and _suite(views, "voice")["classes"] is None


def test_pareto_frontier_drops_dominated_and_unpriced_models():
    points = [{"model": "cheap-bad", "cost": 0.1, "quality": 0.2}, {"model": "dominated", "cost": 2.0, "quality": 0.5},
              {"model": "mid", "cost": 1.0, "quality": 0.6}, {"model": "best", "cost": 5.0, "quality": 0.9},
              {"model": "unpriced", "cost": None, "quality": 1.0}, {"model": "same-cost-worse", "cost": 1.0,
                                                                     "quality": 0.55}]
    assert pareto_frontier(points) == ["cheap-bad", "mid", "best"]
    assert pareto_frontier([]) == []


def test_compare_calls_better_worse_and_unchanged():
    assert verdict(math.nan, math.nan) == "unchanged"
    current, baseline = data.results(30), data.results(30, seed=0, skill_shift=-0.5)
    out = compare_runs(current, baseline, baseline_id="b")
    assert out["matched_rows"] == len(current)
    verdicts = {(r["suite"], r["model"]): r["verdict"] for r in out["rows"]}
    assert verdicts[("voice", "model-big")] == "better"
    same = compare_runs(current, current, baseline_id="same")
    assert {r["verdict"] for r in same["rows"]} == {"unchanged"} and same["n_better"] == same["n_worse"] == 0
    worse = compare_runs(baseline, current, baseline_id="c")
    assert worse["worse"] and all(e["delta"] < 0 for e in worse["worse"])
    assert [e["delta"] for e in worse["worse"]] == sorted(e["delta"] for e in worse["worse"])


def test_drilldown_keeps_whole_examples_and_puts_errors_first():
    frame = data.results(200, prompt_chars=2000)
    out = drilldown(frame, byte_budget=200_000, text_limit=500)
    s = out["sampling"]
    assert not s["complete"] and 0 < s["examples"] < s["total_examples"] and s["truncated_texts"] > 0
    assert len(json.dumps(out["rows"])) <= 200_000
    per_example = {}
    for r in out["rows"]:
        per_example.setdefault((r["s"], r["e"]), set()).add(r["m"])
        assert r["p"] is None or len(r["p"]) <= 500
    assert all(len(models) == 3 for models in per_example.values())  # every model of an example
    assert s["by_tier"]["error"] >= s["by_tier"].get("other", 0)
    assert {r["s"] for r in out["rows"]} == {"triage", "leads", "voice"}  # no suite crowded out
    order = example_priorities(frame)
    assert order.iloc[0]["tier"] == 0


def test_drilldown_embeds_everything_when_it_fits():
    frame = data.results(5)
    out = drilldown(frame)
    assert out["sampling"]["complete"] and out["sampling"]["rows"] == len(frame)


def test_json_island_cannot_close_its_script_tag():
    text = json_island({"o": "</script><script>alert(1)</script>", "a": "a & b", "n": math.nan})
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"o": "</script><script>alert(1)</script>", "a": "a & b", "n": None}


def test_html_is_self_contained_and_escaped():
    frame = data.results(4)
    frame["output"] = "<script>alert(1)</script>"
    html = render_html(build_report(ReportInputs(data.manifest(), frame)))
    assert "<script>alert(1)" not in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in html and "<link" not in html
    assert html.count("<svg") >= 9


def test_report_without_rows_still_renders():
    frame = data.results(1).iloc[0:0]
    report = build_report(ReportInputs(data.manifest(), frame))
    assert "0 rows" in render_html(report)


def test_doctests_of_the_report_modules():
    import doctest

    import evals.report.charts
    import evals.report.compare
    import evals.report.format
    import evals.report.html
    import evals.report.markdown
    import evals.report.mdblocks
    import evals.report.views

    for module in (evals.report.charts, evals.report.compare, evals.report.format, evals.report.html,
                   evals.report.markdown, evals.report.mdblocks, evals.report.views):
        result = doctest.testmod(module)
        assert result.failed == 0 and result.attempted > 0, module.__name__


def test_diff_markdown_becomes_blocks():
    from evals.report.mdblocks import parse_blocks

    blocks = parse_blocks(data.DIFF_MD + "- price of model-small unknown\n")
    assert [b["kind"] for b in blocks] == ["heading", "para", "table", "heading", "table", "para", "list"]
    rules = blocks[2]
    assert rules["header"][0] == "rule" and len(rules["rows"]) == 2 and len(rules["rows"][0]) == 8
    assert blocks[5]["text"].startswith("Total: $33.33")
    assert blocks[6]["entries"] == ["price of model-small unknown"]


def test_quality_cost_chart_plots_priced_models_only():
    from evals.report.charts import quality_cost_svg

    models = [{"model": "a<b>", "quality": 0.5, "cost_per_1k_usd": 1.0, "ci_low": 0.4, "ci_high": 0.6, "pareto": True},
              {"model": "unpriced", "quality": 0.9, "cost_per_1k_usd": None, "ci_low": None, "ci_high": None,
               "pareto": False}]
    svg = str(quality_cost_svg(models, title="t"))
    assert svg.count('class="point"') == 1 and "a&lt;b&gt;" in svg and "<b>" not in svg
