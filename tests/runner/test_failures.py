"""Errors are not answers (issue 11, finding 1): failures are journalled, asked again next run, and
identical requests of one run are sent once."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest

from evals.providers.base import ErrorKind, GenerateResponse
from evals.providers.fake import FakeProvider
from evals.runner.cache import ResponseCache
from evals.runner.run import RunOptions, SilentReporter, run
from tests.conftest import MODELS_YAML, write_project

NO_RETRIES = MODELS_YAML.replace("family: chatty\n", "family: chatty\n    max_retries: 0\n")


class CountingReporter(SilentReporter):
    def start(self, total: int, cached: int, calls=None) -> None:
        self.started = (total, cached)


@pytest.mark.parametrize("kind", [ErrorKind.INVALID_REQUEST, ErrorKind.AUTH, ErrorKind.MALFORMED_RESPONSE,
                                  ErrorKind.CONTEXT_LENGTH, ErrorKind.UNKNOWN, ErrorKind.RATE_LIMITED])
def test_an_infra_failure_is_journalled_and_asked_again_next_run(project, kind):
    Path(project.models_file).write_text(NO_RETRIES)
    FakeProvider.reset(responder=lambda request: GenerateResponse(error=kind, error_message=f"{kind.value} body"))
    first = run(project, RunOptions(models=["fake-a"])).results
    assert (first["error"] == kind.value).all() and first["score"].isna().all()
    with ResponseCache(project.cache_file) as cache:
        assert len(cache) == 0  # nothing cached ...
        journalled = cache.failures(first["cache_key"][0])  # ... but every failure journalled, with its body
        assert [f.error for f in journalled] == [kind] and journalled[0].error_message == f"{kind.value} body"
    FakeProvider.reset()
    second = run(project, RunOptions(models=["fake-a"])).results
    assert len(FakeProvider.calls) == 6 and second["error"].isna().all() and not second["cached"].any()


def test_reuse_errors_serves_the_journalled_failures(project):
    Path(project.models_file).write_text(NO_RETRIES)
    FakeProvider.reset(script=[ErrorKind.INVALID_REQUEST] * 2, responder=lambda request: "lead")
    first = run(project, RunOptions(models=["fake-a"], concurrency=1)).results
    assert first["error"].notna().sum() == 2
    FakeProvider.reset()
    again = run(project, RunOptions(models=["fake-a"], reuse_errors=True)).results
    assert FakeProvider.calls == [] and again["cached"].all()
    assert sorted(again["error"].dropna()) == ["invalid_request"] * 2


def test_a_malformed_reply_is_retried_within_the_run_and_on_the_next(project, monkeypatch):
    async def no_wait(seconds: float) -> None:
        pass

    monkeypatch.setattr("evals.providers.retry.default_sleep", no_wait)
    FakeProvider.reset(script=[ErrorKind.MALFORMED_RESPONSE], responder=lambda request: "lead")
    frame = run(project, RunOptions(models=["fake-a"], concurrency=1)).results
    assert frame["error"].isna().all() and len(FakeProvider.calls) == 7  # one retry within the run
    Path(project.models_file).write_text(NO_RETRIES)  # max_retries: answer-neutral, same keys
    FakeProvider.reset(script=[ErrorKind.MALFORMED_RESPONSE])
    second = run(project, RunOptions(models=["fake-a"], use_cache=False)).results
    assert second["error"].tolist().count("malformed_response") == 1
    FakeProvider.reset()
    third = run(project, RunOptions(models=["fake-a"])).results
    assert len(FakeProvider.calls) == 0 and third["error"].isna().all()  # the earlier answers were kept


def test_a_malformed_reply_is_asked_again_on_the_next_run(project):
    """The issue's reproduction: a truncated body was cached for good and never retried."""
    Path(project.models_file).write_text(NO_RETRIES)
    FakeProvider.reset(responder=lambda request: ErrorKind.MALFORMED_RESPONSE)
    first = run(project, RunOptions(models=["fake-a"])).results
    assert (first["error"] == "malformed_response").all()
    FakeProvider.reset()
    second = run(project, RunOptions(models=["fake-a"])).results
    assert len(FakeProvider.calls) == 6 and second["error"].isna().all()


