"""The one traffic model: calls from attempt lines, unknown costs, rule assignment, weeks."""

from __future__ import annotations

import json
import math

import pytest
import yaml

from evals.config.policy import Policy
from evals.traffic import read_traffic

POLICY = """\
format_version: 1
rules:
  - {id: triage, when: {task: classification}, model: m}
default: {model: m}
"""


def line(**fields) -> str:
    base = {"format_version": 1, "time": "2026-11-23T10:00:00+00:00", "call_id": "a", "rule": "triage", "model": "m",
            "family": "f", "attempt": 1, "outcome": "ok", "final": True, "input_tokens": 10, "output_tokens": 2,
            "cost_usd": 0.001, "latency_ms": 5.0, "descriptor": {"task": "classification"}}
    return json.dumps({**base, **fields})


def test_a_call_is_all_its_attempts_and_an_unpriced_answer_is_unknown(tmp_path):
    log = tmp_path / "routing.jsonl"
    log.write_text("\n".join([
        line(call_id="a", outcome="rate_limited", input_tokens=None, output_tokens=None, cost_usd=None, final=False),
        line(call_id="a", attempt=2, model="n", cost_usd=0.002),
        line(call_id="b", cost_usd=None, time="2026-11-26T22:00:00+00:00"),  # answered, no price: unknown
        line(call_id="c", rule="gone", descriptor={"task": "summarise"}, time="2026-11-24T10:00:00+00:00"),
    ]) + "\n")
    t = read_traffic([log], Policy.model_validate(yaml.safe_load(POLICY)))
    calls = t.calls.set_index("call_id")
    assert calls.loc["a", ["primary", "model", "answered", "actual_usd"]].tolist() == ["m", "n", True, 0.002]
    assert math.isnan(calls.loc["b", "actual_usd"])
    assert calls.loc["c", "rule"] == "default"  # a rule the policy no longer has: where the policy routes it
    assert t.weeks == pytest.approx(3.5 / 7)
    assert t.weekly_calls() == {"triage": pytest.approx(4.0), "default": pytest.approx(2.0)}
    assert t.weekly_spend() == {"default": pytest.approx(0.002)}  # triage has a call of unknown cost


def test_a_short_log_counts_as_one_day(tmp_path):
    log = tmp_path / "routing.jsonl"
    log.write_text(line() + "\n" + line(call_id="b", time="2026-11-23T10:05:00+00:00") + "\n")
    t = read_traffic([log])
    assert t.weeks == pytest.approx(1 / 7) and t.weekly_calls() == {"triage": pytest.approx(14.0)}
    assert any("counted as one day" in n for n in t.notes)
