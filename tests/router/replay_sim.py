"""A shop with three models, two suites and a week of production traffic through the real Client.

The fake provider answers every request with token counts (words of the rendered prompt, an answer
length per model and prompt) and a busy time that grows with the answer, and records what it served,
so the week's bill can be counted by hand, independently of the routing log and of ``call_cost``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from evals.client import Client, load_router
from evals.project import Project
from evals.providers import ErrorKind, GenerateResponse
from evals.providers.fake import FakeProvider
from evals.runner.run import RunOptions, run

# Hand-written prices: USD per million tokens in/out; the self-hosted machine's hour and parallel slots.
PRICES = {"premium": (3.0, 15.0), "mini": (0.15, 0.60)}
LOCAL_HOURLY, LOCAL_PARALLEL = 8.0, 4
MODELS = f"""\
format_version: 1
models:
  - {{id: premium, provider: fake, model: premium, family: prem, context_window: 100000,
     pricing: {{tokens: {{input_per_mtok: {PRICES['premium'][0]}, output_per_mtok: {PRICES['premium'][1]}}}}}}}
  - {{id: mini, provider: fake, model: mini, family: mini, context_window: 100000,
     pricing: {{tokens: {{input_per_mtok: {PRICES['mini'][0]}, output_per_mtok: {PRICES['mini'][1]}}}}}}}
  - {{id: local, provider: fake, model: local, family: loc, context_window: 8192,
     pricing: {{self_hosted: {{hourly_usd: {LOCAL_HOURLY}, parallel_requests: {LOCAL_PARALLEL}}}}}}}
"""
CURRENT = """\
format_version: 1
rules:
  - {id: triage, when: {task: classification}, model: mini, prompt: triage, fallbacks: [premium]}
  - {id: extract, when: {task: extraction}, model: premium, prompt: extract, fallbacks: [mini]}
default: {model: premium, prompt: generic, fallbacks: [mini]}
"""
SUITES = {
    ("classification", "tickets"): """\
name: tickets
task: classification
data: {files: {dev: dev.jsonl, test: test.jsonl}}
fields: {id: id, gold: label, inputs: [text]}
prompt: triage
variables: {labels: [billing, bug, other]}
scorer: {name: classification, settings: {labels: [billing, bug, other]}}
shape: {task: classification}
""",
    ("extraction", "contracts"): """\
