"""Router decisions, rule by rule (policy in conftest.POLICY)."""

from __future__ import annotations

import pytest

from evals.client import load_router
from evals.config.descriptor import Match, TaskDescriptor
from evals.errors import ConfigError
from evals.router import NoRoute, Router, rule_matches


@pytest.fixture
def router(files) -> Router:
    return Router.from_file(files["policy"], files["models"], files["prompts"])


def test_voice_rule_needs_its_tag(router):
    d = router.route(task="writing", tags=["voice", "email"])
    assert (d.rule, d.model, d.fallbacks, d.prompt) == ("voice", "claude", ["gpt4o"], "founder-voice")
    assert d.endpoint == "anthropic"
    assert "rule 'voice' matched" in d.why and "tags" in d.why
    assert router.route(task="writing", tags=["email"]).rule == "default"


def test_first_match_wins_in_file_order(router):
    # bulk and classify both match a high-volume classification; bulk is listed first.
    d = router.route(task="classification", context_tokens=800, volume="high")
    assert (d.rule, d.model, d.fallbacks) == ("bulk", "llama", ["gpt4o-mini"])
    assert d.endpoint == "http://gpu-1:8000/v1"
    # long-context precedes classify: the same task over the bound goes to Claude.
    assert router.route(task="classification", context_tokens=40000).rule == "long-context"
    # latency 300 would match "fast", but classify is earlier.
    assert router.route(task="classification", context_tokens=800, latency_ms=300).rule == "classify"


@pytest.mark.parametrize(("tokens", "rule", "model"), [
    (0, "classify", "gpt4o-mini"),
    (32000, "classify", "gpt4o-mini"),  # inclusive max
    (32001, "long-context", "claude"),  # inclusive min of the next rule
    (200000, "long-context", "claude"),  # exactly Claude's window still fits
])
def test_context_length_bounds(router, tokens, rule, model):
    d = router.route(task="tool-call", context_tokens=tokens)
    assert (d.rule, d.model) == (rule, model)


def test_context_window_skips_to_the_fallback(router):
    assert router.route(task="classification", context_tokens=8192, volume="high").model == "llama"
    d = router.route(task="classification", context_tokens=8193, volume="high")
    assert (d.rule, d.model, d.fallbacks) == ("bulk", "gpt4o-mini", [])
    assert "skipped llama: context window 8192 < 8193 tokens" in d.why
    # classify keeps gpt4o first and drops llama from the middle of the chain
    assert router.route(task="classification", context_tokens=9000).fallbacks == ["gpt4o"]


def test_too_long_for_every_model_raises(router):
    with pytest.raises(NoRoute, match="context window 200000 < 200001"):
        router.route(task="writing", context_tokens=200001)


def test_default_and_missing_latency(router):
    d = router.route(task="summarise", context_tokens=1000)
    assert (d.rule, d.model, d.fallbacks, d.prompt) == ("default", "claude", ["gpt4o"], "generic")
    assert d.why.startswith("no rule matched")
    # a bounded range does not match a descriptor that leaves the value out
    assert router.route(task="summarise", latency_ms=None).rule == "default"
    assert router.route(task="summarise", latency_ms=500).rule == "fast"
    assert router.route(task="summarise", latency_ms=501).rule == "default"


def test_force_a_model_keeps_the_rule_and_its_chain(router):
    d = router.route(task="classification", context_tokens=800, model="claude")
    assert (d.rule, d.model, d.fallbacks, d.prompt) == ("classify", "claude", ["gpt4o-mini", "llama", "gpt4o"], "triage")
    assert "model=claude" in d.why
    d = router.route(task="classification", model="claude", fallbacks=[])
    assert (d.model, d.fallbacks) == ("claude", [])
    d = router.route(task="classification", fallbacks=["gpt4o"])
    assert (d.model, d.fallbacks) == ("gpt4o-mini", ["gpt4o"])
    with pytest.raises(ValueError, match="not in models.yaml"):
        router.route(task="classification", model="no-such-model")


def test_forbidden_providers_filter_the_whole_chain(router):
    d = router.route(task="classification", context_tokens=800, forbid_providers=["openai"])
    assert (d.rule, d.model, d.fallbacks) == ("classify", "llama", [])
    assert "provider openai forbidden" in d.why
    # every model of the rule forbidden: the default's chain serves, with its prompt, and is named
    d = router.route(task="classification", volume="high", forbid_providers=["openai", "openai-compatible"])
    assert (d.rule, d.model, d.prompt) == ("default", "claude", "generic")
    assert "every model of rule 'bulk' excluded; using the default's chain" in d.why
    with pytest.raises(NoRoute):
        router.route(task="writing", forbid_providers=["anthropic", "openai"])


