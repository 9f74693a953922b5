"""kill -9 in the middle of a run, then the same command: every row present, nothing asked twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pandas as pd

from evals.runner.cache import ResponseCache
from tests.conftest import MODELS_YAML, write_project

SLOW_MODELS = MODELS_YAML.replace("family: chatty\n", "family: chatty\n    options: {delay_s: 0.05, answer: lead}\n") \
    .replace("family: terse\n", "family: terse\n    options: {delay_s: 0.05, answer: support}\n")


def _count(cache_path) -> int:
    if not cache_path.exists():
        return 0
    with ResponseCache(cache_path) as cache:
        return len(cache)


def test_kill_9_then_resume(tmp_path):
    project = write_project(tmp_path / "proj", n_examples=60, models_yaml=SLOW_MODELS)
    cache_path = tmp_path / "cache.sqlite"
    env = {**os.environ, "EVALS_CACHE": str(cache_path)}
    cmd = [sys.executable, "-m", "evals.cli.main", "run", "--concurrency", "2", "--project", str(project.root)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while _count(cache_path) < 20 and time.time() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    answered_before = _count(cache_path)
    assert 20 <= answered_before < 120, "the kill should land half-way"
    assert not list((project.reports_dir).glob("*/results.parquet"))  # nothing half-written

    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    runs = list(project.reports_dir.glob("*/results.parquet"))
    assert len(runs) == 1
    frame = pd.read_parquet(runs[0])
    assert len(frame) == 120 and frame["score"].notna().all()
    assert frame["cached"].sum() >= answered_before
    with ResponseCache(cache_path) as cache:
        counts = cache.attempts_per_key()
    assert len(counts) == 120
    assert set(counts.values()) == {1}, "an answered request was sent again"
