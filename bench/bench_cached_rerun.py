"""Benchmark 2: a fully cached re-run of 10,000 rows through the CLI (target: at least 10,000 rows/s).

One suite of 10,000 classification items (as in benchmark 1) against the stub server on loopback. The
first ``evals run`` fills a fresh response cache; each timed round is the same command again, a fresh
interpreter (start-up included), every row served from the cache. For the breakdown, one more cached
re-run goes through the library's ``run()`` in this process with its phases timed.

    python bench/bench_cached_rerun.py [--rows 10000] [--rounds 3] [--version main=/tmp/main-tree]
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
    cached_run_phases, evals_env, interleave, machine, parse_versions, timed_process, triage_items, verdict,
    write_stub_project,
)
from stub_server import StubServer  # noqa: E402

TARGET_ROWS_PER_S = 10_000.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--version", action="append", default=[], metavar="NAME=DIR[,ARG...]",
                        help="also time the re-run from the code tree DIR (e.g. main before a change)")
    parser.add_argument("--no-phases", action="store_true", help="skip the in-process breakdown")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory(prefix="bench-cached-") as tmp, StubServer() as base_url:
        root = write_stub_project(Path(tmp) / "proj", triage_items(args.rows), base_url, 16)
        env = evals_env(Path(tmp) / "cache.sqlite")
        cmd = [sys.executable, "-m", "evals.cli.main", "run", "--project", str(root)]
        wall, cpu, _ = timed_process(cmd, env=env)
        print(f"  first run (fills the cache)   {wall:7.2f} s wall  {cpu:7.2f} s CPU")
        _, _, out = timed_process(cmd, env=env)  # warm-up
        served = next((line for line in out.splitlines() if "from the cache" in line), "")
        sides = {"evals": {"cmd": cmd, "env": env}}
        for name, code, extra in parse_versions(args.version):  # the same cache: the keys do not change
            sides[name] = {"cmd": cmd + extra, "env": evals_env(Path(tmp) / "cache.sqlite", code), "cwd": tmp}
            timed_process(sides[name]["cmd"], env=sides[name]["env"], cwd=tmp)  # warm-up
        results = interleave(sides, args.rounds)
        print(f"  {served.strip()}")
        for name, runs in results.items():
            median = statistics.median(w for w, _ in runs)
            cpu = statistics.median(c for _, c in runs)
            rate = args.rows / median
            print(f"  {name:14s} cached re-run through the CLI, median of {args.rounds}: {median:.2f} s wall, "
                  f"{cpu:.2f} s CPU, {rate:,.0f} rows/s (target >= {TARGET_ROWS_PER_S:,.0f}): "
                  f"{rate / TARGET_ROWS_PER_S:.2f}x of target -> {verdict(rate, TARGET_ROWS_PER_S, lower_is_better=False)}")

        if args.no_phases:
            print(f"machine after: {machine()}")
            return
        phases, total = cached_run_phases(root, Path(env["EVALS_CACHE"]))
        print(f"  phases of one cached library run() in this process ({total:.2f} s, imports already paid):")
        for label, seconds in phases.items():
            print(f"    {label:40s} {seconds:7.2f} s  {100 * seconds / total:5.1f}%")
        print(f"    {'other (models.yaml, manifest, ...)':40s} {total - sum(phases.values()):7.2f} s")
    print(f"machine after: {machine()}")


if __name__ == "__main__":
    main()
