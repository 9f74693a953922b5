"""Extraction scorer: parsing, per-type normalisers, field comparison, null vs absent."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from evals.scorers.extraction import (
    ExtractionScorer, ExtractionSettings, compare_fields, normalise_date, normalise_value, parse_json_object,
)


@pytest.mark.parametrize("a, b", [
    ("  Acme   CORP ", "acme corp"), ("$40,000", 40000), ("40,000", 40000.0), ("€1,250.50", 1250.5),
    ("2026-05-14", "May 14, 2026"), ("14.05.2026", "14 May 2026"), ("05/14/2026", "2026/05/14"),
    (["routing", "Evals", "routing"], ["evals", "routing"]), ("", None), ([], None),
])
def test_normalisers_make_equal(a, b):
    assert normalise_value(a) == normalise_value(b)


@pytest.mark.parametrize("a, b", [("40,000", 4000), ("acme", "acme inc"), ("2026-05-14", "2026-05-15"),
                                  (["a"], ["a", "b"]), (True, 1.0), ("13:30", "1330")])
def test_normalisers_keep_different(a, b):
    assert normalise_value(a) != normalise_value(b)


def test_normalise_date_formats():
    assert normalise_date("Thursday, May 14, 2026") == "2026-05-14"
    assert normalise_date("14/05/2026") == "2026-05-14"  # day > 12: read day-first
    assert normalise_date("not a date 2026") is None


def test_parse_json_object():
    assert parse_json_object('Here:\n```json\n{"a": {"b": 1}}\n```') == {"a": {"b": 1}}
    assert parse_json_object('x {"a": 1} y') == {"a": 1}
    assert parse_json_object("{broken") is None


def test_compare_fields_null_vs_absent_and_presence():
    gold = {"name": "Acme", "seats": None, "meeting": {"date": "2026-05-14"}, "tags": ["a"]}
    pred = {"name": "ACME", "meeting": {"date": "May 14, 2026"}, "tags": ["b"], "extra": 1}
    fields = compare_fields(gold, pred)
    assert fields["name"] == {"gold": True, "pred": True, "correct": True}
    assert fields["seats"] == {"gold": False, "pred": False, "correct": True}  # absent == null
    assert fields["meeting.date"]["correct"] is True
    assert fields["tags"] == {"gold": True, "pred": True, "correct": False}
    assert set(fields) == {"name", "seats", "meeting.date", "tags"}


def test_score_with_schema():
    schema = {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"},
                                                                     "seats": {"type": ["integer", "null"]}}}
    s = ExtractionScorer(SimpleNamespace(schema=schema), ExtractionSettings())
    example = SimpleNamespace(gold={"name": "Acme", "seats": 10})
    full = s.score(json.dumps({"name": "acme", "seats": "10"}), example)
    assert full.value == 1.0 and full.subscores["exact_record"] == 1.0
    assert full.subscores["schema_valid"] == 0.0  # "10" is a string: right value, invalid against the schema
    half = s.score('{"name": "Acme"}', example)
    assert half.value == 0.5 and half.subscores["schema_valid"] == 1.0 and half.subscores["exact_record"] == 0.0
    none = s.score("I could not find it", example)
    assert none.value == 0.0 and none.subscores["parsed"] == 0.0
    assert none.detail["fields"]["name"] == {"gold": True, "pred": False, "correct": False}
