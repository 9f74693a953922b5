"""The shipped distilled model builds itself (issue 15, the embedded default): `evals run` distils a missing
artifact from the gold labels its recipe names, rebuilds it when what it was trained on changed, serves it
only on its own suite, and a model it cannot build is skipped with one line, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.config.models import load_models
from evals.distill.ensure import ensure_artifacts, resolve_artifacts, stale_reason
from evals.providers import availability
from evals.providers.sklearn import MODEL_FILE, artifact_path
from evals.runner.run import RunOptions, SilentReporter, run
from tests.conftest import run_cli

DISTILLED = "inbox-triage-distilled"
TRAIN = Path("suites/classification/inbox-triage/train.jsonl")


def _small_train(project, per_label: int = 12) -> None:
    """Keep ``per_label`` emails of each label in the copy's train split: the same recipe, a fast fit."""
    path = project.root / TRAIN
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    kept, seen = [], {}
    for r in rows:
        if seen.get(r["label"], 0) < per_label:
            kept.append(r)
            seen[r["label"]] = seen.get(r["label"], 0) + 1
    path.write_text("".join(json.dumps(r) + "\n" for r in kept))


def _spec(project):
    return resolve_artifacts(project, load_models(project.models_file)).get(DISTILLED)


def _ensure(project, suites=("inbox-triage",)):
    notes: list[str] = []
    models = ensure_artifacts(project, load_models(project.models_file), [DISTILLED], list(suites), notes.append)
    return models.get(DISTILLED), notes


