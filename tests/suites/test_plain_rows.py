"""JSONL suites of flat, single-typed columns skip ``datasets`` (issue 16: a second of import per run) and
give exactly the rows the ``datasets`` round trip gives; everything else still goes through it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from evals.suites import _plain_rows, _read_rows_lines
from tests.conftest import REPO


def through_datasets(parsed):
    """The round trip every JSONL file took before (and still takes when not plain)."""
    import datasets

    return [{k: v for k, v in row.items() if k in raw}
            for row, raw in zip(datasets.Dataset.from_list(parsed).to_list(), parsed)]


CASES = {
    "flat strings": [{"id": "a", "text": "hi", "label": "x"}, {"id": "b", "text": "héllo ✓", "label": "y"}],
    "ints, floats, bools, nulls": [{"id": 1, "f": 0.5, "b": True, "n": None}, {"id": 2, "f": None, "b": False, "n": None}],
    "a key missing on a later line": [{"id": "a", "x": "1"}, {"id": "b"}],
    "a key only on a later line": [{"id": "a"}, {"id": "b", "extra": "dropped by from_list"}],
    "keys in another order": [{"id": "a", "t": "1"}, {"t": "2", "id": "b"}],
    "ints mixed with floats": [{"id": "a", "v": 1}, {"id": "b", "v": 2.5}],
    "nested gold with other keys": [{"id": "a", "gold": {"x": 1}}, {"id": "b", "gold": {"y": "2"}}],
    "lists": [{"id": "a", "tags": ["p", "q"]}, {"id": "b", "tags": []}],
    "date-like strings": [{"id": "a", "gold": "2026-03-14"}],
    "empty strings and zero": [{"id": "", "v": 0, "t": ""}],
}


@pytest.mark.parametrize("rows", CASES.values(), ids=CASES.keys())
def test_the_rows_equal_the_datasets_round_trip(rows, tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    read, lines = _read_rows_lines(path)
    expected = through_datasets(json.loads(json.dumps(rows)))
    assert read == expected
    assert [list(r) for r in read] == [list(r) for r in expected]  # key order too (inputs follow it)
    assert [type(v) for r in read for v in r.values()] == [type(v) for r in expected for v in r.values()]
    assert lines == list(range(1, len(rows) + 1))


@pytest.mark.parametrize("rows", [CASES["ints mixed with floats"], CASES["nested gold with other keys"],
                                  CASES["lists"], [{"id": "a", "v": 2**70}], [{"id": "a", "v": 1}, {"id": "b", "v": True}]])
def test_what_datasets_might_change_is_left_to_datasets(rows):
    assert _plain_rows(rows) is None


def test_a_flat_suite_runs_without_importing_datasets():
    code = ("from pathlib import Path\nfrom evals.suites import open_suite\n"
            "open_suite(Path('suites/classification/inbox-triage/suite.yaml'))\n"
            "import sys\nprint('datasets' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_a_lone_surrogate_is_refused_as_before(tmp_path):
    from evals.errors import DataError

    path = tmp_path / "data.jsonl"
    path.write_text('{"id": "a", "text": "\\ud800"}\n')
    with pytest.raises(DataError, match="cannot load data"):
        _read_rows_lines(path)
