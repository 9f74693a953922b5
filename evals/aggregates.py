"""Aggregates of a run: per suite, model and slice, every metric with its interval.

``aggregate(results)`` turns the per-example rows of ``results.parquet`` into a long table, written as
``reports/<run-id>/aggregates.parquet`` with the columns :data:`AGGREGATE_COLUMNS`. Every number comes
from :mod:`evals.metrics` (one definition each, shared with the recommender and the report):

- ``slice``: ``all``, or a context-length bucket such as ``context:0-512`` (prompt tokens);
- ``value, ci_low, ci_high``: the point estimate and its 95% interval (:mod:`evals.stats`). Intervals
  resample *examples* (all repeats of an example together), so ``--repeats`` does not fake precision. A
  null value means "unknown" (for example an unpriced model), never zero;
- ``n``: examples behind a quality metric or rate, calls behind a count, cost or latency metric;
- ``note``: the assumption or warning a reader must see next to the number.

**Failures** are sorted, not averaged away (:mod:`evals.metrics`): an *answer failure* (refused,
truncated) scores 0 in quality; an *infrastructure failure* (rate limit, timeout, server error, ...) is
left out of quality and counted in ``availability``.

Metrics (all in [0, 1] unless a unit is named):

- every suite: ``quality`` (mean over examples of the per-example mean score), ``availability`` (share
  of calls without an infrastructure failure, Wilson interval), ``error_rate`` (any failure); counts
  ``calls``, ``errors`` (= ``infra_failures`` + ``answer_failures``), ``infra_failures``,
  ``answer_failures``, ``truncated``, ``refused``, ``failures:<kind>`` and ``cached``;
  ``subscore:<name>``, ``repeat_sd`` (with ``--repeats`` > 1), ``cost_per_call_usd`` and
  ``cost_per_1k_calls_usd`` (mean over priced calls; null only when no call has a price),
  ``cost_total_usd``, ``judge_cost_usd`` (with a judge), ``latency_p50_ms``, ``latency_p95_ms``,
  ``latency_p99_ms``, ``ttft_p50_ms``/``ttft_p95_ms`` where a provider streamed;
- classification: ``accuracy``, ``macro_f1``, ``invalid_label_rate``, ``precision:<label>``,
  ``recall:<label>``, ``f1:<label>``, ``confusion:<gold>-><predicted>`` (``<invalid>`` for answers
  outside the set and answer failures); labels normalised by the scorer's own normaliser;
- extraction: ``parse_rate``, ``schema_valid_rate``, ``exact_record_rate``, ``field_precision``,
  ``field_recall``, ``field_f1`` (micro) and per field ``field_precision:<path>``, ``field_recall:<path>``,
  ``field_f1:<path>``; ``both_null:<path>`` counts fields null on both sides (never counted as matched);
- tool calls (:mod:`evals.metrics.tool_calls`): ``tool_macro_f1``, ``tool_precision:<tool>``,
  ``tool_recall:<tool>``, ``tool_f1:<tool>``, ``tool_confusion:<gold>-><predicted>`` (``no_call`` for no
  call), ``kind_accuracy:<call|no_tool|clarify>``, ``argument_precision``/``argument_recall``/
  ``argument_f1`` (micro) and per argument ``argument_f1:<tool>.<argument>`` (with precision and recall);
- writing (voice): the sub-scores, plus ``voice_model_cv_auc`` from the scorer's own cross-validation.

On slice ``all`` only, per model, from comparisons within its suite:

- ``paired_diff_vs:<other>`` (this model's mean per-example score minus the other's, on the examples
  both answered; :func:`evals.stats.paired_difference`) and, for pass/fail suites, ``mcnemar_p_vs:<other>``;
- ``min_detectable_difference``: from the sd of the paired differences against the other models (or,
  alone, the baseline); the note warns ("suite too small") when it exceeds ``needed_difference``;
- baselines (with ``baselines=``, the frame of ``baselines.parquet``; the baseline's name is in each
  ``note``): ``baseline_quality`` (the suite's trivial answer on the same examples, same interval rule),
  ``paired_diff_vs_baseline`` and ``beats_baseline`` (1 when the paired difference's lower bound is above
  0, else 0);
- ``pareto``: 1 when the model is on the suite's quality-vs-cost frontier (priced, beats the baseline,
  not dominated), else 0, with the reason in ``note``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping

from evals.metrics import (
    Calls, Estimate, INVALID, availability, classification_metrics, compare_to_baseline, cost_per_call,
    detectable_difference, error_rate, example_scores, extraction_metrics, failure_counts, is_pass_fail,
    judge_cost, latency_percentiles, paired_metrics, pareto_frontier, per_1k, quality, repeat_sd, subscores,
    suite_baseline, tool_call_metrics, total_cost,
)
from evals.metrics.paired import TOO_SMALL
from evals.metrics.classification import macro_f1_ci, macro_f1_from_counts  # noqa: F401 (re-exported)
from evals.stats import LARGE_N  # noqa: F401 (re-exported: tests switch the large-n path here and in evals.stats)

AGGREGATES_FORMAT = 2  # 2: infrastructure failures left out of quality; availability, baselines, pareto
AGGREGATE_COLUMNS = ["suite", "model", "slice", "metric", "value", "ci_low", "ci_high", "n", "note"]
CONTEXT_BUCKETS: tuple[tuple[int, int | None], ...] = ((0, 512), (512, 2048), (2048, 8192), (8192, 32768),
                                                       (32768, None))
__all__ = ["AGGREGATES_FORMAT", "AGGREGATE_COLUMNS", "INVALID", "aggregate", "context_bucket", "read_aggregates",
           "summary_table", "write_aggregates"]


def context_bucket(tokens: float | None) -> str:
    """The slice name of a prompt length.

    >>> context_bucket(100), context_bucket(512), context_bucket(40000), context_bucket(None)
    ('context:0-512', 'context:512-2048', 'context:32768+', 'context:unknown')
    """
    if tokens is None or (isinstance(tokens, float) and math.isnan(tokens)):
        return "context:unknown"
    for low, high in CONTEXT_BUCKETS:
        if high is None or tokens < high:
            return f"context:{low}-{high}" if high is not None else f"context:{low}+"
    raise AssertionError("unreachable")


class _Out:
    """Collects aggregate rows for one (suite, model, slice)."""

    def __init__(self, suite: str, model: str, slice_: str, rows: list[dict[str, Any]]):
        self.key = {"suite": suite, "model": model, "slice": slice_}
        self.rows = rows

    def add(self, metric: str, e: Estimate) -> None:
        self.rows.append({**self.key, "metric": metric, "value": e.value, "ci_low": e.ci_low, "ci_high": e.ci_high,
                          "n": e.n, "note": e.note})

    def count(self, metric: str, value: int, n: int, note: str | None = None) -> None:
        self.add(metric, Estimate.count(value, n, note))


def _general(out: _Out, calls: Calls, kw: dict[str, Any],
             price: tuple[str | None, str | None]) -> tuple[Estimate, Estimate]:
    """The metrics of every suite; returns quality and the cost per 1k calls (for the Pareto pass)."""
    overall = quality(calls, **kw)
    out.add("quality", overall)
    out.add("availability", availability(calls, confidence=kw["confidence"]))
    out.add("error_rate", error_rate(calls, confidence=kw["confidence"]))
    counts = failure_counts(calls)
    out.count("calls", counts.calls, counts.calls)
    out.count("errors", counts.errors, counts.calls, "infrastructure plus answer failures")
    out.count("infra_failures", counts.infra, counts.calls,
              "rate limits, timeouts, server errors, ...: availability, left out of quality")
    out.count("answer_failures", counts.answer, counts.calls, "refused or truncated answers: score 0 in quality")
    out.count("truncated", counts.truncated, counts.calls, "answers cut off (at max_tokens, or stopped in a loop)")
    out.count("refused", counts.refused, counts.calls)
    for kind, count in counts.by_kind.items():
        out.count(f"failures:{kind}", count, counts.calls)
    cached = calls.column("cached")
    out.count("cached", int(sum(bool(c) for c in cached if c is not None and c == c)), counts.calls)
    for name, estimate in subscores(calls, **kw).items():
        out.add(name, estimate)
    sd = repeat_sd(calls, **kw)
    if sd is not None:
        out.add("repeat_sd", sd)
    note, warning = price
    cost = cost_per_call(calls, price_note=note, price_warning=warning, **kw)
    out.add("cost_per_call_usd", cost)
    out.add("cost_per_1k_calls_usd", per_1k(cost))
    out.add("cost_total_usd", total_cost(calls))
    judged = judge_cost(calls)
    if judged is not None:
        out.add("judge_cost_usd", Estimate(judged.value, None, None, judged.n, "what scoring with an LLM judge cost"))
    for q, estimate in latency_percentiles(calls, (50, 95, 99), **kw).items():
        out.add(f"latency_p{q}_ms", estimate)
    for q, estimate in latency_percentiles(calls, (50, 95), column="ttft_ms", **kw).items():
        out.add(f"ttft_p{q}_ms", Estimate(estimate.value, estimate.ci_low, estimate.ci_high, estimate.n,
                                          "time to first token"))
    return overall, per_1k(cost)


def _suite_pass(rows: list[dict[str, Any]], suite: str, scores: dict[str, Any], pass_fail: bool,
                costs: dict[str, Estimate], qualities: dict[str, Estimate], baselines: Any, kw: dict[str, Any],
                needed_difference: float) -> None:
    """Comparisons within a suite (slice ``all``): paired differences, power, the baseline, the frontier."""
    examples = sorted({e for s in scores.values() for _, e in s.index})
    bar = suite_baseline(baselines, suite, examples)
    beats: dict[str, bool | None] = {}
    for model in sorted(scores):
        out = _Out(suite, model, "all", rows)
        for name, estimate in paired_metrics(model, scores, pass_fail, **kw).items():
            out.add(name, estimate)
        others = {m: s for m, s in scores.items() if m != model}
        if not others and bar is not None:
            others = {f"the {bar.name} baseline": bar.scores}
        out.add("min_detectable_difference", detectable_difference(scores[model], others, needed_difference).estimate)
        if bar is not None:
            out.add("baseline_quality", bar.quality(**kw))
            result = compare_to_baseline(scores[model], bar, **kw)
            d = result.diff
            out.add("paired_diff_vs_baseline", Estimate(d.diff, d.ci_low, d.ci_high, d.n,
                                                        f"mean per-example score minus the {bar.name} baseline's"))
            beats[model] = result.beats
            out.add("beats_baseline", Estimate(None if result.beats is None else float(result.beats), None, None,
                                               d.n, result.note))
    points = [{"model": m, "cost": costs[m].value, "quality": qualities[m].value, "beats_baseline": beats.get(m)}
              for m in sorted(scores)]
    frontier = pareto_frontier(points)
    for p in points:
        if p["model"] in frontier:
            note = "on the quality-vs-cost frontier"
        elif p["beats_baseline"] is False:
            note = "not on the frontier: does not beat the baseline"
        elif p["cost"] is None or p["quality"] is None:
            note = "not on the frontier: unknown cost" if p["cost"] is None else "not on the frontier: no quality"
        else:
            note = "not on the frontier: another model is at least as good for less"
        _Out(suite, p["model"], "all", rows).add("pareto", Estimate(float(p["model"] in frontier), None, None,
                                                                    qualities[p["model"]].n, note))


def aggregate(results: Any, *, models: Mapping[str, Any] | None = None,
              scorer_info: Mapping[str, Mapping[str, Any]] | None = None, baselines: Any = None,
              needed_difference: float = 0.05,
              confidence: float = 0.95, n_boot: int = 2000, seed: int = 0) -> Any:
    """Aggregate per-example results (the ``results.parquet`` frame) into the long aggregates table.

    ``models`` maps model id to its :class:`~evals.config.models.ModelSpec` (to state each price's basis
    and warn about unknown or stale prices); ``scorer_info`` maps suite name to its scorer's ``info()``
    (labels, the voice model's AUC); ``baselines`` is the frame of ``baselines.parquet`` (each suite's
    trivial answer, scored; see :mod:`evals.metrics.baselines`). ``needed_difference`` is the smallest
    quality difference a rule change relies on; suites that cannot detect it get a warning. Pure: same
    input, same table.
    """
    import pandas as pd

    from evals.costs import price_info

    kw = {"confidence": confidence, "n_boot": n_boot, "seed": seed}
    rows: list[dict[str, Any]] = []
    if results is None or len(results) == 0:
        return pd.DataFrame(rows, columns=AGGREGATE_COLUMNS)
    frame = results.copy()
    frame["_slice"] = [context_bucket(t) for t in frame["context_tokens"]]
    prices = {}
    for model_id, spec in (models or {}).items():
        info = price_info(spec)
        prices[model_id] = (info.note, info.warning)
    per_suite: dict[str, dict[str, Any]] = {}
    for (suite, model), group in frame.groupby(["suite", "model"], sort=True):
        task = str(group["task"].iloc[0])
        info = dict((scorer_info or {}).get(suite, {}))
        slices = [("all", group)] + [(name, g) for name, g in group.groupby("_slice", sort=True)]
        for slice_name, part in slices:
            out = _Out(suite, model, slice_name, rows)
            calls = Calls.of(part)
            q, cost = _general(out, calls, kw, prices.get(model, (None, None)))
            if task == "classification":
                for name, estimate in classification_metrics(calls, info.get("labels"), **kw).items():
                    out.add(name, estimate)
            elif task == "extraction":
                for name, estimate in extraction_metrics(calls, **kw).items():
                    out.add(name, estimate)
            elif task == "tool_call":
                for name, estimate in tool_call_metrics(calls, info.get("tools"), **kw).items():
                    out.add(name, estimate)
            if slice_name == "all":
                state = per_suite.setdefault(suite, {"scores": {}, "pass_fail": True, "costs": {}, "quality": {}})
                state["scores"][model] = example_scores(calls)
                state["pass_fail"] = state["pass_fail"] and is_pass_fail(calls)
                state["costs"][model] = cost
                state["quality"][model] = q
                if "voice_model" in info:
                    vm = info["voice_model"]
                    out.add("voice_model_cv_auc", Estimate(vm.get("cv_auc"), vm.get("cv_auc_low"),
                                                           vm.get("cv_auc_high"), vm.get("n_train", 0), vm.get("note")))
    for suite, state in per_suite.items():
        _suite_pass(rows, suite, state["scores"], state["pass_fail"], state["costs"], state["quality"], baselines, kw,
                    needed_difference)
    return pd.DataFrame(rows, columns=AGGREGATE_COLUMNS)


def write_aggregates(folder: Path, aggregates: Any) -> Path:
    """Write ``aggregates.parquet`` atomically, with its format version in the Parquet metadata."""
    from evals.runner.store import write_parquet_atomic

    path = Path(folder) / "aggregates.parquet"
    write_parquet_atomic(path, aggregates, {"evals_format_version": str(AGGREGATES_FORMAT),
                                            "evals_artifact": "aggregates"})
    return path


def read_aggregates(folder: Path) -> Any:
    """Read ``<folder>/aggregates.parquet``; refuses a newer format version with a clear message."""
    from evals.errors import UsageError
    from evals.runner.store import read_parquet_artifact

    path = Path(folder) / "aggregates.parquet"
    if not path.exists():
        raise UsageError(f"{path} not found; it is written by `evals run`")
    table, _ = read_parquet_artifact(path, "aggregates", AGGREGATES_FORMAT)
    return table.to_pandas()


def summary_table(aggregates: Any) -> list[dict[str, Any]]:
    """One row per suite and model for the printed table, from the aggregates (slice ``all``).

    Given per-example results instead (no ``metric`` column), aggregates them first (without model
    specs, so a price warning then only says how many calls are unpriced).

    Keys: ``suite, model, n, quality, ci_low, ci_high, calls, errors, error_rate, cost_per_1k_usd`` (None when
    unknown), ``cost_note``, ``p50_ms, p95_ms``, the failure accounting ``infra_failures, answer_failures,
    truncated, refused`` (counts) and ``availability`` (share of calls without an infrastructure failure),
    the bar ``baseline`` (name), ``baseline_quality``, ``beats_baseline`` (True, False or None without a
    baseline), ``pareto`` (bool) and ``warnings`` (unknown prices, infrastructure failures, a baseline not
    beaten, suites too small).
    """
    out: list[dict[str, Any]] = []
    if aggregates is None or len(aggregates) == 0:
        return out
    if "metric" not in aggregates.columns:  # given per-example results: aggregate them first
        aggregates = aggregate(aggregates)
    data = aggregates[aggregates["slice"] == "all"]
    for (suite, model), group in data.groupby(["suite", "model"], sort=True):
        by = {r.metric: r for r in group.itertuples()}

        def value(metric: str) -> float | None:
            row = by.get(metric)
            return None if row is None or pd_isna(row.value) else float(row.value)

        def note(metric: str) -> str | None:
            row = by.get(metric)
            return None if row is None or pd_isna(row.note) else str(row.note)

        quality, cost = by.get("quality"), by.get("cost_per_1k_calls_usd")
        cost_note = note("cost_per_1k_calls_usd")
        warnings = []
        if cost is not None and value("cost_per_1k_calls_usd") is None:
            warnings.append(cost_note or "price unknown")
        if value("infra_failures"):
            warnings.append(note("availability") or f"{int(value('infra_failures'))} infrastructure failures")
        beats = value("beats_baseline")
        if beats == 0.0:
            warnings.append(note("beats_baseline"))
        mde = note("min_detectable_difference")
        if mde is not None and mde.startswith(TOO_SMALL):
            warnings.append(mde)
        baseline = note("baseline_quality")
        out.append({
            "suite": suite, "model": model, "n": int(quality.n) if quality is not None else 0,
            "quality": value("quality"), "ci_low": None if quality is None or pd_isna(quality.ci_low) else quality.ci_low,
            "ci_high": None if quality is None or pd_isna(quality.ci_high) else quality.ci_high,
            "error_rate": value("error_rate"),
            "calls": int(value("calls") or 0), "errors": int(value("errors") or 0),
            "infra_failures": int(value("infra_failures") or 0), "answer_failures": int(value("answer_failures") or 0),
            "truncated": int(value("truncated") or 0), "refused": int(value("refused") or 0),
            "availability": value("availability"),
            "cost_per_1k_usd": value("cost_per_1k_calls_usd"), "cost_note": cost_note,
            "p50_ms": value("latency_p50_ms"), "p95_ms": value("latency_p95_ms"),
            "baseline": baseline.split(":")[0] if baseline else None, "baseline_quality": value("baseline_quality"),
            "beats_baseline": None if beats is None else bool(beats), "pareto": bool(value("pareto")),
            "warnings": warnings,
        })
    return out


def pd_isna(value: Any) -> bool:
    """True for None and NaN."""
    return value is None or (isinstance(value, float) and math.isnan(value))
