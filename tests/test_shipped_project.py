"""The shipped suites, prompts and models validate, and the suites have the promised size and mess."""

from __future__ import annotations

import json
from collections import Counter

from evals.project import Project
from evals.suites import open_suite
from evals.validate import validate_project
from tests.conftest import REPO


def _rows(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_shipped_project_validates():
    checked = validate_project(Project(REPO))
    assert checked.suites == 5 and checked.models >= 2


def test_shipped_labels_are_written_once():
    """inbox-triage writes its labels once, as `labels:`; templates and the scorer both get them."""
    from evals.scorers import build_scorer

    suite = open_suite(REPO / "suites" / "classification" / "inbox-triage" / "suite.yaml")
    labels = ["inbound_lead", "customer_support", "outbound_reply", "spam_or_vendor"]
    assert suite.spec.labels == labels
    assert "labels" not in suite.spec.variables and "labels" not in suite.spec.scorer.settings
    assert suite.variables(suite.examples[0])["labels"] == labels
    assert build_scorer(suite).labels == labels


def test_shipped_suites_name_their_rule():
    from evals.config.policy import load_policy

    ids = {r.id for r in load_policy(REPO / "policies" / "current.yaml").rules}
    for path in sorted((REPO / "suites").glob("*/*/suite.yaml")):
        suite = open_suite(path)
        assert suite.spec.rule in ids, path


def test_every_prompt_has_a_chat_and_a_completion_variant():
    from evals.prompts import load_template

    for folder in sorted((REPO / "prompts").iterdir()):
        modes = {load_template(p).mode for p in folder.glob("*.j2")}
        assert modes == {"chat", "completion"}, folder


def test_classification_suite_size_and_labels():
    folder = REPO / "suites" / "classification" / "inbox-triage"
    rows = _rows(folder / "dev.jsonl") + _rows(folder / "test.jsonl")
    assert len(rows) >= 150
    labels = Counter(r["label"] for r in rows)
    assert len(labels) >= 4 and min(labels.values()) >= 20
    assert sum(r["difficulty"] == "ambiguous" for r in rows) >= 20
    assert any("Forwarded message" in r["body"] for r in rows)
    assert sum("wrote:" in r["body"] for r in rows) >= 10


def test_extraction_suite_gold_matches_schema():
    from jsonschema import Draft202012Validator

    folder = REPO / "suites" / "extraction" / "lead-details"
    validator = Draft202012Validator(json.loads((folder / "schema.json").read_text()))
    rows = _rows(folder / "dev.jsonl") + _rows(folder / "test.jsonl")
    assert len(rows) >= 80
    for row in rows:
        assert not list(validator.iter_errors(row["gold"])), row["id"]
    assert sum(r["gold"]["meeting"] is None for r in rows) >= 20


def test_extraction_gold_dates_stay_strings_through_datasets():
    suite = open_suite(REPO / "suites" / "extraction" / "lead-details" / "suite.yaml", split="dev")
    with_meeting = [e for e in suite.examples if e.gold["meeting"]]
    assert with_meeting and all(isinstance(e.gold["meeting"]["date"], str) for e in with_meeting)
    assert all(isinstance(e.inputs["received"], str) for e in suite.examples)


def test_voice_suite_sizes():
    folder = REPO / "suites" / "writing" / "founder-voice"
    assert len(_rows(folder / "references.jsonl")) >= 40
    assert len(_rows(folder / "contrast.jsonl")) >= 40
    briefs = _rows(folder / "dev.jsonl") + _rows(folder / "test.jsonl")
    assert len(briefs) >= 40
    assert all(len(b["facts"]) == len(b["must_include"]) for b in briefs)
