"""Extraction scorer: parsing, normalisers, what counts (null vs null apart, invented fields, unparseable answers),
settings (weights, fuzzy fields, kinds), and `{}` scoring what it should."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from evals.errors import ConfigError
from evals.scorers import build_scorer
from evals.scorers.extraction import (
    ExtractionScorer, ExtractionSettings, compare_fields, normalise_value, parse_json_object, schema_fields,
    token_overlap,
)
from evals.scorers.values import normalise_date, normalise_duration, normalise_time, normalise_timezone
from evals.suites import open_suite
from tests.conftest import REPO

LEAD = REPO / "suites" / "extraction" / "lead-details"
MEETING_SCHEMA = {"type": "object", "properties": {
    "company": {"type": "string"},
    "meeting": {"type": ["object", "null"], "properties": {
        "date": {"type": "string", "format": "date"}, "starts": {"type": "string", "format": "date-time"},
        "time": {"type": ["string", "null"]}, "timezone": {"type": ["string", "null"]},
        "duration": {"type": ["string", "integer", "null"]}}},
    "notes": {"type": ["string", "null"]}, "tags": {"type": "array", "items": {"type": "string"}}}}


def scorer(schema=None, **settings) -> ExtractionScorer:
    return ExtractionScorer(SimpleNamespace(schema=schema, path="suites/x/suite.yaml"), ExtractionSettings(**settings))


@pytest.mark.parametrize("a, b", [
    ("  Acme   CORP ", "acme corp"), ("$40,000", 40000), ("40,000", 40000.0), ("€1,250.50", 1250.5),
    ("2026-05-14", "May 14, 2026"), ("14.05.2026", "14 May 2026"), ("05/14/2026", "2026/05/14"),
    (["routing", "Evals", "routing"], ["evals", "routing"]), ("", None), ([], None), ({}, None),
    ("March 3rd, 2026", "2026-03-03"), ("2026-03-03T10:30:00", "2026-03-03 10:30"), ("10:30 AM", "10:30"),
    ("10:30:00", "10:30"), ("4pm", "16:00"),
])
def test_normalisers_make_equal(a, b):
    assert normalise_value(a) == normalise_value(b)


@pytest.mark.parametrize("a, b", [("40,000", 4000), ("acme", "acme inc"), ("2026-05-14", "2026-05-15"),
                                  (["a"], ["a", "b"]), (True, 1.0), ("13:30", "1330"), ("10:30 PM", "10:30"),
                                  ("2026-03-03T10:30:00", "2026-03-03")])
def test_normalisers_keep_different(a, b):
    assert normalise_value(a) != normalise_value(b)


@pytest.mark.parametrize("kind, written, canonical", [
    ("date", "March 3rd, 2026", "2026-03-03"), ("date", "2026-03-03T10:30:00", "2026-03-03"),
    ("date", "Tuesday, 3rd March 2026", "2026-03-03"), ("date-time", "2026-03-03T10:30:00", "2026-03-03T10:30"),
    ("date-time", "March 3rd, 2026 at 10:30 AM", "2026-03-03T10:30"), ("time", "10:30 AM", "10:30"),
    ("time", "10:30:00", "10:30"), ("time", "4pm", "16:00"), ("time", "12:15 am", "00:15"),
    ("timezone", "US/Pacific", "America/Los_Angeles"), ("timezone", "CET", "Europe/Berlin"),
    ("timezone", "america/new_york", "America/New_York"), ("timezone", "Pacific Time", "America/Los_Angeles"),
    ("duration", "45 minutes", 2700.0), ("duration", "PT45M", 2700.0), ("duration", "3/4 hour", "3/4 hour"),
])
def test_each_written_form_by_kind(kind, written, canonical):
    """Issue 12 item 4, each exact string of the issue."""
    assert normalise_value(written, kind) == canonical


def test_date_and_date_time_compare_on_the_schema_format():
    s = scorer(MEETING_SCHEMA)
    assert s.same("meeting.date", "2026-03-03", "2026-03-03T10:30:00")  # a date field reads the date part
    assert s.same("meeting.starts", "2026-03-03T10:30:00", "March 3rd, 2026 at 10:30 AM")
    assert not s.same("meeting.starts", "2026-03-03T10:30:00", "2026-03-03")  # a date-time needs the time
    assert s.same("meeting.time", "10:30", "10:30 AM") and s.same("meeting.time", "16:00", "4pm")
    assert s.same("meeting.timezone", "America/Los_Angeles", "US/Pacific")
    assert s.same("meeting.timezone", "Europe/Berlin", "CET")
    assert not s.same("meeting.timezone", "Europe/Paris", "CET")
    assert s.same("meeting.duration", "PT45M", "45 minutes") and s.same("meeting.duration", 45, "45 minutes")


def test_value_normalisers_directly():
    assert normalise_date("not a date 2026") is None and normalise_date("14/05/2026") == "2026-05-14"
    assert normalise_time("1330") is None and normalise_time("noon") == "12:00"
    assert normalise_timezone("Mars/Olympus") is None
    assert normalise_duration("1 hour and 30 minutes") == 5400.0 and normalise_duration("soon") is None


def test_kinds_come_from_the_shipped_schema():
    """lead-details writes formats as patterns: the kinds are read from them (and the name `timezone`)."""
    kinds = schema_fields(json.loads((LEAD / "schema.json").read_text()))
    assert kinds["meeting.date"] == "date" and kinds["decision_timeline"] == "date"
    assert kinds["meeting.time"] == "time" and kinds["meeting.timezone"] == "timezone"
    assert kinds["company.name"] is None and kinds["budget.amount"] is None


def test_parse_json_object():
    assert parse_json_object('Here:\n```json\n{"a": {"b": 1}}\n```') == {"a": {"b": 1}}
    assert parse_json_object('x {"a": 1} y') == {"a": 1}
    assert parse_json_object("{broken") is None


def test_null_vs_null_leaves_the_denominator_and_is_reported_apart():
    """Issue 12 item 1: null gold fields counted as matched, so `{}` scored 0.307 on lead-details."""
    gold = {"name": "Acme", "seats": None, "meeting": {"date": "2026-05-14", "time": None}, "tags": []}
    empty = scorer().score("{}", SimpleNamespace(gold=gold))
    assert empty.value == 0.0
    assert empty.detail["fields"] == {"name": {"gold": True, "pred": False, "correct": False},
                                      "meeting.date": {"gold": True, "pred": False, "correct": False}}
    assert sorted(empty.detail["both_null"]) == ["meeting.time", "seats", "tags"]
    right = scorer().score('{"name": "ACME", "meeting": {"date": "May 14, 2026"}}', SimpleNamespace(gold=gold))
    assert right.value == 1.0 and right.subscores["exact_record"] == 1.0
    assert sorted(right.detail["both_null"]) == ["meeting.time", "seats", "tags"]


def test_invented_fields_count_against_the_score_and_exact_record():
    """Issue 12 item 1: invented extra fields kept exact_record at 1.0."""
    gold = {"name": "Acme", "seats": None, "meeting": None}
    answer = json.dumps({"name": "Acme", "seats": 12, "meeting": {"date": "2026-05-14"}, "extra": "x"})
    result = scorer().score(answer, SimpleNamespace(gold=gold))
    fields = result.detail["fields"]
    assert fields["name"] == {"gold": True, "pred": True, "correct": True}
    for path in ("seats", "meeting.date", "extra"):
        assert fields[path] == {"gold": False, "pred": True, "correct": False}, path
    assert result.subscores["exact_record"] == 0.0 and result.value == pytest.approx(1 / 4)
    assert "meeting" not in result.detail["both_null"]  # the parent of an invented leaf is not "both null"


def test_an_unparseable_answer_gets_every_field_wrong():
    """Issue 12 item 2: unparseable outputs' null-gold fields were marked correct: true."""
    gold = {"name": "Acme", "timezone": None, "tags": []}
    result = scorer().score('{"name": "Acme", "timezone": nu', SimpleNamespace(gold=gold))
    assert result.value == 0.0 and result.subscores["parsed"] == 0.0 and result.detail["both_null"] == []
    assert result.detail["fields"] == {"name": {"gold": True, "pred": False, "correct": False},
                                       "timezone": {"gold": False, "pred": False, "correct": False},
                                       "tags": {"gold": False, "pred": False, "correct": False}}
    assert not any(f["correct"] for f in result.detail["fields"].values())


