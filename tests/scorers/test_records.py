"""List-of-records matching in the extraction scorer (plan-commitments): records pair with gold by owner
and text similarity, then compare field by field; unpaired gold is missed, unpaired answers invented."""

from __future__ import annotations

import copy
import json
from types import SimpleNamespace

import pytest

from evals.errors import ConfigError
from evals.scorers import build_scorer
from evals.scorers.extraction import ExtractionScorer, ExtractionSettings
from evals.scorers.records import RecordsSettings, field_group, pair_records, same_person
from evals.scorers.extraction import token_overlap
from evals.suites import Example, open_suite
from tests.conftest import REPO

PLAN = REPO / "suites" / "extraction" / "plan-commitments" / "suite.yaml"
SCHEMA = json.loads((PLAN.parent / "schema.json").read_text())


def scorer(threshold: float = 0.45) -> ExtractionScorer:
    records = RecordsSettings(path="commitments", owner="owner", text="what", threshold=threshold)
    return ExtractionScorer(SimpleNamespace(schema=SCHEMA, path=PLAN), ExtractionSettings(records=records))


GOLD = {"commitments": [
    {"owner": "Ana Ruiz", "what": "Send the revised pricing sheet to Kelpie", "due": "2026-03-06", "status": "open"},
    {"owner": "Ben Okafor", "what": "Book the security review with legal", "due": None, "status": "done"},
    {"owner": "Ana Lopez", "what": "Draft the Q3 hiring plan", "due": "2026-09-30", "status": "withdrawn"},
]}


def score(answer: dict, **kwargs):
    return scorer(**kwargs).score(json.dumps(answer), Example("x", {}, GOLD, "test"))


@pytest.mark.parametrize("split", ["dev", "test", "full"])
def test_gold_scores_1_on_every_shipped_document(split):
    suite = open_suite(PLAN, split=split)
    shipped = build_scorer(suite)
    for e in suite.examples:
        result = shipped.score(json.dumps(e.gold), e)
        assert result.value == 1.0 and result.subscores["record_f1"] == 1.0, e.id
        assert result.detail["records"]["paired"] == len(e.gold["commitments"]), e.id
    assert all(shipped.score("{}", e).value == 0.0 for e in suite.examples)


def test_order_and_paraphrase_do_not_matter():
    answer = {"commitments": [
        {"owner": "Ben Okafor", "what": "book a security review with Legal", "due": None, "status": "done"},
        {"owner": "Lopez", "what": "draft the Q3 hiring plan", "due": "September 30, 2026", "status": "withdrawn"},
        {"owner": "Ana Ruiz", "what": "send Kelpie the revised pricing sheet", "due": "2026-03-06", "status": "open"},
    ]}
    result = score(answer)
    assert result.value == 1.0 and result.detail["records"]["pairs"] == [[0, 2, 0.923], [1, 0, 0.833], [2, 1, 1.0]]


def test_a_wrong_field_of_a_paired_record_is_wrong_there_only():
    answer = copy.deepcopy(GOLD)
    answer["commitments"][0]["due"] = "2026-03-13"
    answer["commitments"][2]["status"] = "open"
    result = score(answer)
    fields = result.detail["fields"]
    assert fields["commitments[0].due"] == {"gold": True, "pred": True, "correct": False}
    assert fields["commitments[2].status"]["correct"] is False
    assert fields["commitments[0].owner"]["correct"] and fields["commitments[0].what"]["correct"]
    assert "commitments[1].due" in result.detail["both_null"]
    assert result.subscores["record_f1"] == 1.0 and result.value == pytest.approx(9 / 11)


def test_unpaired_gold_is_missed_and_unpaired_answers_invented():
    answer = {"commitments": [dict(GOLD["commitments"][0]),
                              {"owner": "Ana Ruiz", "what": "Organise the team offsite", "due": None, "status": "open"}]}
    result = score(answer)
    fields = result.detail["fields"]
    assert fields["commitments[1].owner"] == {"gold": True, "pred": False, "correct": False}  # Ben's, missed
    assert fields["commitments[+1].what"] == {"gold": False, "pred": True, "correct": False}  # invented
    assert result.subscores["record_recall"] == pytest.approx(1 / 3)
    assert result.subscores["record_precision"] == pytest.approx(1 / 2)
    assert result.value < 0.5


def test_records_pair_only_with_the_same_person():
    answer = {"commitments": [dict(GOLD["commitments"][0], owner="Ben Okafor")]}  # Ana's task, under Ben
    result = score(answer)
    assert result.detail["records"]["paired"] == 0


def test_a_first_name_two_owners_share_does_not_pair():
    assert same_person("Ana Ruiz", "Ruiz", ["Ana Ruiz", "Ana Lopez"])
    assert not same_person("Ana Ruiz", "Ana", ["Ana Ruiz", "Ana Lopez"])
    assert same_person("Dana", "Dana Whitfield", ["Dana"])
    assert not same_person("Ana Ruiz", "Ana Lopez", ["Ana Ruiz", "Ana Lopez"])


def test_the_threshold_decides_what_pairs():
    gold = [{"owner": "A", "what": "send the pricing sheet"}]
    pred = [{"owner": "A", "what": "send the contract"}]
    settings = RecordsSettings(path="c", owner="owner", text="what", threshold=0.45)
    assert token_overlap("send the pricing sheet", "send the contract") == pytest.approx(4 / 7)
    assert pair_records(gold, pred, settings, token_overlap) == [(0, 0, pytest.approx(4 / 7))]
    strict = RecordsSettings(path="c", owner="owner", text="what", threshold=0.6)
    assert pair_records(gold, pred, strict, token_overlap) == []


def test_pairs_are_one_to_one_best_first():
    gold = [{"owner": "A", "what": "send the pricing sheet"}, {"owner": "A", "what": "send the signed contract"}]
    pred = [{"owner": "A", "what": "send the signed contract"}, {"owner": "A", "what": "send pricing sheet"}]
    settings = RecordsSettings(path="c", owner="owner", text="what", threshold=0.3)
    assert [(i, j) for i, j, _ in pair_records(gold, pred, settings, token_overlap)] == [(0, 1), (1, 0)]
    # one answer record that resembles two gold ones pairs with the closer one only; the other is missed
    twins = [{"owner": "A", "what": "send the pricing sheet"}, {"owner": "A", "what": "send the pricing sheet today"}]
    assert [(i, j) for i, j, _ in pair_records(twins, pred[1:], settings, token_overlap)] == [(0, 0)]


def test_unparseable_answer_misses_every_record():
    result = scorer().score("not json", Example("x", {}, GOLD, "test"))
    assert result.value == 0.0 and result.subscores["record_recall"] == 0.0
    assert all(not c["pred"] for c in result.detail["fields"].values())
    assert len(result.detail["fields"]) == 11  # every gold field that holds a value


def test_field_groups_drop_record_indexes():
    assert field_group("commitments[12].due") == "commitments[].due"
    assert field_group("commitments[+3].what") == "commitments[].what"


def test_settings_must_name_a_list_of_records():
    bad = RecordsSettings(path="title", text="what")
    with pytest.raises(ConfigError, match="not a list of records"):
        ExtractionScorer(SimpleNamespace(schema=SCHEMA, path=PLAN), ExtractionSettings(records=bad))
    wrong_field = RecordsSettings(path="commitments", owner="person", text="what")
    with pytest.raises(ConfigError, match="'person' is not a field"):
        ExtractionScorer(SimpleNamespace(schema=SCHEMA, path=PLAN), ExtractionSettings(records=wrong_field))
