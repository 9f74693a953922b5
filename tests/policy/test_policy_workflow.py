"""The shipped workflow (issue 17, finding 8): triggers on evals/**, posts the gate's Markdown, the error line on
exit 2, and the run's diff.md and summary.md when present. Its gate step is run here with bash, as Actions runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from evals.policy.approve import approve
from tests.conftest import REPO, run_cli
from tests.policy.signed import ADA, cheap_run, commit_all, git

WORKFLOW = REPO / ".github" / "workflows" / "policy-gate.yml"


def _workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def test_the_workflow_triggers_on_the_harness_too():
    paths = _workflow()[True]["pull_request"]["paths"]  # PyYAML reads the key `on` as True
    assert {"policies/**", "prompts/**", "suites/**", "evals/**"} <= set(paths)


def _run_gate_step(root: Path, tmp_path: Path) -> tuple[subprocess.CompletedProcess, dict[str, str]]:
    steps = {s.get("name"): s for s in _workflow()["jobs"]["gate"]["steps"]}
    script = steps["Policy gate"]["run"]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    wrapper = bin_dir / "evals"
    wrapper.write_text(f"#!/bin/sh\nPYTHONPATH={REPO} exec {sys.executable} -m evals.cli.main \"$@\"\n")
    wrapper.chmod(0o755)
    outputs, summary = tmp_path / "out.txt", tmp_path / "summary.md"
    outputs.write_text("")
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "BASE_REF": "main",
           "GITHUB_OUTPUT": str(outputs), "GITHUB_STEP_SUMMARY": str(summary)}
    done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], cwd=root, env=env,
                          capture_output=True, text=True, timeout=300)
    values = dict(line.split("=", 1) for line in outputs.read_text().splitlines() if "=" in line)
    return done, values


@pytest.fixture
def repo(signed):
    git(signed.root, "update-ref", "refs/remotes/origin/main", "HEAD")
    return signed


def test_the_gate_step_posts_the_table_and_the_runs_diff(repo, keys, tmp_path):
    approve(repo, cheap_run(repo), ADA, key=keys.ada)
    done, outputs = _run_gate_step(repo.root, tmp_path)
    assert done.returncode == 0, done.stderr
    assert outputs["status"] == "0" and outputs["run"] == "reports/r1"
    comment = (repo.root / "comment.md").read_text()
    assert comment.startswith("## Policy gate: ✅ passed")
    assert "<details><summary>Approved diff</summary>" in comment and "\n---\n\n# Policy diff" in comment
    assert (repo.root / "reports" / "policy-gate.xml").is_file()


def test_the_gate_step_posts_the_error_line_on_exit_2(repo, tmp_path):
    repo.policy_file.write_text("rules: [\n")
    done, outputs = _run_gate_step(repo.root, tmp_path)
    assert done.returncode == 0 and outputs["status"] == "2"
    comment = (repo.root / "comment.md").read_text()
    assert comment.startswith("## Policy gate: ⚠️ could not run\n\n")
    assert "current.yaml:2: YAML syntax error" in comment


def test_gate_markdown_option_writes_the_error_line(signed, tmp_path):
    (signed.root / "policies" / "current.yaml").write_text("rules: [\n")
    out = tmp_path / "gate.md"
    done = run_cli("gate", "--markdown", str(out), "--project", str(signed.root), cwd=signed.root)
    assert done.returncode == 2
    assert out.read_text().startswith("## Policy gate: ⚠️ could not run")


def test_a_failed_gate_is_reported_with_status_1(repo, keys, tmp_path):
    approve(repo, cheap_run(repo), ADA, key=keys.ada)
    commit_all(repo.root, "approved")
    git(repo.root, "update-ref", "refs/remotes/origin/main", "HEAD")
    (repo.prompts_dir / "triage" / "default.j2").write_text("{% block user %}Answer with a long essay{% endblock %}\n")
    done, outputs = _run_gate_step(repo.root, tmp_path)
    assert done.returncode == 0 and outputs["status"] == "1"
    assert "prompts/triage/default.j2 (changed)" in (repo.root / "comment.md").read_text()
