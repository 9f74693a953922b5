"""Gold as the answer scores 1.0 on every shipped example, and every plainly wrong answer scores lower:
directly through each suite's scorer, and through the runner with a fake model that answers the gold."""

from __future__ import annotations

import copy
import json

import pytest

from evals.providers.fake import FakeProvider
from evals.requests import build_request, variant_for
from evals.runner.run import RunOptions, run
from evals.scorers import build_scorer
from evals.suites import open_suite
from tests.conftest import REPO

SCORED = {"inbox-triage": REPO / "suites" / "classification" / "inbox-triage" / "suite.yaml",
          "lead-details": REPO / "suites" / "extraction" / "lead-details" / "suite.yaml"}


def as_output(gold) -> str:
    return gold if isinstance(gold, str) else json.dumps(gold, ensure_ascii=False)


def wrong_records(gold: dict) -> list[tuple[str, dict]]:
    """Plainly wrong answers: one field changed, one removed, one invented, a null given a value."""
    out = []
    company = copy.deepcopy(gold)
    company["company"]["name"] = "Someone Else Ltd"
    out.append(("wrong company", company))
    dropped = copy.deepcopy(gold)
    dropped["company"]["name"] = None
    out.append(("company dropped", dropped))
    invented = copy.deepcopy(gold)
    invented["company"]["revenue"] = "10M"
    out.append(("invented field", invented))
    nulls = [k for k in ("seats", "decision_timeline", "budget_approved") if gold[k] is None]
    if nulls:
        filled = copy.deepcopy(gold)
        filled[nulls[0]] = True if nulls[0] == "budget_approved" else (9 if nulls[0] == "seats" else "2031-01-01")
        out.append((f"{nulls[0]} invented", filled))
    return out


@pytest.mark.parametrize("split", ["dev", "test"])
@pytest.mark.parametrize("name", sorted(SCORED))
def test_gold_scores_1_and_wrong_answers_lower(name, split):
    suite = open_suite(SCORED[name], split=split)
    scorer = build_scorer(suite)
    assert suite.examples
    for example in suite.examples:
        gold = scorer.score(as_output(example.gold), example)
        assert gold.value == 1.0, example.id
        if name == "inbox-triage":
            wrong = [label for label in scorer.labels if label != scorer.normalise(example.gold)]
            answers = [(f"label {w}", w) for w in wrong] + [("not a label", "I am not sure")]
        else:
            assert gold.subscores["exact_record"] == 1.0 and gold.subscores["schema_valid"] == 1.0, example.id
            answers = [(why, json.dumps(r)) for why, r in wrong_records(example.gold)]
            answers += [("empty object", "{}"), ("truncated", as_output(example.gold)[:-5])]
        for why, answer in answers:
            result = scorer.score(answer, example)
            assert result.value < 1.0, (example.id, why)
            if name == "lead-details":
                assert result.subscores["exact_record"] == 0.0, (example.id, why)


def test_gold_scores_1_through_the_runner(shipped_copy):
    """The fake model answers each example's gold, through rendering, the provider and the run store."""
    with open(shipped_copy.models_file, "a") as handle:
        handle.write("\n  - id: gold-fake\n    provider: fake\n    model: gold-fake\n    family: fake\n"
                     "    context_window: 32768\n    pricing: {tokens: {input_per_mtok: 1.0, output_per_mtok: 1.0}}\n")
    suites = {name: open_suite(path) for name, path in SCORED.items()}
    gold_by_request = {}  # the exact request the model gets for each example -> its gold
    for suite in suites.values():
        template = variant_for(shipped_copy.prompts_dir, suite.spec.prompt, "gold-fake", "fake")
        for example in suite.examples:
            rendered = build_request(template, suite.variables(example), suite.schema)
            gold_by_request[rendered.text] = as_output(example.gold)

    def answer(request) -> str:
        return gold_by_request[request.prompt.text]

    FakeProvider.reset(responder=answer)
    result = run(shipped_copy, RunOptions(suites=sorted(SCORED), models=["gold-fake"], use_cache=False))
    frame = result.results
    assert len(frame) == sum(len(s.examples) for s in suites.values())
    assert frame["error"].isna().all()
    assert (frame["score"] == 1.0).all(), frame.loc[frame["score"] != 1.0, ["suite", "example_id", "output"]]
