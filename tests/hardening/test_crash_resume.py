"""``kill -9`` at ten random moments, then resume: the results equal those of an uninterrupted run.

Each kill lands somewhere in the life of ``evals run`` (start-up, planning, mid-calls, writing the
results); the moments come from a seeded generator, so a failure is reproducible with the same seed.
After every kill the cache must open cleanly, and at the end no answered request may have been sent
twice and every row must match the reference run's output and score, key by key.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from evals.runner.cache import ResponseCache
from evals.runner.store import read_results
from tests.conftest import MODELS_YAML, write_project

SEED = 20261125
KILLS = 10
EXAMPLES = 60  # x 2 models = 120 calls of 40 ms each at concurrency 2: about 2.4 s of calls per full run

# No fixed answer: the fake provider echoes the last line of each prompt, so outputs differ per example.
SLOW_MODELS = MODELS_YAML.replace("family: chatty\n", "family: chatty\n    options: {delay_s: 0.04}\n") \
    .replace("family: terse\n", "family: terse\n    options: {delay_s: 0.04}\n")
COMPARED = ["output", "score", "error", "cache_key", "prompt_hash", "input_tokens", "output_tokens"]
ROW_KEY = ["suite", "model", "example_id", "repeat"]


def _cmd(root: Path) -> list[str]:
    return [sys.executable, "-m", "evals.cli.main", "run", "--concurrency", "2", "--project", str(root)]


def _latest_results(root: Path) -> pd.DataFrame:
    folders = sorted(p.parent for p in (root / "reports").glob("*/results.parquet"))
    assert folders, "no run finished"
    return read_results(folders[-1]).sort_values(ROW_KEY).reset_index(drop=True)


def _answered(cache_path: Path) -> int:
    """Answers in the cache, read without writing to it."""
    if not cache_path.exists():
        return 0
    db = sqlite3.connect(f"file:{cache_path}?mode=ro", uri=True, timeout=10)
    try:
        return int(db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])
    except sqlite3.OperationalError:  # the table is not created yet
        return 0
    finally:
        db.close()


def _wait_then_kill(proc: subprocess.Popen, rng: random.Random, cache_path: Path) -> bool:
    """Kill at a random moment: during start-up (a random delay) or mid-calls (after k more answers)."""
    if rng.random() < 0.3:
        time.sleep(rng.uniform(0.05, 1.5))
    else:
        target = _answered(cache_path) + rng.randint(1, 15)
        deadline = time.time() + 60
        while proc.poll() is None and _answered(cache_path) < target and time.time() < deadline:
            time.sleep(0.01)
    if proc.poll() is not None:
        return False
    os.kill(proc.pid, signal.SIGKILL)
    return True


def _integrity(cache_path: Path) -> None:
    if not cache_path.exists():
        return
    db = sqlite3.connect(cache_path)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        db.close()


def test_kill_9_ten_times_then_resume_equals_uninterrupted(tmp_path):
    reference_root = write_project(tmp_path / "reference", n_examples=EXAMPLES, models_yaml=SLOW_MODELS).root
    env = {**os.environ, "EVALS_CACHE": str(tmp_path / "reference-cache.sqlite")}
    done = subprocess.run(_cmd(reference_root), env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    reference = _latest_results(reference_root)
    assert len(reference) == 2 * EXAMPLES

    root = write_project(tmp_path / "crashed", n_examples=EXAMPLES, models_yaml=SLOW_MODELS).root
    cache_path = tmp_path / "cache.sqlite"
    env = {**os.environ, "EVALS_CACHE": str(cache_path)}
    rng = random.Random(SEED)
    killed_running = 0
    for _ in range(KILLS):
        proc = subprocess.Popen(_cmd(root), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        killed_running += _wait_then_kill(proc, rng, cache_path)
        proc.wait()
        _integrity(cache_path)
        for parquet in (root / "reports").glob("*/results.parquet"):  # any results file is whole
            assert len(read_results(parquet.parent)) == 2 * EXAMPLES
    assert killed_running >= KILLS - 1, "the kills should land while the run is still going"
    assert _answered(cache_path) < 2 * EXAMPLES, "the resumed run must still have calls to make"

    done = subprocess.run(_cmd(root), env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    resumed = _latest_results(root)
    pd.testing.assert_frame_equal(resumed[ROW_KEY + COMPARED], reference[ROW_KEY + COMPARED])
    with ResponseCache(cache_path) as cache:
        answered = cache.attempts_per_key()
        assert len(cache) == 2 * EXAMPLES
    assert set(answered) == set(reference["cache_key"])
    # A request killed in flight was never answered, so it may be sent again; an answered one never is.
    assert set(answered.values()) == {1}, "an answered request was sent again"