def test_score_with_schema():
    schema = {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"},
                                                                     "seats": {"type": ["integer", "null"]}}}
    s = scorer(schema)
    example = SimpleNamespace(gold={"name": "Acme", "seats": 10})
    full = s.score(json.dumps({"name": "acme", "seats": "10"}), example)
    assert full.value == 1.0 and full.subscores["exact_record"] == 1.0
    assert full.subscores["schema_valid"] == 0.0  # "10" is a string: right value, invalid against the schema
    half = s.score('{"name": "Acme"}', example)
    assert half.value == 0.5 and half.subscores["schema_valid"] == 1.0 and half.subscores["exact_record"] == 0.0
    none = s.score("I could not find it", example)
    assert none.value == 0.0 and none.subscores["parsed"] == 0.0
    assert none.detail["fields"]["name"] == {"gold": True, "pred": False, "correct": False}


def test_compare_fields_defaults():
    fields = compare_fields({"a": "x", "b": None}, {"a": "X", "c": 1})
    assert fields == {"a": {"gold": True, "pred": True, "correct": True},
                      "c": {"gold": False, "pred": True, "correct": False}}


def test_weights_and_fuzzy_fields():
    gold = {"company": "Acme", "notes": "Wants routing and evals by Q3", "tags": ["Head of Platform", "CTO"]}
    answer = json.dumps({"company": "Acme", "notes": "wants evals and routing by Q3!", "tags": ["cto", "head of platform"]})
    plain = scorer(MEETING_SCHEMA).score(answer, SimpleNamespace(gold=gold))
    assert plain.detail["fields"]["notes"]["correct"] is False
    lenient = scorer(MEETING_SCHEMA, fuzzy_fields=["notes"]).score(answer, SimpleNamespace(gold=gold))
    assert lenient.detail["fields"]["notes"]["correct"] is True and lenient.value == 1.0
    strict = scorer(MEETING_SCHEMA, fuzzy_fields=["notes"], fuzzy_threshold=1.0)
    assert strict.score('{"company": "Acme", "notes": "wants routing by Q3"}',
                        SimpleNamespace(gold=gold)).detail["fields"]["notes"]["correct"] is False
    assert scorer(fuzzy_fields=["tags"]).same("tags", ["Head of Platform", "CTO"], ["CTO", "head of the platform"])
    assert not scorer(fuzzy_fields=["tags"]).same("tags", ["Head of Platform", "CTO"], ["CTO"])
    weighted = scorer(MEETING_SCHEMA, weights={"company": 3.0})
    result = weighted.score('{"company": "Acme"}', SimpleNamespace(gold=gold))
    assert result.detail["fields"]["company"]["weight"] == 3.0 and "weight" not in result.detail["fields"]["notes"]
    assert result.value == pytest.approx(3 / 5)
    nested = scorer(MEETING_SCHEMA, weights={"meeting": 2.0, "meeting.date": 0.5})
    assert nested._weight("meeting.time") == {"weight": 2.0} and nested._weight("meeting.date") == {"weight": 0.5}
    assert token_overlap("Co-founder & CTO", "CTO and co-founder") >= 0.8


