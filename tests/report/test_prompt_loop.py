"""The prompt in the loop (issue 18 items 4 and 7): each drill-down row names the `evals render` command
that reproduces its request, and a comparison says what changed besides the answers, output by output.

Before: a test-vs-dev comparison said "0 rows matched" without naming the split; the drill-down had no
baseline outputs, and an empty output looked like no output.
"""

from __future__ import annotations

import json
import re
import shlex

from evals.report import write_comparison
from evals.report.compare import compare_runs
from evals.report.drill import drilldown
from evals.runner.run import RunOptions, run
from evals.runner.store import read_results
from tests.conftest import run_cli
from tests.report import report_data as data


def _rows(html: str) -> list[dict]:
    text = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', html, re.S).group(1)
    return json.loads(text)["rows"]


def test_each_row_names_the_render_command_of_its_request(project):
    result = run(project, RunOptions(split="dev"))
    rows = _rows((result.folder / "report.html").read_text(encoding="utf-8"))
    assert rows and all(r["cmd"].startswith("evals render --suite tiny-triage --model ") for r in rows)
    frame = result.results.set_index(["model", "example_id"])
    for r in rows:
        args = shlex.split(r["cmd"])
        assert args[args.index("--split") + 1] == "dev"
        done = run_cli(*args[1:], "--json", cwd=project.root)
        assert done.returncode == 0, done.stderr
        request = json.loads(done.stdout)
        # the command reproduces the request the run sent: the same hash as the row's prompt_hash
        assert request["request_sha256"] == frame.loc[(r["m"], r["e"]), "prompt_hash"], r["cmd"]


def test_render_command_quotes_hostile_names():
    frame = data.results(2, suites=("triage",))
    frame["example_id"] = "x; rm -rf / #" + frame["example_id"]
    rows = drilldown(frame)["rows"]
    args = shlex.split(rows[0]["cmd"])
    assert args[args.index("--example") + 1] == rows[0]["e"] and args[-2:] == ["--split", "test"]


def test_test_vs_dev_names_the_split_instead_of_0_rows_matched(project):
    dev = run(project, RunOptions(run_id="20260101-000000-aaaa", split="dev"))
    test = run(project, RunOptions(run_id="20260102-000000-bbbb"))
    c = compare_runs(test.results, dev.results, baseline_id=dev.run_id, manifest=test.manifest,
                     baseline_manifest=dev.manifest)
    assert c["matched_rows"] == 0
    assert any("tiny-triage: this run scored split test, the baseline split dev" in line for line in c["changes"])
    html = write_comparison(test.folder, dev.folder)["html"].read_text(encoding="utf-8")
    assert "this run scored split test, the baseline split dev" in html
    assert "No row in common: this run scored" in html and "tiny-triage on test" in html


def test_prompt_and_suite_changes_are_named(project):
    first = run(project, RunOptions(run_id="20260101-000000-aaaa"))
    prompt = project.prompts_dir / "tiny" / "default.j2"
    prompt.write_text(prompt.read_text().replace("Labels:", "Choose:"))
    suite = project.suites_dir / "classification" / "tiny-triage" / "suite.yaml"
    suite.write_text(suite.read_text().replace("quality_floor: 0.5", "quality_floor: 0.6"))
    second = run(project, RunOptions(run_id="20260102-000000-bbbb"))
    c = compare_runs(second.results, first.results, baseline_id=first.run_id, manifest=second.manifest,
                     baseline_manifest=first.manifest)
    text = " ".join(c["changes"])
    assert "prompt variant tiny/default changed" in text and "tiny-triage: the suite's files changed" in text
    by_model = {r["model"]: r for r in c["rows"]}
    assert by_model["fake-a"]["requests_changed"] == by_model["fake-a"]["n"] > 0  # its variant changed
    assert by_model["fake-b"]["requests_changed"] == 0  # terse.j2 did not
    rows = _rows(write_comparison(second.folder, first.folder)["html"].read_text(encoding="utf-8"))
    a = [r for r in rows if r["m"] == "fake-a"]
    assert a and all(r["pc"] is True and "bo" in r and "b" in r for r in a)
    assert all(r["pc"] is False for r in rows if r["m"] == "fake-b")


def test_baseline_outputs_travel_with_each_row_and_empty_stays_empty():
    base = data.results(3, suites=("voice",))
    cur = data.results(3, suites=("voice",))
    cur.loc[0, "output"] = ""  # an empty answer, not a missing one
    base.loc[1, "output"] = "the old answer"
    c = compare_runs(cur, base, baseline_id="b")
    rows = drilldown(cur, baseline_rows=c["baseline_rows"])["rows"]
    key = {(r["m"], r["e"]): r for r in rows}
    first = key[(cur.loc[0, "model"], cur.loc[0, "example_id"])]
    assert first["o"] == "" and first["bo"] == base.loc[0, "output"]
    second = key[(cur.loc[1, "model"], cur.loc[1, "example_id"])]
    assert second["bo"] == "the old answer" and second["o"] == cur.loc[1, "output"]
