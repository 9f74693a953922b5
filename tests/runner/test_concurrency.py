"""Concurrency as configured (issue 16): a model's ``concurrency`` in models.yaml applies unless the command
line lowers it; the CLI's own default must not cap it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from click.testing import CliRunner

from evals.providers.fake import FakeProvider
from evals.runner.run import RunOptions, run
from tests.conftest import MODELS_YAML


def models_with(concurrency: int) -> str:
    return MODELS_YAML.replace("family: chatty\n", f"family: chatty\n    concurrency: {concurrency}\n")


@pytest.fixture
def in_flight(monkeypatch):
    """The most calls a fake model had in flight at once."""
    seen = {"now": 0, "max": 0}
    original = FakeProvider.generate

    async def counting(self, request):
        seen["now"] += 1
        seen["max"] = max(seen["max"], seen["now"])
        try:
            await asyncio.sleep(0.02)
            return await original(self, request)
        finally:
            seen["now"] -= 1

    monkeypatch.setattr(FakeProvider, "generate", counting)
    return seen


def test_the_models_concurrency_applies_by_default(project, in_flight):
    Path(project.models_file).write_text(models_with(12))
    run(project, RunOptions(models=["fake-a"], repeats=4))  # 24 distinct calls
    assert in_flight["max"] == 12


def test_the_command_line_lowers_it(project, in_flight):
    Path(project.models_file).write_text(models_with(12))
    run(project, RunOptions(models=["fake-a"], repeats=4, concurrency=3))
    assert in_flight["max"] == 3


def test_the_command_line_does_not_raise_it(project, in_flight):
    Path(project.models_file).write_text(models_with(2))
    run(project, RunOptions(models=["fake-a"], repeats=4, concurrency=8))
    assert in_flight["max"] == 2


def test_evals_run_without_concurrency_uses_the_models(project, in_flight):
    from evals.cli.main import cli

    Path(project.models_file).write_text(models_with(12))
    result = CliRunner().invoke(cli, ["run", "--project", str(project.root), "--models", "fake-a",
                                      "--repeats", "4"])
    assert result.exit_code == 0, result.output
    assert in_flight["max"] == 12
