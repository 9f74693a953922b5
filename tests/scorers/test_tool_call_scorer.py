"""The tool_call scorer: gold scores 1.0 on every shipped example, plainly wrong calls score lower, and the
per-argument cells, confusion labels and sub-scores say why."""

from __future__ import annotations

import copy
import json
from types import SimpleNamespace

import pytest

from evals.errors import ConfigError
from evals.scorers import build_scorer, default_scorers
from evals.scorers.tool_call import NO_CALL, ToolCallScorer, ToolCallSettings, read_answer
from evals.suites import Example, open_suite
from tests.conftest import REPO

CRM = REPO / "suites" / "tool_call" / "crm-actions" / "suite.yaml"


@pytest.fixture(scope="module")
def suites():
    return {split: open_suite(CRM, split=split) for split in ("dev", "test", "full")}


@pytest.fixture(scope="module")
def scorer(suites):
    return build_scorer(suites["test"])


def call(tool, arguments) -> str:
    return json.dumps({"tool": tool, "arguments": arguments})


def example(expected: dict, id_: str = "x") -> Example:
    return Example(id=id_, inputs={}, gold=expected, split="test")


def by_id(suites, id_: str) -> Example:
    return next(e for split in suites.values() for e in split.examples if e.id == id_)


def test_registered():
    assert default_scorers()["tool_call"] is ToolCallScorer


@pytest.mark.parametrize("split", ["dev", "test", "full"])
def test_gold_scores_1_on_every_shipped_example(suites, scorer, split):
    for e in suites[split].examples:
        result = scorer.score(scorer.gold_answer(e), e)
        assert result.value == 1.0 and result.subscores["exact_call"] == 1.0, e.id
        assert result.detail["gold_tool"] == result.detail["predicted_tool"], e.id
        assert all(cell["correct"] for cell in result.detail["fields"].values()), e.id


def _wrong_answers(e: Example, tools: dict) -> list[tuple[str, str]]:
    """Plainly wrong answers for a call row: wrong tool, a changed date, a required argument left out,
    an invented argument, no call at all, arguments that are not JSON."""
    gold = {k: v for k, v in e.gold["arguments"].items() if v is not None}
    tool = e.gold["tool"]
    other = next(name for name in tools if name != tool)
    out = [("wrong tool", call(other, gold)), ("no call", json.dumps({"tool": None, "reply": "Done."})),
           ("not JSON arguments", json.dumps({"tool_calls": [{"name": tool, "arguments": '{"account": '}],
                                              "text": ""})),
           ("invented argument", call(tool, {**gold, "priority": "high"}))]
    schema = tools[tool]["parameters"]
    for name in schema["required"]:
        if name in gold:
            out.append((f"{name} left out", call(tool, {k: v for k, v in gold.items() if k != name})))
    for name in ("date", "expected_close_date"):
        if name in gold:
            out.append((f"wrong {name}", call(tool, {**gold, name: "2031-01-01"})))
    if "start" in gold:
        out.append(("wrong start", call(tool, {**gold, "start": "2031-01-01T09:00:00+00:00"})))
    return out


def test_plainly_wrong_calls_score_lower(suites, scorer):
    tools = scorer.tools
    seen = set()
    for e in suites["full"].examples:
        if e.gold["kind"] != "call":
            for why, answer in (("a call where none is right", call("lookup_account", {"account": "Kelpie"})),):
                result = scorer.score(answer, e)
                assert result.value == 0.0 and result.subscores["tool_correct"] == 0.0, (e.id, why)
            continue
        for why, answer in _wrong_answers(e, tools):
            result = scorer.score(answer, e)
            assert result.value < 1.0 and result.subscores["exact_call"] == 0.0, (e.id, why)
            seen.add(why.split()[0] if why.startswith(("wrong", "no", "not", "invented")) else "left out")
    assert {"wrong", "no", "not", "invented", "left out"} <= seen


