"""Snapshot tests of summary.md: a fixed input renders exactly the stored file.

After an intended change, regenerate with ``EVALS_UPDATE_SNAPSHOTS=1 pytest tests/report`` and review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.report import report_data as data
from evals.report import write_report
from evals.report.markdown import md_cell

SNAPSHOTS = Path(__file__).parent / "snapshots"


def check_snapshot(name: str, text: str) -> None:
    path = SNAPSHOTS / name
    if os.environ.get("EVALS_UPDATE_SNAPSHOTS"):
        path.write_text(text, encoding="utf-8")
    assert path.is_file(), f"missing snapshot {path}; create it with EVALS_UPDATE_SNAPSHOTS=1"
    assert text == path.read_text(encoding="utf-8")


def test_summary_of_a_run(tmp_path):
    folder = data.write_run(tmp_path / "20260101-000000-test", data.results(6))
    paths = write_report(folder)
    check_snapshot("summary_run.md", paths["markdown"].read_text(encoding="utf-8"))


def test_summary_with_proposal_and_baseline(tmp_path):
    base = data.write_run(tmp_path / "20251231-000000-base", data.results(6, seed=1, skill_shift=-0.3))
    frame = data.results(6)
    frame = frame[~((frame.suite == "voice") & (frame.model == "model-small"))]  # a pairing only the baseline has
    folder = data.write_run(tmp_path / "20260101-000000-test", frame)
    (folder / "proposal.yaml").write_text(data.PROPOSAL_YAML)
    (folder / "diff.md").write_text(data.DIFF_MD)
    paths = write_report(folder, baseline_folder=base)
    text = paths["markdown"].read_text(encoding="utf-8")
    assert text.index("## Recommendation") < text.index("## Suites") < text.index("## Against baseline")
    check_snapshot("summary_proposal_baseline.md", text)


def test_summary_states_sampling(tmp_path):
    folder = data.write_run(tmp_path / "run", data.results(40, prompt_chars=3000))
    text = write_report(folder, byte_budget=50_000)["markdown"].read_text(encoding="utf-8")
    assert "The HTML report embeds" in text and "of 120 examples" in text


@pytest.mark.parametrize("raw, cell", [
    ("a|b", "a\\|b"), ("line\nbreak", "line break"), ("<img src=x onerror=alert(1)>", "&lt;img src=x onerror=alert(1)&gt;"),
    (None, ""),
])
def test_markdown_cells_are_escaped(raw, cell):
    assert md_cell(raw) == cell
