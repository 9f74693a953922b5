"""``evals validate`` checks a distilled model's recipe; the runtime client reads its artifact from the project.

(Issue 15's notes.) A recipe (``options.distill``) naming no suite, a non-classification suite, a split
the suite lacks or the split it is scored on is one error naming models.yaml, its line and the field. The
client, like ``evals run``, reads a relative sklearn ``model`` path from the project root, not the
working directory.
"""

from __future__ import annotations

import pytest

from evals.client import Client, load_router
from evals.config.models import load_models
from evals.errors import ConfigError
from evals.validate import validate_project
from tests.conftest import run_cli
from tests.distill.test_ensure import DISTILLED, _ensure, _small_train

RECIPE = "distill: {suite: inbox-triage, split: train}"


def _recipe(project, text: str) -> int:
    path = project.models_file
    source = path.read_text()
    assert RECIPE in source
    path.write_text(source.replace(RECIPE, text))
    return next(i for i, line in enumerate(source.splitlines(), start=1) if RECIPE in line)


@pytest.mark.parametrize("recipe, field, said", [
    ("distill: {suite: inbox-triag, split: train}", "suite", "names no suite; suites: "),
    ("distill: {suite: lead-details, split: train}", "suite", "has task 'extraction'"),
    ("distill: {suite: inbox-triage, split: trian}", "split", "has no split 'trian'; splits: dev, test, train"),
    ("distill: {suite: inbox-triage, split: test}", "split", "is the one 'inbox-triage' is scored on"),
])
def test_a_recipe_that_cannot_be_built_is_an_error_naming_the_file_line_and_field(shipped_copy, recipe, field, said):
    line = _recipe(shipped_copy, recipe)
    with pytest.raises(ConfigError) as raised:
        validate_project(shipped_copy)
    error = raised.value
    index = load_models(shipped_copy.models_file).ids.index(DISTILLED)
    assert str(error.path) == str(shipped_copy.models_file) and error.line == line
    assert error.field == f"models[{index}].options.distill.{field}" and said in error.message


def test_the_cli_says_it_in_one_line_and_exits_2(shipped_copy):
    _recipe(shipped_copy, "distill: {suite: inbox-triage, split: trian}")
    out = run_cli("validate", "--project", str(shipped_copy.root), cwd=shipped_copy.root)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    (message,) = [line for line in out.stderr.splitlines() if line.strip()]
    assert "models.yaml" in message and "options.distill.split" in message and "trian" in message


def test_the_shipped_recipe_passes(shipped_copy):
    validate_project(shipped_copy)


async def test_the_client_reads_a_relative_artifact_path_from_the_project_root(shipped_copy, tmp_path, monkeypatch):
    _small_train(shipped_copy)
    spec, _ = _ensure(shipped_copy)  # builds reports/distill/<model> inside the copy
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the working directory holds no reports/ folder
    router = load_router(shipped_copy.policy_file, shipped_copy.models_file, shipped_copy.prompts_dir)
    client = Client(router)
    try:
        result = await client.complete({"task": "classification", "volume": "high", "tags": ["inbox"],
                                        "context_tokens": 600},
                                       {"from": "a@b.com", "subject": "Pricing for 50 seats",
                                        "body": "We would like a quote for 50 seats.", "difficulty": "easy"},
                                       model=DISTILLED, fallbacks=[])
    finally:
        await client.aclose()
    assert result.ok and result.model == DISTILLED, (result.notes, result.response)
    assert 0.0 < result.attempts[0]["confidence"] <= 1.0
