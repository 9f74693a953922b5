"""Failover end to end through the fake provider, the routing log and the circuit breaker."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.client import CircuitBreaker, Client, complete, complete_sync, load_router
from evals.providers import ErrorKind, default_registry
from evals.providers.fake import FakeProvider

MODELS = """\
format_version: 1
models:
  - {id: alpha, provider: fake, model: alpha, family: fam-a, context_window: 4096,
     pricing: {tokens: {input_per_mtok: 1000.0, output_per_mtok: 2000.0}}}
  - {id: beta, provider: fake, model: beta, family: fam-b, context_window: 4096,
     pricing: {tokens: {input_per_mtok: 10.0, output_per_mtok: 20.0}}}
"""
POLICY = """\
format_version: 1
rules:
  - id: writer
    when: {task: writing}
    model: alpha
    prompt: note
    fallbacks: [beta]
default: {model: beta, prompt: note}
"""
SECRET = "sk-do-not-log-42"


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def setup(tmp_path: Path):
    (tmp_path / "models.yaml").write_text(MODELS)
    (tmp_path / "policy.yaml").write_text(POLICY)
    note = tmp_path / "prompts" / "note"
    note.mkdir(parents=True)
    (note / "fam-a.j2").write_text("{% block system %}ALPHA TEMPLATE{% endblock %}{% block user %}Write: {{ text }}{% endblock %}\n")
    (note / "fam-b.j2").write_text("{% block prompt %}BETA TEMPLATE\n{{ text }}\n->{% endblock %}\n")
    router = load_router(tmp_path / "policy.yaml", tmp_path / "models.yaml", tmp_path / "prompts")
    FakeProvider.reset(responder=lambda req: ErrorKind.SERVER_ERROR if "ALPHA" in req.prompt.text else "beta says hi")
    yield router, tmp_path / "logs" / "routing.jsonl"
    FakeProvider.reset()


def read_log(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


async def test_primary_fails_fallback_answers_with_its_own_template(setup):
    router, log = setup
    client = Client(router, log_path=log, registry=default_registry())
    result = await client.complete({"task": "writing", "context_tokens": 50}, {"text": f"hello {SECRET}"})
    assert result.ok and result.text == "beta says hi"
    assert (result.model, result.decision.model, result.failed_over) == ("beta", "alpha", True)
    first, second = (req.prompt for req in FakeProvider.calls)
    assert first.messages[0]["content"] == "ALPHA TEMPLATE" and first.prompt is None
    assert second.messages is None and second.prompt.startswith("BETA TEMPLATE\nhello")
    lines = read_log(log)
    assert [(r["attempt"], r["model"], r["family"], r["variant"], r["outcome"], r["final"]) for r in lines] == [
        (1, "alpha", "fam-a", "fam-a", "server_error", False),
        (2, "beta", "fam-b", "fam-b", "ok", True),
    ]
    assert lines[0]["call_id"] == lines[1]["call_id"] and lines[0]["rule"] == "writer"
    assert lines[1]["descriptor"]["context_tokens"] == 50
    # beta is priced at 10 / 20 $ per Mtok on the fake's word counts
    assert lines[1]["cost_usd"] == pytest.approx((lines[1]["input_tokens"] * 10 + lines[1]["output_tokens"] * 20) / 1e6)
    assert lines[0]["cost_usd"] is None and lines[0]["input_tokens"] is None
    assert SECRET not in log.read_text()


async def test_an_invalid_request_fails_over(setup):
    """A request one provider rejects (a parameter it does not take) may be served by the next model."""
    router, log = setup
    FakeProvider.reset(responder=lambda req: ErrorKind.INVALID_REQUEST if "ALPHA" in req.prompt.text else "beta")
    result = await Client(router, log_path=log).complete({"task": "writing"}, {"text": "x"})
    assert (result.ok, result.model, result.text) == (True, "beta", "beta")
    assert [(r["model"], r["outcome"], r["final"]) for r in read_log(log)] == [
        ("alpha", "invalid_request", False), ("beta", "ok", True)]


async def test_every_model_failing_returns_the_last_error(setup):
    router, log = setup
    FakeProvider.reset(responder=lambda req: ErrorKind.RATE_LIMITED)
    result = await Client(router, log_path=log).complete({"task": "writing"}, {"text": "x"})
    assert not result.ok and result.model is None and len(result.attempts) == 2
    assert [r["outcome"] for r in read_log(log)] == ["rate_limited", "rate_limited"]


async def test_circuit_breaker_skips_then_retries_after_cooldown(setup):
    router, log = setup
    clock = Clock()
    client = Client(router, log_path=log, breaker=CircuitBreaker(threshold=2, cooldown_s=30, clock=clock))
    for _ in range(2):
        assert (await client.complete({"task": "writing"}, {"text": "x"})).model == "beta"
    assert len(FakeProvider.calls) == 4  # alpha, beta, alpha, beta
    result = await client.complete({"task": "writing"}, {"text": "x"})
    assert result.model == "beta" and len(FakeProvider.calls) == 5  # alpha skipped
    assert [(r["model"], r["outcome"]) for r in result.attempts] == [("alpha", "circuit_open"), ("beta", "ok")]
    clock.t += 29.9
    await client.complete({"task": "writing"}, {"text": "x"})
    assert len(FakeProvider.calls) == 6  # still cooling down
    clock.t += 0.2
    FakeProvider.reset(responder=lambda req: "alpha is back")
    result = await client.complete({"task": "writing"}, {"text": "x"})
    assert (result.model, result.failed_over, len(FakeProvider.calls)) == ("alpha", False, 1)
    assert len(read_log(log)) == 2 + 2 + 2 + 2 + 1


def test_breaker_reopens_at_once_when_the_trial_fails():
    clock = Clock()
    breaker = CircuitBreaker(threshold=3, cooldown_s=10, clock=clock)
    for _ in range(2):
        breaker.record("m", False)
    assert not breaker.is_open("m")
    breaker.record("m", False)
    assert breaker.is_open("m")
    clock.t += 10
    assert not breaker.is_open("m")  # the trial call
    breaker.record("m", False)
    assert breaker.is_open("m")
    breaker.record("m", True)
    assert not breaker.is_open("m")


def test_sync_edge_and_overrides(setup):
    router, log = setup
    result = complete_sync({"task": "writing"}, {"text": "x"}, router=router, log_path=log, model="beta", fallbacks=[])
    assert (result.model, result.text) == ("beta", "beta says hi")
    assert [r["model"] for r in read_log(log)] == ["beta"]


async def test_unavailable_provider_fails_over(setup, tmp_path):
    router, log = setup
    registry = default_registry()
    registry.pop("fake")  # alpha and beta become unknown providers: both unavailable, no exception
    result = await complete({"task": "writing"}, {"text": "x"}, router=router, log_path=log, registry=registry)
    assert not result.ok and [r["outcome"] for r in read_log(log)] == ["unavailable", "unavailable"]


async def test_bad_requests_do_not_trip_the_breaker(setup):
    router, log = setup
    FakeProvider.reset(responder=lambda req: ErrorKind.INVALID_REQUEST)
    client = Client(router, log_path=log, breaker=CircuitBreaker(threshold=1, cooldown_s=30, clock=Clock()))
    for _ in range(3):
        await client.complete({"task": "writing"}, {"text": "x"})
    assert [r["outcome"] for r in read_log(log)] == ["invalid_request"] * 6  # alpha then beta, every time
