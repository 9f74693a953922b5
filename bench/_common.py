"""What the benchmarks share: the machine's description and a small project on disk."""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import platform
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

FAKE_MODELS = """\
format_version: 1
models:
  - id: fake-a
    provider: fake
    model: fake-a
    family: chatty
    context_window: 4096
    pricing: {tokens: {input_per_mtok: 1.0, output_per_mtok: 2.0}}
  - id: fake-b
    provider: fake
    model: fake-b
    family: terse
    context_window: 4096
    pricing: {self_hosted: {hourly_usd: 3.6}}
"""

SUITE = """\
name: bench-triage
task: classification
data:
  files: {test: test.jsonl}
fields: {id: id, gold: label, inputs: [text]}
prompt: bench
variables: {labels: [lead, support]}
scorer:
  name: classification
  settings: {labels: [lead, support]}
shape: {task: classification, context_tokens: 100}
quality_floor: 0.5
"""

CHAT_TEMPLATE = """\
---
max_tokens: {max_tokens}
---
{{% block system %}}Answer with one word: {{{{ labels | join(' or ') }}}}.{{% endblock %}}
{{% block user %}}{{{{ text }}}}
lead{{% endblock %}}
"""


def machine() -> str:
    """nproc, CPU model, memory and load, for the README."""
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "unknown memory"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB RAM"
                break
    except OSError:
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{os.cpu_count()} CPUs ({cpu}), {mem}, load average {load}"


def write_project(root: Path, n_examples: int, models_yaml: str = FAKE_MODELS, max_tokens: int = 5,
                  texts: list[str] | None = None) -> Path:
    """A project with one classification suite of ``n_examples`` rows and one chat prompt."""
    (root / "policies").mkdir(parents=True, exist_ok=True)
    (root / "policies" / "models.yaml").write_text(models_yaml)
    suite = root / "suites" / "classification" / "bench-triage"
    suite.mkdir(parents=True, exist_ok=True)
    (suite / "suite.yaml").write_text(SUITE)
    with (suite / "test.jsonl").open("w") as out:
        for i in range(n_examples):
            text = texts[i % len(texts)] + f" #{i}" if texts else f"message {i}"
            out.write(json.dumps({"id": f"ex-{i}", "text": text, "label": "lead" if i % 2 else "support"}) + "\n")
    prompts = root / "prompts" / "bench"
    prompts.mkdir(parents=True, exist_ok=True)
    (prompts / "default.j2").write_text(CHAT_TEMPLATE.format(max_tokens=max_tokens))
    (root / "reports").mkdir(exist_ok=True)
    return root


@contextmanager
def timed(label: str, into: dict[str, float]) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        into[label] = time.perf_counter() - start


PHASES = {  # module attribute -> phase name, timed by wrapping the attribute during the cached run
    ("evals.runner.run", "load_suites"): "load suites (YAML, JSONL via datasets)",
    ("evals.runner.run", "plan"): "plan (render prompts, cache keys)",
    ("evals.runner.run", "execute"): "execute (cache lookups, scoring rows)",
    ("evals.runner.run", "write_parquet_atomic"): "write results.parquet",
    ("evals.runner.run", "aggregate"): "aggregate (bootstrap intervals)",
    ("evals.runner.run", "write_aggregates"): "write aggregates.parquet",
    ("evals.report", "write_run_report"): "HTML + Markdown report",
}


@contextlib.contextmanager
def phase_timer(totals: dict[str, float]):
    """Time the phases of ``run()`` by wrapping the functions it calls."""
    import importlib

    saved = []
    for (module_name, attr), label in PHASES.items():
        module = importlib.import_module(module_name)
        original = getattr(module, attr, None)
        if original is None:
            continue
        saved.append((module, attr, original))
        if inspect.iscoroutinefunction(original):
            async def wrapper(*a, _o=original, _l=label, **k):
                start = time.perf_counter()
                try:
                    return await _o(*a, **k)
                finally:
                    totals[_l] = totals.get(_l, 0.0) + time.perf_counter() - start
        else:
            def wrapper(*a, _o=original, _l=label, **k):
                start = time.perf_counter()
                try:
                    return _o(*a, **k)
                finally:
                    totals[_l] = totals.get(_l, 0.0) + time.perf_counter() - start
        setattr(module, attr, wrapper)
    try:
        yield totals
    finally:
        for module, attr, original in saved:
            setattr(module, attr, original)
