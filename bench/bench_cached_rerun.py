"""Benchmark 2: a fully cached re-run of 10,000 rows (target: at least 5,000 rows/s).

Builds a project with one suite of 5,000 examples and two fake models (10,000 rows), runs it once to
fill a fresh response cache, then runs it again: every row is served from the cache. Measured side by
side in one process: the first (uncached) run, the cached re-run through the library (``run()``), and
the cached re-run through the real command line (``evals run``, a fresh interpreter, so start-up is
included). ``--profile`` prints the top of a cProfile of the cached library run.

    python bench/bench_cached_rerun.py [--rows 10000] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, phase_timer, timed, write_project  # noqa: E402

TARGET_ROWS_PER_S = 5000.0
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000, help="rows (examples x 2 models)")
    parser.add_argument("--profile", action="store_true", help="cProfile the cached library run")
    args = parser.parse_args()

    from evals.project import Project
    from evals.runner.run import RunOptions, run

    print(f"machine: {machine()}")
    times: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-cached-") as tmp:
        root = write_project(Path(tmp) / "proj", n_examples=args.rows // 2)
        os.environ["EVALS_CACHE"] = str(Path(tmp) / "cache.sqlite")
        project = Project(root)
        options = RunOptions(concurrency=64)
        with timed("first run (fake provider, fills the cache)", times):
            first = run(project, options)
        phases: dict[str, float] = {}
        with phase_timer(phases), timed("cached re-run, library run()", times):
            second = run(project, options)
        assert len(second.results) == args.rows and second.results["cached"].all(), "the re-run was not all cached"
        assert len(first.results) == args.rows
        cmd = [sys.executable, "-m", "evals.cli.main", "run", "--concurrency", "64", "--project", str(root)]
        start = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, env=os.environ)
        times["cached re-run, `evals run` CLI (with interpreter start-up)"] = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(f"evals run failed:\n{done.stderr[-2000:]}")
        if args.profile:
            profile = cProfile.Profile()
            profile.enable()
            run(project, options)
            profile.disable()
            text = io.StringIO()
            pstats.Stats(profile, stream=text).sort_stats("cumulative").print_stats(25)
            print(text.getvalue())

    print(f"rows: {args.rows}")
    for label, seconds in times.items():
        print(f"{label:62s} {seconds:7.2f} s  {args.rows / seconds:9.0f} rows/s")
    total = times["cached re-run, library run()"]
    print("phases of the cached library run:")
    for label, seconds in phases.items():
        print(f"  {label:40s} {seconds:7.2f} s  {100 * seconds / total:5.1f}%")
    print(f"  {'other (models.yaml, manifest, ...)':40s} {total - sum(phases.values()):7.2f} s")
    library = args.rows / times["cached re-run, library run()"]
    cli = args.rows / times["cached re-run, `evals run` CLI (with interpreter start-up)"]
    print(f"ratio cached/first run wall time: {times['cached re-run, library run()'] / times['first run (fake provider, fills the cache)']:.2f}x")
    print(f"ratio to target ({TARGET_ROWS_PER_S:.0f} rows/s): library {library / TARGET_ROWS_PER_S:.2f}x, "
          f"CLI {cli / TARGET_ROWS_PER_S:.2f}x -> {'met' if library >= TARGET_ROWS_PER_S else 'MISSED'}")


if __name__ == "__main__":
    main()