def test_cells_say_which_argument_is_wrong(suites, scorer):
    e = by_id(suites, "crm-006")  # log_call with a date
    gold = {k: v for k, v in e.gold["arguments"].items() if v is not None}
    result = scorer.score(call("log_call", {**gold, "date": "2026-04-01", "priority": "high"}), e)
    fields = result.detail["fields"]
    assert fields["log_call.date"] == {"gold": True, "pred": True, "correct": False}
    assert fields["log_call.priority"] == {"gold": False, "pred": True, "correct": False}
    assert fields["log_call.account"]["correct"]
    counted = len(fields)
    assert result.value == pytest.approx((counted - 2) / counted)
    assert result.subscores["arguments_valid"] == 0.0  # additionalProperties: false
    assert result.subscores["tool_correct"] == 1.0


def test_wrong_tool_shows_in_the_confusion_labels(suites, scorer):
    e = by_id(suites, "crm-006")
    result = scorer.score(call("lookup_account", {"account": "Marlow & Finch"}), e)
    assert (result.detail["gold_tool"], result.detail["predicted_tool"]) == ("log_call", "lookup_account")
    assert result.detail["fields"]["lookup_account.account"] == {"gold": False, "pred": True, "correct": False}
    assert result.detail["fields"]["log_call.date"] == {"gold": True, "pred": False, "correct": False}
    assert "argument_accuracy" not in result.subscores  # only where the tool is right


def test_no_call_rows_score_a_text_answer_and_record_the_kind(suites, scorer):
    clarify = next(e for e in suites["test"].examples if e.gold["kind"] == "clarify")
    result = scorer.score("Who should I send it to?", clarify)
    assert result.value == 1.0 and result.detail["gold_kind"] == "clarify"
    assert result.detail["predicted_tool"] == NO_CALL and result.detail["missing"] == clarify.gold["missing"]


def test_several_calls_are_not_the_one_call_asked_for(suites, scorer):
    e = by_id(suites, "crm-006")
    gold = {k: v for k, v in e.gold["arguments"].items() if v is not None}
    answer = json.dumps({"tool_calls": [{"name": "log_call", "arguments": gold},
                                        {"name": "lookup_account", "arguments": {"account": "X"}}], "text": ""})
    result = scorer.score(answer, e)
    assert result.value == 0.0 and result.detail["predicted_tool"] == "log_call+lookup_account"
    assert result.detail["calls"] == 2
    assert all(result.detail["fields"][f"log_call.{a}"]["correct"] for a in gold)  # still compared, for the cells


def test_a_value_the_schema_refuses_is_wrong_even_if_it_normalises_equal(suites, scorer):
    e = by_id(suites, "crm-006")
    gold = {k: v for k, v in e.gold["arguments"].items() if v is not None}
    result = scorer.score(call("log_call", {**gold, "date": "April 9th, 2026"}), e)  # gold: 2026-04-09
    assert result.detail["fields"]["log_call.date"] == {"gold": True, "pred": True, "correct": False, "invalid": True}
    assert result.value < 1.0


def test_accepted_alternatives_and_instants(suites, scorer):
    e = by_id(suites, "crm-078")  # start 16:00-08:00 LA, accepted 09:00+09:00 Tokyo
    gold = {k: v for k, v in e.gold["arguments"].items() if v is not None}
    tokyo = {**gold, "start": "2026-02-12T09:00:00+09:00", "time_zone": "Asia/Tokyo"}
    assert scorer.score(call("schedule_meeting", tokyo), e).value == 1.0
    utc = {**gold, "start": "2026-02-12T00:00:00+00:00"}  # the same instant, written in UTC
    assert scorer.score(call("schedule_meeting", utc), e).detail["fields"]["schedule_meeting.start"]["correct"]
    elsewhere = {**gold, "time_zone": "Europe/Paris"}
    assert not scorer.score(call("schedule_meeting", elsewhere), e).detail["fields"]["schedule_meeting.time_zone"]["correct"]


def test_accepted_as_absent_is_not_counted(suites, scorer):
    e = by_id(suites, "crm-023")  # accept: {expected_close_date: [null]}
    gold = {k: v for k, v in e.gold["arguments"].items() if v is not None}
    result = scorer.score(call(e.gold["tool"], {k: v for k, v in gold.items() if k != "expected_close_date"}), e)
    assert result.value == 1.0
    assert result.detail["accepted_absent"] == [f"{e.gold['tool']}.expected_close_date"]


