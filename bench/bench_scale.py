"""Benchmark 3: scoring, aggregation and report for 100,000 rows (target: under 60 s and under 2 GiB).

Builds a project with one classification suite of 50,000 examples and two fake models (100,000 rows),
fills a fresh response cache with one varied answer per call directly (right, wrong, badly formatted,
off-label and failed answers, so every scorer and aggregate path runs), then times a run that is served
wholly from that cache in a child process: scoring every row, aggregating with bootstrap intervals,
writing results, aggregates and the HTML and Markdown report. The child's peak resident memory comes
from ``wait4``. Filling the cache is not timed: it stands for answers paid for earlier.

    python bench/bench_scale.py [--rows 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, phase_timer, write_project  # noqa: E402

TARGET_S = 60.0
TARGET_BYTES = 2 * 1024**3
ANSWERS = ["lead", "support", "Lead.", "support\n", "I think it is a lead", "unsure", ""]


def fill_cache(root: Path) -> int:
    """Store one answer per planned call, the way answers paid for earlier would sit in the cache."""
    from evals.project import Project
    from evals.config.models import load_models
    from evals.providers.base import ErrorKind, GenerateResponse
    from evals.runner.cache import ResponseCache
    from evals.runner.run import SilentReporter, _providers, load_suites, plan

    project = Project(root)
    models = load_models(project.models_file)
    providers = _providers(models.models, None, SilentReporter())
    jobs = plan(project, load_suites(project, None, None, None), providers, 1, None)
    with ResponseCache(project.cache_file) as cache:
        db = cache._db
        db.execute("BEGIN")
        for i, job in enumerate(jobs):
            if i % 97 == 0:
                response = GenerateResponse(error=ErrorKind.SERVER_ERROR if i % 2 else ErrorKind.REFUSED,
                                            error_message="scripted failure")
            else:
                text = ANSWERS[(i * 7919) % len(ANSWERS)]
                response = GenerateResponse(text=text, input_tokens=40 + i % 300, output_tokens=1 + i % 5,
                                            latency_ms=50.0 + (i * 37) % 900, finish_reason="stop")
            if response.is_answer:
                db.execute("INSERT OR REPLACE INTO responses (key, model_id, created_at, response) VALUES (?, ?, ?, ?)",
                           (job.key, job.model.id, time.time(), json.dumps(response.to_dict())))
            else:  # failures live in the attempts journal; the measured run reuses them (--reuse-errors)
                db.execute("INSERT INTO attempts (key, model_id, started_at, finished_at, outcome, response) "
                           "VALUES (?, ?, ?, ?, ?, ?)", (job.key, job.model.id, time.time(), time.time(),
                                                         response.error.value, json.dumps(response.to_dict())))
        db.execute("COMMIT")
    return len(jobs)


def child(root: Path) -> None:
    """The measured run; prints one JSON line with the wall time and the phases."""
    from evals.project import Project
    from evals.runner.run import RunOptions, run

    phases: dict[str, float] = {}
    start = time.perf_counter()
    with phase_timer(phases):
        result = run(Project(root), RunOptions(concurrency=64, reuse_errors=True))
    wall = time.perf_counter() - start
    assert result.results["cached"].all()
    files = sorted(p.name for p in result.folder.iterdir())
    print(json.dumps({"wall_s": wall, "rows": len(result.results), "phases": phases, "files": files}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000, help="rows (examples x 2 models)")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return

    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        root = write_project(Path(tmp) / "proj", n_examples=args.rows // 2)
        os.environ["EVALS_CACHE"] = str(Path(tmp) / "cache.sqlite")
        start = time.perf_counter()
        filled = fill_cache(root)
        print(f"filled the cache with {filled} answers in {time.perf_counter() - start:.1f} s (not timed below)")
        proc = subprocess.Popen([sys.executable, __file__, "--child", str(root)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=os.environ)
        out, err = proc.communicate()
        if proc.returncode != 0:
            raise SystemExit(f"measured run failed:\n{err[-3000:]}")
        # ru_maxrss of this one child (kilobytes on Linux): RUSAGE_CHILDREN also holds only this child.
        import resource

        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
        report = json.loads(out.strip().splitlines()[-1])

    wall = report["wall_s"]
    print(f"rows: {report['rows']}; files written: {', '.join(report['files'])}")
    for label, seconds in report["phases"].items():
        print(f"  {label:40s} {seconds:7.2f} s  {100 * seconds / wall:5.1f}%")
    print(f"scoring + aggregation + report, whole cached run: {wall:.1f} s (target < {TARGET_S:.0f} s): "
          f"ratio {wall / TARGET_S:.2f}x of the budget -> {'met' if wall < TARGET_S else 'MISSED'}")
    print(f"peak memory of the run's process: {peak / 1024**3:.2f} GiB (target < 2 GiB): ratio "
          f"{peak / TARGET_BYTES:.2f}x of the budget -> {'met' if peak < TARGET_BYTES else 'MISSED'}")


if __name__ == "__main__":
    main()