def test_a_fresh_copy_of_the_shipped_project_distils_and_runs_the_classifier_offline(shipped_copy, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    spec = _spec(shipped_copy)
    assert spec.provider == "sklearn" and spec.options.distill.suite == "inbox-triage"
    assert not artifact_path(spec).exists()  # nothing generated is shipped
    assert availability(spec).reason.startswith("not built yet")
    reporter = SilentReporter()
    result = run(shipped_copy, RunOptions(suites=["inbox-triage", "lead-details"], models=[DISTILLED], limit=8),
                 reporter=reporter)
    (built,) = [w for w in reporter.warnings if w.startswith(f"{DISTILLED}: distilled from")]
    assert "the gold labels of inbox-triage/train" in built and "no artifact at" in built and "held-out accuracy" in built
    manifest = json.loads((artifact_path(spec) / "manifest.json").read_text())
    assert manifest["source"] == {"kind": "gold", "teacher": None, "run_id": None, "split": "train"}
    assert manifest["data"]["examples"] == 440
    rows = result.results
    assert set(rows["suite"]) == {"inbox-triage"} and len(rows) == 8  # a candidate only on the suite it learned
    assert rows["error"].isna().all() and rows["confidence"].notna().all() and rows["score"].notna().all()
    assert rows["confidence"].between(0.25, 1.0).all()  # the calibrated probability of the label, 4 labels
    again = SilentReporter()
    cached = run(shipped_copy, RunOptions(suites=["inbox-triage"], models=[DISTILLED], limit=8), reporter=again).results
    assert not any("distilled from" in w for w in again.warnings)  # up to date: not rebuilt
    assert cached["cached"].all() and list(cached["confidence"]) == list(rows["confidence"])  # kept in the cache


def test_the_artifact_is_rebuilt_when_the_train_data_changes_and_not_otherwise(shipped_copy):
    _small_train(shipped_copy)
    spec, notes = _ensure(shipped_copy)
    assert len(notes) == 1 and stale_reason(shipped_copy, spec) is None
    first = json.loads((artifact_path(spec) / "manifest.json").read_text())["data"]["sha256"]
    assert _ensure(shipped_copy)[1] == []  # unchanged data: kept
    path = shipped_copy.root / TRAIN
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    rows[0]["body"] += " One more sentence."
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert stale_reason(shipped_copy, spec) == "the training data (sha256) changed since it was trained"
    spec, notes = _ensure(shipped_copy)
    assert len(notes) == 1 and "(the training data (sha256) changed since it was trained)" in notes[0]
    assert json.loads((artifact_path(spec) / "manifest.json").read_text())["data"]["sha256"] != first
    assert not [p for p in artifact_path(spec).parent.iterdir() if p.name.startswith(".")]  # no leftovers


def test_a_tampered_or_foreign_artifact_is_rebuilt(shipped_copy):
    _small_train(shipped_copy)
    spec, _ = _ensure(shipped_copy)
    (artifact_path(spec) / MODEL_FILE).write_bytes(b"not the model")
    assert "does not match the manifest" in stale_reason(shipped_copy, spec)
    spec, notes = _ensure(shipped_copy)
    assert len(notes) == 1 and stale_reason(shipped_copy, spec) is None
    manifest_path = artifact_path(spec) / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["versions"]["scikit-learn"] = "0.0.1"
    manifest_path.write_text(json.dumps(manifest))
    assert stale_reason(shipped_copy, spec) == "the scikit-learn version changed since it was trained"
    manifest["versions"]["scikit-learn"], manifest["calibration"]["method"] = __import__("sklearn").__version__, "isotonic"
    manifest_path.write_text(json.dumps(manifest))
    assert stale_reason(shipped_copy, spec) == "the calibration changed since it was trained"


def test_nothing_is_built_for_a_run_that_does_not_use_it(shipped_copy):
    _small_train(shipped_copy)
    spec, notes = _ensure(shipped_copy, suites=("lead-details",))
    assert notes == [] and not artifact_path(spec).exists()
    models = ensure_artifacts(shipped_copy, load_models(shipped_copy.models_file), ["smollm2-135m"], ["inbox-triage"],
                              notes.append)
    assert notes == [] and not artifact_path(models.get(DISTILLED)).exists()


def test_a_recipe_that_cannot_build_is_one_skip_line(shipped_copy):
    path = shipped_copy.models_file
    path.write_text(path.read_text().replace("distill: {suite: inbox-triage, split: train}",
                                             "distill: {suite: inbox-triage, split: test}"))
    reporter = SilentReporter()
    with pytest.raises(Exception) as raised:  # the only model chosen cannot run: the usual "no candidate" error
        run(shipped_copy, RunOptions(suites=["inbox-triage"], models=[DISTILLED], limit=3), reporter=reporter)
    assert "no candidate model can run here" in str(raised.value)
    (line,) = [w for w in reporter.warnings if DISTILLED in w]
    assert line.startswith(f"skipping {DISTILLED}: cannot distil it from the gold labels of inbox-triage/test: split "
                           "'test' is the one 'inbox-triage' is scored on")


def test_an_artifact_path_outside_the_project_is_refused(shipped_copy, tmp_path):
    path = shipped_copy.models_file
    path.write_text(path.read_text().replace("model: reports/distill/inbox-triage-distilled",
                                             f"model: {tmp_path / 'elsewhere'}"))
    spec, notes = _ensure(shipped_copy)
    assert notes == [] and not (tmp_path / "elsewhere").exists()
    assert "outside the project" in availability(spec).reason


def test_commands_that_load_the_shipped_models_say_not_built_yet_without_a_traceback(shipped_copy):
    out = run_cli("models", "--project", str(shipped_copy.root), cwd=shipped_copy.root.parent)
    assert out.returncode == 0 and "Traceback" not in out.stderr
    assert "not built yet" in out.stdout
    out = run_cli("render", "--project", str(shipped_copy.root), "--suite", "inbox-triage", "--model", DISTILLED,
                  "--example", "triage-041", cwd=shipped_copy.root.parent)
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr


def test_a_replacing_write_that_fails_keeps_the_previous_artifact(monkeypatch, tmp_path):
    import os

    from evals.distill import build

    folder = tmp_path / "art"
    build._write(folder, {"v": 1}, {"kind": "first"})
    before = (folder / MODEL_FILE).read_bytes()
    real = os.rename

    def swap_fails(src, dst):  # moving the old folder aside works; moving the new one in does not
        if Path(src).name.startswith(".art.") and Path(dst) == folder:
            raise OSError("disk full")
        return real(src, dst)

    monkeypatch.setattr(build.os, "rename", swap_fails)
    with pytest.raises(OSError, match="disk full"):
        build._write(folder, {"v": 2}, {"kind": "second"}, replace=True)
    monkeypatch.setattr(build.os, "rename", real)
    assert (folder / MODEL_FILE).read_bytes() == before  # the previous artifact is back, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["art"]  # no temporary folder left
    build._write(folder, {"v": 2}, {"kind": "second"}, replace=True)
    assert json.loads((folder / "manifest.json").read_text())["kind"] == "second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["art"]


def test_a_run_where_the_distilled_model_serves_no_suite_says_so_and_writes_nothing(shipped_copy):
    _small_train(shipped_copy)
    _ensure(shipped_copy)  # built: only whether it serves the suite is left to decide
    from evals.errors import UsageError

    reporter = SilentReporter()
    with pytest.raises(UsageError, match="nothing to run"):
        run(shipped_copy, RunOptions(suites=["lead-details"], models=[DISTILLED], limit=2), reporter=reporter)
    assert f"{DISTILLED}: not run: it serves none of this run's suites (lead-details)" in reporter.warnings
    assert not [p for p in shipped_copy.reports_dir.iterdir() if p.name != "distill"]  # no empty run folder
