"""Two ``evals run`` processes sharing one response cache at the same time: no corruption, nothing lost.

The two runs overlap on purpose: both ask for repeat 0 of every example (the same cache keys) and each
also asks for keys only it needs. SQLite in WAL mode with a busy timeout must serialise their writes;
afterwards the cache passes an integrity check, holds every key either run wrote, and each run's rows
agree with what the cache holds for their keys.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time

from evals.runner.cache import ResponseCache
from evals.runner.store import read_results
from tests.conftest import MODELS_YAML, write_project

EXAMPLES = 150
# A tiny delay keeps both processes writing at the same time without making the test slow.
MODELS = MODELS_YAML.replace("family: chatty\n", "family: chatty\n    options: {delay_s: 0.002}\n") \
    .replace("family: terse\n", "family: terse\n    options: {delay_s: 0.002}\n")


def test_two_runs_share_one_cache(tmp_path):
    cache_path = tmp_path / "shared.sqlite"
    env = {**os.environ, "EVALS_CACHE": str(cache_path)}
    first = write_project(tmp_path / "one", n_examples=EXAMPLES, models_yaml=MODELS).root
    second = write_project(tmp_path / "two", n_examples=EXAMPLES, models_yaml=MODELS).root
    commands = [
        [sys.executable, "-m", "evals.cli.main", "run", "--concurrency", "8", "--project", str(first)],
        [sys.executable, "-m", "evals.cli.main", "run", "--concurrency", "8", "--repeats", "2",
         "--project", str(second)],
    ]
    procs = [subprocess.Popen(c, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for c in commands]
    started = time.time()
    outputs = [p.communicate(timeout=180) for p in procs]
    for proc, (_, err) in zip(procs, outputs):
        assert proc.returncode == 0, err
    assert time.time() - started < 180

    db = sqlite3.connect(cache_path)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored = {key: json.loads(raw) for key, raw in db.execute("SELECT key, response FROM responses")}
        unfinished = db.execute("SELECT COUNT(*) FROM attempts WHERE finished_at IS NULL").fetchone()[0]
    finally:
        db.close()
    assert unfinished == 0, "every attempt either run began was recorded as finished"

    frames = [read_results(next((root / "reports").glob("*/results.parquet")).parent) for root in (first, second)]
    assert len(frames[0]) == 2 * EXAMPLES and len(frames[1]) == 2 * 2 * EXAMPLES
    keys = set(frames[0]["cache_key"]) | set(frames[1]["cache_key"])
    assert len(keys) == 2 * 2 * EXAMPLES  # repeat 0 is shared, repeat 1 is the second run's alone
    assert set(stored) == keys, "a key either run wrote is missing from the shared cache"
    for frame in frames:
        assert frame["error"].isna().all()
        for key, output in zip(frame["cache_key"], frame["output"]):
            assert stored[key]["text"] == output
    with ResponseCache(cache_path) as cache:
        assert len(cache) == len(keys)
        # Keys only one run needed were sent exactly once; shared ones at most once per run.
        counts = cache.attempts_per_key()
    only_second = set(frames[1]["cache_key"]) - set(frames[0]["cache_key"])
    assert all(counts[k] == 1 for k in only_second)
    assert all(1 <= counts[k] <= 2 for k in keys)