def test_failures_cached_by_an_older_harness_are_not_served(project):
    run(project, RunOptions(models=["fake-a"]))
    db = sqlite3.connect(project.cache_file)
    keys = [k for (k,) in db.execute("SELECT key FROM responses")]
    old = json.dumps(GenerateResponse(error=ErrorKind.INVALID_REQUEST, error_message="400").to_dict())
    db.execute("UPDATE responses SET response = ? WHERE key = ?", (old, keys[0]))
    db.commit()
    db.close()
    FakeProvider.reset()
    again = run(project, RunOptions(models=["fake-a"])).results
    assert len(FakeProvider.calls) == 1 and again["error"].isna().all()


def test_answers_are_cached_refusals_and_cut_off_replies_too(project):
    FakeProvider.reset(script=[ErrorKind.REFUSED, GenerateResponse(text="le", finish_reason="length")],
                       responder=lambda request: "lead")
    first = run(project, RunOptions(models=["fake-a"], concurrency=1)).results
    assert sorted(first["error"].dropna()) == ["refused", "truncated"]
    FakeProvider.reset()
    again = run(project, RunOptions(models=["fake-a"])).results
    assert FakeProvider.calls == [] and again["cached"].all()
    assert sorted(again["error"].dropna()) == ["refused", "truncated"]


def test_five_identical_examples_send_one_request(tmp_path, monkeypatch):
    """The issue's reproduction: five examples whose rendered text is the same."""
    monkeypatch.setenv("EVALS_CACHE", str(tmp_path / "cache.sqlite"))
    project = write_project(tmp_path / "proj", n_examples=5)
    data = project.suites_dir / "classification" / "tiny-triage" / "test.jsonl"
    data.write_text("".join(json.dumps({"id": f"t{i}", "text": "same", "label": "lead"}) + "\n" for i in range(5)))
    FakeProvider.reset()
    reporter = CountingReporter()
    frame = run(project, RunOptions(models=["fake-a"]), reporter=reporter).results
    assert len(FakeProvider.calls) == 1 and len(frame) == 5 and frame["cache_key"].nunique() == 1
    assert frame["output"].tolist() == ["lead"] * 5 and frame["score"].tolist() == [1.0] * 5
    assert frame["cached"].sum() == 4  # one call; the four other rows made none
    with ResponseCache(project.cache_file) as cache:
        assert cache.attempts_per_key() == {frame["cache_key"][0]: 1}
    again = run(project, RunOptions(models=["fake-a"]), reporter=reporter)
    assert reporter.started == (5, 5)  # the cache message counts rows served, not keys
    assert again.manifest["cached_rows"] == 5 and len(FakeProvider.calls) == 1


def test_identical_requests_share_one_call_while_it_is_in_flight(tmp_path, monkeypatch):
    monkeypatch.setenv("EVALS_CACHE", str(tmp_path / "cache.sqlite"))
    slow = MODELS_YAML.replace("family: chatty\n", "family: chatty\n    options: {delay_s: 0.2}\n")
    project = write_project(tmp_path / "proj", n_examples=4, models_yaml=slow)
    data = project.suites_dir / "classification" / "tiny-triage" / "test.jsonl"
    data.write_text("".join(json.dumps({"id": f"t{i}", "text": "same", "label": "lead"}) + "\n" for i in range(4)))
    FakeProvider.reset()
    started = time.perf_counter()
    frame = run(project, RunOptions(models=["fake-a"], repeats=2, concurrency=8)).results
    assert len(frame) == 8 and frame["cache_key"].nunique() == 2  # repeats stay distinct samples
    assert len(FakeProvider.calls) == 2 and time.perf_counter() - started < 5


def test_the_cache_refuses_to_store_a_failure_as_an_answer(tmp_path):
    with ResponseCache(tmp_path / "c.sqlite") as cache:
        attempt = cache.begin_attempt("k", "m")
        with pytest.raises(ValueError, match="not an answer"):
            cache.put("k", "m", GenerateResponse(error=ErrorKind.SERVER_ERROR), attempt)
        cache.record("k", "m", GenerateResponse(error=ErrorKind.SERVER_ERROR, error_message="503"), attempt)
        assert cache.get("k") is None and cache.get("k", reuse_errors=True).error_message == "503"


def test_an_old_cache_gains_the_journal_column(tmp_path):
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript("CREATE TABLE attempts (id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL, "
                     "model_id TEXT NOT NULL, started_at REAL NOT NULL, finished_at REAL, outcome TEXT);")
    db.close()
    with ResponseCache(path) as cache:
        cache.record("k", "m", GenerateResponse(error=ErrorKind.TIMEOUT), cache.begin_attempt("k", "m"))
        assert [f.error for f in cache.failures("k")] == [ErrorKind.TIMEOUT]
