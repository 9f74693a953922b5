"""Failover that serves the caller: every provider error moves on, a template that cannot render is
skipped, the routing log never costs an answer, a half-open circuit sends one trial call, refusals
leave the breaker alone, and the rule that served is the rule named."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest

from evals.client import CircuitBreaker, Client, load_router
from evals.errors import TemplateError
from evals.providers import ErrorKind
from evals.providers.fake import FakeProvider
from evals.spend import failover_counts, read_logs

MODELS = """\
format_version: 1
models:
  - {id: alpha, provider: fake, model: alpha, family: fam-a, context_window: 2000,
     pricing: {tokens: {input_per_mtok: 1000.0, output_per_mtok: 2000.0}}}
  - {id: beta, provider: fake, model: beta, family: fam-b, context_window: 2000,
     pricing: {tokens: {input_per_mtok: 10.0, output_per_mtok: 20.0}}}
  - {id: gamma, provider: fake, model: gamma, family: fam-c, context_window: 100000,
     pricing: {tokens: {input_per_mtok: 1.0, output_per_mtok: 2.0}}}
"""
POLICY = """\
format_version: 1
rules:
  - {id: writer, when: {task: writing}, model: alpha, prompt: note, fallbacks: [beta, gamma]}
  - {id: summary, when: {task: summary}, model: alpha, prompt: note, fallbacks: [beta]}
default: {model: gamma, prompt: plain}
"""


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def by_model(**answers):
    """A responder answering by the model's template marker ([alpha], [beta], [gamma])."""
    def respond(req):
        for name, answer in answers.items():
            if f"[{name}]" in req.prompt.text:
                return answer
        return "?"
    return respond


@pytest.fixture
def router(tmp_path: Path):
    (tmp_path / "models.yaml").write_text(MODELS)
    (tmp_path / "policy.yaml").write_text(POLICY)
    for prompt in ("note", "plain"):
        folder = tmp_path / "prompts" / prompt
        folder.mkdir(parents=True)
        for name, family in (("alpha", "fam-a"), ("beta", "fam-b"), ("gamma", "fam-c")):
            (folder / f"{family}.j2").write_text(f"{{% block user %}}[{name}] {{{{ text }}}}{{% endblock %}}\n")
    yield load_router(tmp_path / "policy.yaml", tmp_path / "models.yaml", tmp_path / "prompts")
    FakeProvider.reset()


def outcomes(path: Path) -> list[tuple[str, str]]:
    return [(r["model"], r["outcome"]) for r in map(json.loads, path.read_text().splitlines())]


@pytest.mark.parametrize("kind", [ErrorKind.AUTH, ErrorKind.INVALID_REQUEST, ErrorKind.CONTEXT_LENGTH])
async def test_auth_and_invalid_request_fail_over(router, tmp_path, kind):
    """An expired key (401) or a request one provider rejects (400) must not take the route down."""
    FakeProvider.reset(responder=by_model(alpha=kind, beta="from beta"))
    log = tmp_path / "routing.jsonl"
    result = await Client(router, log_path=log).complete({"task": "writing"}, {"text": "hi"})
    assert (result.ok, result.model, result.text) == (True, "beta", "from beta")
    assert outcomes(log) == [("alpha", kind.value), ("beta", "ok")]


async def test_a_fallback_whose_template_fails_to_render_is_skipped(router, tmp_path, caplog):
    (tmp_path / "prompts" / "note" / "fam-b.j2").write_text("{% block user %}[beta] {{ needs_this }}{% endblock %}\n")
    FakeProvider.reset(responder=by_model(alpha=ErrorKind.SERVER_ERROR, beta="never", gamma="from gamma"))
    log = tmp_path / "routing.jsonl"
    with caplog.at_level(logging.WARNING, logger="evals.client"):
        result = await Client(router, log_path=log).complete({"task": "writing"}, {"text": "hi"})
    assert (result.ok, result.model, result.text) == (True, "gamma", "from gamma")
    assert outcomes(log) == [("alpha", "server_error"), ("beta", "render_error"), ("gamma", "ok")]
    assert len(FakeProvider.calls) == 2  # beta was never called
    assert any("skipping beta" in r.message and "needs_this" in r.message for r in caplog.records)
    assert any("skipped beta" in n for n in result.notes)


async def test_a_primary_whose_template_fails_to_render_fails_over(router, tmp_path):
    (tmp_path / "prompts" / "note" / "fam-a.j2").write_text("{% block user %}[alpha] {{ 1 + text }}{% endblock %}\n")
    FakeProvider.reset(responder=by_model(beta="from beta"))
    log = tmp_path / "routing.jsonl"
    result = await Client(router, log_path=log).complete({"task": "writing"}, {"text": "hi"})
    assert (result.model, result.failed_over) == ("beta", True)
    assert outcomes(log) == [("alpha", "render_error"), ("beta", "ok")]


