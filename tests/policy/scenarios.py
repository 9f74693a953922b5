"""Recommender scenarios whose right answer is known by construction, run through the real runner.

A scenario is a small project on disk: classification suites (``pos``/``neg`` examples), prompts, a
policy, gate settings, and models served by :class:`ScriptedProvider`. Each model's script (a JSON
file its spec's ``model`` names, as a llama-cpp spec names its GGUF) says, per suite and example,
whether it answers right (``1``), wrong (``0``) or fails for infrastructure reasons (``x``, a server
error with no usage reported, so the call has no price), and with which latency and token counts; the
prices in models.yaml turn those into each call's cost. :func:`run_scenario` runs the project with
:func:`evals.runner.run.run` (models whose script is absent are skipped, like a model without its
key) and returns the run id; the tests then call :func:`evals.policy.recommend.recommend`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from evals.project import Project
from evals.providers import ProviderRegistry
from evals.providers.base import ErrorKind, GenerateRequest, GenerateResponse, Provider
from evals.providers import ProviderEntry
from evals.runner.run import RunOptions, SilentReporter, run

LABELS = ("pos", "neg")
ENTRY = ProviderEntry("tests.policy.scenarios:ScriptedProvider")
REGISTRY = ProviderRegistry({name: ENTRY for name in ("anthropic", "openai", "openai-compatible", "vllm",
                                                      "llama-cpp", "fake")})
"""Every provider name served by the scripted provider: models keep their real provider (for diversity)."""


def gold(index: int) -> str:
    """The right label of example ``index`` of every scenario suite."""
    return LABELS[index % 2]


class ScriptedProvider(Provider):
    """Answers from the script file named by the spec's ``model`` (module docstring); per-instance state."""

    name = "scripted"

    def __init__(self, spec):
        super().__init__(spec)
        self.script = json.loads(Path(spec.model).read_text())

    @classmethod
    def unavailable_reason(cls, spec) -> str | None:
        return None if Path(spec.model).is_file() else f"no script at {spec.model} (an unreachable model)"

    def cache_identity(self) -> dict[str, Any]:
        return {**super().cache_identity(), "script_sha256": hashlib.sha256(Path(self.spec.model).read_bytes()).hexdigest()}

    async def generate(self, request: GenerateRequest) -> GenerateResponse:
        suite, _, example = request.prompt.text.strip().splitlines()[-1].partition("/")
        index = int(example.removeprefix("ex-"))
        outcome = self.script["answers"][suite][index]
        latency = self.script["latency_ms"]
        latency = latency[index % len(latency)] if isinstance(latency, list) else latency
        if outcome == "x":
            return GenerateResponse(error=ErrorKind.SERVER_ERROR, error_message="scripted 503", latency_ms=latency)
        right = gold(index)
        text = right if outcome == "1" else next(label for label in LABELS if label != right)
        tokens_in, tokens_out = self.script["tokens"]
        return GenerateResponse(text=text, input_tokens=tokens_in, output_tokens=tokens_out, latency_ms=latency,
                                finish_reason="stop")


def ones(n: int, hits: int) -> str:
    """A script of ``hits`` right answers, then wrong ones, ``n`` in all."""
    return "1" * hits + "0" * (n - hits)


@dataclass
class Model:
    """A candidate: its provider (and endpoint), price per call, latency, and its answers per suite.

    ``answers`` is one pattern for every suite or a pattern per suite name; ``offline`` leaves the script
    out, so the run skips the model as it skips one without its API key.
    """

    answers: str | dict[str, str]
    provider: str = "openai"
    base_url: str | None = None
    cost_per_call: float | None = 0.001  # USD: 1,000 input tokens at cost_per_call * 1000 per MTok; None: no price known
    latency_ms: float | list[float] = 100.0
    context_window: int = 100_000
    offline: bool = False


@dataclass
class Suite:
    name: str
    n: int
    rule: str | None = None
    prompt: str = "yesno"
    shape: dict[str, Any] = field(default_factory=lambda: {"task": "classification", "context_tokens": 200})
    weekly_calls: float = 1000
    quality_floor: float = 0.5


