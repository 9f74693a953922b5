"""Cascade rules: typed and validated in the policy, returned by the router, run by the client, counted by spend."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from evals.client import ESCALATED, Client, answer_confidence, load_router
from evals.config.policy import Policy, Target, load_policy
from evals.errors import ConfigError
from evals.policy.checks import load_checked_policy
from evals.config.models import load_models
from evals.providers import ErrorKind, GenerateResponse, default_registry
from evals.providers.fake import FakeProvider
from evals.policy.replay import replay
from evals.router import Router
from evals.spend import failover_counts, read_logs, spend_breakdown
from evals.traffic import read_traffic

MODELS = """\
format_version: 1
models:
  - {id: cheap, provider: fake, model: cheap, family: small, context_window: 4096,
     pricing: {self_hosted: {hourly_usd: 3.6}}}
  - {id: strong, provider: fake, model: strong, family: big, context_window: 4096,
     pricing: {tokens: {input_per_mtok: 100.0, output_per_mtok: 400.0}}}
  - {id: spare, provider: fake, model: spare, family: big, context_window: 4096,
     pricing: {tokens: {input_per_mtok: 1.0, output_per_mtok: 1.0}}}
"""
POLICY = """\
format_version: 1
rules:
  - id: triage
    when: {task: classification}
    prompt: triage
    cascade:
      - {model: cheap, accept_if: {confidence: 0.85}}
      - {model: strong}
    fallbacks: [spare]
