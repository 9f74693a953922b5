"""Replay pricing, call by call: logged, token ratio, evidence mean, failover expectation, unknown."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest

from evals.errors import ConfigError
from evals.policy.replay import render_markdown, replay
from evals.spend import read_logs

# a: $1000/$2000 per Mtok (0.001 and 0.002 per token); b: a tenth of that; s: self-hosted at $3.6/h
# (1e-6 per ms of busy time); w: window too small for the long calls.
MODELS = """\
format_version: 1
models:
  - {id: a, provider: fake, model: a, family: a, context_window: 100000,
     pricing: {tokens: {input_per_mtok: 1000, output_per_mtok: 2000}}}
  - {id: b, provider: fake, model: b, family: b, context_window: 100000,
     pricing: {tokens: {input_per_mtok: 100, output_per_mtok: 200}}}
  - {id: s, provider: fake, model: s, family: s, context_window: 100000, pricing: {self_hosted: {hourly_usd: 3.6}}}
  - {id: w, provider: fake, model: w, family: w, context_window: 1000,
     pricing: {tokens: {input_per_mtok: 1, output_per_mtok: 1}}}
  - {id: u, provider: fake, model: u, family: u, context_window: 100000}
"""
EV = "run_id: r1, quality_ci: [0.8, 0.99], p95_latency_ms: null, n: 2"
CURRENT = f"""\
format_version: 1
rules:
  - id: classify
    when: {{task: classification}}
    model: a
    prompt: triage
    fallbacks: [b]
    evidence: {{{EV}, suite: tickets, model: a, quality: 0.92, cost_per_1k_usd: 0.4}}
default: {{model: a, prompt: generic}}
"""
W48 = datetime(2026, 11, 24, 10, tzinfo=timezone.utc)


def attempt(call, model, n, outcome="ok", tokens=(100, 10), latency=50.0, task="classification", ctx=500,
            prompt="triage", rule="classify", when=W48, cost="auto"):
    prices = {"a": (0.001, 0.002), "b": (0.0001, 0.0002)}
    tin, tout = tokens if outcome == "ok" else (None, None)
    if cost == "auto":
        cost = tin * prices[model][0] + tout * prices[model][1] if outcome == "ok" and model in prices else None
    return {"format_version": 1, "time": when.isoformat(), "call_id": call,
            "descriptor": {"task": task, "context_tokens": ctx, "tags": []}, "rule": rule, "model": model,
            "family": model, "provider": "fake", "prompt": prompt, "variant": model, "attempt": n, "outcome": outcome,
            "final": True, "input_tokens": tin, "output_tokens": tout, "cost_usd": cost, "latency_ms": latency}


def write(tmp_path: Path, name: str, text: str) -> Path:
    (tmp_path / name).write_text(text)
    return tmp_path / name


def logs_of(tmp_path: Path, lines: list[dict]) -> pd.DataFrame:
    path = tmp_path / "routing.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return read_logs([path])


def evidence(rows: list[tuple]) -> pd.DataFrame:
    """(suite, model, example, input tokens, output tokens, latency, error) rows of a results frame."""
    return pd.DataFrame([{"suite": r[0], "model": r[1], "example_id": r[2], "repeat": 0, "input_tokens": r[3],
                          "output_tokens": r[4], "latency_ms": r[5], "error": r[6]} for r in rows])


@pytest.fixture
def models(tmp_path):
    return write(tmp_path, "models.yaml", MODELS)


def proposal(tmp_path: Path, model: str, fallbacks: str = "[]", suite: str = "tickets") -> Path:
    ev = f"evidence: {{{EV}, suite: {suite}, model: {model}, quality: 0.9, cost_per_1k_usd: 0.05}}" if suite else ""
    return write(tmp_path, "proposal.yaml", f"""\
format_version: 1
rules:
  - id: classify
    when: {{task: classification}}
    model: {model}
    prompt: triage
    fallbacks: {fallbacks}
    {ev}
