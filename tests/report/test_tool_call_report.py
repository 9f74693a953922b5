"""The report shows the tool-call breakdowns (per tool, per argument, confusion of tools) with the
aggregates' values, and the examples a model was excluded from by its context window."""

from __future__ import annotations

import json

from evals.aggregates import read_aggregates
from evals.providers.fake import FakeProvider
from evals.report.views import suite_views
from evals.runner.run import RunOptions, run
from evals.runner.store import read_manifest, read_results
from tests.runner.test_tool_call_run import add_model, gold_responder


def test_tool_breakdowns_and_exclusions_in_the_report(shipped_copy):
    add_model(shipped_copy, "gold-fake", 32768)
    add_model(shipped_copy, "small-fake", 8192)
    gold = gold_responder(shipped_copy, "gold-fake")

    def answer(request):
        if request.prompt.tools is not None and "paul.ng@ardentbio.com" in request.prompt.text:  # crm-003: a meeting
            return json.dumps({"tool": "log_call", "arguments": {"account": "Ardent", "date": "2026-12-10",
                                                                 "summary": "x"}})
        return gold(request)

    FakeProvider.reset(responder=answer)
    result = run(shipped_copy, RunOptions(suites=["crm-actions", "plan-commitments"], models=["gold-fake", "small-fake"],
                                          split="test"))
    folder = result.folder
    aggregates = read_aggregates(folder)
    views = {v["suite"]: v for v in suite_views(aggregates, read_results(folder), read_manifest(folder))}
    tools = views["crm-actions"]["tools"]
    meeting = next(r for r in tools["rows"] if r["tool"] == "schedule_meeting")
    value = aggregates[(aggregates["slice"] == "all")].set_index(["model", "metric"])["value"]
    assert meeting["recall"]["gold-fake"] == value[("gold-fake", "tool_recall:schedule_meeting")] < 1.0
    assert tools["confusion"]["gold-fake"]["counts"]["schedule_meeting"]["log_call"] == 1
    start = next(r for r in tools["arguments"] if r["argument"] == "schedule_meeting.start")
    assert start["f1"]["gold-fake"] == value[("gold-fake", "argument_f1:schedule_meeting.start")]
    assert set(tools["kinds"]) == {"call", "no_tool", "clarify"}
    assert views["plan-commitments"]["excluded"] == [
        {"model": "small-fake", "count": 3, "window": 8192, "needed": views["plan-commitments"]["excluded"][0]["needed"],
         "examples": ["plan-24", "plan-25", "plan-26"]}]
    assert views["crm-actions"]["excluded"] == []
    html = (folder / "report.html").read_text()
    assert "Per tool: recall / precision" in html and "Confusion of tools: gold-fake" in html
    assert "Per argument: F1" in html and "<code>schedule_meeting.start</code>" in html
    assert "Excluded (not run, left out of quality): <strong>small-fake</strong> 3 examples, context window 8,192" in html
    summary = (folder / "summary.md").read_text()
    assert "Excluded (not run, left out of quality): small-fake 3 examples, context window 8,192" in summary


def test_the_examples_view_shows_the_calls():
    import pandas as pd

    from evals.report.drill import drilldown

    frame = pd.DataFrame([{"suite": "crm-actions", "example_id": "a", "model": "m", "repeat": 0, "variant": "default",
                           "score": 1.0, "subscores": None, "error": None, "error_message": None, "output": "",
                           "gold": "{}", "prompt_text": "p", "detail": None, "cost_usd": 0.0, "latency_ms": 1.0,
                           "tool_calls": '[{"name": "lookup_account", "arguments": {"account": "Kelpie"}}]'}])
    (row,) = drilldown(frame)["rows"]
    assert row["o"] == '[tool calls] [{"name": "lookup_account", "arguments": {"account": "Kelpie"}}]'
