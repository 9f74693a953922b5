"""The scorer code that scored a rule's suites is bound to its evidence: recorded at approval, a change shown
in the gate's comment as a warning naming the file (README, gate section: why a warning, not a failure)."""

from __future__ import annotations

import importlib
import sys

import pytest

from evals.policy.approve import approve
from evals.policy.gate import gate
from evals.policy.scorercode import scorer_code
from tests.policy.signed import ADA, cheap_run, commit_all

SCORER = '''\
from evals.scorers.classification import ClassificationScorer


class TeamScorer(ClassificationScorer):
    """The team's own classification scorer (version {version})."""
'''


@pytest.fixture
def team_scorer(tmp_path, monkeypatch):
    """The suites' classification scorer is a subclass in a module of the test's own, so the test can edit it."""
    folder = tmp_path / "teamcode"
    folder.mkdir()
    source = folder / "team_scorer.py"
    source.write_text(SCORER.format(version=1))
    monkeypatch.syspath_prepend(str(folder))
    module = importlib.import_module("team_scorer")
    import evals.scorers

    real = evals.scorers.default_scorers
    monkeypatch.setattr(evals.scorers, "default_scorers",
                        lambda: {**real(), "classification": module.TeamScorer})
    yield source
    sys.modules.pop("team_scorer", None)


def test_the_scorer_code_holds_the_scorer_module_and_the_scorer_modules_it_reaches():
    assert list(scorer_code("classification")) == ["evals/scorers/base.py", "evals/scorers/classification.py"]
    assert list(scorer_code("extraction")) == ["evals/scorers/base.py", "evals/scorers/extraction.py",
                                               "evals/scorers/records.py", "evals/scorers/values.py"]
    assert "evals/scorers/judge.py" in scorer_code("voice")
    assert scorer_code("no-such-scorer") is None


def test_the_approval_records_the_scorer_code_of_each_rule(signed, keys):
    record = approve(signed, cheap_run(signed), ADA, key=keys.ada).record
    assert record["scorer_code"]["triage"] == scorer_code("classification")


def test_a_scorer_code_change_since_the_evidence_is_a_warning_naming_the_file(signed, keys, team_scorer):
    approve(signed, cheap_run(signed), ADA, key=keys.ada)
    commit_all(signed.root, "approved r1")
    assert gate(signed, base="HEAD").warnings == []
    team_scorer.write_text(SCORER.format(version=2))  # a scorer fix, the evidence not re-run
    result = gate(signed, base="HEAD")
    assert result.ok, result.markdown  # the bundle's scores are still the approved run's
    [warning] = [w for w in result.warnings if w.rule == "triage"]
    assert warning.name == "scorer"
    assert warning.message.startswith("rule 'triage': the scorer code changed since evidence run r1 was approved: ")
    assert f"{team_scorer.as_posix()} (changed)" in warning.message
    assert warning.message.endswith("; its scores are the earlier code's: re-run `evals run` (the cache answers, "
                                    "the new code scores) and `evals recommend`, then approve")
    assert "team\\_scorer.py (changed)" in result.markdown
