"""The runner on the fake provider: rows, cache, resume, errors, repeats."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from evals.errors import UsageError
from evals.providers.base import ErrorKind, GenerateResponse
from evals.providers.fake import FakeProvider
from evals.runner.cache import ResponseCache
from evals.runner.run import RunOptions, run
from evals.runner.store import read_manifest, read_results


def test_run_writes_rows_and_manifest(project):
    result = run(project, RunOptions())
    frame = read_results(result.folder)
    assert len(frame) == 12  # 6 examples x 2 models
    assert set(frame["model"]) == {"fake-a", "fake-b"}
    # fake-a echoes the last line of its chat prompt: "lead" -> right on half the examples
    a = frame[frame.model == "fake-a"]
    assert a["score"].tolist() == [1.0, 0.0, 1.0, 0.0, 1.0, 0.0]
    assert a["variant"].unique().tolist() == ["default"]
    assert frame[frame.model == "fake-b"]["variant"].unique().tolist() == ["terse"]
    assert frame["score"].notna().all() and frame["error"].isna().all()
    manifest = read_manifest(result.folder)
    assert manifest["suites"]["tiny-triage"]["examples"] == 6
    assert set(manifest["prompts"]) == {"tiny/default", "tiny/terse"}
    assert manifest["format_version"] == 1 and manifest["rows"] == 12


def test_cost_columns_follow_pricing(project):
    frame = run(project, RunOptions()).results
    a = frame[frame.model == "fake-a"].iloc[0]
    assert a.cost_usd == pytest.approx((a.input_tokens * 1.0 + a.output_tokens * 2.0) / 1e6)
    b = frame[frame.model == "fake-b"].iloc[0]
    assert b.cost_usd == pytest.approx(3.6 * b.latency_ms / 1000 / 3600)


def test_second_run_is_served_from_cache(project):
    first = run(project, RunOptions()).results
    calls = len(FakeProvider.calls)
    second = run(project, RunOptions()).results
    assert len(FakeProvider.calls) == calls  # nothing sent again
    assert second["cached"].all() and not first["cached"].any()
    pd.testing.assert_series_equal(first["score"], second["score"])


def test_no_cache_calls_again(project):
    run(project, RunOptions())
    calls = len(FakeProvider.calls)
    run(project, RunOptions(use_cache=False))
    assert len(FakeProvider.calls) == 2 * calls


def test_repeats_are_distinct_calls(project):
    frame = run(project, RunOptions(repeats=3, models=["fake-a"])).results
    assert len(frame) == 18 and sorted(frame["repeat"].unique()) == [0, 1, 2]
    assert frame["cache_key"].nunique() == 18


def test_limit_suites_models_selection(project):
    frame = run(project, RunOptions(limit=2, models=["fake-b"], suites=["tiny-triage"])).results
    assert len(frame) == 2 and set(frame.model) == {"fake-b"}
    with pytest.raises(UsageError, match="unknown model: nope"):
        run(project, RunOptions(models=["nope"]))
    with pytest.raises(UsageError, match="unknown suite"):
        run(project, RunOptions(suites=["nope"]))


def test_errors_are_rows_and_only_infra_failures_lack_a_score(project):
    # no retries here (tests/providers/test_retry.py covers them): the rate limit reaches the row
    project.models_file.write_text(project.models_file.read_text().replace(
        "family: chatty\n", "family: chatty\n    max_retries: 0\n"))
    FakeProvider.reset(script=[ErrorKind.RATE_LIMITED, ErrorKind.REFUSED] + ["lead"] * 10)
    frame = run(project, RunOptions(models=["fake-a"], concurrency=1)).results
    errors = frame[frame.error.notna()].set_index("error")
    assert sorted(errors.index) == ["rate_limited", "refused"]
    assert errors.loc["rate_limited", "error_class"] == "infra" and pd.isna(errors.loc["rate_limited", "score"])
    assert errors.loc["refused", "error_class"] == "answer" and errors.loc["refused", "score"] == 0.0
    assert frame[frame.error.isna()]["score"].notna().all() and frame[frame.error.isna()]["error_class"].isna().all()
    FakeProvider.reset()
    again = run(project, RunOptions(models=["fake-a"], concurrency=1)).results
    # the rate-limited call was retried on the re-run; the refusal was an answer and stays cached
    assert len(FakeProvider.calls) == 1
    assert sorted(again["error"].dropna()) == ["refused"]


def test_provider_exception_becomes_error_row(project):
    def boom(request):
        raise RuntimeError("bug in provider")

    FakeProvider.reset(responder=boom)
    frame = run(project, RunOptions(models=["fake-a"])).results
    assert (frame["error"] == "unknown").all()
    assert frame["error_message"].str.contains("bug in provider").all()


def test_attempt_journal_counts_each_answer_once(project):
    run(project, RunOptions())
    run(project, RunOptions())
    with ResponseCache(project.cache_file) as cache:
        counts = cache.attempts_per_key()
        assert len(cache) == 12
    assert len(counts) == 12 and set(counts.values()) == {1}


def test_results_refuse_newer_format(project):
    import pyarrow.parquet as pq

    from evals.errors import FormatVersionError

    result = run(project, RunOptions())
    path = result.folder / "results.parquet"
    table = pq.read_table(path)
    pq.write_table(table.replace_schema_metadata({b"evals_format_version": b"99"}), path)
    with pytest.raises(FormatVersionError, match="newer"):
        read_results(result.folder)
    manifest = json.loads((result.folder / "manifest.json").read_text())
    manifest["format_version"] = 99
    (result.folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(FormatVersionError):
        read_manifest(result.folder)
