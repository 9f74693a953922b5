"""The gate's spend check routes suites by their ``rule:`` link as the recommender does, and each failed floor
is said once (issue 17 gaps left by the recommend and gate sessions)."""

from __future__ import annotations

import yaml

from evals.policy.approve import approve
from evals.policy.gate import gate
from tests.policy.signed import ADA, cheap_run, commit_all, failures


def _add_suite(project, name: str, *, rule: str | None, task: str, weekly_calls: int) -> None:
    folder = project.suites_dir / "classification" / name
    folder.mkdir(parents=True)
    spec = {"name": name, "task": "classification", "data": {"files": {"test": "test.jsonl"}},
            "fields": {"gold": "label"}, "prompt": "triage", "scorer": {"name": "classification"},
            "shape": {"task": task, "context_tokens": 500}, "weekly_calls": weekly_calls, "quality_floor": 0.7}
    if rule is not None:
        spec["rule"] = rule
    (folder / "suite.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    (folder / "test.jsonl").write_text('{"id": "ex-000", "text": "hi", "label": "lead"}\n')


def test_the_spend_check_charges_a_suite_to_the_rule_it_names_not_the_rule_its_shape_matches(signed, keys):
    approve(signed, cheap_run(signed), ADA, key=keys.ada)
    # shaped like triage (classification), but evidence for the writing rule, which has no priced evidence
    _add_suite(signed, "replies", rule="writing", task="classification", weekly_calls=5000)
    [spend] = [c for c in gate(signed).checks if c.name == "spend"]
    assert spend.message.startswith("projected weekly spend at least $1.00 (no priced evidence for "
                                    "replies (writing), voice (evidence for no rule: add `rule:` to its suite.yaml))"), spend.message


def test_a_suite_naming_no_rule_of_the_policy_is_unknown_spend_not_charged_by_shape(signed, keys):
    approve(signed, cheap_run(signed), ADA, key=keys.ada)
    _add_suite(signed, "replies", rule="gone", task="classification", weekly_calls=5000)
    [spend] = [c for c in gate(signed).checks if c.name == "spend"]
    assert "replies (rule 'gone' is not in the policy)" in spend.message, spend.message
    assert "at least $1.00 " in spend.message


def test_a_moved_rule_under_its_floor_fails_once(signed, keys):
    approve(signed, cheap_run(signed), ADA, key=keys.ada)
    text = signed.policy_file.read_text()
    assert "    floor: 0.7\n" in text
    signed.policy_file.write_text(text.replace("    floor: 0.7\n", "    floor: 0.99\n", 1))
    messages = failures(gate(signed, base="HEAD"))
    floor = [m for m in messages if "below its floor" in m]
    assert len(floor) == 1, messages
    assert floor[0].startswith("rule triage routes to cheap, whose quality 0.950 [")
