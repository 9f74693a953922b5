"""Policy validation: each problem is one ConfigError naming file, line and field."""

from __future__ import annotations

import pytest

from evals.config.descriptor import Match
from evals.errors import ConfigError
from evals.policy.checks import covers
from evals.validate import validate_project
from tests.conftest import run_cli
from tests.policy.runs import POLICY

HEAD = "format_version: 1\nrules:\n"


def _error(pproject, text: str) -> ConfigError:
    pproject.policy_file.write_text(text)
    from evals.config.models import load_models
    from evals.policy.checks import load_checked_policy

    with pytest.raises(ConfigError) as info:
        load_checked_policy(pproject.policy_file, load_models(pproject.models_file))
    return info.value


def test_the_test_policy_is_valid(pproject):
    from evals.config.models import load_models
    from evals.policy.checks import load_checked_policy

    assert load_checked_policy(pproject.policy_file, load_models(pproject.models_file)).rules[0].id == "triage"


def test_shadowed_rule(pproject):
    err = _error(pproject, HEAD + (
        "  - id: all-classification\n"
        "    when: {task: classification}\n"
        "    model: mid\n"
        "  - id: inbox\n"
        "    when: {task: classification, tags: [inbox]}\n"
        "    model: cheap\n"
        "default: {model: mid}\n"))
    assert (err.line, err.field) == (7, "rules[1].when")
    assert "rule 'inbox' never matches" in err.message and "rules[0] ('all-classification', line 3)" in err.message


def test_fallback_cycle_and_duplicate(pproject):
    cycle = _error(pproject, HEAD + "  - id: a\n    model: mid\n    fallbacks: [cheap, mid]\ndefault: {model: mid}\n")
    assert (cycle.line, cycle.field) == (5, "rules[0].fallbacks[1]") and "cycle" in cycle.message
    dup = _error(pproject, HEAD + "  - id: a\n    model: mid\n    fallbacks: [cheap, cheap]\ndefault: {model: mid}\n")
    assert dup.field == "rules[0].fallbacks[1]" and "repeats fallbacks[0]" in dup.message
    default = _error(pproject, HEAD + "  []\ndefault:\n  model: mid\n  fallbacks:\n    - mid\n")
    assert (default.line, default.field) == (7, "default.fallbacks[0]")


def test_missing_default(pproject):
    err = _error(pproject, HEAD + "  - id: a\n    model: mid\n")
    assert (err.line, err.field) == (4, "default") and "missing default" in err.message


def test_context_window_smaller_than_the_rule_bucket(pproject):
    err = _error(pproject, HEAD + (
        "  - id: long\n"
        "    when: {context_tokens: {min: 500, max: 4000}}\n"
        "    model: mid\n"
        "    fallbacks: [small-window]\n"
        "default: {model: mid}\n"))
    assert (err.line, err.field) == (6, "rules[0].fallbacks[0]")
    assert "context window of 1000 tokens, smaller than this rule's context bucket (4000" in err.message


def test_unknown_model_names_the_line(pproject):
    err = _error(pproject, POLICY.replace("model: mid\n  fallbacks", "model: gpt-9\n  fallbacks"))
    assert err.field == "default.model" and err.line == 14 and "unknown model 'gpt-9'" in err.message


def test_covers_is_conservative():
    assert covers(Match(), Match(task="x"))
    assert covers(Match(volume=["high", "low"]), Match(volume="high"))
    assert not covers(Match(volume="high"), Match(volume=["high", "low"]))
    assert covers(Match(context_tokens={"max": 8000}), Match(context_tokens={"min": 10, "max": 100}))
    assert not covers(Match(context_tokens={"max": 8000}), Match(context_tokens={"min": 10}))
    assert not covers(Match(task="a", tags=["t"]), Match(task="a"))


def test_validate_command_reports_file_line_and_field(project):
    # the shared fixture project (fake models, a real suite and prompts) with a shadowing policy
    project.policy_file.write_text(
        "format_version: 1\nrules:\n  - id: any\n    model: fake-a\n  - id: later\n    when: {task: writing}\n"
        "    model: fake-b\ndefault: {model: fake-a}\n")
    with pytest.raises(ConfigError):
        validate_project(project)
    done = run_cli("validate", "--project", str(project.root), cwd=project.root)
    assert done.returncode == 2
    assert f"{project.policy_file}:6: rules[1].when: rule 'later' never matches" in done.stderr
