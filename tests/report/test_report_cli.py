"""``evals report`` and the report every ``evals run`` writes."""

from __future__ import annotations

from pathlib import Path

from evals.runner.run import RunOptions, run
from tests.conftest import run_cli
from tests.report import report_data as data


def test_run_writes_report_and_summary(project):
    result = run(project, RunOptions())
    html = (result.folder / "report.html").read_text(encoding="utf-8")
    summary = (result.folder / "summary.md").read_text(encoding="utf-8")
    assert result.run_id in html and "tiny-triage" in html
    assert f"# Evals run {result.run_id}" in summary and "| fake-a" in summary


def test_report_failure_keeps_the_results(project, monkeypatch):
    import evals.report.html as html

    def broken(*args, **kwargs):
        raise RuntimeError("template exploded")

    monkeypatch.setattr(html, "write_report", broken)
    result = run(project, RunOptions())
    assert (result.folder / "results.parquet").is_file() and (result.folder / "manifest.json").is_file()
    assert not (result.folder / "report.html").exists()
    assert any("report not written" in w and "template exploded" in w and "evals report" in w
               for w in result.warnings)


def test_cli_report_latest_with_baseline(project):
    first = run(project, RunOptions(run_id="20260101-000000-aaaa"))
    second = run(project, RunOptions(run_id="20260102-000000-bbbb"))
    (second.folder / "report.html").unlink()
    done = run_cli("report", "latest", "--baseline", first.run_id, cwd=project.root)
    assert done.returncode == 0, done.stderr
    page = second.folder / f"compare-{first.run_id}.html"  # the comparison is its own page, beside the report
    assert str(page) in done.stdout
    html = page.read_text(encoding="utf-8")
    assert "Against baseline" in html and first.run_id in html
    assert f"Against baseline {first.run_id}" in (second.folder / f"compare-{first.run_id}.md").read_text(encoding="utf-8")
    assert not (second.folder / "report.html").exists()  # the run's own report is not rewritten by a comparison


def test_cli_report_user_errors_exit_2(project):
    done = run_cli("report", "no-such-run", cwd=project.root)
    assert done.returncode == 2 and "not found" in done.stderr and "Traceback" not in done.stderr
    result = run(project, RunOptions())
    same = run_cli("report", result.run_id, "--baseline", result.run_id, cwd=project.root)
    assert same.returncode == 2 and "--baseline" in same.stderr


def test_cli_report_help_has_an_example(project):
    done = run_cli("report", "--help", cwd=project.root)
    assert done.returncode == 0 and "Example:" in done.stdout and "evals report latest" in done.stdout


def test_report_of_a_stored_run_folder(tmp_path, project):
    folder = data.write_run(project.reports_dir / "20270101-000000-hand", data.results(3))
    done = run_cli("report", folder.name, cwd=project.root)
    assert done.returncode == 0, done.stderr
    assert (folder / "report.html").stat().st_size > 10_000


def _log_line(call_id: str, model: str, family: str, cost: float | None, tokens: int, outcome: str = "ok") -> str:
    import json

    return json.dumps({"format_version": 1, "time": "2026-01-05T10:00:00+00:00", "call_id": call_id, "rule": "triage",
                       "model": model, "family": family, "provider": "fake", "attempt": 1, "outcome": outcome,
                       "final": True, "input_tokens": tokens, "output_tokens": 0, "cost_usd": cost,
                       "latency_ms": 10.0, "descriptor": {"task": "classification"}}) + "\n"


def test_spend_section_from_routing_logs(project, tmp_path):
    result = run(project, RunOptions())
    log = tmp_path / "routing.jsonl"
    log.write_text(_log_line("a", "fake-a", "<b>chatty</b>", 0.03, 300) + _log_line("b", "fake-b", "terse", 0.01, 100))
    done = run_cli("report", result.run_id, "--logs", str(log), cwd=project.root)
    assert done.returncode == 0, done.stderr
    html = (result.folder / "report.html").read_text(encoding="utf-8")
    section = html[html.index('<section id="spend">'):]
    section = section[:section.index("</section>")]
    assert "<svg" in section and "75.0%" in section and "25.0%" in section  # spend shares 0.03 : 0.01
    assert "&lt;b&gt;chatty&lt;/b&gt;" in section and "<b>chatty" not in section
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n")
    done = run_cli("report", result.run_id, "--logs", str(bad), cwd=project.root)
    assert done.returncode == 2 and "bad.jsonl" in done.stderr


def test_report_shows_the_policy_compilers_output(tmp_path):
    runs = __import__("pytest").importorskip("tests.policy.runs")
    from evals.policy.recommend import recommend
    from evals.project import Project
    from evals.report import report_run

    root = tmp_path / "proj"
    (root / "policies").mkdir(parents=True)
    (root / "policies" / "models.yaml").write_text(runs.MODELS)
    (root / "policies" / "current.yaml").write_text(runs.POLICY)
    (root / "policies" / "gate.yaml").write_text(runs.GATE)
    for (task, name), text in runs.SUITES.items():
        (root / "suites" / task / name).mkdir(parents=True)
        (root / "suites" / task / name / "suite.yaml").write_text(text)
    (root / "reports").mkdir()
    project = Project(root)
    rows = runs.model_rows("triage", "premium", runs.ones(40, 38), cost=0.01, latency=900)
    rows += runs.model_rows("triage", "cheap", runs.ones(40, 38), cost=0.0001, latency=100)
    runs.write_run(project, "r1", rows)
    recommend(project, "r1")
    paths = report_run(project, "r1")
    html = paths["html"].read_text(encoding="utf-8")
    assert html.index('id="recommendation"') < html.index('id="suite-1"')
    assert "Policy diff" in html and 'id="rule-table"' in html and "Projected weekly spend" in html
    summary = paths["markdown"].read_text(encoding="utf-8")
    assert "### Policy diff" in summary and "| triage |" in summary
