"""Truncation is visible (issue 11, finding 7) and the row contract holds (CONTRACTS §1)."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from evals.cli.main import cli
from evals.cli.run import render_summary
from evals.providers.base import ErrorKind, GenerateResponse
from evals.providers.fake import FakeProvider
from evals.runner.run import RunOptions, run
from evals.runner.store import RESULT_COLUMNS, RESULTS_FORMAT, read_results


def cut_off_every_other(request):
    """Half the answers stop at max_tokens (what 7 of 16 extraction answers did in the issue)."""
    text = request.prompt.text
    if int(text.split("message ")[1][0]) % 2:
        return GenerateResponse(text="le", input_tokens=3, output_tokens=5, latency_ms=1.0, finish_reason="length")
    return "lead"


def test_a_reply_cut_off_at_max_tokens_is_a_counted_answer_failure(project):
    FakeProvider.reset(responder=cut_off_every_other)
    result = run(project, RunOptions(models=["fake-a"]))
    frame = result.results
    cut = frame[frame["finish_reason"] == "length"]
    assert len(cut) == 3
    assert (cut["error"] == "truncated").all() and (cut["error_class"] == "answer").all()
    assert (cut["score"] == 0.0).all() and cut["detail"].isna().all()  # the scorer is not trusted with it
    assert cut["error_message"].str.contains("max_tokens").all()
    assert cut["cost_usd"].notna().all()  # it was paid for
    whole = frame[frame["finish_reason"] != "length"]
    assert whole["error"].isna().all() and (whole["score"] == 1.0).all()
    assert result.manifest["errors"] == 3
    assert result.manifest["errors_by_class"] == {"infra": 0, "answer": 3}
    assert result.manifest["errors_by_kind"] == {"truncated": 3}


def test_the_row_contract(project):
    """score null exactly where error_class is infra; answer failures score 0."""
    project.models_file.write_text(project.models_file.read_text().replace(
        "family: chatty\n", "family: chatty\n    max_retries: 0\n"))
    FakeProvider.reset(script=[ErrorKind.TIMEOUT, ErrorKind.REFUSED, ErrorKind.AUTH,
                               GenerateResponse(text="x", finish_reason="length")], responder=lambda r: "lead")
    frame = run(project, RunOptions(models=["fake-a"], concurrency=1)).results
    assert list(frame.columns) == RESULT_COLUMNS
    assert (frame["score"].isna() == (frame["error_class"] == "infra")).all()
    assert (frame.loc[frame["error_class"] == "answer", "score"] == 0.0).all()
    assert sorted(frame["error"].dropna()) == ["auth", "refused", "timeout", "truncated"]
    assert (frame["judge_calls"] == 0).all() and frame["judge_cost_usd"].isna().all()
    assert frame["tool_calls"].isna().all() and frame["confidence"].isna().all()


def test_a_scorer_that_raises_is_an_infra_failure(project):
    from evals.scorers.classification import ClassificationScorer

    class Broken(ClassificationScorer):
        def score(self, output, example):
            raise RuntimeError("scorer bug")

    frame = run(project, RunOptions(models=["fake-a"]), scorers={"classification": Broken}).results
    assert (frame["error"] == "scorer_error").all() and (frame["error_class"] == "infra").all()
    assert frame["score"].isna().all() and (frame["output"] == "lead").all()


def test_evals_run_shows_truncation_apart_from_infra_failures(project):
    FakeProvider.reset(responder=cut_off_every_other)
    out = CliRunner().invoke(cli, ["run", "--models", "fake-a", "--project", str(project.root)])
    assert out.exit_code == 0, out.output
    last = out.output.strip().splitlines()[-1]
    assert "0 infra failures" in last and "3 answer failures (3 truncated)" in last
    assert "0 errors" not in out.output


def test_the_table_shows_infra_and_answer_failures_apart_when_the_aggregates_carry_them():
    from rich.console import Console

    row = {"suite": "s", "model": "m", "n": 16, "quality": 0.5, "ci_low": 0.3, "ci_high": 0.7, "calls": 16,
           "errors": 8, "cost_per_1k_usd": 0.1, "p50_ms": 10.0, "p95_ms": 20.0, "warnings": [],
           "infra_failures": 1, "answer_failures": 7, "truncated": 7, "refused": 0, "availability": 15 / 16}
    console = Console(width=200, record=True)
    console.print(render_summary([row]))
    text = console.export_text()
    assert "infra failures" in text and "answer failures" in text
    assert "1/16 (93.8% ok)" in text and "7/16 (7 truncated)" in text
    old = {k: v for k, v in row.items() if k not in ("infra_failures", "answer_failures", "truncated", "refused",
                                                     "availability")}
    console = Console(width=200, record=True)
    console.print(render_summary([old]))
    assert "8/16" in console.export_text()


def test_format_1_results_are_read_with_the_new_columns(project):
    FakeProvider.reset(script=[ErrorKind.REFUSED], responder=lambda r: "lead")
    result = run(project, RunOptions(models=["fake-a"], concurrency=1))
    path = result.folder / "results.parquet"
    table = pq.read_table(path)
    old = table.drop_columns(["error_class", "judge_cost_usd", "judge_calls", "tool_calls", "confidence", "batch"])
    frame = old.to_pandas()
    frame.loc[frame["error"] == "refused", "score"] = None  # format 1 left every failed call unscored
    import pyarrow as pa

    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(
        {b"evals_format_version": b"1"}), path)
    assert RESULTS_FORMAT == 2
    back = read_results(result.folder)
    assert list(back.columns) == RESULT_COLUMNS
    refused = back[back["error"] == "refused"].iloc[0]
    assert refused["error_class"] == "answer" and refused["score"] == 0.0
    assert back["error_class"].isna().sum() == len(back) - 1 and (back["judge_calls"] == 0).all()


def test_results_carry_format_2(project):
    result = run(project, RunOptions(models=["fake-a"]))
    meta = pq.read_table(result.folder / "results.parquet").schema.metadata
    assert meta[b"evals_format_version"] == b"2"


@pytest.mark.parametrize("kind", sorted(k.value for k in ErrorKind))
def test_every_kind_has_a_class(kind):
    from evals.providers.base import ANSWER_FAILURES, error_class

    assert error_class(kind) == ("answer" if ErrorKind(kind) in ANSWER_FAILURES else "infra")
