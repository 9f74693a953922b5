"""Failure accounting (issue 11 item 3): infrastructure failures are availability, answer failures score 0."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from evals.aggregates import aggregate, read_aggregates, summary_table
from evals.metrics import Calls, availability, failure_counts, quality
from evals.providers.base import ErrorKind
from evals.providers.fake import FakeProvider
from evals.runner.run import RunOptions, run
from evals.runner.store import RESULT_COLUMNS


def _index(request) -> int:
    return int(request.prompt.text.split("message ")[1].split()[0])


def _label(i: int) -> str:
    return "lead" if i % 2 == 0 else "support"


@pytest.fixture
def no_sleep(monkeypatch):
    calls = []

    async def sleep(seconds: float) -> None:
        calls.append(seconds)

    monkeypatch.setattr("evals.providers.retry.default_sleep", sleep)
    return calls


def test_a_rate_limit_that_survives_the_retries_does_not_lower_quality(project, no_sleep):
    """Through the runner: example 3 is rate-limited on every attempt, example 4 is refused."""
    def answer(request):
        i = _index(request)
        if "Labels:" not in request.prompt.text:  # fake-b (terse family) always answers right
            return _label(i)
        if i == 3:
            return ErrorKind.RATE_LIMITED
        if i == 4:
            return ErrorKind.REFUSED
        return _label(i)

    FakeProvider.reset(responder=answer)
    result = run(project, RunOptions())
    attempts = [r for r in FakeProvider.calls if "Labels:" in r.prompt.text and _index(r) == 3]
    assert len(attempts) == 5 and len(no_sleep) >= 4  # the first call and 4 retries, all rate-limited
    agg = read_aggregates(result.folder)
    rows = agg[(agg.model == "fake-a") & (agg.slice == "all")].set_index("metric")
    # the rate limit is left out of quality (n = 5 answered examples); the refusal is a wrong answer
    assert rows.loc["quality", "value"] == pytest.approx(4 / 5) and rows.loc["quality", "n"] == 5
    assert rows.loc["availability", "value"] == pytest.approx(5 / 6)
    assert rows.loc["infra_failures", "value"] == 1 and rows.loc["answer_failures", "value"] == 1
    assert rows.loc["refused", "value"] == 1 and rows.loc["failures:rate_limited", "value"] == 1
    table = {r["model"]: r for r in summary_table(agg)}
    a = table["fake-a"]
    assert (a["quality"], a["infra_failures"], a["answer_failures"], a["refused"], a["truncated"], a["errors"]) == (
        pytest.approx(0.8), 1, 1, 1, 0, 2)
    assert a["availability"] == pytest.approx(5 / 6)
    assert any("1 of 6 calls failed for infrastructure reasons" in w for w in a["warnings"])
    assert table["fake-b"]["availability"] == 1.0 and table["fake-b"]["infra_failures"] == 0
    # the re-run retries the failed call (transient failures are not cached) and the answer now counts
    FakeProvider.reset(responder=lambda request: _label(_index(request)))
    again = read_aggregates(run(project, RunOptions()).folder)
    rows = again[(again.model == "fake-a") & (again.slice == "all")].set_index("metric")
    assert rows.loc["quality", "n"] == 6 and rows.loc["infra_failures", "value"] == 0


def _rows(spec: list[tuple[str | None, float | None]], error_class: bool) -> pd.DataFrame:
    rows = []
    for i, (error, score) in enumerate(spec):
        row = {c: None for c in RESULT_COLUMNS}
        row.update(suite="s", task="writing", example_id=f"e{i}", model="m", repeat=0, error=error, score=score,
                   context_tokens=10, latency_ms=1.0, cost_usd=0.001)
        if error_class:
            row["error_class"] = None if error is None else ("answer" if error in ("refused", "truncated") else "infra")
        rows.append(row)
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)


@pytest.mark.parametrize("error_class", [True, False], ids=["error_class column", "derived from error"])
def test_the_rule_for_every_failure_kind(error_class):
    spec = [(None, 1.0), (None, 0.5), ("truncated", 0.0), ("refused", None)]
    spec += [(kind.value, None) for kind in ErrorKind if kind.category == "infra"]
    frame = _rows(spec, error_class)
    q = quality(frame)
    assert q.value == pytest.approx(1.5 / 4) and q.n == 4  # the answer failures count 0, the rest is left out
    counts = failure_counts(frame)
    infra = len(spec) - 4
    assert (counts.infra, counts.answer, counts.truncated, counts.refused) == (infra, 2, 1, 1)
    assert availability(frame).value == pytest.approx(4 / len(spec))
    scores = Calls.of(frame).score
    assert np.isnan(scores[4:]).all() and list(scores[:4]) == [1.0, 0.5, 0.0, 0.0]


def test_repeats_are_averaged_per_example_before_quality_and_infra_repeats_drop_out():
    rows = _rows([(None, 1.0), ("timeout", None), (None, 0.0), (None, 1.0)], True)
    rows["example_id"] = ["a", "a", "b", "b"]
    rows["repeat"] = [0, 1, 0, 1]
    q = quality(rows)
    assert q.value == pytest.approx((1.0 + 0.5) / 2) and q.n == 2


def test_the_report_and_aggregates_agree_on_failures():
    frame = _rows([(None, 1.0), ("rate_limited", None), ("truncated", 0.0)], True)
    agg = aggregate(frame)
    row = summary_table(agg)[0]
    assert row["quality"] == 0.5 and row["availability"] == pytest.approx(2 / 3)
    assert row["errors"] == 2 and row["truncated"] == 1  # never "0 errors" over a truncated answer
    assert json.dumps(row, default=str)
