"""The README's "Adding a suite" walk-through is true: its files validate, render and run as it says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from evals.cli.main import main
from tests.conftest import REPO, have_local_models

FILE_BLOCK = re.compile(r"^`([^`\n]+)`[^\n]*:\n\n```[a-z]*\n(.*?)```", re.M | re.S)
SHELL_BLOCK = re.compile(r"```text\n\$ (evals [^\n]+)\n(.*?)```", re.S)
SUITE = "suites/classification/ticket-priority"


def _section() -> str:
    text = (REPO / "README.md").read_text()
    return text.split("## Adding a suite\n", 1)[1].split("\n## ", 1)[0]


def _files() -> dict[str, str]:
    return {path: body for path, body in FILE_BLOCK.findall(_section())}


def _shown() -> list[tuple[str, str]]:
    return SHELL_BLOCK.findall(_section())


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        code = main(list(args))
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def with_suite(shipped_copy):
    files = _files()
    assert {f"{SUITE}/suite.yaml", f"{SUITE}/dev.jsonl", f"{SUITE}/test.jsonl", "prompts/ticket-priority/default.j2",
            "prompts/ticket-priority/gemma3-base.j2", "prompts/ticket-priority/labels.schema.json"} <= set(files)
    for rel, body in files.items():
        path = shipped_copy.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body)
    return shipped_copy


def test_every_suite_field_is_in_the_walk_through():
    from evals.config.suite import SuiteSpec

    text = _section()
    for name, info in SuiteSpec.model_fields.items():
        assert f"{info.alias or name}:" in text, name
    assert "exclude_from_scoring: true" in text


def test_the_suite_validates_as_shown(with_suite, capsys):
    root = str(with_suite.root)
    code, out, err = _cli(capsys, "validate", "--project", root)
    assert code == 0, err
    shown = [body for command, body in _shown() if command == "evals validate"]
    assert len(shown) == 2
    ok = out.strip().splitlines()[-1]
    expected_ok = shown[1].strip().splitlines()[-1]
    head, _, rest = expected_ok.partition("(")
    number = re.compile(r"\d+ examples")  # the shipped suites' data grows; the rest of the head must not change
    assert number.sub("N examples", ok).startswith(number.sub("N examples", head) + "("), ok
    for part in rest.rstrip(")").split("; "):
        if part != "...":
            assert part in ok, (part, ok)
    warning = shown[1].strip().splitlines()[0]
    assert warning in err.splitlines(), err


def test_the_error_shown_is_the_error_given(with_suite, capsys):
    data = with_suite.root / SUITE / "test.jsonl"
    lines = data.read_text().splitlines()
    lines[1] = lines[1].replace('"priority": "low"', '"priority": "lowest"')
    data.write_text("\n".join(lines) + "\n")
    code, _, err = _cli(capsys, "validate", "--project", str(with_suite.root))
    expected = [body for command, body in _shown() if command == "evals validate"][0].strip()
    assert code == 2
    assert err.strip().replace(f"{with_suite.root}/", "") == expected


def test_the_render_shown_is_the_request_built(with_suite, capsys):
    command, body = next((c, b) for c, b in _shown() if c.startswith("evals render"))
    code, out, err = _cli(capsys, *command.split()[1:], "--project", str(with_suite.root))
    assert code == 0, err
    got = [line for line in out.rstrip("\n").splitlines() if not line.startswith("request  sha256")]
    want = [line for line in body.rstrip("\n").splitlines() if not line.startswith("request  sha256")]
    assert got == want


def test_the_run_command_scores_dev_without_the_shots(with_suite, capsys):
    """`evals run --suites ticket-priority --split dev`, on a fake model added to the copy."""
    models = with_suite.models_file
    models.write_text(models.read_text() + "\n  - id: fake-doc\n    provider: fake\n    model: fake-doc\n"
                      "    family: doc\n    context_window: 4096\n    pricing: {tokens: {input_per_mtok: 1, output_per_mtok: 1}}\n")
    assert "evals run --suites ticket-priority --split dev" in _section()
    code, _, err = _cli(capsys, "run", "--suites", "ticket-priority", "--split", "dev", "--models", "fake-doc",
                        "--project", str(with_suite.root))
    assert code == 0, err
    from evals.runner.store import read_results

    frame = read_results(next((with_suite.root / "reports").glob("*/results.parquet")).parent)
    assert sorted(frame["example_id"]) == ["tp-d3", "tp-d4"]  # tp-d1 and tp-d2 are the shots


@pytest.mark.slow
@pytest.mark.skipif(not have_local_models(), reason="needs the local extra (llama-cpp-python and the models)")
def test_the_run_command_on_the_local_models(with_suite, capsys):
    code, out, err = _cli(capsys, "run", "--suites", "ticket-priority", "--split", "dev",
                          "--models", "smollm2-135m,gemma3-270m", "--project", str(with_suite.root))
    assert code == 0, err
