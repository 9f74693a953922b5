"""``evals render``: the exact request a model gets for one example, built as the runner builds it."""

from __future__ import annotations

import json

import pytest

from evals.cli.main import main
from evals.providers.fake import FakeProvider
from evals.runner.run import RunOptions, run
from evals.runner.store import read_results
from tests.conftest import REPO, run_cli


def _render(capsys, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        code = main(["render", *args])
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_render_chat_request_as_text(project, capsys):
    code, out, err = _render(capsys, "--suite", "tiny-triage", "--model", "fake-a", "--example", "test-3",
                             "--project", str(project.root))
    assert code == 0, err
    assert "variant  prompts/tiny/default.j2  (chat; no fake-a.j2 or chatty.j2, so the default)" in out
    assert "params   max_tokens=5 temperature=0.0 json_output=false" in out
    assert "--- system\nLabels: lead, support" in out
    assert "--- user\nmessage 3\nlead" in out


def test_render_completion_request_shows_its_end(project, capsys):
    code, out, err = _render(capsys, "--suite", "tiny-triage", "--model", "fake-b", "--example", "test-0",
                             "--project", str(project.root))
    assert code == 0, err
    assert "variant  prompts/tiny/terse.j2  (completion)" in out
    assert "--- prompt\nmessage 0 ->\n--- end of prompt (ends with '>')" in out


def test_render_json_is_what_the_runner_sends_and_hashes(project, capsys):
    """The canonical request printed equals the request the runner sent for that example (same hash)."""
    result = run(project, RunOptions())
    rows = read_results(result.folder)
    for model in ("fake-a", "fake-b"):
        code, out, err = _render(capsys, "--suite", "tiny-triage", "--model", model, "--example", "test-4",
                                 "--json", "--project", str(project.root))
        assert code == 0, err
        shown = json.loads(out)
        row = rows[(rows.model == model) & (rows.example_id == "test-4")].iloc[0]
        assert shown["request_sha256"] == row["prompt_hash"]
        sent = next(c.prompt for c in FakeProvider.calls
                    if c.prompt.sha256 == row["prompt_hash"])
        assert shown["request"] == json.loads(json.dumps(sent.canonical()))


def test_render_labels_written_once_reach_the_template(project, capsys):
    path = project.suites_dir / "classification" / "tiny-triage" / "suite.yaml"
    text = path.read_text().replace("variables: {labels: [lead, support]}\n", "labels: [lead, support, spam]\n")
    path.write_text(text.replace("settings: {labels: [lead, support]}", "settings: {}"))
    code, out, err = _render(capsys, "--suite", "tiny-triage", "--model", "fake-a", "--example", "test-0",
                             "--project", str(project.root))
    assert code == 0, err
    assert "Labels: lead, support, spam" in out


def test_render_shipped_schema_and_split(capsys):
    code, out, err = _render(capsys, "--suite", "inbox-triage", "--model", "smollm2-135m", "--example", "triage-041",
                             "--project", str(REPO))
    assert code == 0, err
    assert "schema   prompts/triage/labels.schema.json" in out and '"outbound_reply"' in out
    code, out, err = _render(capsys, "--suite", "lead-details", "--model", "gemma3-270m", "--example", "lead-010",
                             "--split", "dev", "--json", "--project", str(REPO))
    assert code == 0, err
    shown = json.loads(out)
    assert shown["variant"].endswith("prompts/lead-extraction/gemma3-base.j2") and shown["request"]["messages"] is None
    assert shown["request"]["prompt"].rstrip().endswith("JSON:") and shown["request"]["stop"] == ["\n"]


@pytest.mark.parametrize("args, says", [
    (("--suite", "nope", "--model", "fake-a", "--example", "test-0"), "unknown suite 'nope' (--suite); known: tiny-triage"),
    (("--suite", "tiny-triage", "--model", "gpt-9", "--example", "test-0"), "unknown model 'gpt-9' (--model)"),
    (("--suite", "tiny-triage", "--model", "fake-a", "--example", "x-1"), "no example 'x-1' in split 'test'"),
    (("--suite", "tiny-triage", "--model", "fake-a", "--example", "dev-1"), "is in split 'dev'"),
    (("--suite", "tiny-triage", "--model", "fake-a", "--example", "test-0", "--split", "train"),
     "no split 'train' (--split)"),
    (("--suite", "tiny-triage", "--model", "fake-a"), "Missing option '--example'"),
])
def test_render_bad_names_are_one_line_exit_2(project, capsys, args, says):
    code, out, err = _render(capsys, *args, "--project", str(project.root))
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0], err
    assert not out


def test_render_an_unscored_shot_says_so(project, capsys):
    path = project.suites_dir / "classification" / "tiny-triage" / "suite.yaml"
    path.write_text(path.read_text() + "few_shot: {split: dev, n: 1, exclude_from_scoring: true}\n")
    code, _, err = _render(capsys, "--suite", "tiny-triage", "--model", "fake-a", "--example", "dev-0",
                           "--split", "dev", "--project", str(project.root))
    assert code == 2 and "few-shot example" in err


def test_render_help_shows_an_example(tmp_path):
    result = run_cli("render", "--help", cwd=tmp_path)
    assert result.returncode == 0
    assert "Example:" in result.stdout and "evals render --suite inbox-triage" in result.stdout


def test_render_is_listed(tmp_path):
    assert "render" in run_cli("--help", cwd=tmp_path).stdout

