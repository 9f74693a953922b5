"""``evals distill``: from gold or a teacher's answers, a reloadable artifact with its manifest, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from evals.cli.main import main
from evals.config.models import load_models
from evals.distill import DistillOptions, distill, expected_calibration_error, reliability
from evals.distill.data import example_texts
from evals.errors import UsageError
from evals.providers import ErrorKind
from evals.providers.fake import FakeProvider
from evals.providers.sklearn import MANIFEST_FILE, MODEL_FILE, file_sha256, load_artifact, request_text
from evals.requests import build_request, variant_for
from evals.runner.run import RunOptions, run
from evals.suites import open_suite
from tests.distill.conftest import LABELS, WORDS


def suite_of(project, split="train"):
    return open_suite(project.suites_dir / "classification" / "mini-triage" / "suite.yaml", split=split)


def test_distill_from_gold_writes_an_artifact_that_reloads_to_the_same_model(mini):
    result = distill(mini, DistillOptions(suite="mini-triage", from_gold=True))
    folder = result.folder
    assert folder.parent == mini.reports_dir / "distill" and folder.name.startswith("mini-triage-gold-")
    assert sorted(p.name for p in folder.iterdir()) == [MANIFEST_FILE, MODEL_FILE]
    m = json.loads((folder / MANIFEST_FILE).read_text())
    assert m == result.manifest
    assert (m["format_version"], m["kind"], m["model_sha256"]) == (1, "evals-distilled-classifier",
                                                                  file_sha256(folder / MODEL_FILE))
    assert m["source"] == {"kind": "gold", "teacher": None, "run_id": None, "split": "train"}
    assert m["suite"]["labels"] == LABELS and m["suite"]["sha256"] == suite_of(mini).sha256
    assert m["data"]["examples"] == 48 and m["data"]["per_label"] == {"lead": 16, "support": 16, "spam": 16}
    assert m["request"]["variant"] == "sklearn" and m["request"]["variant_path"] == "prompts/mini/sklearn.j2"
    assert m["model"]["classes"] == sorted(LABELS) and m["calibration"]["method"] == "sigmoid"
    held = m["calibration"]["held_out"]
    assert held["n"] == 48 and 0 <= held["ece"] <= 1 and held["accuracy_ci"][0] <= held["accuracy"] <= held["accuracy_ci"][1]
    assert sum(b["n"] for b in held["reliability"]) == 48
    assert {"scikit-learn", "numpy", "python"} <= set(m["versions"])

    texts = list(example_texts(suite_of(mini, "test"), variant_for(mini.prompts_dir, "mini", "sklearn", "sklearn")).values())
    reloaded = load_artifact(folder)
    before, after = result.model.predict_proba(texts), reloaded.predict_proba(texts)
    assert np.array_equal(before, after)  # same probabilities, bit for bit
    assert list(result.model.predict(texts)) == [reloaded.classes[i] for i in after.argmax(axis=1)]
    # it learned something: the label words decide
    probe = {label: f"Subject: {words[0]}\n\n{' '.join(words[1:5])}" for label, words in WORDS.items()}
    guesses = reloaded.predict_proba(list(probe.values())).argmax(axis=1)
    assert [reloaded.classes[i] for i in guesses] == list(probe)


def test_the_training_text_is_what_the_served_request_carries(mini):
    suite = suite_of(mini, "test")
    template = variant_for(mini.prompts_dir, "mini", "sklearn", "sklearn")
    texts = example_texts(suite, template)
    ex = suite.examples[0]
    served = build_request(template, suite.variables(ex), suite.schema)  # what the runner and the client send
    assert texts[ex.id] == request_text(served) == f"Subject: {ex.inputs['subject']}\n\n{ex.inputs['body']}"


def test_distill_from_a_teachers_answers_learns_the_teacher_not_the_gold(mini):
    wrong = {"train-000", "train-004"}  # the teacher says spam for these (gold lead, support)
    garbage = {"train-001"}
    refused = {"train-002"}  # a failed call (gold spam): no label

    examples = train_rows(mini)

    def teacher(request):
        text = request.prompt.messages[-1]["content"]
        example = next(r for r in examples if f"Subject: {r['subject']}\n\n{r['body']}\n" in text)
        if example["id"] in wrong:
            return "spam"
        if example["id"] in garbage:
            return "I am not sure, maybe both"
        if example["id"] in refused:
            return ErrorKind.REFUSED
        return f"Label: {example['label'].upper()}"  # normalised like every answer

    FakeProvider.reset(responder=teacher)
    done = run(mini, RunOptions(suites=["mini-triage"], models=["teacher"], split="train"))
    result = distill(mini, DistillOptions(suite="mini-triage", run="latest", teacher="teacher"))
    m = result.manifest
    assert m["source"]["kind"] == "teacher" and m["source"]["teacher"] == "teacher"
    assert m["source"]["run_id"] == done.run_id and m["source"]["split"] == "train"
    assert m["source"]["results_sha256"] == file_sha256(done.folder / "results.parquet")
    assert m["source"]["suite_changed_since_run"] is False
    assert m["data"]["skipped"] == {"invalid_label": 1, "failed_call": 1} and m["data"]["examples"] == 46
    assert m["data"]["per_label"] == {"lead": 15, "support": 14, "spam": 17}
    assert result.folder.name.startswith("mini-triage-teacher-")


def train_rows(project):
    path = project.suites_dir / "classification" / "mini-triage" / "train.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_distill_errors_exit_2_with_one_line(mini, capsys):
    def status(*args: str) -> tuple[int, str]:
        with pytest.raises(SystemExit) as exit_:
            main(["distill", "--project", str(mini.root), *args])
        return exit_.value.code, capsys.readouterr().err.strip()

    code, err = status("--suite", "mini-extract", "--from-gold")
    assert code == 2 and "has task 'extraction'" in err and err.count("\n") == 0
    code, err = status("--suite", "mini-triage", "--from-gold", "--split", "test")
    assert code == 2 and "is the one 'mini-triage' is scored on" in err
    code, err = status("--suite", "mini-triage")
    assert code == 2 and "give one label source" in err
    code, err = status("--suite", "mini-triage", "--from-run", "latest")
    assert code == 2 and "--teacher" in err
    code, err = status("--suite", "mini-triage", "--from-gold", "--min-per-label", "17")
    assert code == 2 and "too few labels" in err and "lead 16, support 16, spam 16" in err
    code, err = status("--suite", "mini-triage", "--from-run", "latest", "--teacher", "teacher")
    assert code == 2 and "no complete runs in" in err

    FakeProvider.reset(responder=lambda r: "lead")
    run(mini, RunOptions(suites=["mini-triage"], models=["teacher"], split="dev"))
    code, err = status("--suite", "mini-triage", "--from-run", "latest", "--teacher", "gpt-9")
    assert code == 2 and "no answers of 'gpt-9'" in err and "models in it: teacher" in err
    code, err = status("--suite", "mini-triage", "--from-run", "latest", "--teacher", "teacher")
    assert code == 2 and "split(s) dev" in err and "not 'train'" in err
    code, err = status("--suite", "mini-triage", "--from-run", "latest", "--teacher", "teacher", "--split", "dev",
                       "--min-per-label", "7")
    assert code == 2 and "too few labels" in err and ": support 0, spam 0 (" in err  # a teacher that only says lead
    code, err = status("--suite", "mini-triage", "--from-gold", "--min-per-label", "3")
    assert code == 2 and "at least 7" in err
    assert not (mini.reports_dir / "distill").exists()  # nothing written by any of them


def test_the_cli_prints_the_models_yaml_entry_that_pins_the_artifact(mini, capsys):
    out = mini.root / "models" / "triage-v1"
    assert main(["distill", "--project", str(mini.root), "--suite", "mini-triage", "--from-gold", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    sha = file_sha256(out / MODEL_FILE)
    assert f"options: {{sha256: {sha}}}" in printed and "model: models/triage-v1" in printed
    assert "held out (5-fold): accuracy" in printed
    entry = printed[printed.index("  - id:"):]
    (mini.models_file).write_text(mini.models_file.read_text() + entry.replace("models/triage-v1", str(out)))
    spec = load_models(mini.models_file).get("mini-triage-distilled")
    assert (spec.provider, spec.options.sha256) == ("sklearn", sha)
    with pytest.raises(UsageError, match="already exists"):
        distill(mini, DistillOptions(suite="mini-triage", from_gold=True, out=out))


def test_a_failed_write_leaves_nothing_behind(mini, monkeypatch):
    import joblib

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(joblib, "dump", broken)
    with pytest.raises(OSError, match="disk full"):
        distill(mini, DistillOptions(suite="mini-triage", from_gold=True, out=mini.root / "out" / "m"))
    assert list((mini.root / "out").iterdir()) == []  # no artifact, no temporary folder


def test_reliability_and_ece_by_hand():
    conf = [0.95, 0.92, 0.55, 0.51, 0.3]
    hit = [True, True, False, True, False]
    table = reliability(conf, hit, bins=5)
    assert [b["n"] for b in table] == [0, 1, 2, 0, 2]
    assert table[4]["accuracy"] == 1.0 and table[2]["accuracy"] == 0.5
    # |1 - 0.935| * 2/5 + |0.5 - 0.53| * 2/5 + |0 - 0.3| * 1/5
    assert expected_calibration_error(conf, hit, bins=5) == pytest.approx(0.065 * 0.4 + 0.03 * 0.4 + 0.3 * 0.2)
    assert reliability([1.0], [True], bins=10)[-1]["n"] == 1
    assert np.isnan(expected_calibration_error([], []))


def test_labels_are_the_scorers_normalised_labels(mini):
    suite_yaml = mini.suites_dir / "classification" / "mini-triage" / "suite.yaml"
    suite_yaml.write_text(suite_yaml.read_text().replace("labels: [lead, support, spam]", "labels: [Lead, Support, Spam]"))
    m = distill(mini, DistillOptions(suite="mini-triage", from_gold=True)).manifest
    assert m["suite"]["labels"] == LABELS and m["model"]["classes"] == sorted(LABELS)
