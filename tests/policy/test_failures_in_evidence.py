"""Failures in the recommender's evidence, through the runner, the fake provider and the recommender.

Issue 11 item 2: one failed call (a 5xx reports no usage, so no price) made a model's whole cost
unknown, the recommender then ranked it most expensive, and a model 3x cheaper and better lost its
rule with the reason "costs more". Issue 11 item 3: a rule whose evidence has unresolved
infrastructure failures keeps its model and says "re-run to retry N failed calls".
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.aggregates import read_aggregates
from evals.policy.evidence import load_run, measure
from evals.policy.recommend import recommend
from evals.project import Project
from evals.providers.base import ErrorKind
from evals.providers.fake import FakeProvider
from evals.runner.run import RunOptions, run

N = 40
MODELS = """\
format_version: 1
models:
  - {id: premium, provider: fake, model: premium, family: p, context_window: 4096,
     pricing: {tokens: {input_per_mtok: 3.0, output_per_mtok: 15.0}}}
  - {id: cheap, provider: fake, model: cheap, family: c, context_window: 4096,
     pricing: {tokens: {input_per_mtok: 1.0, output_per_mtok: 5.0}}}
"""
SUITE = """\
name: triage
task: classification
data: {files: {test: test.jsonl}}
fields: {id: id, gold: label, inputs: [text]}
prompt: tiny
scorer: {name: classification, settings: {labels: [lead, support]}}
shape: {task: classification, context_tokens: 100}
quality_floor: 0.5
"""
POLICY = """\
format_version: 1
rules:
  - id: triage
    when: {task: classification}
    model: premium
    prompt: tiny
default:
  model: premium
"""


def _project(root: Path, gate: str = "format_version: 1\n") -> Project:
    (root / "policies").mkdir(parents=True)
    (root / "policies" / "models.yaml").write_text(MODELS)
    (root / "policies" / "current.yaml").write_text(POLICY)
    (root / "policies" / "gate.yaml").write_text(gate)
    suite = root / "suites" / "classification" / "triage"
    suite.mkdir(parents=True)
    (suite / "suite.yaml").write_text(SUITE)
    rows = [{"id": f"t-{i}", "text": f"message {i} .", "label": _label(i)} for i in range(N)]
    (suite / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    prompts = root / "prompts" / "tiny"
    prompts.mkdir(parents=True)
    for variant, marker in (("p", "P"), ("c", "C")):  # same length, so the same tokens: cheap is 3x cheaper
        (prompts / f"{variant}.j2").write_text(
            "{% block system %}Answer with a label.{% endblock %}\n"
            "{% block user %}{{ text }} " + marker + "{% endblock %}\n")
    (root / "reports").mkdir()
    return Project(root)


def _label(i: int) -> str:
    return "lead" if i % 2 == 0 else "support"


def _wrong(i: int) -> str:
    return "support" if i % 2 == 0 else "lead"


@pytest.fixture
def no_sleep(monkeypatch):
    async def sleep(seconds: float) -> None:
        return None

    monkeypatch.setattr("evals.providers.retry.default_sleep", sleep)


def _responder(cheap_failures: dict[int, ErrorKind]):
    def answer(request):
        text = request.prompt.text
        i = int(text.split("message ")[1].split()[0])
        if text.rstrip().endswith("C"):  # cheap: right every time it answers
            return cheap_failures.get(i, _label(i))
        # premium: wrong on 6 of 40 (4 wins of 4 discordant pairs is p = 0.026 at the exact test, margin 0.02)
        return _wrong(i) if i < 6 else _label(i)

    return answer


def _triage(result):
    return next(d for d in result.decisions if d.rule_id == "triage")


def test_a_cheaper_better_model_with_one_failed_call_wins_its_rule(tmp_path, monkeypatch, no_sleep):
    monkeypatch.setenv("EVALS_CACHE", str(tmp_path / "cache.sqlite"))
    project = _project(tmp_path / "proj")
    FakeProvider.reset(responder=_responder({10: ErrorKind.SERVER_ERROR}))
    done = run(project, RunOptions())
    rows = done.results
    failed = rows[(rows.model == "cheap") & rows.error.notna()]
    assert len(failed) == 1 and failed["cost_usd"].isna().all()  # the 5xx reported no usage: no price
    m = measure(load_run(project, done.run_id).frame, ["triage"], "cheap")
    premium = measure(load_run(project, done.run_id).frame, ["triage"], "premium")
    assert m.cost_per_call is not None and m.cost_per_call == pytest.approx(premium.cost_per_call / 3, rel=0.05)
    assert m.quality == 1.0 and m.n == N - 1 and m.infra_failures == 1
    # the same number the aggregates hold
    agg = read_aggregates(done.folder)
    cost = agg[(agg.model == "cheap") & (agg.slice == "all") & (agg.metric == "cost_per_call_usd")].iloc[0]
    assert cost.value == pytest.approx(m.cost_per_call)
    decision = _triage(recommend(project, done.run_id))
    assert decision.proposed.model == "cheap", decision.reason
    assert "costs more" not in decision.reason and decision.reason.startswith("switched: cheap is non-inferior")


def test_unresolved_infra_failures_keep_the_rule_until_a_re_run(tmp_path, monkeypatch, no_sleep):
    monkeypatch.setenv("EVALS_CACHE", str(tmp_path / "cache.sqlite"))
    project = _project(tmp_path / "proj")
    FakeProvider.reset(responder=_responder({i: ErrorKind.RATE_LIMITED for i in (10, 11, 12)}))
    done = run(project, RunOptions())
    decision = _triage(recommend(project, done.run_id))
    assert decision.proposed.model == "premium" and not decision.changed
    assert decision.reason.startswith("kept: re-run to retry 3 failed calls"), decision.reason
    assert "max_infra_failure_rate 0.02" in decision.reason
    # the re-run retries only the failed calls (the answers are cached) and the rule can change
    FakeProvider.reset(responder=_responder({}))
    again = run(project, RunOptions())
    assert int((~again.results["cached"]).sum()) == 3
    assert _triage(recommend(project, again.run_id)).proposed.model == "cheap"


def test_the_threshold_is_read_from_gate_yaml(tmp_path, monkeypatch, no_sleep):
    monkeypatch.setenv("EVALS_CACHE", str(tmp_path / "cache.sqlite"))
    project = _project(tmp_path / "proj", gate="format_version: 1\nmax_infra_failure_rate: 0.05\n")
    FakeProvider.reset(responder=_responder({i: ErrorKind.RATE_LIMITED for i in (10, 11, 12)}))
    done = run(project, RunOptions())  # 3 of 80 calls: 3.75%, under 5%
    assert _triage(recommend(project, done.run_id)).proposed.model == "cheap"
