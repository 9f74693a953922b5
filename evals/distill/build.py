"""``evals distill``: train a classifier for a classification suite and write it as a versioned artifact.

The artifact is a folder (default ``reports/distill/<suite>-<gold|teacher>-<stamp>/``, which git
ignores; ``--out`` puts it where the user asks)::

    manifest.json   what it was trained on and how well its probabilities are calibrated (below)
    model.joblib    the fitted scikit-learn classifier (a pickle: load only your own artifacts)

The manifest holds the format version, the suite (name, sha256, prompt, labels), the request text's
prompt variant and its sha256, the label source (gold, or the teacher model with its run id and
results sha256), the split, the training data's sha256 and label counts, what was skipped, the
estimator and features, the calibration method with its held-out reliability (accuracy with
interval, ECE, reliability bins, from cross-validated predictions), the library versions, the model
file's sha256 (checked by :mod:`evals.providers.sklearn` before it loads anything) and the time.
The folder is written beside its destination and renamed into place, so it exists whole or not at all.
"""

from __future__ import annotations

import os
import platform
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from evals import __version__
from evals.config.models import load_models
from evals.distill.calibration import expected_calibration_error, reliability
from evals.distill.data import Labelled, check_enough, from_gold, from_teacher
from evals.errors import UsageError
from evals.project import Project
from evals.providers.sklearn import ARTIFACT_FORMAT, ARTIFACT_KIND, MANIFEST_FILE, MODEL_FILE, file_sha256
from evals.requests import variant_for
from evals.runner.store import new_run_id, read_manifest, read_results, run_dir, write_json_atomic
from evals.scorers import build_scorer
from evals.stats import mean_ci
from evals.suites import discover, open_suite

DEFAULT_FAMILY = "sklearn"
BINS = 10
MIN_PER_LABEL = 7  # 5-fold calibration inside 5-fold held-out predictions: 5 per label in every inner fit


@dataclass
class DistillOptions:
    """What to distil. Exactly one label source: ``from_gold``, or ``run`` with ``teacher``."""

    suite: str
    split: str = "train"
    from_gold: bool = False
    run: str | None = None
    teacher: str | None = None
    model: str | None = None  # a models.yaml entry whose prompt variant renders the text (default: family sklearn)
    estimator: str = "linear-svm"
    calibration: str = "sigmoid"
    min_per_label: int = 10
    out: Path | None = None
    seed: int = 0
    replace: bool = False  # an existing artifact at ``out`` is replaced (whole, after the new one is written)


@dataclass
class DistillResult:
    """Where the artifact was written, its manifest, what to warn about, and the fitted classifier."""

    folder: Path
    manifest: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    model: Any = None


def _check_options(o: DistillOptions) -> None:
    if o.from_gold == (o.run is not None):
        raise UsageError("give one label source: --from-gold, or --from-run RUN --teacher MODEL")
    if o.run is not None and not o.teacher:
        raise UsageError("--from-run needs --teacher MODEL: whose answers in that run are the labels")
    if o.from_gold and o.teacher:
        raise UsageError("--teacher goes with --from-run; --from-gold takes the split's gold labels")
    if o.min_per_label < MIN_PER_LABEL:
        raise UsageError(f"--min-per-label must be at least {MIN_PER_LABEL}: calibration's 5 folds, inside the 5 folds "
                         "that measure it, need that many examples of every label")


def _suite_path(project: Project, name: str) -> Path:
    from evals.config.suite import load_suite

    for path in discover(project.suites_dir):
        if load_suite(path).name == name:
            return path
    raise UsageError(f"unknown suite {name!r} under {project.suites_dir}")


def _variant(project: Project, prompt: str, model: str | None):
    if model is None:
        return variant_for(project.prompts_dir, prompt, DEFAULT_FAMILY, DEFAULT_FAMILY)
    models = load_models(project.models_file)
    if model not in models.ids:
        raise UsageError(f"--model {model!r} is not in {project.models_file}; known: {', '.join(models.ids)}")
    spec = models.get(model)
    return variant_for(project.prompts_dir, prompt, spec.id, spec.family)


def _held_out_report(data: Labelled, options: DistillOptions) -> dict[str, Any]:
    from evals.distill.train import FOLDS, held_out

    probs, classes = held_out(data.texts, data.labels, estimator=options.estimator,
                              calibration=options.calibration, seed=options.seed)
    predicted = [classes[i] for i in probs.argmax(axis=1)]
    confidence = probs.max(axis=1)
    correct = [p == g for p, g in zip(predicted, data.labels)]
    low, high = mean_ci([float(c) for c in correct])
    return {"how": f"{FOLDS}-fold cross-validated predictions of the whole calibrated classifier over the training data",
            "folds": FOLDS, "n": len(correct), "accuracy": sum(correct) / len(correct), "accuracy_ci": [low, high],
            "mean_confidence": float(confidence.mean()),
            "ece": expected_calibration_error(confidence, correct, BINS),
            "reliability": reliability(confidence, correct, BINS)}


def _versions() -> dict[str, str]:
    import joblib
    import numpy
    import scipy
    import sklearn

    return {"python": platform.python_version(), "scikit-learn": sklearn.__version__, "numpy": numpy.__version__,
            "scipy": scipy.__version__, "joblib": joblib.__version__, "portfolio-evals": __version__}


