"""Router decisions per second on the essay's policy, against a trivial baseline measured in the same run.

The baseline is a dict lookup keyed on the same descriptors' task: the least any router could do. The
ratio says how many times a routing decision costs that lookup.

    python bench/bench_router.py [--n 200000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

from evals.router import Router

# The essay's rules, with the shipped models' windows (kept here so the benchmark does not move with edits).
POLICY = {
    "rules": [
        {"id": "inbox-triage", "when": {"task": "classification", "volume": ["high", "medium"], "context_tokens": {"max": 8000}},
         "model": "llama-70b", "prompt": "triage", "fallbacks": ["gpt-4o-mini", "smollm2"]},
        {"id": "crm-extraction", "when": {"task": "extraction", "context_tokens": {"max": 16000}},
         "model": "gpt-4o-mini", "prompt": "lead-extraction", "fallbacks": ["claude", "gemma3"]},
        {"id": "founder-voice", "when": {"task": "writing", "tags": ["voice"]}, "model": "claude",
         "prompt": "founder-voice", "fallbacks": ["gpt-4o"]},
        {"id": "tools", "when": {"task": ["classification", "tool-call"], "latency_ms": {"max": 5000}},
         "model": "gpt-4o", "fallbacks": ["claude"]},
        {"id": "long-context", "when": {"context_tokens": {"min": 16001, "max": 128000}}, "model": "claude",
         "fallbacks": ["gpt-4o"]},
    ],
    "default": {"model": "claude", "fallbacks": ["gpt-4o", "smollm2"]},
}
MODELS = {"models": [
    {"id": "claude", "provider": "anthropic", "family": "claude", "context_window": 200000},
    {"id": "gpt-4o", "provider": "openai", "family": "gpt", "context_window": 128000},
    {"id": "gpt-4o-mini", "provider": "openai", "family": "gpt", "context_window": 128000},
    {"id": "llama-70b", "provider": "openai-compatible", "family": "llama3", "context_window": 131072,
     "base_url": "http://127.0.0.1:8000/v1"},
    {"id": "smollm2", "provider": "llama-cpp", "family": "smollm2", "context_window": 8192},
    {"id": "gemma3", "provider": "llama-cpp", "family": "gemma3-base", "context_window": 32768},
]}
ROOT = Path(__file__).resolve().parents[1]
TASKS = ["classification", "extraction", "writing", "summarisation", "tool-call"]


def descriptors(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        out.append({"task": rng.choice(TASKS), "context_tokens": rng.choice([200, 800, 4000, 8000, 12000, 20000, 90000]),
                    "latency_ms": rng.choice([None, 500, 5000]), "cost_ceiling_usd": None,
                    "volume": rng.choice([None, "low", "medium", "high"]),
                    "tags": rng.choice([[], ["voice"], ["email", "voice"], ["email"]])})
    return out


def best_rate(fn, items: list[dict], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn(items)
        best = min(best, time.perf_counter() - start)
    return len(items) / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    router = Router(POLICY, MODELS, str(ROOT / "prompts"))
    items = descriptors(args.n)
    table = {task: router.route(task=task).model for task in TASKS}

    def routed(ds):
        route = router.route
        for d in ds:
            route(**d)

    def looked_up(ds):
        for d in ds:
            table[d["task"]]

    rules = {}
    for d in items[:20_000]:
        decision = router.route(**d)
        rules[decision.rule] = rules.get(decision.rule, 0) + 1
    router_rate = best_rate(routed, items, args.repeats)
    dict_rate = best_rate(looked_up, items, args.repeats)
    print(f"descriptors: {args.n}, best of {args.repeats}; rules hit (first 20k): {rules}")
    print(f"router.route:  {router_rate:>12,.0f} decisions/s  ({1e6 / router_rate:.2f} us each)")
    print(f"dict lookup:   {dict_rate:>12,.0f} lookups/s    ({1e6 / dict_rate:.3f} us each)")
    print(f"ratio: a routing decision costs {dict_rate / router_rate:.1f}x a dict lookup; "
          f"target >= 100,000 decisions/s: {'met' if router_rate >= 100_000 else 'NOT met'}")


if __name__ == "__main__":
    main()