async def test_inputs_no_template_takes_raise_the_first_render_error_after_logging(router, tmp_path):
    log = tmp_path / "routing.jsonl"
    with pytest.raises(TemplateError, match="'text' is undefined"):
        await Client(router, log_path=log).complete({"task": "writing"}, {"txet": "typo"})
    assert outcomes(log) == [("alpha", "render_error"), ("beta", "render_error"), ("gamma", "render_error")]
    assert FakeProvider.calls == []


async def test_an_unwritable_routing_log_never_loses_the_answer(router, tmp_path, caplog):
    (tmp_path / "not-a-dir").write_text("a file where the log's folder should be")
    FakeProvider.reset(responder=by_model(alpha="paid answer"))
    client = Client(router, log_path=tmp_path / "not-a-dir" / "routing.jsonl")
    with caplog.at_level(logging.WARNING, logger="evals.client"):
        result = await client.complete({"task": "writing"}, {"text": "hi"})
    assert (result.ok, result.text) == (True, "paid answer")
    assert result.log_error and "not written" in result.log_error and "the answer is returned" in result.log_error
    assert any("routing log" in r.message and "not written" in r.message for r in caplog.records)


async def test_half_open_breaker_sends_exactly_one_trial_while_others_fail_over(router, tmp_path):
    clock = Clock()
    breaker = CircuitBreaker(threshold=1, cooldown_s=30, clock=clock)
    client = Client(router, log_path=tmp_path / "routing.jsonl", breaker=breaker)
    FakeProvider.reset(responder=by_model(alpha=ErrorKind.SERVER_ERROR, beta="from beta"))
    assert (await client.complete({"task": "writing"}, {"text": "hi"})).model == "beta"  # alpha's circuit opens
    clock.t += 31  # cooled down: half-open
    FakeProvider.reset(responder=by_model(alpha="alpha is back", beta="from beta"), delay_s=0.05)
    results = await asyncio.gather(*(client.complete({"task": "writing"}, {"text": "hi"}) for _ in range(6)))
    sent_to_alpha = [c for c in FakeProvider.calls if "[alpha]" in c.prompt.text]
    assert len(sent_to_alpha) == 1
    assert sorted(r.model for r in results) == ["alpha"] + ["beta"] * 5
    # the trial succeeded: the circuit is closed and the next call goes to alpha again
    FakeProvider.reset(responder=by_model(alpha="alpha is back"))
    assert (await client.complete({"task": "writing"}, {"text": "hi"})).model == "alpha"


async def test_a_failed_trial_opens_the_circuit_for_another_cooldown(router, tmp_path):
    clock = Clock()
    client = Client(router, breaker=CircuitBreaker(threshold=2, cooldown_s=30, clock=clock))
    FakeProvider.reset(responder=by_model(alpha=ErrorKind.TIMEOUT, beta="from beta"))
    for _ in range(2):
        await client.complete({"task": "writing"}, {"text": "hi"})
    clock.t += 31
    trial = await client.complete({"task": "writing"}, {"text": "hi"})
    assert [(a["model"], a["outcome"]) for a in trial.attempts] == [("alpha", "timeout"), ("beta", "ok")]
    after = await client.complete({"task": "writing"}, {"text": "hi"})
    assert [(a["model"], a["outcome"]) for a in after.attempts] == [("alpha", "circuit_open"), ("beta", "ok")]


async def test_a_trial_whose_template_fails_frees_the_trial_slot(router, tmp_path):
    clock = Clock()
    breaker = CircuitBreaker(threshold=1, cooldown_s=30, clock=clock)
    breaker.record("alpha", False)
    clock.t += 31
    assert breaker.acquire("alpha") and not breaker.acquire("alpha")  # one trial at a time
    breaker.release("alpha")
    assert breaker.acquire("alpha")


async def test_refusals_do_not_trip_the_breaker(router, tmp_path):
    client = Client(router, breaker=CircuitBreaker(threshold=1, cooldown_s=30, clock=Clock()))
    FakeProvider.reset(responder=by_model(alpha=ErrorKind.REFUSED, beta="from beta"))
    for _ in range(3):
        result = await client.complete({"task": "writing"}, {"text": "hi"})
        assert [(a["model"], a["outcome"]) for a in result.attempts] == [("alpha", "refused"), ("beta", "ok")]


async def test_the_default_chain_serving_an_excluded_rule_is_charged_to_default(router, tmp_path):
    """Context too long for every model of `summary`: the default serves, and the log and spend say default."""
    FakeProvider.reset(responder=by_model(gamma="from gamma"))
    log = tmp_path / "routing.jsonl"
    result = await Client(router, log_path=log).complete({"task": "summary", "context_tokens": 5000}, {"text": "hi"})
    assert (result.model, result.decision.rule, result.decision.prompt) == ("gamma", "default", "plain")
    assert [r["rule"] for r in map(json.loads, log.read_text().splitlines())] == ["default"]
    assert failover_counts(read_logs([log]))["rule"].tolist() == ["default"]
