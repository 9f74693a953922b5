"""Benchmark 6: a distilled classifier beside the local LLMs on inbox triage: answers per second and cost.

Trains the distilled model the way ``evals distill --suite inbox-triage --from-gold --split train``
does (timed), then sends the same inbox-triage test emails to three providers, each with the request
the runner builds for it (``evals.requests``): ``sklearn`` (the distilled model, ``sklearn.j2``),
SmolLM2-135M and Gemma 3 270M through the ``llama-cpp`` provider (``default.j2`` and
``gemma3-base.j2``). The emails are sent in turn to each model, one call at a time, the order of the
models rotating per email, so load on a shared machine hits all three; one warm-up call per model is not
timed. Cost per call is :func:`evals.costs.response_cost` with the shipped self-hosted rate ($0.096/h,
busy time = the call's measured time). Then the distilled model answers the whole test split
``--repeats`` times for a steadier throughput figure, and its quality there is reported (accuracy with
its interval, per-label recall, calibration).

    python bench/bench_distill.py [--emails 6] [--repeats 5] [--no-llm]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))
from _common import machine  # noqa: E402

HOURLY = 0.096


def requests_for(project, suite, spec):
    from evals.requests import build_request, variant_for

    template = variant_for(project.prompts_dir, suite.spec.prompt, spec.id, spec.family)
    return template.variant, [build_request(template, suite.variables(ex), suite.schema) for ex in suite.examples]


async def timed(provider, rendered):
    from evals.providers import GenerateRequest

    start = time.perf_counter()
    response = await provider.generate(GenerateRequest(rendered))
    return response, time.perf_counter() - start


async def side_by_side(providers, requests, golds, n_emails, normalise_label):
    from evals.costs import response_cost

    stats = defaultdict(lambda: {"seconds": 0.0, "calls": 0, "cost": [], "right": 0})
    ids = list(providers)
    for mid in ids:  # warm-up, not timed (loads the GGUF)
        await timed(providers[mid], requests[mid][-1])
    for i in range(n_emails):
        order = ids[i % len(ids):] + ids[: i % len(ids)]
        for mid in order:
            response, seconds = await timed(providers[mid], requests[mid][i])
            s = stats[mid]
            s["seconds"] += seconds
            s["calls"] += 1
            s["cost"].append(response_cost(providers[mid].spec, response).usd)
            s["right"] += int(response.ok and normalise_label(response.text) == normalise_label(golds[i]))
    return stats


async def distilled_pass(provider, requests, repeats):
    responses, start = [], time.perf_counter()
    for _ in range(repeats):
        responses = [(await timed(provider, r))[0] for r in requests]
    return responses, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--emails", type=int, default=6, help="Test emails sent to each of the three models.")
    parser.add_argument("--repeats", type=int, default=5, help="Passes of the distilled model over the test split.")
    parser.add_argument("--no-llm", action="store_true", help="Only the distilled model (no llama-cpp).")
    args = parser.parse_args()

    from evals.config.models import ModelSpec, load_models
    from evals.costs import response_cost
    from evals.distill import DistillOptions, distill, expected_calibration_error
    from evals.project import Project
    from evals.providers import availability, create_provider
    from evals.scorers import build_scorer
    from evals.stats import mean_ci
    from evals.suites import open_suite

    print("machine:", machine())
    project = Project(REPO)
    suite = open_suite(project.suites_dir / "classification" / "inbox-triage" / "suite.yaml", split="test")
    golds = [str(ex.gold) for ex in suite.examples]
    normalise_label = build_scorer(suite).normalise  # the scorer's own reading of an answer
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        result = distill(project, DistillOptions(suite="inbox-triage", from_gold=True, split="train",
                                                 out=Path(tmp) / "inbox-triage-distilled"))
        train_s = time.perf_counter() - start
        m = result.manifest
        held = m["calibration"]["held_out"]
        print(f"trained on {m['data']['examples']} train emails in {train_s:.1f} s ({m['model']['estimator']}, "
              f"{m['calibration']['method']} calibration; held-out 5-fold accuracy {held['accuracy']:.3f}, "
              f"ECE {held['ece']:.3f})")
        distilled = ModelSpec(id="inbox-triage-distilled", provider="sklearn", model=str(result.folder),
                              family="sklearn", context_window=100000,
                              pricing={"self_hosted": {"hourly_usd": HOURLY}})
        specs = [distilled]
        if not args.no_llm:
            shipped = load_models(project.models_file)
            for mid in ("smollm2-135m", "gemma3-270m"):
                spec = shipped.get(mid)
                state = availability(spec)
                if state.ready:
                    specs.append(spec)
                else:
                    print(f"skipping {mid}: {state.reason}")
        providers = {s.id: create_provider(s) for s in specs}
        requests, variants = {}, {}
        for s in specs:
            variants[s.id], requests[s.id] = requests_for(project, suite, s)
        n = min(args.emails, len(golds))
        stats = asyncio.run(side_by_side(providers, requests, golds, n, normalise_label))
        print(f"\nside by side: the first {n} inbox-triage test emails, each model in turn (order rotating), "
              f"one call at a time, ${HOURLY}/h x busy time")
        print(f"  {'model':<24}{'variant':<14}{'calls':>6}{'answers/s':>12}{'mean s/call':>13}{'$ per 1k calls':>16}"
              f"{'right':>7}")
        for mid, s in stats.items():
            known = [c for c in s["cost"] if c is not None]
            per_1k = 1000 * statistics.fmean(known) if len(known) == len(s["cost"]) else float("nan")
            print(f"  {mid:<24}{variants[mid]:<14}{s['calls']:>6}{s['calls'] / s['seconds']:>12.2f}"
                  f"{s['seconds'] / s['calls']:>13.4f}{per_1k:>16.6f}{s['right']:>5}/{s['calls']}")
        if "smollm2-135m" in stats:
            d, l = stats[distilled.id], stats["smollm2-135m"]
            print(f"  distilled vs smollm2-135m: {(d['calls'] / d['seconds']) / (l['calls'] / l['seconds']):,.0f}x "
                  "the answers per second")

        responses, seconds = asyncio.run(distilled_pass(providers[distilled.id], requests[distilled.id], args.repeats))
        calls = args.repeats * len(requests[distilled.id])
        costs = [response_cost(distilled, r).usd for r in responses]
        print(f"\ndistilled, whole test split x {args.repeats}: {calls} calls in {seconds:.2f} s = "
              f"{calls / seconds:,.0f} answers/s; ${1000 * statistics.fmean(costs):.8f} per 1k calls (last pass)")
        predicted = [normalise_label(r.text) for r in responses]
        right = [float(p == normalise_label(g)) for p, g in zip(predicted, golds)]
        low, high = mean_ci(right)
        print(f"quality on test ({len(right)} emails): accuracy {statistics.fmean(right):.3f} [{low:.3f}, {high:.3f}]")
        for label in suite.labels:
            of = [p == label for p, g in zip(predicted, golds) if g == label]
            print(f"  recall {label:<18} {sum(of)}/{len(of)} = {sum(of) / len(of):.3f}")
        conf = [r.extra["confidence"] for r in responses]
        print(f"  calibration on test: ECE {expected_calibration_error(conf, [bool(x) for x in right]):.3f}, "
              f"mean confidence {statistics.fmean(conf):.3f}")
        for provider in providers.values():
            asyncio.run(provider.aclose())


if __name__ == "__main__":
    main()
