"""Policy test helpers: a project with four priced models and two suites, and runs written from known scores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.project import Project
from evals.runner.store import MANIFEST_FORMAT, RESULT_COLUMNS, RESULTS_FORMAT, write_json_atomic, write_parquet_atomic

MODELS = """\
format_version: 1
models:
  - {id: premium, provider: anthropic, model: p, family: p, context_window: 100000,
     pricing: {tokens: {input_per_mtok: 3, output_per_mtok: 15}}}
  - {id: mid, provider: openai, model: m, family: m, context_window: 100000,
     pricing: {tokens: {input_per_mtok: 1, output_per_mtok: 4}}}
  - {id: cheap, provider: openai-compatible, model: c, family: c, context_window: 100000,
     base_url: "http://127.0.0.1:9/v1", pricing: {self_hosted: {hourly_usd: 1.0}}}
  - {id: small-window, provider: openai, model: s, family: s, context_window: 1000,
     pricing: {tokens: {input_per_mtok: 0.1, output_per_mtok: 0.1}}}
"""

SUITES = {
    ("classification", "triage"): """\
name: triage
task: classification
data: {files: {test: test.jsonl}}
fields: {gold: label}
prompt: triage
scorer: {name: classification}
shape: {task: classification, context_tokens: 500, latency_ms: 3000, volume: high}
weekly_calls: 10000
quality_floor: 0.7
""",
    ("writing", "voice"): """\
name: voice
task: writing
data: {files: {test: test.jsonl}}
fields: {gold: must_include}
prompt: voice
scorer: {name: voice}
shape: {task: writing, context_tokens: 2000}
weekly_calls: 100
quality_floor: 0.5
""",
}

POLICY = """\
format_version: 1
rules:
  - id: triage
    when: {task: classification}
    require: {p95_latency_ms: 3000}
    model: premium
    prompt: triage
    fallbacks: [mid]
  - id: writing
    when: {task: writing, context_tokens: {max: 4000}}
    model: premium
    prompt: voice
default:
  model: mid
  fallbacks: [premium]
"""

GATE = """\
format_version: 1
quality_tolerance: 0.02
min_examples: 20
weekly_spend_ceiling_usd: 1000
"""


@pytest.fixture
def pproject(tmp_path: Path) -> Project:
    """The policy test project (no runs yet)."""
    root = tmp_path / "proj"
    (root / "policies").mkdir(parents=True)
    (root / "policies" / "models.yaml").write_text(MODELS)
    (root / "policies" / "current.yaml").write_text(POLICY)
    (root / "policies" / "gate.yaml").write_text(GATE)
    for (task, name), text in SUITES.items():
        folder = root / "suites" / task / name
        folder.mkdir(parents=True)
        (folder / "suite.yaml").write_text(text)
        (folder / "test.jsonl").write_text('{"id": "ex-000", "text": "hello", "label": "lead"}\n')
        prompts = root / "prompts" / name
        prompts.mkdir(parents=True)
        (prompts / "default.j2").write_text("{% block user %}{{ text }}{% endblock %}\n")
    (root / "reports").mkdir()
    return Project(root)


def model_rows(suite: str, model: str, scores: list[float | None], *, cost: float | None = 0.001,
               latency: float = 100.0, context: int = 400, variant: str | None = None) -> list[dict]:
    """One result row per score; ``None`` is a failed call."""
    rows = []
    for i, score in enumerate(scores):
        row = {c: None for c in RESULT_COLUMNS}
        row.update(suite=suite, task="classification" if suite == "triage" else "writing", split="test",
                   example_id=f"ex-{i:03d}", model=model, provider="test", family=model, prompt=suite,
                   variant=variant or f"{model}.j2", prompt_hash="h", repeat=0, output="x", input_tokens=context,
                   output_tokens=5, context_tokens=context, cost_usd=cost, latency_ms=latency,
                   score=score, cached=False, cache_key=f"{model}-{suite}-{i}")
        if score is None:
            row.update(error="server_error", error_message="boom")
        rows.append(row)
    return rows


def write_run(project: Project, run_id: str, rows: list[dict]) -> Path:
    """Write reports/<run_id>/results.parquet and manifest.json from rows; the manifest records the hashes of
    the suites and prompt variants and the models' cache identities the project holds now, as the runner does."""
    import pandas as pd

    from evals.config.models import load_models
    from evals.policy.evidence import file_sha256
    from evals.suites import content_sha256

    folder = project.reports_dir / run_id
    frame = pd.DataFrame(rows, columns=RESULT_COLUMNS)
    frame["score"] = frame["score"].astype(float)
    write_parquet_atomic(folder / "results.parquet", frame, {"evals_format_version": str(RESULTS_FORMAT)})
    suites = {p.parent.name: p for p in project.suites_dir.glob("*/*/suite.yaml")}
    specs = {m.id: m for m in load_models(project.models_file).models}
    prompts = {}
    for prompt, variant in {(r["prompt"], r["variant"]) for r in rows}:
        path = project.prompts_dir / str(prompt) / f"{variant}.j2"
        if path.is_file():
            prompts[f"{prompt}/{variant}"] = file_sha256(path)
    write_json_atomic(folder / "manifest.json", {
        "format_version": MANIFEST_FORMAT, "results_format_version": RESULTS_FORMAT, "run_id": run_id,
        "suites": {s: {"sha256": content_sha256(suites[s])} if s in suites else {} for s in sorted(frame["suite"].unique())},
        "models": {m: {"identity": specs[m].cache_identity()} if m in specs else {}
                   for m in sorted(frame["model"].unique())}, "prompts": prompts, "rows": len(frame)})
    return folder


def ones(n: int, hits: int) -> list[float]:
    """``hits`` ones then zeros, ``n`` scores in all."""
    return [1.0] * hits + [0.0] * (n - hits)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
