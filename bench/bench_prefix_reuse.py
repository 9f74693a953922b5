"""Benchmark 9: llama.cpp prompt-prefix KV reuse on the default job's local models, on and off.

The shipped project's local candidates (SmolLM2-135M, Gemma 3 270M) on its few-shot suites (``--suites
all``: the whole default job), the first ``--limit``
examples of each, ``--no-cache``, through the library's ``run()`` in a fresh process per side: ``reuse``
is the provider as shipped (``Llama.generate`` evaluates only the tokens after the prefix a prompt shares
with the previous one: system prompt, few-shot block); ``scratch`` sets
``evals.providers.llama_cpp.REUSE_PREFIX = False``, so every prompt is evaluated whole. Each side loads
the models with an untimed one-example warm-up run; the timed figure is the ``execute`` phase (the calls
and the scoring). The answers of both sides are compared row by row (temperature 0: they must be equal).

    python bench/bench_prefix_reuse.py [--suites inbox-triage,lead-details|all] [--limit 6] [--rounds 2]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))
from _common import machine, phase_timer  # noqa: E402

LOCAL = ["smollm2-135m", "gemma3-270m"]


def child(folder: Path, reuse: bool, limit: int, suites: list[str] | None) -> dict:
    import os
    import resource

    os.environ["EVALS_CACHE"] = str(folder / f"cache-{reuse}.sqlite")
    import evals.providers.llama_cpp as llama_cpp
    from evals.project import Project
    from evals.runner.run import RunOptions, run

    llama_cpp.REUSE_PREFIX = reuse
    project = Project(folder / "proj")
    run(project, RunOptions(models=LOCAL, suites=suites, limit=1, use_cache=False))  # loads both models
    phases: dict[str, float] = {}
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    with phase_timer(phases):
        frame = run(project, RunOptions(models=LOCAL, suites=suites, limit=limit, use_cache=False)).results
    wall = time.perf_counter() - start
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    frame = frame.sort_values(["suite", "model", "example_id", "repeat"])
    answers = [f"{r.suite}/{r.model}/{r.example_id}: {r.output}" for r in frame.itertuples()]
    return {"execute": phases["execute (cache lookups, scoring rows)"], "wall": wall,
            "cpu": (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime), "rows": len(frame),
            "errors": int(frame["error"].notna().sum()), "answers": answers,
            "digest": hashlib.sha256("\n".join(answers).encode()).hexdigest()[:12]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=6)
    parser.add_argument("--suites", default="inbox-triage,lead-details",
                        help="comma-separated suites of the default job (all: the whole job, about 14 min a side)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--child", nargs=2, metavar=("REUSE", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        suites = None if args.suites == "all" else args.suites.split(",")
        print(json.dumps(child(Path(args.child[1]), args.child[0] == "reuse", args.limit, suites)))
        return
    print(f"machine: {machine()}")
    results: dict[str, list[dict]] = {"reuse": [], "scratch": []}
    with tempfile.TemporaryDirectory(prefix="bench-prefix-") as tmp:
        proj = Path(tmp) / "proj"
        for part in ("policies", "prompts", "suites"):
            shutil.copytree(REPO / part, proj / part)
        (proj / "reports").mkdir()
        for r in range(args.rounds):
            for side in (("reuse", "scratch") if r % 2 == 0 else ("scratch", "reuse")):
                done = subprocess.run([sys.executable, __file__, "--limit", str(args.limit), "--suites", args.suites,
                                       "--child", side, tmp],
                                      capture_output=True, text=True, cwd=REPO)
                if done.returncode != 0:
                    raise SystemExit(f"{side} failed:\n{done.stderr[-3000:]}")
                out = json.loads(done.stdout.strip().splitlines()[-1])
                results[side].append(out)
                print(f"    round {r + 1}: {side:8s} execute {out['execute']:7.2f} s  run {out['wall']:7.2f} s wall "
                      f"{out['cpu']:7.2f} s CPU  {out['rows']} rows, {out['errors']} errors, answers {out['digest']}",
                      flush=True)
    med = {s: {k: statistics.median(r[k] for r in runs) for k in ("execute", "wall", "cpu")}
           for s, runs in results.items()}
    print(f"  suites {args.suites}, {args.limit} examples each x {len(LOCAL)} local models, medians of {args.rounds}:")
    for side, m in med.items():
        print(f"    {side:8s} execute {m['execute']:7.2f} s   run {m['wall']:7.2f} s wall  {m['cpu']:7.2f} s CPU")
    print(f"  reuse / scratch: execute {med['reuse']['execute'] / med['scratch']['execute']:.2f}x, "
          f"CPU {med['reuse']['cpu'] / med['scratch']['cpu']:.2f}x")
    same = all(r["answers"] == results["reuse"][0]["answers"] for runs in results.values() for r in runs)
    differ = [a for a, b in zip(results["reuse"][0]["answers"], results["scratch"][0]["answers"]) if a != b]
    print(f"  answers identical across sides and rounds: {same}" + (f" ({len(differ)} differ, e.g. {differ[:2]})"
                                                                    if differ else ""))
    print(f"machine after: {machine()}")


if __name__ == "__main__":
    main()