name: contracts
task: extraction
data: {files: {dev: dev.jsonl, test: test.jsonl}}
fields: {id: id, gold: gold, inputs: [text]}
prompt: extract
scorer: {name: extraction}
shape: {task: extraction}
""",
}
FILLER = "please read the message below carefully and follow every instruction that applies to it here".split()


def words(n: int) -> str:
    return " ".join(FILLER[i % len(FILLER)] for i in range(n))


# Each model's variant of each prompt: system texts of different lengths, as real variants have.
VARIANTS = {
    "triage": {"prem": ("chat", 60), "mini": ("chat", 30), "loc": ("completion", 10)},
    "extract": {"prem": ("chat", 90), "mini": ("chat", 45), "loc": ("completion", 20)},
}
# Answer length in words per (model, prompt), before a per-request variation of +-30%.
ANSWER = {("premium", "triage"): 12, ("mini", "triage"): 6, ("local", "triage"): 3,
          ("premium", "extract"): 90, ("mini", "extract"): 70, ("local", "extract"): 55,
          ("premium", "generic"): 60, ("mini", "generic"): 50, ("local", "generic"): 40}
FAIL_EVERY = {"mini": (25, ErrorKind.RATE_LIMITED), "local": (33, ErrorKind.SERVER_ERROR)}
MARKERS = {"[prem]": "premium", "[mini]": "mini", "[loc]": "local"}
LATENCY = {"premium": (800.0, 20.0, 0.0), "mini": (400.0, 10.0, 0.0), "local": (50.0, 25.0, 0.2)}  # base, /out, /in


def write_prompts(root: Path) -> None:
    for prompt, variants in VARIANTS.items():
        folder = root / "prompts" / prompt
        folder.mkdir(parents=True)
        for family, (mode, size) in variants.items():
            marker = f"[{family}] {prompt.upper()} {words(size)}"
            if mode == "chat":
                body = (f"{{% block system %}}{marker} labels: {{{{ labels | default([]) | join(' ') }}}}{{% endblock %}}\n"
                        "{% block user %}{{ text }}{% endblock %}\n")
            else:
                body = f"{{% block prompt %}}{marker}\n{{{{ text }}}}\nAnswer:{{% endblock %}}\n"
            (folder / f"{family}.j2").write_text(body)
    generic = root / "prompts" / "generic"
    generic.mkdir(parents=True)
    for family in ("prem", "mini", "loc"):
        (generic / f"{family}.j2").write_text(f"{{% block user %}}[{family}] GENERIC {words(15)}\n{{{{ text }}}}{{% endblock %}}\n")


def suite_texts(kind: str, n: int, rng: random.Random, scale: float = 1.0) -> list[str]:
    low, high = {"triage": (20, 60), "extract": (80, 200), "generic": (30, 150)}[kind]
    return [words(int(rng.randint(low, high) * scale)) + f" ref {rng.randrange(10**6)}" for _ in range(n)]


def write_project(root: Path) -> Project:
    (root / "policies").mkdir(parents=True)
    (root / "policies" / "models.yaml").write_text(MODELS)
    (root / "policies" / "current.yaml").write_text(CURRENT)
    rng = random.Random(11)
    for (task, name), text in SUITES.items():
        folder = root / "suites" / task / name
        folder.mkdir(parents=True)
        (folder / "suite.yaml").write_text(text)
        kind = "triage" if task == "classification" else "extract"
        for split, n in (("dev", 5), ("test", 40 if kind == "triage" else 30)):
            rows = [{"id": f"{split}-{i}", "text": t, **({"label": "bug"} if kind == "triage" else {"gold": {"party": "x"}})}
                    for i, t in enumerate(suite_texts(kind, n, rng))]
            (folder / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    write_prompts(root)
    (root / "reports").mkdir()
    return Project(root)


@dataclass
class Served:
    """What the fake provider served: one entry per request it answered (errors cost nothing)."""

    entries: list[tuple[str, str, int, int, float]] = field(default_factory=list)  # model, prompt, in, out, ms
    fail: bool = False  # production: mini answers 429 to every 25th request, local 503 to every 33rd
    received: dict[str, int] = field(default_factory=dict)

    def responder(self, request):
        text = request.prompt.text
        model = next(m for marker, m in MARKERS.items() if marker in text)
        prompt = "generic" if "GENERIC" in text else ("triage" if "TRIAGE" in text else "extract")
        draw = int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
        self.received[model] = count = self.received.get(model, 0) + 1
        if self.fail and model in FAIL_EVERY and count % FAIL_EVERY[model][0] == 0:
            return FAIL_EVERY[model][1]
        tokens_in = len(text.split())
        tokens_out = max(1, round(ANSWER[(model, prompt)] * (0.7 + 0.6 * draw)))
        base, per_out, per_in = LATENCY[model]
        latency = base + per_out * tokens_out + per_in * tokens_in
        self.entries.append((model, prompt, tokens_in, tokens_out, latency))
        return GenerateResponse(text=words(tokens_out), input_tokens=tokens_in, output_tokens=tokens_out,
                                latency_ms=latency, finish_reason="stop")

    def bill(self, prompt: str | None = None) -> float:
        """The hand count: tokens x the price list, busy time x the hourly rate / parallel slots."""
        usd = 0.0
        for model, served_prompt, tokens_in, tokens_out, latency in self.entries:
            if prompt is not None and served_prompt != prompt:
                continue
            if model == "local":
                usd += LOCAL_HOURLY * latency / 3_600_000 / LOCAL_PARALLEL
            else:
                usd += (tokens_in * PRICES[model][0] + tokens_out * PRICES[model][1]) / 1e6
        return usd


def evidence_run(project: Project) -> str:
    served = Served()
    FakeProvider.reset(responder=served.responder)
    result = run(project, RunOptions(run_id="evidence", concurrency=8))
    FakeProvider.reset()
    return result.run_id


def proposal(project: Project, run_id: str) -> Path:
    """The changed policy: triage to the self-hosted model, extraction to mini, the default unchanged.

    Each moved rule carries evidence as `evals recommend` writes it (the run's mean cost per 1k calls).
    """
    import pandas as pd

    frame = pd.read_parquet(project.reports_dir / run_id / "results.parquet")

    def per_1k(suite: str, model: str) -> float:
        rows = frame[(frame["suite"] == suite) & (frame["model"] == model)]
        return round(float(rows["cost_usd"].mean()) * 1000, 6)

    def ev(suite: str, model: str, fallback: str) -> str:
        return (f"{{run_id: {run_id}, suite: {suite}, model: {model}, quality: 0.9, quality_ci: [0.8, 0.95], "
                f"cost_per_1k_usd: {per_1k(suite, model)}, p95_latency_ms: 500, n: 30, "
                f"fallbacks: [{{model: {fallback}, quality: 0.9, cost_per_1k_usd: {per_1k(suite, fallback)}}}]}}")

    text = f"""\
format_version: 1
source: {{run_id: {run_id}, results_sha256: x, created_at: "2026-11-30T00:00:00+00:00"}}
rules:
  - id: triage
    when: {{task: classification}}
    model: local
    prompt: triage
    fallbacks: [mini]
    evidence: {ev("tickets", "local", "mini")}
  - id: extract
    when: {{task: extraction}}
    model: mini
    prompt: extract
    fallbacks: [premium]
    evidence: {ev("contracts", "mini", "premium")}
default: {{model: premium, prompt: generic, fallbacks: [mini]}}
"""
    path = project.reports_dir / run_id / "proposal.yaml"
    path.write_text(text)
    return path


START = datetime(2026, 11, 23, tzinfo=timezone.utc)  # Monday of 2026-W48
SHARES = (("classification", "triage", 0.55), ("extraction", "extract", 0.30), ("summarise", "generic", 0.15))


def week_of_traffic(n: int, *, scale: float = 1.0, seed: int = 5) -> list[tuple[datetime, dict, dict]]:
    """``n`` calls over one week: (time, descriptor, inputs); ``scale`` stretches every input text."""
    rng = random.Random(seed)
    calls = []
    for _ in range(n):
        pick, acc = rng.random(), 0.0
        for task, kind, share in SHARES:
            acc += share
            if pick <= acc:
                break
        (text,) = suite_texts(kind, 1, rng, scale)
        when = START + timedelta(seconds=rng.uniform(0, 7 * 24 * 3600 - 1))
        calls.append((when, {"task": task, "context_tokens": len(text.split()) + 100}, {"text": text}))
    return sorted(calls, key=lambda c: c[0])


def serve(project: Project, policy: Path, calls, log: Path) -> Served:
    """Send ``calls`` through the real Client under ``policy``; what the providers served, for the bill."""
    served = Served(fail=True)
    FakeProvider.reset(responder=served.responder)
    clock = {"now": START}

    async def main() -> None:
        router = load_router(policy, project.models_file, project.prompts_dir)
        client = Client(router, log_path=log, now=lambda: clock["now"])
        try:
            for when, descriptor, inputs in calls:
                clock["now"] = when
                await client.complete(descriptor, inputs)  # an unanswered call costs nothing
        finally:
            await client.aclose()

    asyncio.run(main())
    FakeProvider.reset()
    return served