default: {{model: a, prompt: generic}}
""")


def test_an_unchanged_route_is_repriced_from_its_own_attempts(tmp_path, models):
    logs = logs_of(tmp_path, [
        attempt("c1", "a", 1, tokens=(300, 20)),
        attempt("c2", "a", 1, outcome="rate_limited"), attempt("c2", "b", 2, tokens=(120, 12)),
    ])
    result = replay(logs, write(tmp_path, "current.yaml", CURRENT), models_path=models)
    calls = result.calls.set_index("call_id")
    assert calls.loc["c1", "projected_usd"] == pytest.approx(300 * 0.001 + 20 * 0.002)
    assert calls.loc["c2", "projected_usd"] == pytest.approx(120 * 0.0001 + 12 * 0.0002)  # its failover, as logged
    assert calls["method"].tolist() == ["logged", "logged"]
    assert calls["projected_usd"].tolist() == pytest.approx(calls["actual_usd"].tolist())


def test_a_moved_call_takes_the_token_ratio_of_the_evidence_run(tmp_path, models):
    # on the suite, b reads 0.5x a's input tokens and writes 2x its output
    run = evidence([("tickets", "a", "e1", 200, 10, 900, None), ("tickets", "a", "e2", 200, 30, 900, None),
                    ("tickets", "b", "e1", 100, 30, 300, None), ("tickets", "b", "e2", 100, 50, 300, None)])
    logs = logs_of(tmp_path, [attempt("c1", "a", 1, tokens=(1000, 40))])
    result = replay(logs, proposal(tmp_path, "b"), models_path=models, evidence=run)
    row = result.calls.iloc[0]
    assert row["method"] == "ratio"
    assert row["projected_usd"] == pytest.approx(500 * 0.0001 + 80 * 0.0002)


def test_a_moved_call_to_a_self_hosted_model_pays_its_busy_time(tmp_path, models):
    run = evidence([("tickets", "a", "e1", 200, 10, 900, None), ("tickets", "s", "e1", 150, 8, 2000, None),
                    ("tickets", "s", "e2", 150, 8, 4000, None)])
    logs = logs_of(tmp_path, [attempt("c1", "a", 1, tokens=(1000, 40))])
    result = replay(logs, proposal(tmp_path, "s"), models_path=models, evidence=run)
    assert result.calls.iloc[0]["projected_usd"] == pytest.approx(3000 * 1e-6)  # mean busy time 3 s at $3.6/h


def test_without_the_logged_model_measured_the_evidence_mean_prices_it(tmp_path, models):
    run = evidence([("tickets", "b", "e1", 100, 30, 300, None), ("tickets", "b", "e2", 300, 50, 300, None)])
    logs = logs_of(tmp_path, [attempt("c1", "a", 1)])
    result = replay(logs, proposal(tmp_path, "b"), models_path=models, evidence=run)
    row = result.calls.iloc[0]
    assert row["method"] == "eval mean" and row["projected_usd"] == pytest.approx(200 * 0.0001 + 40 * 0.0002)


def test_failover_down_the_new_chain_at_the_logged_failure_rate(tmp_path, models):
    """b failed one of its two logged attempts: a moved call pays b half the time and its fallback a otherwise."""
    run = evidence([("tickets", "a", "e1", 100, 10, 1, None), ("tickets", "b", "e1", 100, 10, 1, None)])
    logs = logs_of(tmp_path, [
        attempt("c1", "a", 1, tokens=(100, 10)),
        attempt("c2", "b", 1, outcome="timeout", task="summarise", rule="default", prompt="generic"),
        attempt("c2", "a", 2, tokens=(100, 10), task="summarise", rule="default", prompt="generic"),
        attempt("c3", "b", 1, tokens=(100, 10), task="summarise", rule="default", prompt="generic"),
    ])
    result = replay(logs, proposal(tmp_path, "b", fallbacks="[a]"), models_path=models, evidence=run)
    c1 = result.calls.set_index("call_id").loc["c1"]
    assert c1["projected_usd"] == pytest.approx(0.5 * (100 * 0.0001 + 10 * 0.0002) + 0.5 * (100 * 0.001 + 10 * 0.002))


def test_unknown_is_unknown_and_says_why(tmp_path, models):
    logs = logs_of(tmp_path, [attempt("c1", "a", 1),
                              attempt("c2", "a", 1, task="summarise", rule="default", prompt="generic")])
    moved = replay(logs, proposal(tmp_path, "b"), models_path=models)  # no evidence run: the moved call
    assert moved.calls["method"].tolist() == ["unknown", "logged"]
    assert math.isnan(moved.total["projected_usd"]) and moved.total["unpriced"] == 1
    assert "pass --run RUN" in " ".join(moved.notes)
    unpriced = replay(logs, proposal(tmp_path, "u", suite=""), models_path=models)  # u has no price
    assert unpriced.calls["method"].tolist() == ["unknown", "logged"]
    md = render_markdown(moved)
    assert "unknown (1 unpriced)" in md and "n/a" in md


def test_a_call_without_a_route_is_unpriced_and_shown(tmp_path, models):
    text = CURRENT.replace("default: {model: a, prompt: generic}", "default: {model: w, prompt: generic}")
    logs = logs_of(tmp_path, [attempt("c1", "a", 1, ctx=5000, task="summarise", rule="default", prompt="generic")])
    result = replay(logs, write(tmp_path, "p.yaml", text), models_path=models)
    assert result.calls.iloc[0][["new_rule", "method"]].tolist() == ["(no route)", "unknown"]
    assert "(no route)" in render_markdown(result)


def test_quality_from_the_evidence_of_both_policies(tmp_path, models):
    logs = logs_of(tmp_path, [attempt("c1", "a", 1), attempt("c2", "a", 1, when=W48 + timedelta(days=7))])
    run = evidence([("tickets", "a", "e1", 100, 10, 1, None), ("tickets", "b", "e1", 100, 10, 1, None)])
    result = replay(logs, proposal(tmp_path, "b"), models_path=models, evidence=run,
                    baseline_path=write(tmp_path, "current.yaml", CURRENT))
    assert result.weekly["week"].tolist() == ["2026-W48", "2026-W49"]
    assert result.weekly["actual_quality"].tolist() == [0.92, 0.92]
    assert result.weekly["projected_quality"].tolist() == [0.9, 0.9]
    assert result.total["weeks"] == pytest.approx(1.0)  # the log spans 7 days


def test_replay_names_an_unknown_model(tmp_path, models):
    logs = logs_of(tmp_path, [attempt("c1", "a", 1)])
    with pytest.raises(ConfigError, match="gpt9"):
        replay(logs, proposal(tmp_path, "gpt9"), models_path=models)