def test_settings_from_suite_yaml_are_accepted_and_checked(shipped_copy):
    """Issue 12 item 4: `fuzzy_fields: Extra inputs are not permitted`."""
    path = shipped_copy.suites_dir / "extraction" / "lead-details" / "suite.yaml"
    original = path.read_text()
    path.write_text(original.replace("  name: extraction\n", "  name: extraction\n  settings:\n"
                                     "    fuzzy_fields: [contact.title, company.industry]\n"
                                     "    weights: {company.name: 2}\n"))
    built = build_scorer(open_suite(path))
    assert built.settings.fuzzy_fields == ["contact.title", "company.industry"]
    path.write_text(original.replace("  name: extraction\n", "  name: extraction\n  settings:\n"
                                     "    fuzzy_fields: [contact.titel]\n"))
    with pytest.raises(ConfigError, match="'contact.titel' is not a field of the schema") as err:
        build_scorer(open_suite(path))
    assert err.value.field == "scorer.settings.fuzzy_fields" and err.value.path.endswith("suite.yaml")
    with pytest.raises(ConfigError, match="not IANA"):
        scorer(timezone_aliases={"HQ": "Mars/Olympus"})
    assert scorer(timezone_aliases={"HQ": "Europe/Lisbon"}).same("tz", "Europe/Lisbon", "HQ")


@pytest.mark.parametrize("split", ["dev", "test"])
def test_empty_object_scores_zero_on_lead_details(split):
    """Issue 12 item 1: `{}` scored 0.307 on lead-details (null gold fields counted as matched)."""
    suite = open_suite(LEAD / "suite.yaml", split=split)
    s = build_scorer(suite)
    base = s.baseline(suite.examples)
    assert base.name == "empty object" and set(base.outputs.values()) == {"{}"}
    scores = [s.score(base.outputs[e.id], e) for e in suite.examples]
    assert max(r.value for r in scores) == 0.0
    assert all(not f["correct"] for r in scores for f in r.detail["fields"].values())
    assert sum(r.subscores["exact_record"] for r in scores) == 0


def test_empty_object_on_a_meeting_extraction_suite():
    """Issue 12 item 1: on a new meeting-extraction suite `{}` scored 0.229, above both local models."""
    s = scorer(MEETING_SCHEMA)
    golds = [{"company": "Acme", "meeting": {"date": "2026-03-03", "time": "10:30", "timezone": None, "duration": None},
              "notes": None, "tags": []},
             {"company": "Globex", "meeting": None, "notes": "call back", "tags": ["urgent"]}]
    assert [s.score("{}", SimpleNamespace(gold=g)).value for g in golds] == [0.0, 0.0]
