"""Where the time of ``evals run --no-cache`` goes: a profile of the real CLI against the stub server.

The profiled process is ``python -m evals.cli.main run --no-cache ...`` exactly as a user runs it, so
imports, suite loading, the request loop, aggregation and the report are all in one profile. Two
samplers: ``py-spy`` (default; a sampling profiler outside the process, so the process runs at full
speed; on-CPU samples only, i.e. CPU time; installed on first use into ``/tmp/evals-peers/tools``) and
``cprofile`` (deterministic, but it slows deep call stacks such as the openai SDK's 2-3x, so read only
its call counts and shares). Printed: the un-profiled process's wall and CPU time, its import time
(``-X importtime``), and for each named step its cumulative time (every sample with the step's frame
on the stack), in seconds and milliseconds per row.

    python bench/profile_run.py [--items 1000] [--sampler py-spy|cprofile] [--top 0]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import evals_env, machine, timed_process, triage_items, write_stub_project  # noqa: E402
from stub_server import StubServer  # noqa: E402

CHILD = """\
import cProfile, sys
profile = cProfile.Profile()
profile.enable()
from evals.cli.main import main
try:
    main({argv!r})
finally:
    profile.disable()
    profile.dump_stats({out!r})
"""

# (label, file suffix, function name): cumulative time of each, as cProfile records it.
STEPS = [
    ("all imports (anywhere in the run)", "<frozen importlib._bootstrap>", "_find_and_load"),
    ("fixed: load suites (datasets)", "evals/runner/run.py", "load_suites"),
    ("  _read_rows_lines (datasets import + Dataset)", "evals/suites.py", "_read_rows_lines"),
    ("fixed: providers (availability probes)", "evals/runner/run.py", "_providers"),
    ("per row: plan (render + cache key)", "evals/runner/run.py", "plan"),
    ("  build_request (Jinja render)", "evals/requests.py", "build_request"),
    ("  cache_key (sha256 of JSON)", "evals/runner/cache.py", "cache_key"),
    ("per row: CallPath.respond (the request)", "evals/runner/calls.py", "respond"),
    ("  cache.begin_attempt (INSERT, autocommit)", "evals/runner/cache.py", "begin_attempt"),
    ("  cache.record -> put (BEGIN..COMMIT)", "evals/runner/cache.py", "record"),
    ("  reliable_generate (retry + limiter)", "evals/providers/retry.py", "reliable_generate"),
    ("  openai SDK create()", "openai/resources/chat/completions/completions.py", "create"),
    ("per row: _finish (score + row)", "evals/runner/run.py", "_finish"),
    ("  score_now (scorer.score)", "evals/runner/rows.py", "score_now"),
    ("  build_row (price, row dict, JSON)", "evals/runner/rows.py", "build_row"),
    ("  progress bar advance", "evals/cli/run.py", "advance"),
    ("  rich progress refresh thread", "rich/live.py", "run"),
    ("fixed: baselines (scored trivial answers)", "evals/runner/run.py", "score_baselines"),
    ("fixed: DataFrame of rows", "pandas/core/frame.py", "__init__"),
    ("fixed: write results.parquet", "evals/runner/store.py", "write_parquet_atomic"),
    ("fixed: aggregate", "evals/aggregates.py", "aggregate"),
    ("  scipy.stats import", "scipy/stats/__init__.py", "<module>"),
    ("  evals/metrics/* (py-spy only)", "evals/metrics/", "*"),
    ("  evals/stats*.py (py-spy only)", "evals/stats", "*"),
    ("fixed: HTML + Markdown report", "evals/report/html.py", "write_run_report"),
    ("fixed: summary table (build)", "evals/cli/run.py", "render_summary"),
    ("fixed: rich Console.print (table, lines)", "rich/console.py", "print"),
    ("  read_aggregates", "evals/aggregates.py", "read_aggregates"),
    ("  summary_table", "evals/aggregates.py", "summary_table"),
]


def cumulative(stats: pstats.Stats, suffix: str, name: str) -> tuple[float, int]:
    """Cumulative seconds and primitive calls of the functions matching (file suffix, name)."""
    total, calls = 0.0, 0
    for (filename, _, func), (cc, _nc, _tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        if func == name and filename.replace("\\", "/").endswith(suffix) and name != "*":
            total, calls = total + ct, calls + cc
    return total, calls


def ensure_py_spy() -> str:
    """py-spy on PATH, or installed with pip into its own virtualenv under /tmp on first use."""
    found = shutil.which("py-spy")
    venv = Path(os.environ.get("EVALS_PEERS_DIR", "/tmp/evals-peers")) / "tools"
    exe = venv / "bin" / "py-spy"
    if found:
        return found
    if not exe.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "py-spy"], check=True)
    return str(exe)


def spy_steps(raw: Path, rate: int) -> tuple[float, dict[str, float]]:
    """From py-spy's collapsed stacks: total on-CPU seconds, and seconds with each step on the stack."""
    per_step: dict[str, float] = collections.defaultdict(float)
    total = 0.0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        seconds = int(count) / rate
        total += seconds
        frames = stack.split(";")
        for label, suffix, name in STEPS:
            for frame in frames:
                func, _, where = frame.partition(" (")
                path = where.rsplit(":", 1)[0]
                if name == "*" and suffix in path or \
                        (func == name or func.endswith("." + name)) and path.endswith(suffix):
                    per_step[label] += seconds
                    break
    return total, per_step


