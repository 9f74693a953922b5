"""Run history and comparing against what was approved (issue 18 items 2, 3 and 5).

Before: no view of past runs, so "did this prompt change help, and against what was approved?" meant
finding run ids by hand.
"""

from __future__ import annotations

import json
import re

import pytest

from evals.aggregates import read_aggregates
from evals.report.index import history, list_runs, previous_run
from evals.runner.run import RunOptions, run
from tests.conftest import run_cli


def _island(html: str) -> dict:
    text = re.search(r'<script type="application/json" id="index-data">(.*?)</script>', html, re.S).group(1)
    return json.loads(text)


def _approve_by_hand(project, run_id: str) -> None:
    """The policy in force names ``run_id`` as its source, as `evals approve` writes it."""
    (project.root / "policies" / "current.yaml").write_text(
        "format_version: 1\nsource: {run_id: " + run_id + ", results_sha256: x, created_at: '2026-01-01'}\n"
        "rules: []\ndefault: {model: fake-a}\n")


@pytest.fixture
def three_runs(project):
    ids = ["20260101-000000-aaaa", "20260102-000000-bbbb", "20260103-000000-cccc"]
    results = [run(project, RunOptions(run_id=i)) for i in ids]
    return project, results


def test_three_runs_make_an_index_with_three_runs_and_trends(three_runs):
    project, results = three_runs
    index = project.reports_dir / "index.html"
    assert index.is_file()  # rewritten after each run
    html = index.read_text(encoding="utf-8")
    runs = _island(html)["runs"]
    assert [r["run_id"] for r in runs] == [r.run_id for r in reversed(results)]  # newest first
    agg = read_aggregates(results[-1].folder)
    quality = agg[(agg.metric == "quality") & (agg.slice == "all")]
    newest = {q["model"]: q for q in runs[0]["quality"]}
    for row in quality.itertuples():
        q = newest[row.model]
        assert (q["value"], q["ci_low"], q["ci_high"], q["n"]) == (row.value, row.ci_low, row.ci_high, row.n)
        assert q["split"] == "test" and q["suite"] == "tiny-triage"
    assert all(r["suites"] == ["tiny-triage"] and r["models"] == ["fake-a", "fake-b"] for r in runs)
    assert all(r["report"] == f"{r['folder']}/report.html" for r in runs)
    # one trend chart per suite and model, three points each
    charts = re.findall(r'<svg class="chart trend"[^>]*data-points="(\d+)"', html)
    assert charts == ["3", "3"]
    # each run after the first is compared with the previous one, and the index links it
    assert runs[0]["comparisons"] == {results[1].run_id: f"{results[2].run_id}/compare-{results[1].run_id}.html"}
    assert (results[2].folder / f"compare-{results[1].run_id}.html").is_file()
    assert runs[2]["comparisons"] == {}


def test_index_marks_the_run_the_policy_in_force_was_approved_on(three_runs):
    project, results = three_runs
    _approve_by_hand(project, results[1].run_id)
    done = run_cli("runs", cwd=project.root)
    assert done.returncode == 0, done.stderr
    lines = [ln for ln in done.stdout.splitlines() if ln and not ln.startswith(" ")]
    assert [ln.split()[0] for ln in lines] == [r.run_id for r in reversed(results)]
    assert "✔ in force" in lines[1] and "in force" not in lines[0] + lines[2]
    assert "tiny-triage / fake-a (test):" in done.stdout
    runs = _island((project.reports_dir / "index.html").read_text(encoding="utf-8"))["runs"]
    assert [r["approved"] for r in runs] == [None, "in force", None]
    data = json.loads(run_cli("runs", "--json", cwd=project.root).stdout)
    assert data["in_force_run"] == results[1].run_id and len(data["runs"]) == 3


def test_incomplete_runs_are_not_listed(three_runs, tmp_path):
    project, results = three_runs
    crashed = project.reports_dir / "20260104-000000-dead"
    crashed.mkdir()
    (crashed / "results.parquet").write_bytes((results[0].folder / "results.parquet").read_bytes())  # no manifest
    gone = project.reports_dir / "20260105-000000-gone"
    gone.mkdir()
    (gone / "manifest.json").write_bytes((results[0].folder / "manifest.json").read_bytes())  # results deleted
    entries, skipped = list_runs(project.reports_dir)
    assert [e.folder for e in entries] == [r.run_id for r in results] and skipped == 2
    assert "2 run folder(s) not listed" in " ".join(history(project)["notes"])