def _write(folder: Path, model: Any, manifest: dict[str, Any], replace: bool = False) -> None:
    """Write the artifact beside ``folder`` and rename it into place: whole, or not at all. With ``replace``
    an existing folder is moved aside only once the new one is complete, and removed after the swap."""
    import joblib

    if folder.exists() and not replace:
        raise UsageError(f"{folder} already exists; give another --out or remove it")
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    old = None
    try:
        joblib.dump(model, tmp / MODEL_FILE)
        manifest["model_sha256"] = file_sha256(tmp / MODEL_FILE)
        write_json_atomic(tmp / MANIFEST_FILE, manifest)
        if folder.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{folder.name}.old.", dir=folder.parent))
            os.rename(folder, old / folder.name)
        os.rename(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and not folder.exists():
            os.rename(old / folder.name, folder)  # put the previous artifact back
        raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


@dataclass
class Prepared:
    """What a distillation would learn, before any fitting: the suite, its label set, the request variant
    and the labelled texts (whose ``sha256`` says whether an artifact was trained on exactly these)."""

    suite: Any
    labels: list[str]
    template: Any
    data: Labelled
    what: str
    warnings: list[str] = field(default_factory=list)


def prepare(project: Project, options: DistillOptions) -> Prepared:
    """Gather the labelled texts for ``options`` and check them (:func:`distill` without the training).

    Raises :class:`UsageError` (exit 2) for a non-classification suite, a split that is the suite's
    scored split, a run without that teacher or split, or too few labels.
    """
    _check_options(options)
    suite_path = _suite_path(project, options.suite)
    suite = open_suite(suite_path, split=options.split)
    spec = suite.spec
    if spec.task != "classification":
        raise UsageError(f"suite {spec.name!r} has task {spec.task!r}; evals distill trains classifiers for "
                         "classification suites")
    if options.split == spec.default_split:
        raise UsageError(f"split {options.split!r} is the one {spec.name!r} is scored on (default_split); training on "
                         "it would score the classifier on the examples it learned: train on train or dev")
    scorer = build_scorer(suite)  # its label set and normalisation: what it learns is what the scorer accepts
    labels = list(scorer.labels)
    template = _variant(project, spec.prompt, options.model)
    warnings = []
    if template.variant == "default":
        warnings.append(f"{template.path} is the chat prompt: the classifier learns its instructions as words too; "
                        f"add {template.path.parent}/{DEFAULT_FAMILY}.j2 that renders only the example's input")
    if options.from_gold:
        data = from_gold(suite, template, scorer)
        what = f"the gold labels of {spec.name}/{options.split}"
    else:
        folder = run_dir(project.reports_dir, options.run)
        manifest = read_manifest(folder)
        results_path = folder / "results.parquet"
        data = from_teacher(suite, template, scorer, read_results(folder), teacher=options.teacher,
                            run_id=manifest.get("run_id", folder.name),
                            run_suite_sha256=(manifest.get("suites", {}).get(spec.name) or {}).get("sha256"),
                            results_sha256=file_sha256(results_path))
        what = f"{options.teacher}'s answers on {spec.name}/{options.split} in run {data.source['run_id']}"
    warnings += data.notes
    check_enough(data, labels, options.min_per_label, what)
    return Prepared(suite, labels, template, data, what, warnings)


def distill(project: Project, options: DistillOptions, *, now: datetime | None = None,
            prepared: Prepared | None = None) -> DistillResult:
    """Train and write a distilled classifier for ``options.suite``; returns where and its manifest.

    Raises :class:`UsageError` (exit 2) as :func:`prepare` does; ``prepared`` reuses its result.
    """
    from evals.distill.train import ESTIMATOR_PARAMS, FEATURES, fit

    now = now or datetime.now(timezone.utc)
    p = prepared or prepare(project, options)
    suite, labels, template, data, warnings = p.suite, p.labels, p.template, p.data, list(p.warnings)
    spec = suite.spec
    held = _held_out_report(data, options)
    model = fit(data.texts, data.labels, estimator=options.estimator, calibration=options.calibration,
                seed=options.seed)
    source_kind = "gold" if options.from_gold else "teacher"
    out = options.out or project.reports_dir / "distill" / f"{spec.name}-{source_kind}-{new_run_id(now)}"
    manifest = {
        "format_version": ARTIFACT_FORMAT, "kind": ARTIFACT_KIND, "created_at": now.isoformat(),
        "suite": {"name": spec.name, "task": spec.task, "sha256": suite.sha256, "prompt": spec.prompt,
                  "labels": labels},
        "request": {"variant": template.variant, "variant_path": str(template.path.relative_to(project.root))
                    if template.path.is_relative_to(project.root) else str(template.path),
                    "variant_sha256": template.sha256,
                    "text": "the last user message of the rendered request, else its completion prompt "
                            "(evals.providers.sklearn.request_text)"},
        "source": data.source,
        "data": {"examples": len(data.ids), "sha256": data.sha256(), "per_label": data.per_label(labels),
                 "skipped": data.skipped},
        "model": {"file": MODEL_FILE, "serialiser": "joblib (a pickle: loading it runs code; load only your own "
                                                    "artifacts)",
                  "estimator": options.estimator, "estimator_params": ESTIMATOR_PARAMS[options.estimator],
                  "features": FEATURES, "classes": sorted(set(data.labels)), "seed": options.seed},
        "calibration": {"method": options.calibration, "cv": 5, "held_out": held},
        "versions": _versions(),
    }
    _write(out, model, manifest, replace=options.replace)
    return DistillResult(out, manifest, warnings, model)
