"""``evals route``, ``evals spend`` and ``evals replay`` through the command line."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from evals.cli.main import cli


@pytest.fixture
def proj(files, tmp_path) -> Path:
    root = tmp_path / "proj"
    (root / "policies").mkdir(parents=True)
    shutil.copy(files["models"], root / "policies" / "models.yaml")
    shutil.copy(files["policy"], root / "policies" / "current.yaml")
    shutil.copytree(files["prompts"], root / "prompts")
    return root


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_route_prints_the_decision_and_why(proj):
    out = invoke("route", "--project", str(proj), "--task", "classification", "--context-tokens", "9000", "--volume", "high")
    assert out.exit_code == 0, out.output
    assert "rule:      bulk" in out.output and "model:     gpt4o-mini via openai (family gpt)" in out.output
    assert "skipped llama: context window 8192 < 9000 tokens" in out.output
    out = invoke("route", "--project", str(proj), "--task", "classification", "--forbid-provider", "openai", "--json")
    data = json.loads(out.output)
    assert (data["rule"], data["model"], data["fallbacks"], data["endpoint"]) == ("classify", "llama", [], "http://gpu-1:8000/v1")


def test_route_user_errors_exit_2(proj):
    from evals.errors import UsageError

    with pytest.raises(UsageError, match="no model left"):
        invoke("route", "--project", str(proj), "--task", "writing", "--context-tokens", "300000")
    with pytest.raises(UsageError, match="'nope' is not in models.yaml"):
        invoke("route", "--project", str(proj), "--task", "writing", "--model", "nope")
    assert UsageError.exit_code == 2


def test_spend_and_replay(proj, tmp_path):
    t = datetime(2026, 11, 24, tzinfo=timezone.utc).isoformat()
    rows = [{"format_version": 1, "time": t, "call_id": f"c{i}", "rule": "classify", "model": m, "family": f,
             "provider": "openai", "attempt": 1, "outcome": "ok", "final": True, "input_tokens": 10, "output_tokens": 10,
             "cost_usd": c, "latency_ms": 1.0,
             "descriptor": {"task": "classification", "context_tokens": 100, "volume": "high", "tags": []}}
            for i, (m, f, c) in enumerate([("gpt4o-mini", "gpt", 0.3), ("llama", "llama", 0.1)])]
    log = tmp_path / "routing.jsonl"
    log.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = invoke("spend", str(log), "--markdown", "--week", "2026-W48", "--svg", str(tmp_path / "c.svg"))
    assert out.exit_code == 0
    assert "| 2026-W48 | gpt | 1 | 1 | 20 | $0.3000 | 0 | 75.0% | 50.0% |" in out.output
    assert (tmp_path / "c.svg").read_text().startswith("<svg")
    out = invoke("replay", str(log), "--policy", str(proj / "policies" / "current.yaml"), "--project", str(proj))
    assert out.exit_code == 0
    # the gpt4o-mini call now routes to bulk -> llama: it moves, and without an evidence run it is unknown;
    # the llama call goes where it went and is re-priced from its own busy time (1 ms at $3.6/h)
    assert "| bulk | 14 | $2.80 | unknown (1 unpriced) | unknown | n/a |" in out.output  # one day: x7
    assert "| classify | llama | bulk | llama | 1 | $0.1000 | $0.00000100 |" in out.output
    assert "pass --run RUN" in out.output
