"""Projected traffic from a routing log: one call per request, spend over every attempt."""

from __future__ import annotations

import json

import yaml

from evals.config.policy import Policy
from evals.policy.diff import traffic_from_log
from tests.policy.runs import POLICY


def _line(**fields) -> str:
    base = {"time": "2026-11-23T10:00:00+00:00", "descriptor": {"task": "classification"}, "rule": "triage"}
    return json.dumps({**base, **fields})


def test_failover_attempts_count_as_one_call_but_all_attempts_cost(tmp_path):
    log = tmp_path / "routing.jsonl"
    log.write_text("\n".join([
        _line(call_id="a", attempt=1, model="premium", outcome="rate_limited", final=False, cost_usd=0.0),
        _line(call_id="a", attempt=2, model="mid", outcome="ok", final=True, cost_usd=0.002),
        _line(call_id="b", attempt=1, model="premium", outcome="ok", final=True, cost_usd=0.010,
              time="2026-11-24T10:00:00+00:00"),
        _line(call_id="c", attempt=1, model="mid", outcome="ok", final=True, cost_usd=0.001, rule=None,
              descriptor={"task": "summarise"}),
    ]) + "\n")
    calls, costs, notes = traffic_from_log(log, Policy.model_validate(yaml.safe_load(POLICY)))
    # The log spans one day, scaled to a week (x7).
    assert calls["triage"] == 2 * 7 and calls["default"] == 1 * 7
    assert abs(costs["triage"] - 0.012 * 7) < 1e-9
