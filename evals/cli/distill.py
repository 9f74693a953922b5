"""``evals distill``: train a calibrated classifier for a classification suite; print where it is and how to serve it."""

from __future__ import annotations

from pathlib import Path

import click

from evals.cli._common import open_project, project_option


def _summary(result, root: Path) -> str:
    m = result.manifest
    folder = result.folder.relative_to(root) if result.folder.is_relative_to(root) else result.folder
    held = m["calibration"]["held_out"]
    source = m["source"]
    where = ("gold labels" if source["kind"] == "gold"
             else f"{source['teacher']}'s answers in run {source['run_id']}")
    counts = ", ".join(f"{k} {v}" for k, v in m["data"]["per_label"].items())
    skipped = ", ".join(f"{k} {v}" for k, v in m["data"]["skipped"].items())
    low, high = held["accuracy_ci"]
    lines = [
        f"distilled {m['suite']['name']} from {where} on split {source['split']}: {m['data']['examples']} examples "
        f"({counts})" + (f"; skipped: {skipped}" if skipped else ""),
        f"held out ({held['folds']}-fold): accuracy {held['accuracy']:.3f} [{low:.3f}, {high:.3f}], "
        f"ECE {held['ece']:.3f}, mean confidence {held['mean_confidence']:.3f} ({m['calibration']['method']} calibration)",
        f"written to {result.folder}",
        "serve it with a models.yaml entry (the sha256 pins this very file; model.joblib is a pickle, load only "
        "your own artifacts):",
        f"  - id: {m['suite']['name']}-distilled",
        "    provider: sklearn",
        f"    model: {folder}",
        "    family: sklearn",
        "    context_window: 100000",
        f"    options: {{sha256: {m['model_sha256']}}}",
        "    pricing: {self_hosted: {hourly_usd: 0.096}}",
    ]
    return "\n".join(lines)


@click.command("distill")
@click.option("--suite", required=True, help="The classification suite to distil a classifier for.")
@click.option("--split", default="train", show_default=True, help="The split whose labels it learns.")
@click.option("--from-gold", is_flag=True, help="Learn the split's gold labels.")
@click.option("--from-run", "run", default=None, help="Learn a teacher's answers in this run (id, path or latest).")
@click.option("--teacher", default=None, help="With --from-run: the model whose answers are the labels.")
@click.option("--model", default=None,
              help="A models.yaml entry whose prompt variant renders the text (default: family sklearn, sklearn.j2).")
@click.option("--estimator", type=click.Choice(["linear-svm", "logreg"]), default="linear-svm", show_default=True)
@click.option("--calibration", type=click.Choice(["sigmoid", "isotonic"]), default="sigmoid", show_default=True)
@click.option("--min-per-label", type=int, default=10, show_default=True, help="Fewest examples a label may have.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Artifact folder (default: reports/distill/<suite>-<source>-<stamp>/, ignored by git).")
@project_option
def distill_cmd(suite, split, from_gold, run, teacher, model, estimator, calibration, min_per_label, out,
                project_dir) -> None:
    """Train a calibrated TF-IDF classifier for a classification suite and write it as an artifact.

    \b
    Examples:
      evals distill --suite inbox-triage --from-gold --split train
      evals distill --suite inbox-triage --from-run latest --teacher gpt-4o-mini --split train
    """
    from evals.distill import DistillOptions, distill

    project = open_project(project_dir)
    options = DistillOptions(suite=suite, split=split, from_gold=from_gold, run=run, teacher=teacher, model=model,
                             estimator=estimator, calibration=calibration, min_per_label=min_per_label,
                             out=out.resolve() if out is not None else None)
    result = distill(project, options)
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(_summary(result, project.root))
