"""Benchmark 1: harness overhead as a user meets it: ``evals run --no-cache`` vs a bare asyncio + openai loop.

Both sides are what a person runs, each a fresh process (interpreter start-up, imports, loading the
items, the requests, writing results): the harness side is the real CLI,
``python -m evals.cli.main run --no-cache`` (models.yaml sets ``concurrency: 16``); the bare side is
``bench/bare_loop.py``. ``--version NAME=DIR[,ARG...]`` adds the same command from another tree of the
code (main before a change), so before and after are measured side by side in one run.
Both talk to the same stub server on loopback (``bench/stub_server.py``: answers instantly with a fixed
label, usage filled in), so what is measured is each side's own cost, not a model's. Same items
(classification emails from the shipped inbox-triage suite, each prompt distinct), same concurrency.
One warm-up run per side is not counted; then rounds alternate the order; medians are compared.

    python bench/bench_overhead.py [--items 1000,10000] [--rounds 3] [--concurrency 16] \
        [--version main=/tmp/main-tree,--concurrency,16]

Targets: at most 1.10x the bare loop's wall time at 1,000 items, 1.05x at 10,000.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import (  # noqa: E402
    evals_env, interleave, machine, parse_versions, timed_process, triage_items, verdict, write_stub_project,
)
from stub_server import StubServer  # noqa: E402

TARGETS = {1000: 1.10, 10000: 1.05}


def sides_for(tmp: Path, n: int, base_url: str, concurrency: int,
              versions: list[tuple[str, Path, list[str]]] = ()) -> dict[str, dict]:
    """The bare loop and ``evals run --no-cache`` over the same ``n`` items, ready for :func:`interleave`.

    The harness runs as a user types it: no ``--concurrency`` (models.yaml sets ``concurrency``); each of
    ``versions`` (another tree of the code, with its own extra arguments) runs beside it.
    """
    items = triage_items(n)
    items_file = tmp / f"items-{n}.jsonl"
    items_file.write_text("".join(json.dumps(i) + "\n" for i in items))
    root = write_stub_project(tmp / f"proj-{n}", items, base_url, concurrency)
    cmd = [sys.executable, "-m", "evals.cli.main", "run", "--project", str(root), "--no-cache"]
    sides = {
        "bare": {"cmd": [sys.executable, str(HERE / "bare_loop.py"), str(items_file), base_url,
                         "--concurrency", str(concurrency), "--out", str(tmp / f"bare-{n}.jsonl")]},
        "evals": {"cmd": cmd, "env": evals_env(tmp / f"cache-{n}.sqlite")},
    }
    for name, code, args in versions:
        sides[name] = {"cmd": cmd + args, "env": evals_env(tmp / f"cache-{n}-{name}.sqlite", code), "cwd": tmp}
    return sides


def warm_up(sides: dict[str, dict]) -> None:
    """One untimed run per side: compiled bytecode, the page cache and the stub's sockets are warm."""
    for side in sides.values():
        timed_process(side["cmd"], env=side.get("env"), cwd=side.get("cwd"))


def report(n: int, results: dict[str, list[tuple[float, float]]], target: float | None, base: str = "bare") -> None:
    walls = {name: statistics.median(w for w, _ in runs) for name, runs in results.items()}
    cpus = {name: statistics.median(c for _, c in runs) for name, runs in results.items()}
    print(f"  {n} items, medians of {len(results[base])} rounds:")
    for name in results:
        ratio = walls[name] / walls[base]
        line = (f"    {name:14s} {walls[name]:7.2f} s wall  {cpus[name]:7.2f} s CPU  {n / walls[name]:7.0f} items/s  "
                f"{ratio:5.2f}x {base} wall, {cpus[name] / cpus[base]:5.2f}x CPU")
        if name != base and target is not None:
            line += f"  (target <= {target:.2f}x) -> {verdict(ratio, target)}"
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", default="1000,10000", help="comma-separated item counts")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16, help="the bare loop's, and models.yaml's")
    parser.add_argument("--version", action="append", default=[], metavar="NAME=DIR[,ARG...]",
                        help="also run the harness from the code tree DIR (e.g. main before a change) with ARGs")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    print(f"python {sys.version.split()[0]}; concurrency {args.concurrency}; stub server on loopback")
    with tempfile.TemporaryDirectory(prefix="bench-overhead-") as tmp, StubServer() as base_url:
        for n in (int(x) for x in args.items.split(",")):
            sides = sides_for(Path(tmp), n, base_url, args.concurrency, parse_versions(args.version))
            warm_up(sides)
            results = interleave(sides, args.rounds)
            report(n, results, TARGETS.get(n))
    print(f"machine after: {machine()}")


if __name__ == "__main__":
    main()
