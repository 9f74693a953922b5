"""A small classification project for distillation tests: three labels, a labelled train split, fake models."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from evals.project import Project
from evals.providers.fake import FakeProvider

LABELS = ["lead", "support", "spam"]
WORDS = {
    "lead": ["pricing", "demo", "quote", "trial", "evaluate", "purchase", "seats", "contract", "budget", "proposal"],
    "support": ["broken", "error", "invoice", "login", "bug", "crash", "refund", "password", "outage", "ticket"],
    "spam": ["newsletter", "webinar", "offer", "discount", "unsubscribe", "seo", "backlinks", "prize", "crypto", "deal"],
}
FILLER = ["hello", "team", "thanks", "regards", "today", "please", "week", "our", "your", "we", "the", "a", "next"]

MODELS_YAML = """\
format_version: 1
models:
  - id: teacher
    provider: fake
    model: teacher
    family: chat
    context_window: 4096
    pricing: {tokens: {input_per_mtok: 1.0, output_per_mtok: 2.0}}
"""

SUITE_YAML = """\
name: mini-triage
task: classification
data:
  files: {train: train.jsonl, dev: dev.jsonl, test: test.jsonl}
fields: {id: id, gold: label, inputs: [subject, body]}
prompt: mini
labels: [lead, support, spam]
scorer: {name: classification}
shape: {task: classification, context_tokens: 100}
quality_floor: 0.5
"""

EXTRACTION_YAML = """\
name: mini-extract
task: extraction
data:
  files: {train: train.jsonl, test: test.jsonl}
fields: {id: id, gold: record, inputs: [text]}
prompt: mini
schema: schema.json
scorer: {name: extraction}
shape: {task: extraction, context_tokens: 100}
"""


def email(rng: random.Random, label: str) -> dict[str, str]:
    words = rng.sample(WORDS[label], 3) + rng.sample(FILLER, 4)
    rng.shuffle(words)
    other = rng.choice([x for x in LABELS if x != label])
    body = " ".join(words + [rng.choice(WORDS[other])])  # one word of another label: not trivially separable
    return {"subject": f"re {rng.choice(WORDS[label])}", "body": body}


def rows(split: str, per_label: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for i in range(per_label):
        for label in LABELS:
            out.append({"id": f"{split}-{len(out):03d}", **email(rng, label), "label": label})
    return out


def write_mini_project(root: Path, train_per_label: int = 16) -> Project:
    (root / "policies").mkdir(parents=True, exist_ok=True)
    (root / "policies" / "models.yaml").write_text(MODELS_YAML)
    suite = root / "suites" / "classification" / "mini-triage"
    suite.mkdir(parents=True, exist_ok=True)
    (suite / "suite.yaml").write_text(SUITE_YAML)
    for split, n, seed in (("train", train_per_label, 1), ("dev", 4, 2), ("test", 5, 3)):
        (suite / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows(split, n, seed)))
    ext = root / "suites" / "extraction" / "mini-extract"
    ext.mkdir(parents=True, exist_ok=True)
    (ext / "suite.yaml").write_text(EXTRACTION_YAML)
    (ext / "schema.json").write_text('{"type": "object", "properties": {"name": {"type": "string"}}}')
    for split in ("train", "test"):
        (ext / f"{split}.jsonl").write_text(json.dumps({"id": f"{split}-1", "text": "Ada", "record": {"name": "Ada"}}) + "\n")
    prompts = root / "prompts" / "mini"
    prompts.mkdir(parents=True, exist_ok=True)
    (prompts / "default.j2").write_text(
        "{% block system %}Sort into {{ labels | join(', ') }}.{% endblock %}\n"
        "{% block user %}Subject: {{ subject }}\n\n{{ body }}\n\nAnswer with the label only.{% endblock %}\n")
    (prompts / "sklearn.j2").write_text("{% block user %}Subject: {{ subject }}\n\n{{ body }}{% endblock %}\n")
    (root / "reports").mkdir(exist_ok=True)
    return Project(root)


@pytest.fixture
def mini(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    monkeypatch.setenv("EVALS_CACHE", str(tmp_path / "cache" / "responses.sqlite"))
    FakeProvider.reset()
    yield write_mini_project(tmp_path / "proj")
    FakeProvider.reset()


def add_model(project: Project, entry: str) -> None:
    path = project.models_file
    path.write_text(path.read_text() + entry)
