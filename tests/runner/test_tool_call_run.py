"""The two issue-14 suites through the runner: tools travel with the request (and its cache key), rows
carry tool calls and sub-scores, gold as the answer scores 1.0, and a request larger than a model's
context window is excluded with the reason instead of being run and failed."""

from __future__ import annotations

import json

import pytest

from evals.providers.fake import FakeProvider
from evals.requests import build_request, variant_for
from evals.runner.run import RunOptions, run
from evals.runner.store import read_manifest
from evals.scorers import build_scorer
from evals.suites import open_suite
from tests.conftest import REPO

SUITES = {"crm-actions": REPO / "suites" / "tool_call" / "crm-actions" / "suite.yaml",
          "plan-commitments": REPO / "suites" / "extraction" / "plan-commitments" / "suite.yaml"}


def add_model(project, model_id: str, window: int, family: str = "fake") -> None:
    with open(project.models_file, "a") as handle:
        handle.write(f"\n  - id: {model_id}\n    provider: fake\n    model: {model_id}\n    family: {family}\n"
                     f"    context_window: {window}\n"
                     "    pricing: {tokens: {input_per_mtok: 1.0, output_per_mtok: 1.0}}\n")


def gold_responder(project, model_id: str, family: str = "fake"):
    """A fake model answering each example's gold (the call object for a tool call)."""
    answers = {}
    for name, path in SUITES.items():
        for split in open_suite(path, with_examples=False).spec.data.files:
            suite = open_suite(path, split=split)
            scorer = build_scorer(suite)
            template = variant_for(project.prompts_dir, suite.spec.prompt, model_id, family)
            for e in suite.examples:
                rendered = build_request(template, suite.variables(e), suite.schema, suite.tools)
                answers[rendered.sha256] = scorer.gold_answer(e) if name == "crm-actions" else json.dumps(e.gold)
    return lambda request: answers[request.prompt.sha256]


def test_gold_scores_1_and_rows_carry_tool_calls(shipped_copy):
    add_model(shipped_copy, "gold-fake", 32768)
    FakeProvider.reset(responder=gold_responder(shipped_copy, "gold-fake"))
    result = run(shipped_copy, RunOptions(suites=sorted(SUITES), models=["gold-fake"], split="test"))
    frame = result.results
    assert len(frame) == 36 + 9 and frame["error"].isna().all()
    assert (frame["score"] == 1.0).all(), frame.loc[frame["score"] != 1.0, ["example_id", "detail"]]
    crm = frame[frame["suite"] == "crm-actions"]
    plan = frame[frame["suite"] == "plan-commitments"]
    assert crm["tool_calls"].notna().all() and plan["tool_calls"].isna().all()  # only requests with tools
    calls = {row.example_id: json.loads(row.tool_calls) for row in crm.itertuples()}
    assert calls["crm-006"] == [{"name": "log_call", "arguments": {
        "account": "Marlow & Finch", "contact_names": ["Harriet Quayle"], "date": "2026-04-09", "channel": "phone",
        "outcome": "left_voicemail", "summary": "Left a second voicemail this week for Harriet Quayle."}}]
    assert calls["crm-024"] == []  # a clarifying question: no call
    assert {"tool_correct", "exact_call"} <= set(json.loads(crm["subscores"].iloc[0]))
    assert {"record_f1", "record_recall"} <= set(json.loads(plan["subscores"].iloc[0]))
    # the tools were in the request: every crm prompt hash covers them
    sent = [r for r in FakeProvider.calls if r.prompt.tools is not None]
    assert len(sent) == 36 and sent[0].prompt.canonical()["tools"][0]["name"] == "log_call"
    again = run(shipped_copy, RunOptions(suites=["crm-actions"], models=["gold-fake"], split="test"))
    assert again.results["cached"].all()
    assert again.results["tool_calls"].tolist() == crm["tool_calls"].tolist()  # from the cache, unchanged


def test_the_tools_are_in_the_cache_key(shipped_copy):
    suite = open_suite(SUITES["crm-actions"])
    template = variant_for(shipped_copy.prompts_dir, suite.spec.prompt, "x", "fake")
    e = suite.examples[0]
    with_tools = build_request(template, suite.variables(e), suite.schema, suite.tools)
    fewer = build_request(template, suite.variables(e), suite.schema, suite.tools[:-1])
    without = build_request(template, suite.variables(e), suite.schema)
    assert len({with_tools.sha256, fewer.sha256, without.sha256}) == 3
    assert "tools" not in without.canonical()  # requests without tools keep the keys they always had


