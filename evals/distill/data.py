"""The labelled texts a classifier is distilled from: a suite split's gold, or a teacher's answers in a run.

Labels, gold and answers are normalised by the suite's own scorer
(:meth:`evals.scorers.classification.ClassificationScorer.normalise`, with the suite's label set), so
a label the classifier learns is exactly a label the scorer accepts. The text of an example is :func:`evals.providers.sklearn.request_text` of the request the distilled
model will be sent for it (its prompt variant, built by :func:`evals.requests.build_request`), so
what it learns from is exactly what it reads when it serves.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from evals.errors import UsageError
from evals.prompts import PromptTemplate
from evals.providers.sklearn import request_text
from evals.requests import example_request
from evals.suites import Suite


@dataclass
class Labelled:
    """Training pairs (in the split's order) and where their labels came from."""

    ids: list[str]
    texts: list[str]
    labels: list[str]
    source: dict[str, Any]
    skipped: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def per_label(self, labels: list[str]) -> dict[str, int]:
        counts = Counter(self.labels)
        return {label: counts.get(label, 0) for label in labels}

    def sha256(self) -> str:
        """A hash of the training pairs (id, text, label) in order: the data the model was fitted on."""
        data = json.dumps(list(zip(self.ids, self.texts, self.labels)), ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(data.encode()).hexdigest()


def example_texts(suite: Suite, template: PromptTemplate) -> dict[str, str]:
    """The text the distilled model reads for each example of ``suite``'s loaded split."""
    return {ex.id: request_text(example_request(template, suite, ex)) for ex in suite.examples}


def from_gold(suite: Suite, template: PromptTemplate, scorer: Any) -> Labelled:
    """Every example of the split with its gold label (normalised like every answer)."""
    texts = example_texts(suite, template)
    labels = scorer.labels
    ids, out_texts, out_labels = [], [], []
    for ex in suite.examples:
        label = scorer.normalise(ex.gold)
        if label not in labels:
            where = f"{suite.data_file}:{ex.line}" if ex.line else str(suite.data_file)
            raise UsageError(f"{where}: gold label {ex.gold!r} of {ex.id} is not one of the suite's labels "
                             f"({', '.join(labels)}); run `evals validate`")
        ids.append(ex.id)
        out_texts.append(texts[ex.id])
        out_labels.append(label)
    return Labelled(ids, out_texts, out_labels, {"kind": "gold", "teacher": None, "run_id": None, "split": suite.split})


def _run_rows(frame: Any, suite: str, teacher: str, split: str, run_id: str) -> Any:
    rows = frame[frame["suite"] == suite]
    if rows.empty:
        present = ", ".join(sorted(frame["suite"].unique())) or "none"
        raise UsageError(f"run {run_id} has no results for suite {suite!r} (suites in it: {present})")
    models = sorted(rows["model"].unique())
    if teacher not in models:
        raise UsageError(f"run {run_id} has no answers of {teacher!r} on {suite!r}; models in it: {', '.join(models)}")
    rows = rows[rows["model"] == teacher]
    splits = sorted(rows["split"].unique())
    if split not in splits:
        raise UsageError(f"run {run_id} has {teacher}'s answers on split(s) {', '.join(splits)} of {suite!r}, not "
                         f"{split!r}; run `evals run --suites {suite} --models {teacher} --split {split}` first")
    return rows[rows["split"] == split]


def from_teacher(suite: Suite, template: PromptTemplate, scorer: Any, frame: Any, *, teacher: str,
                 run_id: str, run_suite_sha256: str | None, results_sha256: str | None) -> Labelled:
    """The teacher's answers on the split, normalised like the scorer does; the label of an example is the
    most common valid answer over its repeats (ties: the earliest repeat's).

    Skipped and counted: failed calls, answers that are not a label, examples no longer in the suite.
    """
    rows = _run_rows(frame, suite.name, teacher, suite.split, run_id).sort_values(["example_id", "repeat"])
    skipped: Counter[str] = Counter()
    votes: dict[str, list[str]] = {}
    for row in rows.itertuples(index=False):
        if row.error is not None and row.error == row.error:  # a failed call (NaN-safe)
            skipped["failed_call"] += 1
            continue
        label = scorer.normalise(row.output or "")
        if label not in scorer.labels:
            skipped["invalid_label"] += 1
            continue
        votes.setdefault(str(row.example_id), []).append(label)
    texts = example_texts(suite, template)
    ids, out_texts, out_labels = [], [], []
    order = [ex.id for ex in suite.examples if ex.id in votes]
    missing = sorted(set(votes) - set(texts))
    if missing:
        skipped["not_in_suite"] += len(missing)
    for example_id in order:
        counts = Counter(votes[example_id])
        top = max(counts.values())
        label = next(v for v in votes[example_id] if counts[v] == top)
        ids.append(example_id)
        out_texts.append(texts[example_id])
        out_labels.append(label)
    notes = []
    if missing:
        notes.append(f"{len(missing)} example(s) answered in run {run_id} are no longer in the suite (e.g. {missing[0]})")
    changed = run_suite_sha256 is not None and run_suite_sha256 != suite.sha256
    if changed:
        notes.append(f"suite {suite.name!r} changed since run {run_id}: the texts are rendered from today's files")
    source = {"kind": "teacher", "teacher": teacher, "run_id": run_id, "split": suite.split,
              "results_sha256": results_sha256, "run_suite_sha256": run_suite_sha256, "suite_changed_since_run": changed}
    return Labelled(ids, out_texts, out_labels, source, dict(skipped), notes)


def check_enough(data: Labelled, labels: list[str], min_per_label: int, what: str) -> None:
    """Refuse to train when a label has fewer than ``min_per_label`` examples (it could never be learned,
    and calibration's folds need every label in each)."""
    thin = {label: n for label, n in data.per_label(labels).items() if n < min_per_label}
    if thin:
        listed = ", ".join(f"{label} {n}" for label, n in thin.items())
        raise UsageError(f"too few labels to train on {what}: {listed} (at least {min_per_label} per label needed, "
                         f"--min-per-label); label more examples or take a larger split")