def test_previous_run_is_the_same_suite_and_split(project):
    first = run(project, RunOptions(run_id="20260101-000000-aaaa", split="dev"))
    run(project, RunOptions(run_id="20260102-000000-bbbb"))  # test split: not comparable with dev
    third = run(project, RunOptions(run_id="20260103-000000-cccc", split="dev"))
    run(project, RunOptions(run_id="20260104-000000-dddd", split="dev", models=["fake-b"]))
    only_a = run(project, RunOptions(run_id="20260105-000000-eeee", split="dev", models=["fake-a"]))
    entries, _ = list_runs(project.reports_dir)
    assert previous_run(entries, third.run_id).folder == first.run_id
    assert previous_run(entries, first.run_id) is None
    assert previous_run(entries, only_a.run_id).folder == third.run_id  # the fake-b-only run shares no model


def test_report_baseline_approved_compares_with_the_evidence_run(three_runs):
    project, results = three_runs
    no = run_cli("report", "latest", "--baseline", "approved", cwd=project.root)
    assert no.returncode == 2 and "names no evidence run" in no.stderr and "Traceback" not in no.stderr
    _approve_by_hand(project, results[0].run_id)
    done = run_cli("report", "latest", "--baseline", "approved", cwd=project.root)
    assert done.returncode == 0, done.stderr
    page = results[2].folder / f"compare-{results[0].run_id}.html"
    assert str(page) in done.stdout
    assert f"Against baseline <code>{results[0].run_id}</code>" in page.read_text(encoding="utf-8")
    _approve_by_hand(project, "20250101-000000-gone")
    gone = run_cli("report", "latest", "--baseline", "approved", cwd=project.root)
    assert gone.returncode == 2 and "is not in" in gone.stderr


def test_gate_comment_links_the_comparison_with_the_approved_run(three_runs):
    from evals.report.index import approved_comparison_markdown

    project, results = three_runs
    assert approved_comparison_markdown(project) == ""  # nothing approved yet
    _approve_by_hand(project, results[0].run_id)
    text = approved_comparison_markdown(project)
    assert f"evals report {results[2].run_id} --baseline approved" in text
    run_cli("report", "latest", "--baseline", "approved", cwd=project.root)
    text = approved_comparison_markdown(project)
    assert f"reports/{results[2].run_id}/compare-{results[0].run_id}.html" in text
    from evals.policy.gate import gate

    comment = gate(project).markdown  # the gate fails here (nothing is signed); its comment still links the page
    assert comment.endswith(text) and "**Against the approved evidence run:**" in comment


def test_run_baseline_last_prints_the_paired_change_per_model(project):
    from evals.metrics import example_scores, paired_diff
    from evals.report.format import fmt_delta

    first = run_cli("run", "--split", "dev", "--baseline", "last", cwd=project.root)
    assert first.returncode == 2 and "no earlier complete run" in first.stderr
    prompt = project.prompts_dir / "tiny" / "default.j2"
    prompt.write_text(prompt.read_text().replace("Labels:", "Pick one label:"))  # the prompt change under test
    done = run_cli("run", "--suites", "tiny-triage", "--split", "dev", "--baseline", "last", cwd=project.root)
    assert done.returncode == 0, done.stderr
    entries, _ = list_runs(project.reports_dir)
    before, after = entries[-2], entries[-1]
    assert f"against {before.run_id} (paired, on the examples both runs answered):" in done.stdout
    from evals.runner.store import read_results

    a, b = read_results(project.reports_dir / before.folder), read_results(project.reports_dir / after.folder)
    for model in ("fake-a", "fake-b"):
        d = paired_diff(example_scores(a[a.model == model]), example_scores(b[b.model == model]))
        line = next(ln for ln in done.stdout.splitlines() if ln.strip().startswith(f"tiny-triage / {model}:"))
        assert f"{fmt_delta(d.diff)} [{fmt_delta(d.ci_low)}, {fmt_delta(d.ci_high)}] n={d.n}" in line
    assert "prompt variant tiny/default changed" in done.stdout
    assert (project.reports_dir / after.folder / f"compare-{before.folder}.html").is_file()


def test_quality_of_another_aggregates_format_is_not_shown(three_runs):
    import pyarrow.parquet as pq

    project, results = three_runs
    path = results[0].folder / "aggregates.parquet"
    table = pq.read_table(path)
    pq.write_table(table.replace_schema_metadata({b"evals_format_version": b"1"}), path)
    runs = {r["folder"]: r for r in history(project)["runs"]}
    old = runs[results[0].run_id]
    assert old["quality"] == [] and "aggregates format 1" in old["notes"][0]
    assert runs[results[1].run_id]["quality"]
