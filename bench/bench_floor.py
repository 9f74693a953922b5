"""Benchmark 10: the floor under targets 1a and 2, measured side by side in one run.

Targets 1a (``evals run --no-cache`` at most 1.10x the bare loop at 1,000 items) and 2 (a cached re-run
of 10,000 rows at 10,000 rows/s, 1 s for the whole command) leave the harness a fixed budget. This
benchmark measures, in one invocation, the work no run can skip while it still writes what a run writes
(``DESIGN.md``: ``results.parquet``, aggregates with intervals, ``report.html`` and ``summary.md``, the
comparison page and ``reports/index.html``, all before the command returns), and sets it against each
budget:

- **imports**, each set in fresh interpreters, rounds interleaved: what the bare loop imports
  (``openai``); that plus the Parquet writer alone (``pyarrow.parquet``, the least any results file in
  the run's format needs); that plus everything ``evals run`` imports (the CLI, the runner, and
  ``evals.runner.run.AFTER_THE_CALLS``: pandas, the aggregates, the report). The bare loop's own
  imports are in its wall time, so only the difference counts against target 1a; target 2's budget
  is the whole command's, so the cached run's whole import time counts (it does not import ``openai``).
- **the work after the calls** of a run of the same items, in this process (imports already paid):
  writing ``results.parquet``, the aggregates and their intervals, the report pages and the index. It is
  the same work for a run that asked the model and one served from the cache; it is timed on a cached
  run, so the stub's answers do not enter it.
- **the bare loop** at 1,000 items (the budget of target 1a is 10% of its wall time).

Nothing here is a target: it says whether a target is above what the run's contract costs on this
machine, by how much, and which part of the floor is an implementation choice (pandas) rather than
the contract (Parquet, intervals, pages).

    python bench/bench_floor.py [--items 1000] [--rows 10000] [--rounds 11]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from _common import (  # noqa: E402
    cached_run_phases, evals_env, interleave, machine, timed_process, triage_items, write_stub_project,
)
from bench_overhead import TARGETS, sides_for  # noqa: E402
from bench_cached_rerun import TARGET_ROWS_PER_S  # noqa: E402
from stub_server import StubServer  # noqa: E402

#: The phases of a run after its calls (``_common.PHASES`` labels): what every run does, cached or not.
AFTER_CALLS = ("write results.parquet", "aggregate (bootstrap intervals)", "write aggregates.parquet",
               "HTML + Markdown report", "comparison page + run index")
#: What ``evals run`` imports besides the modules of :data:`evals.runner.run.AFTER_THE_CALLS`.
RUN_MODULES = ("evals.cli.main", "evals.cli.run", "evals.runner.run")


def import_sets() -> dict[str, str]:
    """The ``python -c`` source of each set of imports, from the run's own list of late imports."""
    from evals.runner.run import AFTER_THE_CALLS

    harness = ", ".join((*RUN_MODULES, *AFTER_THE_CALLS))
    return {
        "python -c pass": "pass",
        "bare: openai": "import openai",
        "openai + pyarrow.parquet": "import openai, pyarrow.parquet",
        "openai + evals run's imports": f"import openai, {harness}",
        "cached evals run's imports": f"import {harness}",
        "  of which pandas": "import pandas",
    }


def time_imports(rounds: int) -> dict[str, float]:
    """Median wall seconds of each import set, each a fresh interpreter, the sets interleaved."""
    env = evals_env(Path(tempfile.gettempdir()) / "unused.sqlite")
    sides = {name: {"cmd": [sys.executable, "-c", source], "env": env} for name, source in import_sets().items()}
    for side in sides.values():  # warm: bytecode written, files in the page cache
        timed_process(side["cmd"], env=env)
    return {name: statistics.median(wall for wall, _ in runs)
            for name, runs in interleave(sides, rounds, verbose=False).items()}


def after_calls(root: Path, cache: Path) -> dict[str, float]:
    """The phases of a cached run of ``root`` in this process (the cache already filled), in seconds; the
    first run warms (every module imported, a previous run there for the comparison page)."""
    cached_run_phases(root, cache)
    return cached_run_phases(root, cache)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=1000, help="items of target 1a's run")
    parser.add_argument("--rows", type=int, default=10_000, help="rows of target 2's cached re-run")
    parser.add_argument("--rounds", type=int, default=11, help="rounds of the import sets (the bare loop: 3)")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    imports = time_imports(args.rounds)
    print(f"  imports, fresh interpreters, median of {args.rounds} rounds:")
    for name, seconds in imports.items():
        print(f"    {name:34s} {seconds:6.3f} s")
    with tempfile.TemporaryDirectory(prefix="bench-floor-") as tmp, StubServer() as base_url:
        tmp_path = Path(tmp)
        bare = sides_for(tmp_path, args.items, base_url, 16)["bare"]
        timed_process(bare["cmd"])  # warm-up
        bare_wall = statistics.median(timed_process(bare["cmd"])[0] for _ in range(3))
        phases = {}
        for n in (args.items, args.rows):
            root = write_stub_project(tmp_path / f"floor-{n}", triage_items(n), base_url, 16)
            cache = tmp_path / f"floor-{n}.sqlite"
            timed_process([sys.executable, "-m", "evals.cli.main", "run", "--project", str(root)],
                          env=evals_env(cache))  # fills the cache
            phases[n] = after_calls(root, cache)
    print(f"  the bare loop, {args.items} items: {bare_wall:.2f} s wall (median of 3)")

    def work(n: int, names: tuple[str, ...]) -> float:
        return sum(phases[n].get(name, 0.0) for name in names)

    for n in (args.items, args.rows):
        print(f"  after the calls, {n} rows (in process): "
              + ", ".join(f"{name} {phases[n].get(name, 0.0):.3f} s" for name in AFTER_CALLS))

    target = TARGETS[1000]
    budget = (target - 1) * bare_wall
    extra = imports["openai + evals run's imports"] - imports["bare: openai"]
    pandas = imports["  of which pandas"] - imports["python -c pass"]
    floor = extra + work(args.items, AFTER_CALLS)
    print(f"  target 1a ({target:.2f}x at {args.items} items): budget {budget:.3f} s over the bare loop; "
          f"imports beyond the bare loop's {extra:.3f} s + work after the calls {work(args.items, AFTER_CALLS):.3f} s "
          f"= {floor:.3f} s, {floor / budget:.1f}x the budget; without pandas (its import alone, "
          f"{pandas:.3f} s) {max(floor - pandas, 0.0) / budget:.1f}x")
    budget2 = args.rows / TARGET_ROWS_PER_S
    start_up = imports["cached evals run's imports"]
    floor2 = start_up + work(args.rows, AFTER_CALLS)
    print(f"  target 2 ({TARGET_ROWS_PER_S:,.0f} rows/s at {args.rows} rows): budget {budget2:.3f} s for the command; "
          f"start-up and imports {start_up:.3f} s + work after the calls "
          f"{work(args.rows, AFTER_CALLS):.3f} s = {floor2:.3f} s, {floor2 / budget2:.1f}x the budget; "
          f"without pandas {max(floor2 - pandas, 0.0) / budget2:.1f}x")
    print(f"machine after: {machine()}")


if __name__ == "__main__":
    main()
