"""Hand-written, deterministic results frames for report tests (no models, no randomness from the clock)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from evals.runner.store import RESULT_COLUMNS

MODELS = [("model-big", "claude", 3.0), ("model-mid", "gpt", 0.8), ("model-small", "smollm2", 0.05)]
LABELS = ["lead", "support", "spam"]
FIELDS = ["name", "company", "email"]


def manifest(run_id: str = "20260101-000000-test", rows: int = 0) -> dict[str, Any]:
    return {
        "format_version": 1, "run_id": run_id, "harness_version": "0.1.0",
        "git": {"commit": "0123456789abcdef0123", "dirty": False},
        "started_at": "2026-01-01T00:00:00+00:00", "finished_at": "2026-01-01T00:05:00+00:00",
        "suites": {"triage": {"task": "classification"}, "leads": {"task": "extraction"},
                   "voice": {"task": "writing"}},
        "models": {m: {"family": f} for m, f, _ in MODELS}, "rows": rows,
    }


def results(n_examples: int = 12, *, seed: int = 0, skill_shift: float = 0.0, prompt_chars: int = 200,
            suites: tuple[str, ...] = ("triage", "leads", "voice")) -> pd.DataFrame:
    """Rows for three suites x three models; quality rises with price, a few errors of two kinds.

    ``skill_shift`` moves every model's chance of a right answer (a baseline run uses a different one).
    """
    rng = np.random.default_rng(seed)
    rows = []
    for suite in suites:
        task = {"triage": "classification", "leads": "extraction", "voice": "writing"}.get(suite, "classification")
        for i in range(n_examples):
            gold_label = LABELS[i % 3]
            gold_fields = {f: f"{f}-{i}" for f in FIELDS}
            for rank, (model, family, price) in enumerate(MODELS):
                skill = min(0.98, max(0.02, 0.9 - 0.3 * rank + skill_shift))
                error = None
                if (i + rank) % 11 == 5:
                    error = "timeout" if rank else "rate_limit"
                elif rank == 2 and i % 7 == 3:
                    error = "scorer_error"
                right = rng.random() < skill
                row = {c: None for c in RESULT_COLUMNS}
                row.update(suite=suite, task=task, split="test", example_id=f"{suite}-{i:05d}", model=model,
                           provider="fake", family=family, prompt=suite, variant=family, prompt_hash="h", repeat=0,
                           input_tokens=100, output_tokens=10, context_tokens=100, cached=False, cache_key=f"k{i}",
                           cost_usd=price * 1e-3 * (1 + (i % 3) / 10), latency_ms=100.0 * (1 + rank) + i % 17,
                           finish_reason="stop", prompt_text=f"Prompt for {suite} {i}: " + "x" * prompt_chars)
                if task == "classification":
                    predicted = gold_label if right else LABELS[(i + 1) % 3]
                    row.update(output=predicted, gold=json.dumps(gold_label))
                    detail = {"predicted": predicted, "raw": None}
                    subs = {"valid_label": 1.0}
                    score = 1.0 if right else 0.0
                elif task == "extraction":
                    fields = {f: {"gold": True, "pred": True, "correct": bool(right or f == "name")} for f in FIELDS}
                    score = sum(v["correct"] for v in fields.values()) / len(fields)
                    row.update(output=json.dumps({f: gold_fields[f] if fields[f]["correct"] else "?" for f in FIELDS}),
                               gold=json.dumps(gold_fields))
                    detail = {"fields": fields, "schema_errors": []}
                    subs = {"parsed": 1.0, "field_accuracy": score}
                else:
                    score = round(0.4 + 0.5 * skill * (0.5 + rng.random() / 2), 3)
                    row.update(output=f"A short note number {i}.", gold=json.dumps({"topic": f"t{i}"}))
                    detail = {"missing": [], "words": 40}
                    subs = {"length": 1.0, "style": score}
                if error:
                    row.update(error=error, error_message=f"{error} after 30 s", output=None if error != "scorer_error"
                               else row["output"])
                else:
                    row.update(score=score, subscores=json.dumps(subs), detail=json.dumps(detail))
                rows.append(row)
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)


def write_run(folder, frame: pd.DataFrame, run_manifest: dict[str, Any] | None = None):
    """Store a results frame and manifest as a run folder, as ``evals run`` would."""
    from evals.runner.store import RESULTS_FORMAT, write_json_atomic, write_parquet_atomic

    run_manifest = run_manifest or manifest(folder.name, len(frame))
    write_parquet_atomic(folder / "results.parquet", frame, {"evals_format_version": str(RESULTS_FORMAT)})
    write_json_atomic(folder / "manifest.json", run_manifest)
    return folder


PROPOSAL_YAML = """\
# Proposed routing policy, compiled by `evals recommend` from run 20260101-000000-test.
format_version: 1
source:
  run_id: 20260101-000000-test
  results_sha256: 2d56f1b88b931893a60f85bd47a8acb54a1a65ab3af009f4f1b71487c714a8f1
  created_at: '2026-01-01T00:10:00+00:00'
rules:
- id: triage
  when: {task: classification}
  require: {p95_latency_ms: 3000.0}
  model: model-mid
  prompt: triage
  fallbacks: [model-big]
  evidence: {run_id: 20260101-000000-test, suite: triage, model: model-mid, quality: 0.95, quality_ci: [0.875, 1.0],
             cost_per_1k_usd: 0.88, p95_latency_ms: 210.0, n: 40, floor: 0.7,
             reason: 'switched: best eligible quality, and the cheapest eligible'}
- id: leads
  when: {task: extraction}
  model: model-big
  prompt: leads
  evidence: {run_id: 20260101-000000-test, suite: leads, model: model-big, quality: 1.0, quality_ci: [1.0, 1.0],
             cost_per_1k_usd: 3.3, p95_latency_ms: 110.0, n: 40, floor: 0.8, reason: 'kept: best eligible quality'}
default:
  model: model-mid
  fallbacks: [model-big]
"""

DIFF_MD = """\
# Policy diff

Evidence: run `20260101-000000-test`. 1 of 3 rules change.

| rule | suites | current | proposed | quality \u0394 [95% CI] | cost / 1k calls | p95 latency ms | reason |
| --- | --- | --- | --- | --- | --- | --- | --- |
| triage | triage | model-big \u2192 model-mid | model-mid \u2192 model-big | 0.950 \u2192 0.950 (+0.000 [-0.050, +0.050]) | $3.30 \u2192 $0.88 (-$2.42) | 110 \u2192 210 (+100) | switched: best eligible quality, and the cheapest eligible |
| leads | leads | model-big (kept) | model-big | 1.000 \u2192 1.000 | $3.30 \u2192 $3.30 ($0.00) | 110 \u2192 110 (+0) | kept: best eligible quality |

## Projected weekly spend (suite weekly_calls)

| rule | calls / week | current | proposed | change |
| --- | --- | --- | --- | --- |
| triage | 10,000 | $33.00 | $8.80 | -$24.20 |
| leads | 100 | $0.33 | $0.33 | $0.00 |

**Total:** $33.33 \u2192 $9.13 per week (-$24.20).
"""
