"""What the loop stop (``evals/providers/repetition.py``) saves on a run made without it.

Greedy decoding is deterministic and a stopped decode is the same decode cut short
(``tests/speed/test_repetition_stop.py``), so the rule can be replayed over the answers a run
recorded: each ``llama-cpp`` answer is tokenized again with its model's own vocabulary and the rule
applied token by token, as during the decode. Printed per suite and model: answers, answers cut off
at ``max_tokens``, answers the rule stops (and how many of those had ended on their own: it must be
0), output tokens, tokens saved and the model time saved (the row's latency times the share of its
tokens saved; decode time per token grows a little with the context, so this is an estimate).

    python bench/replay_repetition_stop.py reports/<run-id>/results.parquet [--models models.yaml]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", type=Path)
    parser.add_argument("--models", type=Path, default=HERE.parent / "policies" / "models.yaml")
    args = parser.parse_args()

    import pandas as pd
    from llama_cpp import Llama

    from evals.config.models import load_models
    from evals.providers.llama_cpp import _silence_llama_log, resolve_gguf
    from evals.providers.repetition import RepetitionStop

    _silence_llama_log()
    specs = {m.id: m for m in load_models(args.models).models if m.provider == "llama-cpp"}
    rows = pd.read_parquet(args.results)
    rows = rows[rows["model"].isin(specs) & rows["output"].notna() & (rows["output"] != "")]
    vocabs = {m: Llama(str(resolve_gguf(specs[m].model)), vocab_only=True, verbose=False) for m in rows["model"].unique()}
    out = []
    for row in rows.itertuples():
        tokens = vocabs[row.model].tokenize(row.output.encode("utf-8"), add_bos=False, special=False)
        stop = _stopped_at(RepetitionStop(), tokens)
        saved = 0 if stop is None else max(0, int(row.output_tokens) - stop)
        out.append({"suite": row.suite, "model": row.model, "cut_off": row.error == "truncated",
                    "stopped": stop is not None, "ended_on_its_own_but_stopped": stop is not None and row.error != "truncated",
                    "output_tokens": int(row.output_tokens), "tokens_saved": saved,
                    "model_s": row.latency_ms / 1000, "saved_s": row.latency_ms / 1000 * saved / max(1, int(row.output_tokens))})
    table = pd.DataFrame(out)
    by = table.groupby(["suite", "model"]).agg(
        answers=("stopped", "size"), cut_off=("cut_off", "sum"), stopped=("stopped", "sum"),
        stopped_but_ended=("ended_on_its_own_but_stopped", "sum"), output_tokens=("output_tokens", "sum"),
        tokens_saved=("tokens_saved", "sum"), model_s=("model_s", "sum"), saved_s=("saved_s", "sum"))
    pd.set_option("display.width", 200)
    print(by.round(1).to_string())
    print(f"total: {len(table)} answers, {int(table.cut_off.sum())} cut off at max_tokens, {int(table.stopped.sum())} "
          f"stopped by the rule ({int(table.ended_on_its_own_but_stopped.sum())} of them had ended on their own); "
          f"{int(table.tokens_saved.sum()):,} of {int(table.output_tokens.sum()):,} output tokens and "
          f"{table.saved_s.sum():.0f} of {table.model_s.sum():.0f} s of model time saved")


def _stopped_at(stop, tokens: list[int]) -> int | None:
    """How many answer tokens the decode keeps before ``stop`` (the provider's own criterion, fed as
    llama-cpp-python feeds it: an empty prompt first, then the context token by token) ends it."""
    stop([], None)
    return next((n for n in range(1, len(tokens) + 1) if stop(tokens[:n], None)), None)


if __name__ == "__main__":
    main()