default: {model: strong, prompt: triage}
"""


@pytest.fixture
def setup(tmp_path: Path):
    (tmp_path / "models.yaml").write_text(MODELS)
    (tmp_path / "policy.yaml").write_text(POLICY)
    folder = tmp_path / "prompts" / "triage"
    folder.mkdir(parents=True)
    (folder / "small.j2").write_text("{% block user %}SMALL {{ text }}{% endblock %}\n")
    (folder / "big.j2").write_text("{% block system %}BIG{% endblock %}{% block user %}{{ text }}{% endblock %}\n")
    router = load_router(tmp_path / "policy.yaml", tmp_path / "models.yaml", tmp_path / "prompts")
    yield router, tmp_path
    FakeProvider.reset()


def user(request) -> str:
    return request.prompt.messages[-1]["content"]


def _cheap_says(confidences: dict[str, object]):
    """The cheap model answers "lead" with the confidence scripted for each text; the strong one "support"."""

    def respond(request):
        text = user(request)
        if text.startswith("SMALL "):
            conf = confidences[text.removeprefix("SMALL ")]
            if isinstance(conf, ErrorKind):
                return conf
            extra = {} if conf is None else {"confidence": conf}
            return GenerateResponse(text="lead", latency_ms=2.0, finish_reason="stop", extra=extra)
        return GenerateResponse(text="support", input_tokens=100, output_tokens=1, latency_ms=50.0, finish_reason="stop")
    return respond


# -- the policy ------------------------------------------------------------------------------------------


def test_a_cascade_names_its_first_model_and_dumps_as_written():
    t = Target(cascade=[{"model": "a", "accept_if": {"confidence": 0.85}}, {"model": "b"}], fallbacks=["c"])
    assert (t.model, t.chain()) == ("a", ["a", "b", "c"])
    assert t.cascade[0].accept_if.confidence == 0.85 and t.cascade[1].accept_if is None
    # a target without a cascade dumps (and so hashes) exactly as before the field existed
    assert "cascade" not in Target(model="x").model_dump()
    assert Policy(default=Target(model="x")).content_sha256() == \
        "73536b4da9529ddd59a640bb230a708c0e52cecc9abc85f4bdb0a1ad86220eb7"


@pytest.mark.parametrize(("cascade", "extra", "message"), [
    ([{"model": "a", "accept_if": {"confidence": 0.8}}], {}, "at least two legs"),
    ([{"model": "a"}, {"model": "b"}], {}, "every leg but the last needs accept_if"),
    ([{"model": "a", "accept_if": {"confidence": 0.8}}, {"model": "b", "accept_if": {"confidence": 0.9}}], {},
     "the last leg answers"),
    ([{"model": "a", "accept_if": {"confidence": 0.8}}, {"model": "a"}], {}, "already cascade"),
    ([{"model": "a", "accept_if": {"confidence": 1.5}}, {"model": "b"}], {}, "less than or equal to 1"),
    ([{"model": "a", "accept_if": {"confidence": 0.8, "margin": 1}}, {"model": "b"}], {}, "Extra inputs"),
    ([{"model": "a", "accept_if": {"confidence": 0.8}}, {"model": "b"}], {"model": "b"}, "not the cascade's first leg"),
    ([{"model": "a", "accept_if": {"confidence": 0.8}}, {"model": "b"}], {"fallbacks": ["b"]}, "already a cascade leg"),
])
def test_a_malformed_cascade_is_refused(cascade, extra, message):
    with pytest.raises(ValueError, match=message):
        Target(cascade=cascade, **extra)


def test_validate_names_an_unknown_cascade_model_with_its_line(tmp_path: Path):
    (tmp_path / "models.yaml").write_text(MODELS)
    bad = POLICY.replace("- {model: strong}", "- {model: stronk}")
    (tmp_path / "policy.yaml").write_text(bad)
    with pytest.raises(ConfigError) as err:
        load_checked_policy(tmp_path / "policy.yaml", load_models(tmp_path / "models.yaml"))
    assert err.value.line == 8 and err.value.field == "rules[0].cascade[1].model"
    assert "unknown model 'stronk'" in str(err.value)
    with pytest.raises(ConfigError, match="stronk"):
        load_router(tmp_path / "policy.yaml", tmp_path / "models.yaml")


# -- the router ------------------------------------------------------------------------------------------


def test_the_router_returns_the_cascade_then_the_fallbacks(setup):
    router, _ = setup
    d = router.route(task="classification")
    assert [(c.model, c.accept_confidence) for c in d.chain] == [("cheap", 0.85), ("strong", None), ("spare", None)]
    assert [c.model for c in d.cascade] == ["cheap", "strong"] and d.fallbacks == ["spare"]
    assert d.model == "cheap" and d.variant.endswith("small.j2") and d.chain[1].variant.endswith("big.j2")
    assert "cascade cheap (confidence >= 0.85) -> strong" in d.why
    plain = router.route(task="writing")
    assert plain.cascade == () and plain.fallbacks == []


def test_overrides_on_a_cascade(setup):
    router, _ = setup
    pinned = router.route(task="classification", model="cheap")  # a pinned model is one model
    assert pinned.cascade == () and [c.accept_confidence for c in pinned.chain] == [None, None, None]
    tail = router.route(task="classification", fallbacks=[])  # the legs stay, the tail goes
    assert [c.model for c in tail.cascade] == ["cheap", "strong"] and tail.fallbacks == []
    # the last model left never has a threshold: nobody would take what it passes on
    alone = Router({"rules": [], "default": {"cascade": [{"model": "a", "accept_if": {"confidence": 0.9}},
                                                          {"model": "b"}], "prompt": "p"}})
    only_a = alone.route(task="x", fallbacks=[], model=None)
    assert [c.accept_confidence for c in only_a.chain] == [0.9, None]
    models = {"models": [{"id": "a", "provider": "pa"}, {"id": "b", "provider": "pb"}]}
    forbidden = Router({"rules": [], "default": {"cascade": [{"model": "a", "accept_if": {"confidence": 0.9}},
                                                              {"model": "b"}]}}, models).route(task="x", forbid_providers=["pb"])
    assert [(c.model, c.accept_confidence) for c in forbidden.chain] == [("a", None)]
    assert "a is the last model left" in forbidden.why


# -- the client ------------------------------------------------------------------------------------------

CONFIDENCES = {"m0": 0.97, "m1": 0.85, "m2": 0.8499, "m3": 0.2, "m4": None, "m5": 0.9, "m6": ErrorKind.TIMEOUT,
               "m7": 0.86, "m8": float("nan"), "m9": 1.0}
BELOW = {"m2", "m3", "m4", "m6", "m8"}  # below 0.85, no confidence, a failure, not a number


async def test_the_cascade_escalates_exactly_the_calls_below_the_threshold(setup):
    router, root = setup
    FakeProvider.reset(responder=_cheap_says(CONFIDENCES))
    log = root / "logs" / "routing.jsonl"
    client = Client(router, log_path=log, registry=default_registry())
    results = {text: await client.complete({"task": "classification"}, {"text": text}) for text in CONFIDENCES}
    await client.aclose()
    for text, result in results.items():
        assert result.ok
        expected = "strong" if text in BELOW else "cheap"
        assert (result.model, result.text) == (expected, "support" if text in BELOW else "lead"), text
        assert result.escalated == (text in BELOW - {"m6"}) and result.failed_over == (text == "m6")
    # each leg got its own variant: the cheap one the small template, the strong one the big one
    assert sum(user(c).startswith("SMALL ") for c in FakeProvider.calls) == 10
    strong_calls = [c for c in FakeProvider.calls if c.prompt.messages[0]["content"] == "BIG"]
    assert sorted(user(c) for c in strong_calls) == sorted(BELOW)

    lines = [json.loads(x) for x in log.read_text().splitlines()]
    calls: dict[str, list[dict]] = {}
    for rec in lines:
        calls.setdefault(rec["call_id"], []).append(rec)
    by_text = dict(zip(CONFIDENCES, calls.values()))  # calls were made in order
    for text, recs in by_text.items():
        if text in BELOW:
            first, second = recs
            assert (first["model"], first["attempt"], first["final"], first["accept_if"]) == ("cheap", 1, False, 0.85)
            assert first["outcome"] == ("timeout" if text == "m6" else ESCALATED)
            assert (second["model"], second["outcome"], second["final"], second["accept_if"]) == ("strong", "ok", True, None)
        else:
            (only,) = recs
            assert (only["model"], only["outcome"], only["final"], only["confidence"]) == ("cheap", "ok", True, CONFIDENCES[text])
    assert by_text["m3"][0]["confidence"] == 0.2 and by_text["m4"][0]["confidence"] is None
    assert by_text["m8"][0]["confidence"] is None  # NaN is no confidence

    # spend counts both legs: the cheap leg's busy time on every call, the strong leg on the escalated ones
    frame = read_logs([log])
    cheap_cost = 3.6 * (2.0 / 1000 / 3600)
    strong_cost = (100 * 100 + 1 * 400) / 1e6
    per_model = spend_breakdown(frame, "model").set_index("model")
    assert per_model.loc["cheap", "attempts"] == 10 and per_model.loc["strong", "attempts"] == len(BELOW)
    assert per_model.loc["cheap", "cost_usd"] == pytest.approx(9 * cheap_cost)  # the timeout cost nothing
    assert per_model.loc["strong", "cost_usd"] == pytest.approx(len(BELOW) * strong_cost)
    assert per_model.loc["cheap", "answered"] == 10 - len(BELOW)
    fo = failover_counts(frame).set_index("rule")
    assert (fo.loc["triage", "escalations"], fo.loc["triage", "failovers"]) == (4, 1)  # m6 failed over
    traffic = read_traffic([log])
    escalated = traffic.calls[traffic.calls["call_id"] == by_text["m3"][0]["call_id"]].iloc[0]
    assert escalated["model"] == "strong" and escalated["actual_usd"] == pytest.approx(cheap_cost + strong_cost)
    assert traffic.calls["actual_usd"].sum() == pytest.approx(9 * cheap_cost + len(BELOW) * strong_cost)
    # replaying the policy in force re-prices every leg as logged, the cheap leg's passed-on answers included
    replayed = replay(traffic, root / "policy.yaml", models_path=root / "models.yaml")
    assert set(replayed.calls["method"]) == {"logged"}
    assert replayed.calls["projected_usd"].sum() == pytest.approx(traffic.calls["actual_usd"].sum())


async def test_an_escalated_call_whose_strong_leg_fails_goes_to_the_fallbacks(setup):
    router, root = setup

    low = GenerateResponse(text="lead", latency_ms=1.0, extra={"confidence": 0.1})
    FakeProvider.reset(script=[low, ErrorKind.SERVER_ERROR, ErrorKind.SERVER_ERROR])  # strong and spare fail
    client = Client(router, log_path=root / "log.jsonl", registry=default_registry())
    result = await client.complete({"task": "classification"}, {"text": "hi"})
    assert not result.ok and result.model is None and result.text == ""
    assert result.response.error is ErrorKind.SERVER_ERROR
    assert result.unaccepted.text == "lead" and answer_confidence(result.unaccepted) == 0.1
    assert [a["outcome"] for a in result.attempts] == [ESCALATED, "server_error", "server_error"]
    # an escalation that then reaches a later model that answers is both escalated and failed over
    FakeProvider.reset(script=[low, ErrorKind.SERVER_ERROR, "spare"])
    result = await client.complete({"task": "classification"}, {"text": "hi"})
    assert (result.model, result.text, result.escalated, result.failed_over) == ("spare", "spare", True, True)
    await client.aclose()


async def test_an_escalated_answer_is_not_returned_when_nothing_after_it_is_sent(setup):
    router, root = setup
    FakeProvider.reset(responder=lambda r: GenerateResponse(text="lead", latency_ms=1.0, extra={"confidence": 0.5}))
    client = Client(router, registry=default_registry())
    for model in ("strong", "spare"):  # both circuits open: nothing after the cheap leg is called
        for _ in range(3):
            client.breaker.record(model, ok=False)
    result = await client.complete({"task": "classification"}, {"text": "hi"})
    assert not result.ok and result.model is None and result.response is None
    assert result.unaccepted is not None and result.unaccepted.text == "lead"
    assert [a["outcome"] for a in result.attempts] == [ESCALATED, "circuit_open", "circuit_open"]
    await client.aclose()


def test_answer_confidence_reads_only_probabilities():
    assert answer_confidence(GenerateResponse(text="a", extra={"confidence": 0})) == 0.0
    for bad in (True, -0.1, 1.01, math.inf, "0.9", None):
        assert answer_confidence(GenerateResponse(text="a", extra={"confidence": bad})) is None


def test_shipped_policy_still_loads(tmp_path: Path):
    repo = Path(__file__).resolve().parents[2]
    policy = load_policy(repo / "policies" / "current.yaml")
    assert all(t.cascade is None for _, t in policy.targets())


def test_evals_route_prints_the_cascade(setup):
    from click.testing import CliRunner

    from evals.cli.main import cli

    _, root = setup
    (root / "policies").mkdir()
    (root / "policies" / "models.yaml").write_text(MODELS)
    (root / "policies" / "current.yaml").write_text(POLICY)
    out = CliRunner().invoke(cli, ["route", "--project", str(root), "--task", "classification"], catch_exceptions=False)
    assert out.exit_code == 0, out.output
    assert "cascade:   cheap (fake, small.j2) if confidence >= 0.85 -> strong (fake, big.j2)" in out.output
    assert "fallbacks: spare (fake, big.j2)" in out.output


def test_a_passed_on_answer_of_unknown_cost_makes_the_call_unknown(tmp_path: Path):
    base = {"format_version": 1, "time": "2026-11-24T10:00:00+00:00", "call_id": "c1", "rule": "triage",
            "descriptor": {"task": "classification"}, "family": "f", "provider": "p", "prompt": "triage"}
    lines = [{**base, "model": "cheap", "attempt": 1, "outcome": ESCALATED, "final": False, "input_tokens": None,
              "output_tokens": None, "cost_usd": None, "latency_ms": 2.0, "confidence": 0.3, "accept_if": 0.85},
             {**base, "model": "strong", "attempt": 2, "outcome": "ok", "final": True, "input_tokens": 100,
              "output_tokens": 1, "cost_usd": 0.0104, "latency_ms": 50.0, "confidence": None, "accept_if": None}]
    log = tmp_path / "log.jsonl"
    log.write_text("".join(json.dumps(x) + "\n" for x in lines))
    call = read_traffic([log]).calls.iloc[0]
    assert call["model"] == "strong" and math.isnan(call["actual_usd"])  # the cheap leg answered: paid, price unknown
