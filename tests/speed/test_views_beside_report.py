"""The comparison page of a run is written by a forked child while the run writes its own report (issue
16): the same pages as writing them one after the other, a failure in the child is the same warning, and
a child that dies without an answer costs nothing but time (the parent writes the page itself)."""

from __future__ import annotations

import os
import re
import signal

import pytest

import evals.report.html as html
from evals.report.forked import can_fork
from evals.report.index import list_runs, previous_of, previous_run
from evals.runner.run import RunOptions, run

pytestmark = pytest.mark.skipif(not can_fork(), reason="forks on Linux only")

IDS = ["20260101-000000-aaaa", "20260102-000000-bbbb"]


def _untimed(text: bytes) -> bytes:
    return re.sub(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(\+00:00)?", b"TIME", text)


def _pages(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.suffix in (".html", ".md")}


def test_the_comparison_is_written_by_a_child_process_with_the_same_pages(project, tmp_path, monkeypatch):
    writers = tmp_path / "writers"
    real = html.write_comparison

    def recording(*args, **kwargs):
        with writers.open("a") as out:
            out.write(f"{os.getpid()}\n")
        return real(*args, **kwargs)

    monkeypatch.setattr(html, "write_comparison", recording)
    first = run(project, RunOptions(run_id=IDS[0]))
    second = run(project, RunOptions(run_id=IDS[1]))
    (pid,) = writers.read_text().split()
    assert int(pid) != os.getpid()  # beside the report, not after it
    assert (second.folder / f"compare-{first.run_id}.html").is_file()
    forked = _pages(second.folder)
    index = (project.reports_dir / "index.html").read_bytes()

    monkeypatch.setenv("EVALS_NO_FORK", "1")  # the same run again, one page after the other
    (second.folder / "manifest.json").unlink()
    for page in second.folder.glob("*.html"):
        page.unlink()
    again = run(project, RunOptions(run_id=IDS[1]))
    assert writers.read_text().split()[1] == str(os.getpid())
    assert _pages(again.folder).keys() == forked.keys()
    for name, text in _pages(again.folder).items():  # identical but for the times the manifest records
        assert _untimed(text) == _untimed(forked[name]), name
    assert _untimed((project.reports_dir / "index.html").read_bytes()) == _untimed(index)


def test_a_failure_in_the_child_is_the_warning_it_always_was(project, monkeypatch):
    def boom(*args, **kwargs):
        raise ValueError("the baseline is unreadable")

    run(project, RunOptions(run_id=IDS[0]))
    monkeypatch.setattr(html, "write_comparison", boom)
    result = run(project, RunOptions(run_id=IDS[1]))
    assert ("run index or comparison not written (ValueError: the baseline is unreadable); retry with `evals runs`"
            in result.warnings)
    assert (result.folder / "manifest.json").is_file() and (result.folder / "report.html").is_file()


def test_a_child_that_dies_without_an_answer_leaves_the_page_to_the_parent(project, monkeypatch):
    parent = os.getpid()
    real = html.write_comparison

    def dies_in_the_child(*args, **kwargs):
        if os.getpid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(*args, **kwargs)

    first = run(project, RunOptions(run_id=IDS[0]))
    monkeypatch.setattr(html, "write_comparison", dies_in_the_child)
    second = run(project, RunOptions(run_id=IDS[1]))
    assert (second.folder / f"compare-{first.run_id}.html").is_file()
    assert not second.warnings or all("comparison" not in w for w in second.warnings)


def test_the_previous_run_is_the_same_before_and_after_the_manifest_is_written(project):
    run(project, RunOptions(run_id=IDS[0]))
    second = run(project, RunOptions(run_id=IDS[1]))
    entries, _ = list_runs(project.reports_dir)
    assert previous_of(second.folder, second.manifest).folder == previous_run(entries, second.folder.name).folder
    (second.folder / "manifest.json").unlink()  # as while it is written
    assert previous_of(second.folder, second.manifest).folder == IDS[0]
