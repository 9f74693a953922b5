"""Distilled models that build themselves: ``evals run`` trains a missing or stale artifact before any call.

A ``provider: sklearn`` entry of models.yaml may carry a recipe, ``options.distill``
(:class:`evals.config.models.DistillRecipe`: a suite and a split whose gold labels it learns). Before a
run calls any model, :func:`ensure_artifacts` checks each such model the run will use (chosen with
``--models``, or all, and its suite among the run's suites) and distils it into its ``model`` folder
(a path inside the project; relative paths are read from the project root) when:

* the folder holds no artifact, or one the provider refuses (:func:`evals.providers.sklearn.check_artifact`:
  unreadable manifest, newer format, a model file that does not match its sha256);
* the artifact was trained on other data than the recipe gives now: the training pairs' sha256 (ids,
  the text the model reads, the normalised gold label, in order), the label set, the suite, the split,
  the request variant's sha256, the estimator, the calibration or the seed differ;
* it was pickled by another scikit-learn version (a pickle is only safe to load with the version that
  wrote it).

Otherwise it is left as it is (the check renders the split's requests, milliseconds). A model that
cannot be built (the recipe names an unknown suite, too few labels) is skipped by the run with one line
saying why; nothing half-written is left (:func:`evals.distill.build.distill` writes whole or not at all).
The shipped ``inbox-triage-distilled`` is such an entry, so a fresh clone's ``evals run`` distils it
from ``suites/classification/inbox-triage/train.jsonl`` and nothing generated is committed.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

from evals.config.models import ModelSpec, ModelsFile
from evals.errors import ConfigError, DataError, ProviderUnavailable, UsageError
from evals.project import Project, inside_project
from evals.providers.sklearn import MANIFEST_FILE, artifact_path, check_artifact


def resolve_artifacts(project: Project, models: ModelsFile) -> ModelsFile:
    """``models`` with every ``sklearn`` entry's relative ``model`` path read from the project root (the
    entries are copies; the cache identity, which holds the path as written, is unchanged)."""
    specs = []
    for spec in models.models:
        if spec.provider == "sklearn" and not Path(spec.model).expanduser().is_absolute():
            spec = spec.model_copy(update={"options": spec.options.model_copy()})
            spec.options._root = project.root
        specs.append(spec)
    return models.model_copy(update={"models": specs})


def _options(project: Project, spec: ModelSpec) -> Any:
    from evals.distill.build import DistillOptions

    r = spec.options.distill
    return DistillOptions(suite=r.suite, split=r.split, from_gold=True, model=spec.id, estimator=r.estimator,
                          calibration=r.calibration, seed=r.seed, out=artifact_path(spec), replace=True)


def stale_reason(project: Project, spec: ModelSpec, prepared: Any | None = None) -> str | None:
    """Why the artifact of ``spec`` (an entry with a recipe) must be (re)built, or None when it is up to date.

    ``prepared`` is :func:`evals.distill.build.prepare` of the recipe (computed when not given)."""
    import sklearn

    from evals.distill.build import prepare

    folder = artifact_path(spec)
    if not (folder / MANIFEST_FILE).is_file():
        return f"no artifact at {folder}"
    try:
        manifest = check_artifact(folder)
    except ProviderUnavailable as exc:
        return str(exc)
    recipe = spec.options.distill
    p = prepared or prepare(project, _options(project, spec))
    model = manifest.get("model") or {}
    source = manifest.get("source") or {}
    wanted = {
        "the suite": ((manifest.get("suite") or {}).get("name"), recipe.suite),
        "the label source": ((source.get("kind"), source.get("split")), ("gold", recipe.split)),
        "the training data (sha256)": ((manifest.get("data") or {}).get("sha256"), p.data.sha256()),
        "the label set": ((manifest.get("suite") or {}).get("labels"), p.labels),
        "the request variant (sha256)": ((manifest.get("request") or {}).get("variant_sha256"), p.template.sha256),
        "the estimator": ((model.get("estimator"), model.get("seed")), (recipe.estimator, recipe.seed)),
        "the calibration": ((manifest.get("calibration") or {}).get("method"), recipe.calibration),
        "the scikit-learn version": ((manifest.get("versions") or {}).get("scikit-learn"), sklearn.__version__),
    }
    changed = [what for what, (had, now) in wanted.items() if json.dumps(had) != json.dumps(now)]
    return f"{', '.join(changed)} changed since it was trained" if changed else None


def ensure_artifacts(project: Project, models: ModelsFile, chosen: list[str], suites: list[str],
                     warn: Callable[[str], None]) -> ModelsFile:
    """Build every chosen distilled model with a recipe whose suite is in ``suites`` and whose artifact is
    missing or stale (module docstring); returns ``models`` with artifact paths read from the project root.

    Each build is announced in one line (what, why, how long, the held-out accuracy). A model that cannot be
    built is left unbuilt, and the run skips it as unavailable with the reason
    (:meth:`evals.providers.sklearn.SklearnProvider.unavailable_reason`).
    """
    from evals.distill.build import distill, prepare

    models = resolve_artifacts(project, models)
    for spec in (models.get(m) for m in chosen):
        recipe = getattr(spec.options, "distill", None) if spec.provider == "sklearn" else None
        if recipe is None or recipe.suite not in suites:
            continue
        try:
            inside_project(artifact_path(spec), project.models_file, field=f"{spec.id}.model", root=project.root)
            options = _options(project, spec)
            prepared = prepare(project, options)
            why = stale_reason(project, spec, prepared)
            if why is None:
                continue
            started = time.perf_counter()
            result = distill(project, options, prepared=prepared)
        except (UsageError, ConfigError, DataError) as exc:  # the run skips it, with this reason
            spec.options._build_error = f"cannot distil it from the gold labels of {recipe.suite}/{recipe.split}: {exc}"
            continue
        held = result.manifest["calibration"]["held_out"]
        low, high = held["accuracy_ci"]
        warn(f"{spec.id}: distilled from {prepared.what} ({why}) in {time.perf_counter() - started:.1f} s: held-out "
             f"accuracy {held['accuracy']:.3f} [{low:.3f}, {high:.3f}] -> {_shown(project, result.folder)}")
    return models


def _shown(project: Project, folder: Path) -> str:
    return str(folder.relative_to(project.root)) if folder.is_relative_to(project.root) else str(folder)


__all__ = ["ensure_artifacts", "resolve_artifacts", "stale_reason"]