def test_variant_resolution_model_family_default(router):
    assert router.route(task="classification").variant.endswith("triage/gpt.j2")  # family
    assert router.route(task="classification", volume="high").variant.endswith("triage/llama.j2")
    d = router.route(task="classification", model="claude")
    assert d.variant.endswith("triage/default.j2")
    assert [c.variant.rsplit("/", 1)[1] for c in d.chain] == ["default.j2", "gpt.j2", "llama.j2", "gpt.j2"]


def test_router_without_models_file(files):
    router = Router.from_file(files["policy"])
    d = router.route(task="classification", context_tokens=10**6)  # no windows known: nothing skipped
    assert (d.model, d.endpoint, d.variant) == ("claude", None, None)
    with pytest.raises(ValueError, match="needs models.yaml"):
        router.route(task="classification", forbid_providers=["openai"])


def test_unknown_condition_is_an_error(files):
    text = files["policy"].read_text().replace("when: {task: writing, tags: [voice]}", "when: {taks: writing}")
    files["policy"].write_text(text)
    with pytest.raises(ValueError, match="unknown condition"):
        Router.from_file(files["policy"])
    with pytest.raises(ConfigError, match="taks"):  # the typed loader names the line
        load_router(files["policy"], files["models"])


def test_load_router_refuses_a_model_missing_from_models_yaml(files):
    files["policy"].write_text(files["policy"].read_text().replace("model: gpt4o-mini\n    prompt: generic", "model: gpt5\n    prompt: generic"))
    with pytest.raises(ConfigError, match="'gpt5' is not in models.yaml"):
        load_router(files["policy"], files["models"], files["prompts"])


@pytest.mark.parametrize("when", [
    {}, {"task": "a"}, {"task": ["a", "b"]}, {"context_tokens": {"min": 10, "max": 20}},
    {"context_tokens": {"max": 5}}, {"latency_ms": {"min": 100}}, {"cost_ceiling_usd": {"max": 0.01}},
    {"volume": ["high", "medium"]}, {"tags": ["x", "y"]}, {"task": "a", "tags": ["x"], "volume": "low"},
])
def test_match_matches_delegates_to_rule_matches(when):
    descriptors = [
        TaskDescriptor(task="a"), TaskDescriptor(task="b", context_tokens=15, latency_ms=100, tags=["x", "y"]),
        TaskDescriptor(task="a", context_tokens=20, cost_ceiling_usd=0.01, volume="low", tags=["x"]),
        TaskDescriptor(task="c", context_tokens=21, latency_ms=99, cost_ceiling_usd=0.02, volume="high"),
    ]
    match = Match.model_validate(when)
    got = [match.matches(d) for d in descriptors]
    assert got == [rule_matches(when, d.model_dump()) for d in descriptors]
    assert isinstance(got[0], bool)


def test_rule_matches_semantics():
    assert rule_matches({"context_tokens": {"min": 10}}, {"context_tokens": 10})
    assert not rule_matches({"context_tokens": {"min": 10}}, {"context_tokens": 9})
    assert not rule_matches({"latency_ms": {"max": 10}}, {"latency_ms": None})
    assert rule_matches({"latency_ms": {}}, {"latency_ms": None})
    assert not rule_matches({"tags": ["a", "b"]}, {"tags": ["a"]})
    assert not rule_matches({"volume": "high"}, {"volume": None})


def test_default_chain_serving_an_excluded_rule_is_named_default(router):
    """Spend is charged to the rule that served: a context too long for every model of `bulk` is the default's."""
    d = router.route(task="classification", volume="high", context_tokens=9000, model="llama", fallbacks=[])
    assert (d.rule, d.model, d.prompt) == ("default", "claude", "generic")
    assert "rule 'bulk' excluded" in d.why


def test_router_imports_only_the_standard_library_and_yaml(tmp_path):
    """Services vendor router.py: the file alone, with PyYAML, must import and route (no evals, no pydantic)."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    import evals.router
    import yaml

    shutil.copy(evals.router.__file__, tmp_path / "router.py")
    code = ("import sys\n"
            f"sys.path[:0] = [{str(tmp_path)!r}, {str(Path(yaml.__file__).parents[1])!r}]\n"
            "before = set(sys.modules)\n"
            "import router\n"
            "r = router.Router({'rules': [], 'default': {'model': 'm'}})\n"
            "assert r.route(task='t').model == 'm'\n"
            "std = set(sys.stdlib_module_names)\n"
            "new = {m.split('.')[0] for m in set(sys.modules) - before if 'cython' not in m}  # PyYAML's C loader\n"
            "print(sorted(new - std - {'yaml', '_yaml', 'router'}))")
    out = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", out.stdout