GATE = {"format_version": 1, "quality_tolerance": 0.1, "confidence": 0.95, "min_examples": 20, "max_fallbacks": 2}

PROMPT = "{% block system %}Answer pos or neg.{% endblock %}\n{% block user %}{{ text }}{% endblock %}\n"


def write_scenario(root: Path, models: dict[str, Model], suites: list[Suite], policy: dict[str, Any],
                   gate: dict[str, Any] | None = None) -> Project:
    """Write the project: models.yaml and scripts, suites and their data, prompts, policy and gate.yaml."""
    (root / "policies").mkdir(parents=True)
    (root / "scripts").mkdir()
    (root / "reports").mkdir()
    specs = []
    for model_id, m in models.items():
        script = root / "scripts" / f"{model_id}.json"
        answers = m.answers if isinstance(m.answers, dict) else {s.name: m.answers for s in suites}
        for s in suites:
            if len(answers[s.name]) != s.n:
                raise ValueError(f"{model_id}: {len(answers[s.name])} answers for {s.n} examples of {s.name}")
        if not m.offline:
            script.write_text(json.dumps({"answers": answers, "latency_ms": m.latency_ms, "tokens": [1000, 0]}))
        spec = {"id": model_id, "provider": m.provider, "model": str(script), "family": model_id,
                "context_window": m.context_window, "max_retries": 0}
        if m.cost_per_call is not None:
            spec["pricing"] = {"tokens": {"input_per_mtok": m.cost_per_call * 1000, "output_per_mtok": 0}}
        if m.base_url:
            spec["base_url"] = m.base_url
        specs.append(spec)
    (root / "policies" / "models.yaml").write_text(yaml.safe_dump({"format_version": 1, "models": specs}))
    for s in suites:
        folder = root / "suites" / "classification" / s.name
        folder.mkdir(parents=True)
        spec = {"name": s.name, "task": "classification", "data": {"files": {"test": "test.jsonl"}},
                "fields": {"id": "id", "gold": "label", "inputs": ["text"]}, "prompt": s.prompt,
                "labels": list(LABELS), "scorer": {"name": "classification"}, "shape": s.shape,
                "weekly_calls": s.weekly_calls, "quality_floor": s.quality_floor}
        if s.rule is not None:
            spec["rule"] = s.rule
        (folder / "suite.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
        rows = [{"id": f"ex-{i:03d}", "text": f"{s.name}/ex-{i:03d}", "label": gold(i)} for i in range(s.n)]
        (folder / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        prompt = root / "prompts" / s.prompt
        prompt.mkdir(parents=True, exist_ok=True)
        (prompt / "default.j2").write_text(PROMPT)
    (root / "policies" / "current.yaml").write_text(yaml.safe_dump({"format_version": 1, **policy}, sort_keys=False))
    (root / "policies" / "gate.yaml").write_text(yaml.safe_dump({**GATE, **(gate or {})}))
    return Project(root)


def run_scenario(project: Project, run_id: str = "r1", **options: Any) -> str:
    """Run every suite against every reachable model with the real runner; returns the run id."""
    result = run(project, RunOptions(run_id=run_id, concurrency=8, **options), reporter=SilentReporter(),
                 registry=REGISTRY)
    return result.run_id


class LocalStandIn(Provider):
    """A stand-in for an in-process model: answers each request from :data:`STAND_IN_ANSWERS` (rendered
    request text -> answer), which the test fills before the run and clears after it."""

    name = "local-stand-in"
    supports_completion = True  # as llama-cpp: a base model gets a completion prompt

    async def generate(self, request: GenerateRequest) -> GenerateResponse:
        text = STAND_IN_ANSWERS[request.prompt.text]
        return GenerateResponse(text=text, input_tokens=len(request.prompt.text) // 4, output_tokens=len(text) // 4,
                                latency_ms=400.0, finish_reason="stop")


STAND_IN_ANSWERS: dict[str, str] = {}
STAND_IN = ProviderEntry("tests.policy.scenarios:LocalStandIn")
