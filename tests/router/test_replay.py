"""Replay of logged calls under a proposal: routing, pricing from evidence or logs, weekly projection."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from evals.errors import ConfigError
from evals.policy.replay import render_markdown, replay
from evals.spend import read_logs

EV = "run_id: r1, suite: s, quality_ci: [0.8, 0.99], p95_latency_ms: null, n: 100"
BASELINE = f"""\
format_version: 1
rules:
  - id: classify
    when: {{task: classification}}
    model: gpt4o-mini
    prompt: triage
    fallbacks: [gpt4o]
    evidence: {{{EV}, model: gpt4o-mini, quality: 0.92, cost_per_1k_usd: 0.4}}
default:
  model: claude
  prompt: generic
  evidence: {{{EV}, model: claude, quality: 0.95, cost_per_1k_usd: 12.0}}
"""
PROPOSAL = f"""\
format_version: 1
rules:
  - id: classify
    when: {{task: classification}}
    model: llama
    prompt: triage
    fallbacks: [gpt4o-mini]
    evidence:
      {{{EV}, model: llama, quality: 0.90, cost_per_1k_usd: 0.05,
       fallbacks: [{{model: gpt4o-mini, quality: 0.92, cost_per_1k_usd: 0.4}}]}}
  - id: writing
    when: {{task: writing, context_tokens: {{max: 100000}}}}
    model: gpt4o
    prompt: generic
default: {{model: claude, prompt: generic}}
"""
W48 = datetime(2026, 11, 24, 10, tzinfo=timezone.utc)


def entry(call, task, ctx, model, attempt, outcome, cost, when=W48, rule="classify"):
    family = {"claude": "claude", "llama": "llama"}.get(model, "gpt")
    return json.dumps({"format_version": 1, "time": when.isoformat(), "call_id": call,
                       "descriptor": {"task": task, "context_tokens": ctx, "latency_ms": None, "cost_ceiling_usd": None,
                                      "volume": None, "tags": []},
                       "rule": rule, "model": model, "family": family, "provider": "p", "attempt": attempt,
                       "outcome": outcome, "final": True, "input_tokens": 1, "output_tokens": 1, "cost_usd": cost,
                       "latency_ms": 5.0})


@pytest.fixture
def logs(tmp_path: Path):
    w49 = W48 + timedelta(days=7)
    lines = [
        entry("c1", "classification", 500, "gpt4o-mini", 1, "ok", 0.0004),
        entry("c2", "classification", 500, "gpt4o-mini", 1, "server_error", None),
        entry("c2", "classification", 500, "gpt4o", 2, "ok", 0.003),
        entry("c3", "classification", 9000, "gpt4o-mini", 1, "ok", 0.0004),  # too long for llama's 8192
        entry("c4", "writing", 1000, "claude", 1, "ok", 0.012, rule="default"),
        entry("c5", "summarise", 1000, "claude", 1, "ok", 0.010, rule="default"),
        entry("c6", "classification", 300, "gpt4o-mini", 1, "ok", 0.0004, when=w49),
        entry("c7", "writing", 300000, "claude", 1, "context_length", None, when=w49, rule="default"),
    ]
    path = tmp_path / "routing.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return read_logs([path])


def test_replay_projects_weekly_spend_and_quality(files, logs, tmp_path):
    (tmp_path / "baseline.yaml").write_text(BASELINE)
    (tmp_path / "proposal.yaml").write_text(PROPOSAL)
    result = replay(logs, tmp_path / "proposal.yaml", models_path=files["models"], baseline_path=tmp_path / "baseline.yaml")
    w48, w49 = result.weekly.set_index("week").loc[["2026-W48", "2026-W49"]].to_dict("records")
    # actual: every attempt's cost; projected: llama 0.00005 x2 (evidence), gpt4o-mini 0.0004 (evidence of the
    # fallback, llama's window is too small), gpt4o 0.003 (logs average), claude (0.012 + 0.010) / 2 (logs)
    assert w48["calls"] == 5
    assert w48["actual_usd"] == pytest.approx(0.0258)
    assert w48["projected_usd"] == pytest.approx(0.00005 * 2 + 0.0004 + 0.003 + 0.011)
    assert w48["change_usd"] == pytest.approx(w48["projected_usd"] - 0.0258)
    assert (w48["from_evidence"], w48["from_logs"], w48["unpriced"]) == (3, 2, 0)
    assert w48["projected_quality"] == pytest.approx((0.90 + 0.90 + 0.92) / 3)
    assert w48["actual_quality"] == pytest.approx((0.92 + 0.92 + 0.95 + 0.95) / 4)  # c2 answered by gpt4o: no evidence
    assert (w49["calls"], w49["unpriced"]) == (2, 1)  # c7 fits no model's window
    assert w49["actual_usd"] == pytest.approx(0.0004) and w49["projected_usd"] == pytest.approx(0.00005)
    moves = result.moves.set_index(["rule", "model", "new_rule", "new_model"])["calls"].to_dict()
    assert moves[("classify", "gpt4o-mini", "classify", "llama")] == 2
    assert moves[("classify", "gpt4o-mini", "classify", "gpt4o-mini")] == 1
    assert moves[("default", "claude", "writing", "gpt4o")] == 1
    assert moves[("default", "claude", "(no route)", "(no route)")] == 1
    md = render_markdown(result)
    assert "| 2026-W48 | 5 | $0.0258 |" in md and "(no route)" in md


def test_replay_under_the_same_policy_keeps_spend(files, logs, tmp_path):
    (tmp_path / "baseline.yaml").write_text(BASELINE)
    result = replay(logs, tmp_path / "baseline.yaml", models_path=files["models"])
    w48 = result.weekly.set_index("week").loc["2026-W48"]
    # classify priced from evidence (0.0004 each x3), default claude from evidence (0.012 each x2)
    assert w48["projected_usd"] == pytest.approx(3 * 0.0004 + 2 * 0.012)
    assert w48["actual_usd"] == pytest.approx(0.0258) and math.isnan(w48["actual_quality"])


def test_replay_names_an_unknown_model(files, logs, tmp_path):
    (tmp_path / "p.yaml").write_text(PROPOSAL.replace("model: gpt4o\n", "model: gpt9\n"))
    with pytest.raises(ConfigError, match="gpt9"):
        replay(logs, tmp_path / "p.yaml", models_path=files["models"])
