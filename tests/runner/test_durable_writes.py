"""Cache writes leave the event loop (a writer thread, group commits), and the promise holds: every answer
is committed before its row counts as done (issue 16). ``tests/runner/test_resume.py`` and
``tests/hardening/test_crash_resume.py`` cover resuming after a kill."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from evals.providers.fake import FakeProvider
from evals.runner.run import RunOptions, SilentReporter, run
from tests.conftest import MODELS_YAML, REPO, default_sigint, write_project

SLOW = MODELS_YAML.replace("family: chatty\n", "family: chatty\n    concurrency: 8\n    options: {delay_s: 0.02}\n")


def committed_keys(cache_file: Path) -> set[str]:
    """The answers another process would see now."""
    db = sqlite3.connect(f"file:{cache_file}?mode=ro", uri=True, timeout=10)
    try:
        return {k for (k,) in db.execute("SELECT key FROM responses")}
    finally:
        db.close()


class CheckingReporter(SilentReporter):
    """At the moment a row counts as done, its answer must be visible to another connection."""

    def __init__(self, cache_file: Path):
        super().__init__()
        self.cache_file = cache_file
        self.checked = 0
        self.missing: list[str] = []

    def advance(self, row):
        if not row["cached"] and row["error"] is None:
            self.checked += 1
            if row["cache_key"] not in committed_keys(self.cache_file):
                self.missing.append(row["cache_key"])


def test_every_answer_is_committed_before_its_row_counts(project):
    Path(project.models_file).write_text(SLOW)
    reporter = CheckingReporter(project.cache_file)
    run(project, RunOptions(models=["fake-a"], repeats=5), reporter=reporter)
    assert reporter.checked == 30 and reporter.missing == []


DRIVER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from evals.project import Project
    from evals.runner.run import RunOptions, SilentReporter, run

    class Printing(SilentReporter):
        def advance(self, row):
            print(row["cache_key"], flush=True)

    run(Project(Path(sys.argv[1])), RunOptions(models=["fake-a"]), reporter=Printing())
""")


def _run_then_signal(tmp_path: Path, sig: int) -> tuple[list[str], set[str], subprocess.Popen]:
    """Start a 400-call run, send ``sig`` once 60 rows counted as done; (those keys, the cache's keys)."""
    project = write_project(tmp_path / "proj", n_examples=400, models_yaml=SLOW)
    cache_file = tmp_path / "cache.sqlite"
    env = {**os.environ, "EVALS_CACHE": str(cache_file), "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", DRIVER, str(project.root)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=REPO, preexec_fn=default_sigint)
    done: list[str] = []
    deadline = time.time() + 120
    while len(done) < 60 and time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        done.append(line.strip())
    os.kill(proc.pid, sig)
    proc.wait(timeout=60)
    done += [line.strip() for line in proc.stdout.read().splitlines() if line.strip()]  # rows done meanwhile
    proc.stdout.close()
    proc.stderr.close()
    assert len(done) >= 60, "the signal should land mid-run"
    return done, committed_keys(cache_file), proc


def test_kill_9_mid_run_loses_no_row_that_counted(tmp_path):
    done, kept, _ = _run_then_signal(tmp_path, signal.SIGKILL)
    assert set(done) <= kept
    assert len(kept) < 400, "the kill should land before the end"


def test_ctrl_c_mid_run_commits_every_answer_that_arrived(tmp_path):
    done, kept, proc = _run_then_signal(tmp_path, signal.SIGINT)
    assert proc.returncode != 0, "the run should have been interrupted"
    assert set(done) <= kept and len(kept) < 400
