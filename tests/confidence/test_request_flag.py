"""Confidence is asked for on classification requests only, and only they change their cache keys.

Every place that builds "the request model M gets for example X" (the runner's plan, ``evals render``,
``evals validate``, ``evals distill``'s texts, the runtime client) passes the suite's task to
:func:`evals.requests.build_request`, so they agree on the flag.
"""

from __future__ import annotations

from pathlib import Path

from evals.config.models import load_models
from evals.preview import preview_request
from evals.project import Project
from evals.prompts import RenderedPrompt
from evals.providers.fake import FakeProvider
from evals.requests import build_request, variant_for
from evals.runner.cache import cache_key
from evals.runner.run import load_suites, plan

REPO = Path(__file__).resolve().parents[2]

#: The keys a request's canonical form has always had (``tools`` is added only for a tool_call suite).
CANONICAL_KEYS = {"messages", "prompt", "max_tokens", "temperature", "top_p", "stop", "seed", "json_output",
                  "json_schema"}


def _prompt(**kw) -> RenderedPrompt:
    return RenderedPrompt(({"role": "user", "content": "Which label?"},), None, 12, 0.0,
                          json_schema={"enum": ["a", "b"]}, json_output=True, **kw)


def test_a_request_without_the_flag_keeps_its_canonical_form_and_cache_key():
    # pinned on main before the flag existed: a request that does not ask keeps its key
    p = _prompt()
    assert set(p.canonical()) == CANONICAL_KEYS
    assert p.sha256 == "c9c60b0e93034aa654ae9e235b92c31fcb00dbe1b500d61da2617626907708e1"
    assert cache_key({"model": "m"}, p.canonical(), 0) == \
        "4d21651d5dc2766a024470651be5c339d41992286fb79b733acbac0b5514ab5a"


def test_a_request_that_asks_for_confidence_has_its_own_cache_key():
    asked, plain = _prompt(confidence=True), _prompt()
    assert asked.canonical() == {**plain.canonical(), "confidence": True}
    assert cache_key({"model": "m"}, asked.canonical(), 0) != cache_key({"model": "m"}, plain.canonical(), 0)


def _jobs(models: list[str]):
    project = Project(REPO)
    specs = load_models(project.models_file)
    providers = {m: FakeProvider(specs.get(m)) for m in models}
    return project, plan(project, load_suites(project, None, None, None), providers, 1, None)


def test_the_runner_asks_on_classification_suites_only():
    _, jobs = _jobs(["gemma3-270m", "smollm2-135m"])
    by_task: dict[str, set[bool]] = {}
    for job in jobs:
        by_task.setdefault(job.suite.spec.task, set()).add(job.rendered.confidence)
        assert ("confidence" in job.rendered.canonical()) is job.rendered.confidence
    assert by_task.pop("classification") == {True}
    assert by_task and all(flags == {False} for flags in by_task.values()), by_task


def test_a_non_classification_job_keeps_the_cache_key_it_had():
    # the job's key is the key of the request rendered without any flag: nothing changed for these suites
    project, jobs = _jobs(["smollm2-135m"])
    checked = 0
    for job in jobs:
        if job.suite.spec.task == "classification":
            continue
        template = variant_for(project.prompts_dir, job.suite.spec.prompt, job.model.id, job.model.family)
        unflagged = build_request(template, job.suite.variables(job.example), job.suite.schema, job.suite.tools)
        assert job.key == cache_key(FakeProvider(job.model).cache_identity(), unflagged.canonical(), job.repeat)
        checked += 1
    assert checked > 50


def test_render_shows_the_request_the_runner_sends():
    project, jobs = _jobs(["gemma3-270m"])
    job = next(j for j in jobs if j.suite.name == "inbox-triage")
    shown = preview_request(project, "inbox-triage", "gemma3-270m", job.example.id)
    assert shown.request.confidence and shown.request.canonical() == job.rendered.canonical()