def import_seconds(cmd: list[str], env: dict) -> tuple[float, list[tuple[float, str]]]:
    """Top-level imports of the command, un-profiled: their sum and the slowest few."""
    done = subprocess.run([cmd[0], "-X", "importtime", *cmd[1:]], capture_output=True, text=True, env=env)
    top, rows = 0.0, []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative_us, name = line.split("|")
        if not name.startswith("  "):  # depth 0: one top-level import with everything it pulled in
            top += int(cumulative_us) / 1e6
        rows.append((int(cumulative_us) / 1e6, name.rstrip()))
    return top, sorted(rows, reverse=True)[:12]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--side", choices=["evals", "bare"], default="evals",
                        help="bare: profile bench/bare_loop.py on the same items instead (py-spy only)")
    parser.add_argument("--sampler", choices=["py-spy", "cprofile"], default="py-spy")
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--top", type=int, default=0, help="cprofile: also print the top N functions by internal time")
    parser.add_argument("--save", type=Path, default=None, help="keep the .prof file here")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as tmp, StubServer() as base_url:
        tmp_path = Path(tmp)
        root = write_stub_project(tmp_path / "proj", triage_items(args.items), base_url, args.concurrency)
        env = evals_env(tmp_path / "cache.sqlite")
        argv = ["run", "--project", str(root), "--no-cache", "--concurrency", str(args.concurrency)]
        cli = [sys.executable, "-m", "evals.cli.main", *argv]
        if args.side == "bare":
            items_file = tmp_path / "items.jsonl"
            items_file.write_text("".join(json.dumps(i) + "\n" for i in triage_items(args.items)))
            cli = [sys.executable, str(HERE / "bare_loop.py"), str(items_file), base_url,
                   "--concurrency", str(args.concurrency)]
            args.sampler = "py-spy"
        timed_process(cli, env=env)  # warm-up
        wall, cpu, _ = timed_process(cli, env=env)
        imports, slowest = import_seconds(cli, env)
        out = args.save or tmp_path / ("run.prof" if args.sampler == "cprofile" else "run.spy.txt")
        if args.sampler == "cprofile":
            timed_process([sys.executable, "-c", CHILD.format(argv=argv, out=str(out))], env=env)
            stats = pstats.Stats(str(out))
            total = stats.total_tt  # type: ignore[attr-defined]
            steps = {label: cumulative(stats, suffix, name) for label, suffix, name in STEPS}
        else:
            timed_process([ensure_py_spy(), "record", "-r", str(args.rate), "-f", "raw", "-o", str(out), "--", *cli],
                          env=env)
            total, seconds = spy_steps(out, args.rate)
            steps = {label: (seconds.get(label, 0.0), -1) for label, _, _ in STEPS}
    n = args.items
    print(f"items: {n}; un-profiled process: {wall:.2f} s wall, {cpu:.2f} s CPU; imports (-X importtime, "
          f"top level): {imports:.2f} s")
    print("  slowest imports (cumulative): " + ", ".join(f"{m.strip()} {s:.2f} s" for s, m in slowest[:8]))
    kind = "CPU seconds sampled by py-spy" if args.sampler == "py-spy" else "seconds under cProfile"
    print(f"profiled process ({args.sampler}): {total:.2f} {kind} in all")
    # A sampler on a shared machine also counts time a runnable thread waits for a core, and cProfile
    # slows what it measures: the shares are the finding; "CPU ms/row" scales them to the un-profiled CPU.
    print(f"  {'step':44s} {'s':>7s} {'calls':>7s} {'ms/row':>7s} {'share':>6s} {'CPU ms/row':>10s}")
    for label, (seconds, calls) in steps.items():
        shown = "" if calls < 0 else str(calls)
        share = seconds / total
        print(f"  {label:44s} {seconds:7.2f} {shown:>7s} {1000 * seconds / n:7.3f} {100 * share:5.1f}% "
              f"{1000 * share * cpu / n:10.3f}")
    if args.top and args.sampler == "cprofile":
        stats.sort_stats("tottime").print_stats(args.top)
    print(json.dumps({"machine_after": machine()}))


if __name__ == "__main__":
    main()
