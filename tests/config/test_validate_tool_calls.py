"""`evals validate` on a tool_call suite: every expected call names a tool with valid arguments; a bad
one is one line naming the data file, its line and the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.config.test_validate_suite_data import _error, _set_line, _validate

CRM = Path("suites/tool_call/crm-actions")


def _row(root: Path, split: str = "test", number: int = 1) -> tuple[Path, dict]:
    path = root / CRM / f"{split}.jsonl"
    return path, json.loads(path.read_text().splitlines()[number - 1])


def test_shipped_tool_suite_validates(shipped_copy, capsys):
    code, out, err = _validate(shipped_copy.root, capsys)
    assert code == 0, err
    assert "crm-actions dev 23 (+7 shots not scored)" in out


@pytest.mark.parametrize("change, field, words", [
    (lambda e: e.update(tool="book_meeting"), "expected.tool", "unknown tool 'book_meeting'"),
    (lambda e: e["arguments"].pop("start"), "expected.arguments", "'start' is a required property"),
    (lambda e: e["arguments"].update(start="tomorrow 1pm"), "expected.arguments.start", "does not match"),
    (lambda e: e.update(accept={"attendees": [None]}), "expected.accept.attendees", "cannot be accepted as absent"),
    (lambda e: e.update(kind="maybe"), "expected.kind", "is not one of call, no_tool, clarify"),
])
def test_a_bad_expected_call_is_one_line(shipped_copy, capsys, change, field, words):
    path, row = _row(shipped_copy.root)  # crm-003: schedule_meeting
    assert row["expected"]["tool"] == "schedule_meeting"
    change(row["expected"])
    _set_line(path, 1, row)
    line = _error(shipped_copy.root, capsys)
    assert line.startswith(f"error: {path}:1: {field}: ") and words in line, line


def test_a_tool_call_suite_needs_its_tools(shipped_copy, capsys):
    suite = shipped_copy.root / CRM / "suite.yaml"
    suite.write_text(suite.read_text().replace("tools: tools.json", "# tools: tools.json"))
    line = _error(shipped_copy.root, capsys)
    assert str(suite) in line and "needs `tools: tools.json`" in line


def test_a_bad_tools_file_names_the_tool(shipped_copy, capsys):
    tools = shipped_copy.root / CRM / "tools.json"
    data = json.loads(tools.read_text())
    data[1]["parameters"]["type"] = "array"
    tools.write_text(json.dumps(data))
    line = _error(shipped_copy.root, capsys)
    assert f"{tools}" in line and "create_or_update_lead" in line and "1.parameters.type" in line