def test_a_window_too_small_excludes_the_example_with_the_reason(shipped_copy):
    add_model(shipped_copy, "small-window", 8192)
    add_model(shipped_copy, "big-window", 32768)
    FakeProvider.reset(responder=lambda request: '{"commitments": []}')
    from evals.runner.run import SilentReporter

    reporter = SilentReporter()
    result = run(shipped_copy, RunOptions(suites=["plan-commitments"], models=["small-window", "big-window"],
                                          split="test"), reporter=reporter)
    frame = result.results
    long_docs = {e.id for e in open_suite(SUITES["plan-commitments"], split="test").examples if len(e.inputs["document"]) > 36000}
    assert len(long_docs) == 3
    small = frame[frame["model"] == "small-window"]
    assert set(small["example_id"]).isdisjoint(long_docs) and len(small) == 6  # not run, not failed
    assert len(frame[frame["model"] == "big-window"]) == 9
    excluded = read_manifest(result.folder)["excluded"]
    assert {e["example_id"] for e in excluded} == long_docs and {e["model"] for e in excluded} == {"small-window"}
    first = excluded[0]
    assert first["window"] == 8192 and first["needed_tokens"] > 8192 and first["max_tokens"] == 4000
    assert first["reason"].startswith("context window 8,192 < ") and "max_tokens 4,000" in first["reason"]
    assert any("small-window: 3 examples of plan-commitments excluded" in w for w in reporter.warnings)
    from evals.aggregates import read_aggregates

    aggregates = read_aggregates(result.folder)
    quality = aggregates[(aggregates["model"] == "small-window") & (aggregates["slice"] == "all")
                         & (aggregates["metric"] == "quality")]
    assert int(quality["n"].iloc[0]) == 6  # the excluded examples are out of quality, not scored 0


def test_an_example_that_fits_is_not_excluded(shipped_copy):
    add_model(shipped_copy, "huge-window", 200000)
    FakeProvider.reset(responder=lambda request: '{"commitments": []}')
    result = run(shipped_copy, RunOptions(suites=["plan-commitments"], models=["huge-window"], split="test"))
    assert len(result.results) == 9 and read_manifest(result.folder)["excluded"] == []


@pytest.mark.parametrize("name", sorted(SUITES))
def test_baselines_are_written(shipped_copy, name):
    add_model(shipped_copy, "any-fake", 200000)
    FakeProvider.reset(responder=lambda request: "{}")
    result = run(shipped_copy, RunOptions(suites=[name], models=["any-fake"]))
    import pandas as pd

    baselines = pd.read_parquet(result.folder / "baselines.parquet")
    assert set(baselines["baseline"]) == {"no tool" if name == "crm-actions" else "empty object"}
    assert len(baselines) == len(open_suite(SUITES[name]).examples)


def test_a_truncated_answer_lists_what_it_misses(shipped_copy):
    """An answer cut off at max_tokens scores 0 unread, and its detail lists every gold field it misses
    (per record for plan-commitments, per argument for crm-actions), so per-field metrics count them."""
    from evals.providers.base import GenerateResponse

    add_model(shipped_copy, "cut-fake", 200000)
    FakeProvider.reset(responder=lambda request: GenerateResponse(text='{"commitments": [{"owner": "A',
                                                                   finish_reason="length", output_tokens=9))
    result = run(shipped_copy, RunOptions(suites=["plan-commitments", "crm-actions"], models=["cut-fake"], limit=1,
                                          split="test"))
    frame = result.results.set_index("suite")
    plan, crm = frame.loc["plan-commitments"], frame.loc["crm-actions"]
    assert plan["error"] == "truncated" and plan["score"] == 0.0
    gold = open_suite(SUITES["plan-commitments"], split="test").examples[0].gold["commitments"]
    fields = json.loads(plan["detail"])["fields"]
    assert len(fields) == sum(1 for g in gold for v in g.values() if v is not None)
    assert not any(c["pred"] for c in fields.values()) and "commitments[0].owner" in fields
    detail = json.loads(crm["detail"])
    assert crm["error"] == "truncated" and detail["predicted_tool"] is None
    assert detail["gold_tool"] == "schedule_meeting" and "schedule_meeting.start" in detail["fields"]


def test_the_answer_room_counts_against_the_window():
    """A prompt that fits leaves room for ``max_tokens`` or is excluded: llama-cpp-python would otherwise
    shrink the answer budget silently and the answer would read as truncated."""
    from types import SimpleNamespace

    from evals.prompts import RenderedPrompt
    from evals.runner.windows import window_exclusion

    class Window:
        spec = SimpleNamespace(id="m")

        def context_limit(self):
            return 100

        def count_tokens(self, prompt):
            return 60

    def prompt(max_tokens):
        return RenderedPrompt(messages=None, prompt="x", max_tokens=max_tokens, temperature=0.0)

    assert window_exclusion(Window(), "s", "e", prompt(40)) is None  # 60 + 40 = 100: exactly full fits
    excluded = window_exclusion(Window(), "s", "e", prompt(41))
    assert excluded is not None and (excluded.prompt_tokens, excluded.needed, excluded.window) == (60, 101, 100)