def test_an_accepted_optional_argument_counts_as_gold(suites, scorer):
    e = by_id(suites, "crm-107")  # lookup_account, no sections in gold; sections [contract] accepted
    result = scorer.score(call("lookup_account", {"account": "Cobaltline Energy", "sections": ["contract"]}), e)
    assert result.value == 1.0
    assert result.detail["fields"]["lookup_account.sections"] == {"gold": True, "pred": True, "correct": True}
    other = scorer.score(call("lookup_account", {"account": "Cobaltline Energy", "sections": ["usage"]}), e)
    assert other.value < 1.0


def test_free_text_is_right_when_given(suites, scorer):
    e = by_id(suites, "crm-006")
    gold = {k: v for k, v in e.gold["arguments"].items() if v is not None}
    reworded = scorer.score(call("log_call", {**gold, "summary": "Voicemail again, Harriet."}), e)
    assert reworded.value == 1.0
    empty = scorer.score(call("log_call", {**gold, "summary": ""}), e)
    assert empty.value < 1.0


def test_values_normalise_as_in_extraction(suites, scorer):
    e = by_id(suites, "crm-003")  # two attendees, a duration
    gold = {k: v for k, v in e.gold["arguments"].items() if v is not None}
    shuffled = {**gold, "attendees": [a.upper() for a in reversed(gold["attendees"])]}
    cells = scorer.score(call("schedule_meeting", shuffled), e).detail["fields"]
    assert cells["schedule_meeting.attendees"]["gold"] and cells["schedule_meeting.attendees"]["pred"]
    # lists compare as sets after case folding; but the upper-case addresses still match their pattern
    assert cells["schedule_meeting.attendees"]["correct"]


def test_read_answer_forms():
    assert read_answer('```json\n{"tool": "f", "arguments": {"a": 1}}\n```').calls == [("f", {"a": 1}, '{"a": 1}')]
    assert read_answer('{"tool": null, "reply": "hi"}').text == "hi"
    assert read_answer("just words").calls == [] and read_answer("just words").text == "just words"


def test_baseline_is_no_tool(suites, scorer):
    baseline = scorer.baseline(suites["test"].examples)
    assert baseline.name == "no tool"
    scores = [scorer.score(baseline.outputs[e.id], e).value for e in suites["test"].examples]
    no_call = [e.gold["kind"] != "call" for e in suites["test"].examples]
    assert scores == [1.0 if n else 0.0 for n in no_call]


def test_settings_name_real_arguments(suites):
    suite = suites["test"]
    bad = SimpleNamespace(path=suite.path, tools=suite.tools, spec=suite.spec)
    with pytest.raises(ConfigError, match="names no argument"):
        ToolCallScorer(bad, ToolCallSettings(free_text_arguments=["sumary"]))
    with pytest.raises(ConfigError, match="needs the suite's tools"):
        ToolCallScorer(SimpleNamespace(path=suite.path, tools=None), ToolCallSettings())


def test_padded_gold_arguments_mean_absent(suites, scorer):
    """A table loader gives every row every argument key (null): null is absent, not a value to match."""
    e = by_id(suites, "crm-006")
    padded = copy.deepcopy(e.gold)
    padded["arguments"]["cc"] = None
    result = scorer.score(scorer.gold_answer(example(padded)), example(padded))
    assert result.value == 1.0 and "log_call.cc" not in result.detail["fields"]
    assert result.subscores["exact_call"] == 1.0 and result.detail["schema_errors"] == []  # no `"cc": null` sent


def test_arguments_that_are_not_an_object_score_0_even_with_nothing_to_fill():
    """A tool with no gold arguments has no cell to miss; its call still fails when the arguments are not
    a JSON object (the tool would reject the call)."""
    tools = [{"name": "refresh", "description": "Refresh the pipeline view.",
              "parameters": {"type": "object", "properties": {"board": {"type": "string"}}}}]
    scorer = ToolCallScorer(SimpleNamespace(tools=tools, path="suite.yaml"), ToolCallSettings(free_text_arguments=[]))
    gold = example({"kind": "call", "tool": "refresh", "arguments": {}})
    assert scorer.score(call("refresh", {}), gold).value == 1.0
    broken = json.dumps({"tool_calls": [{"name": "refresh", "arguments": "{board: main"}], "text": ""})
    result = scorer.score(broken, gold)
    assert result.value == 0.0 and result.subscores["tool_correct"] == 1.0
    assert result.subscores["arguments_valid"] == 0.0 and result.detail["schema_errors"]
