"""Choosing which examples a report embeds for drill-down, so that a 100,000-row run stays small.

Whole examples (every model and repeat of one suite x example id) are embedded, so two models can
always be compared side by side on the same example. Examples are taken in priority order until a
byte budget is spent: first examples with an error, then those where models or repeats disagree,
then low scores, then the rest, interleaved across suites (see :func:`example_priorities`); long texts are cut to a fixed length. The page states what it holds.
"""

from __future__ import annotations

import hashlib
import json
import math
import shlex
from typing import Any

DEFAULT_BYTE_BUDGET = 8_000_000
DEFAULT_TEXT_LIMIT = 4_000
LOW_SCORE = 0.5

TIERS = ["error", "disagreement", "low score", "other"]
WEIGHTS = {0: 4, 1: 3, 2: 2, 3: 1}  # examples per suite and round, by tier


def _text(value: Any, limit: int) -> tuple[str | None, bool]:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None, False
    value = str(value)
    if len(value) > limit:
        return value[:limit], True
    return value, False


def _num(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def _stable(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8", "replace")).hexdigest()


def example_priorities(frame: Any) -> Any:
    """One row per (suite, example_id) in the order the drill-down takes them.

    Each example gets a tier (0 error, 1 disagreement, 2 low score, 3 other) and its lowest score.
    Examples are then interleaved: per round, every suite gives up to 4 error examples, 3
    disagreements, 2 low scores and 1 other (worst first), so no suite or tier crowds the rest out.
    """
    g = frame.assign(_err=frame["error"].notna(), _score=frame["score"].astype(float))
    per = g.groupby(["suite", "example_id"], sort=False).agg(
        has_error=("_err", "any"), low=("_score", "min"), high=("_score", "max"))
    per = per.reset_index()
    spread = (per["high"] - per["low"]).fillna(0.0)
    per["tier"] = 3
    per.loc[per["low"].fillna(1.0) < LOW_SCORE, "tier"] = 2
    per.loc[spread > 0, "tier"] = 1
    per.loc[per["has_error"], "tier"] = 0
    per["tie"] = [_stable(f"{s}\x00{e}") for s, e in zip(per["suite"].astype(str).tolist(),
                                                          per["example_id"].astype(str).tolist())]
    per = per.sort_values(["tier", "low", "tie"], na_position="last").reset_index(drop=True)
    position = per.groupby(["suite", "tier"], sort=False).cumcount()
    per["round"] = position // per["tier"].map(WEIGHTS)
    return per.sort_values(["round", "tier", "suite", "low", "tie"], na_position="last").reset_index(drop=True)


_COLUMNS = ["suite", "example_id", "model", "repeat", "variant", "score", "subscores", "error", "error_message",
            "output", "gold", "prompt_text", "detail", "cost_usd", "latency_ms", "split",
            "tool_calls"]


def _block_json(block: list[dict[str, Any]]) -> tuple[str, int]:
    """One example's rows as strict JSON (NaN as null, as :func:`evals.report.html.json_island` writes
    them) and the size the byte budget counts for them (the plain ``json.dumps`` length, plus 2).

    Each block is serialised once: the page's data island is these strings joined
    (``drilldown(...)["rows_json"]``), so a large run's rows are not encoded a second time.
    """
    try:
        text = json.dumps(block, ensure_ascii=False, allow_nan=False)
        return text, len(text) + 2
    except ValueError:  # a NaN inside (a scorer's subscores): the budget counts it as written before
        from evals.report.html import _clean

        return (json.dumps(_clean(block), ensure_ascii=False, allow_nan=False),
                len(json.dumps(block, ensure_ascii=False)) + 2)


def render_command(suite: str, model: str, example_id: str, split: str | None) -> str:
    """The ``evals render`` command that prints the exact request of one drill-down row; every
    argument shell-quoted, so a hostile name stays one argument.

    >>> render_command("inbox-triage", "smollm2-135m", "triage-041", "test")
    'evals render --suite inbox-triage --model smollm2-135m --example triage-041 --split test'
    >>> render_command("s", "m", "a b; rm -rf /", None)
    "evals render --suite s --model m --example 'a b; rm -rf /'"
    """
    head, tail = _command_around(suite, model, split)
    return f"{head} {shlex.quote(example_id)}{tail}"


def _command_around(suite: str, model: str, split: str | None) -> tuple[str, str]:
    """:func:`render_command` before and after its example id."""
    head = " ".join(shlex.quote(p) for p in ("evals", "render", "--suite", suite, "--model", model, "--example"))
    return head, (" --split " + shlex.quote(split)) if split else ""


def _command(quoted: dict[Any, tuple[str, str]], suite: str, model: str, example_id: str, split: str | None) -> str:
    """:func:`render_command`, with the names that repeat on every row (suite, model, split) quoted once."""
    key = (suite, model, split)
    around = quoted.get(key)
    if around is None:
        around = quoted[key] = _command_around(suite, model, split)
    return f"{around[0]} {shlex.quote(example_id)}{around[1]}"


def drilldown(frame: Any, *, byte_budget: int = DEFAULT_BYTE_BUDGET, text_limit: int = DEFAULT_TEXT_LIMIT,
              baseline_rows: dict[tuple, dict[str, Any]] | None = None) -> dict[str, Any]:
    """The rows to embed and a description of the sampling.

    Args:
        frame: the run's results.
        byte_budget: stop adding examples once the embedded JSON would exceed this many bytes.
        text_limit: characters kept of each prompt, output, gold, error message and scorer detail.
        baseline_rows: (suite, model, example_id, repeat) -> the baseline run's ``score``, ``output``,
            ``error`` and whether the request changed (``prompt_changed``), shown beside each row.
    """
    if frame is None or not len(frame):
        return {"rows": [], "rows_json": "[]", "sampling": {"total_rows": 0, "total_examples": 0, "rows": 0, "examples": 0,
                                         "complete": True, "truncated_texts": 0, "text_limit": text_limit,
                                         "by_tier": {}, "tiers_total": {}, "byte_budget": byte_budget}}
    order = example_priorities(frame)
    col = {c: (frame[c].tolist() if c in frame.columns else [None] * len(frame)) for c in _COLUMNS}
    groups: dict[tuple[Any, Any], list[int]] = {}  # (suite, example_id) -> row positions, ascending
    for i, key in enumerate(zip(col["suite"], col["example_id"])):
        groups.setdefault(key, []).append(i)
    quoted: dict[Any, tuple[str, str]] = {}  # suite, model, split: shell-quoted once (see _command)
    # a tool-calling suite's answer is its calls as much as its text: shown together as the output
    col["output"] = [f"{o or ''}\n[tool calls] {c}".strip() if isinstance(c, str) else o
                     for o, c in zip(col["output"], col["tool_calls"])]
    rows: list[dict[str, Any]] = []
    texts_json: list[str] = []  # each taken block's rows as strict JSON, written once (see rows_json)
    used = truncated = misses = 0
    taken_by_tier: dict[str, int] = {}
    baseline_rows = baseline_rows or {}
    for suite, example_id, tier in zip(*(order[c].tolist() for c in ("suite", "example_id", "tier"))):
        index = sorted(groups[(suite, example_id)], key=lambda i: (str(col["model"][i]), col["repeat"][i] or 0))
        block = []
        for i in index:
            texts = {}
            for short, name in (("p", "prompt_text"), ("o", "output"), ("g", "gold"), ("em", "error_message"),
                                ("d", "detail")):
                texts[short], cut = _text(col[name][i], text_limit)
                truncated += cut
            sub = col["subscores"][i]
            try:
                sub = json.loads(sub) if isinstance(sub, str) else None
            except ValueError:
                sub = None
            repeat = int(col["repeat"][i] or 0)
            error = col["error"][i]
            split = col["split"][i]
            split = None if split is None or (isinstance(split, float) and math.isnan(split)) else str(split)
            row = {
                "s": str(suite), "e": str(example_id), "m": str(col["model"][i]), "r": repeat,
                "v": str(col["variant"][i] or ""), "sc": _num(col["score"][i]), "ss": sub,
                "err": None if error is None or (isinstance(error, float) and math.isnan(error)) else str(error),
                **texts, "c": _num(col["cost_usd"][i]), "l": _num(col["latency_ms"][i]), "t": int(tier),
                "cmd": _command(quoted, str(suite), str(col["model"][i]), str(example_id), split),
            }
            base = baseline_rows.get((str(suite), str(col["model"][i]), str(example_id), repeat))
            if base is not None:
                row["b"] = base["score"]
                row["bo"], cut = _text(base["output"], text_limit)
                truncated += cut
                row["be"] = base["error"]
                row["pc"] = bool(base["prompt_changed"])
            block.append(row)
        text, size = _block_json(block)
        if used + size > byte_budget and rows:
            misses += 1
            if misses > 50:
                break
            continue  # a later, smaller example may still fit
        rows.extend(block)
        texts_json.append(text[1:-1])
        used += size
        taken_by_tier[TIERS[int(tier)]] = taken_by_tier.get(TIERS[int(tier)], 0) + 1
        if used >= byte_budget:
            break
    tiers_total = {TIERS[int(t)]: int(c) for t, c in order["tier"].value_counts().sort_index().items()}
    n_examples = sum(taken_by_tier.values())
    return {"rows": rows, "rows_json": "[" + ", ".join(texts_json) + "]", "sampling": {
        "total_rows": int(len(frame)), "total_examples": int(len(order)), "rows": len(rows),
        "examples": n_examples, "complete": n_examples == len(order), "truncated_texts": truncated,
        "text_limit": text_limit, "by_tier": taken_by_tier, "tiers_total": tiers_total,
        "byte_budget": byte_budget,
    }}
