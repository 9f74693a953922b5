"""Per-tool, per-argument and confusion metrics of tool-call suites, and per-field metrics of record lists,
computed from rows the real scorers wrote (through the runner's row rule for answer failures)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from evals.aggregates import aggregate
from evals.metrics.extraction import extraction_metrics
from evals.metrics.tool_calls import tool_call_metrics
from evals.scorers import build_scorer
from evals.suites import open_suite
from tests.conftest import REPO

CRM = REPO / "suites" / "tool_call" / "crm-actions" / "suite.yaml"
PLAN = REPO / "suites" / "extraction" / "plan-commitments" / "suite.yaml"


def row(suite, scorer, example, output: str | None, error: str | None = None, model: str = "m") -> dict:
    """A results row as the runner writes it: scored, or an answer/infra failure."""
    if error is None:
        result = scorer.score(output, example)
        score, subscores, detail, error_class = result.value, result.subscores, result.detail, None
    elif error in ("truncated", "refused"):
        score, subscores, detail, error_class = 0.0, None, scorer.unanswered_detail(example), "answer"
    else:
        score, subscores, detail, error_class = None, None, None, "infra"
    return {"suite": suite.name, "task": suite.spec.task, "example_id": example.id, "model": model, "repeat": 0,
            "score": score, "error": error, "error_class": error_class,
            "subscores": json.dumps(subscores) if subscores is not None else None,
            "detail": json.dumps(detail) if detail is not None else None, "gold": json.dumps(example.gold)}


@pytest.fixture(scope="module")
def crm():
    suite = open_suite(CRM, split="test")  # the evidence split: every tool and kind, and crm-003
    return suite, build_scorer(suite)


def by_id(suite, id_):
    return next(e for e in suite.examples if e.id == id_)


def test_tool_confusion_recall_and_kinds(crm):
    suite, scorer = crm
    log, meeting, clarify, no_tool = (by_id(suite, i) for i in ("crm-006", "crm-003", "crm-024", "crm-067"))
    rows = [
        row(suite, scorer, log, scorer.gold_answer(log)),  # right
        row(suite, scorer, meeting, json.dumps({"tool": "log_call", "arguments": {"account": "Ardent"}})),  # wrong
        row(suite, scorer, clarify, "Which deal?"),  # rightly a question
        row(suite, scorer, no_tool, json.dumps({"tool": "lookup_account", "arguments": {"account": "x"}})),  # wrong
    ]
    m = tool_call_metrics(pd.DataFrame(rows), list(scorer.tools))
    assert m["tool_confusion:log_call->log_call"].value == 1
    assert m["tool_confusion:schedule_meeting->log_call"].value == 1
    assert m["tool_confusion:no_call->no_call"].value == 1 and m["tool_confusion:no_call->lookup_account"].value == 1
    assert m["tool_recall:log_call"].value == 1.0 and m["tool_precision:log_call"].value == 0.5
    assert m["tool_recall:schedule_meeting"].value == 0.0
    assert m["kind_accuracy:clarify"].value == 1.0 and m["kind_accuracy:no_tool"].value == 0.0
    assert m["kind_accuracy:call"].value == 0.5
    # arguments: log_call's all right on the first row; the meeting's all missed; invented ones count
    assert m["argument_recall:log_call.date"].value == 1.0
    assert m["argument_recall:schedule_meeting.start"].value == 0.0
    assert m["argument_precision:lookup_account.account"].value == 0.0
    assert 0 < m["argument_f1"].value < 1


def test_answer_failures_miss_everything_and_infra_is_left_out(crm):
    suite, scorer = crm
    log = by_id(suite, "crm-006")
    gold_args = sum(1 for v in log.gold["arguments"].values() if v is not None)
    rows = [row(suite, scorer, log, None, "truncated"), row(suite, scorer, log, None, "rate_limited", model="m")]
    rows[1]["example_id"] = "other"
    m = tool_call_metrics(pd.DataFrame(rows), list(scorer.tools))
    assert m["tool_confusion:log_call-><invalid>"].value == 1  # the truncated call, the infra one not at all
    assert m["argument_recall"].value == 0.0 and m["argument_recall"].n == 1
    assert m["argument_recall:log_call.date"].value == 0.0
    assert gold_args == 6


def test_aggregates_carry_the_tool_breakdown_per_context_slice(crm):
    suite, scorer = crm
    rows = [row(suite, scorer, e, scorer.gold_answer(e)) for e in suite.examples]
    frame = pd.DataFrame(rows).assign(context_tokens=1200, latency_ms=1.0, cost_usd=0.0, cached=False,
                                      input_tokens=1200, output_tokens=50, judge_calls=0, judge_cost_usd=None,
                                      ttft_ms=None, family="f", provider="fake")
    table = aggregate(frame, scorer_info={"crm-actions": scorer.info()})
    metrics = set(table[table["slice"] == "all"]["metric"])
    assert {"tool_macro_f1", "argument_f1", "kind_accuracy:clarify", "tool_confusion:no_call->no_call"} <= metrics
    assert {f"tool_recall:{t}" for t in scorer.tools} <= metrics
    value = table.set_index(["slice", "metric"])["value"]
    assert value[("all", "tool_macro_f1")] == 1.0 and value[("all", "argument_f1")] == 1.0


def test_record_fields_are_reported_per_field_and_failures_miss_every_record():
    suite = open_suite(PLAN, split="test")
    scorer = build_scorer(suite)
    e = suite.examples[0]
    rows = [row(suite, scorer, e, json.dumps(e.gold)), row(suite, scorer, e, None, "truncated", model="m")]
    rows[1]["repeat"] = 1
    m = extraction_metrics(pd.DataFrame(rows))
    n_gold = len(e.gold["commitments"])
    assert {"field_f1:commitments[].due", "field_f1:commitments[].owner", "field_f1:commitments[].status"} <= set(m)
    assert not any("[0]" in k for k in m)  # grouped, not one metric per record index
    assert m["field_recall:commitments[].owner"].value == pytest.approx(0.5)  # the truncated repeat missed all
    assert m["field_recall"].value == pytest.approx(0.5)
    assert n_gold == 8
