"""Aggregates of a run: per suite, model and slice, every metric with a bootstrap interval.

``aggregate(results)`` turns the per-example rows of ``results.parquet`` into a long table, written as
``reports/<run-id>/aggregates.parquet`` with the columns :data:`AGGREGATE_COLUMNS`:

- ``slice``: ``all``, or a context-length bucket such as ``context:0-512`` (prompt tokens);
- ``value, ci_low, ci_high``: the point estimate and its 95% bootstrap interval. Intervals resample
  *examples* (all repeats of an example together), so ``--repeats`` does not fake precision. A null
  value means "unknown" (for example an unpriced model), never zero;
- ``n``: examples behind a quality metric, calls behind a cost or latency metric;
- ``note``: the assumption or warning a reader must see next to the number.

Metrics (all in [0, 1] unless a unit is named):

- every suite: ``quality`` (mean score; a failed call counts as 0), ``error_rate``, ``calls`` and
  ``errors`` (counts), ``subscore:<name>``,
  ``repeat_sd`` (mean per-example standard deviation across repeats, with ``--repeats`` > 1),
  ``min_detectable_difference`` (warning in ``note`` when the suite is too small to detect
  ``needed_difference``), ``cost_per_call_usd``, ``cost_per_1k_calls_usd``, ``latency_p50_ms``,
  ``latency_p95_ms``, ``latency_p99_ms``, ``ttft_p50_ms``/``ttft_p95_ms`` where a provider streamed;
- classification: ``accuracy``, ``macro_f1`` (scikit-learn's ``f1_score(average="macro")`` over the
  label set; an invalid answer or failed call is a miss, never mapped to a label), ``invalid_label_rate``
  (share of answered calls outside the label set), ``precision:<label>``, ``recall:<label>``,
  ``f1:<label>``, and ``confusion:<gold>-><predicted>`` counts (``<invalid>`` for answers outside the set);
- extraction: ``parse_rate``, ``schema_valid_rate``, ``exact_record_rate``, ``field_precision``,
  ``field_recall``, ``field_f1`` (micro over all fields), and per field ``field_precision:<path>``,
  ``field_recall:<path>``, ``field_f1:<path>``;
- writing (voice): the sub-scores, plus ``voice_model_cv_auc`` from the scorer's own cross-validation;
- paired comparisons on slice ``all``: ``paired_diff_vs:<other>`` (this model's mean per-example score
  minus the other's, on the examples both ran; paired bootstrap) and, for pass/fail suites,
  ``mcnemar_p_vs:<other>`` (exact McNemar p-value).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from evals.stats import (
    LARGE_N, bootstrap_ci, mcnemar, min_detectable_difference, paired_bootstrap, per_example_means, percentile,
    percentile_ci, ratio_ci, suite_size_warning, z_value,
)

AGGREGATES_FORMAT = 1
AGGREGATE_COLUMNS = ["suite", "model", "slice", "metric", "value", "ci_low", "ci_high", "n", "note"]
CONTEXT_BUCKETS: tuple[tuple[int, int | None], ...] = ((0, 512), (512, 2048), (2048, 8192), (8192, 32768),
                                                       (32768, None))
INVALID = "<invalid>"


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


def _loads(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return json.loads(value) if isinstance(value, str) else value


class _Out:
    """Collects aggregate rows for one (suite, model, slice)."""

    def __init__(self, suite: str, model: str, slice_: str, rows: list[dict[str, Any]]):
        self.key = {"suite": suite, "model": model, "slice": slice_}
        self.rows = rows

    def add(self, metric: str, value: float | None, low: float | None = None, high: float | None = None,
            n: int = 0, note: str | None = None) -> None:
        def clean(x: float | None) -> float | None:
            return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)

        self.rows.append({**self.key, "metric": metric, "value": clean(value), "ci_low": clean(low),
                          "ci_high": clean(high), "n": int(n), "note": note})

    def ratio(self, metric: str, num: Iterable[float], den: Iterable[float], boot: dict[str, Any],
              note: str | None = None) -> None:
        num, den = np.asarray(list(num), dtype=float), np.asarray(list(den), dtype=float)
        point, low, high = ratio_ci(num, den, **boot)
        self.add(metric, point, low, high, int(np.count_nonzero(den)), note)


def _by_example(group: Any) -> tuple[list[str], np.ndarray]:
    """Example ids and, per row, the index of its example (for cluster sums)."""
    codes, ids = np.unique(group["example_id"].astype(str).to_numpy(), return_inverse=True)
    return list(codes), ids


def _sum_by(ids: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(ids, weights=values.astype(float), minlength=n)


def _general(out: _Out, group: Any, boot: dict[str, Any], needed_difference: float,
             price_note: tuple[str | None, str | None] | None) -> None:
    ex_ids, ids = _by_example(group)
    n_ex = len(ex_ids)
    ones = np.ones(len(group))
    failed = group["error"].notna().to_numpy()
    scores = np.where(failed, 0.0, group["score"].astype(float).fillna(0.0).to_numpy())
    out.ratio("quality", _sum_by(ids, scores, n_ex), _sum_by(ids, ones, n_ex), boot,
              "mean score per example; a failed call counts as 0")
    out.ratio("error_rate", _sum_by(ids, failed.astype(float), n_ex), _sum_by(ids, ones, n_ex), boot)
    out.add("calls", len(group), None, None, len(group))
    out.add("errors", int(failed.sum()), None, None, len(group))
    subs = [(_loads(s) or {}) for s in group["subscores"]]
    for name in sorted({k for s in subs for k in s}):
        vals = np.array([float(s.get(name, 0.0)) if s else 0.0 for s in subs])
        has = np.array([bool(s) and name in s for s in subs], dtype=float)
        # a failed call has no sub-scores: count it as 0 like the quality, so rates stay comparable
        has = np.where(failed, 1.0, has)
        out.ratio(f"subscore:{name}", _sum_by(ids, vals * has, n_ex), _sum_by(ids, has, n_ex), boot)
    frame = group.assign(score=scores)
    means = per_example_means(frame)
    if len(means) and means["repeats"].max() > 1:
        sds = means["repeat_sd"].dropna().to_numpy()
        low, high = bootstrap_ci(sds, **boot)
        out.add("repeat_sd", float(np.mean(sds)) if len(sds) else math.nan, low, high, len(sds),
                "mean per-example standard deviation of the score across repeats")
    sd = float(np.std(means["score"], ddof=1)) if len(means) > 1 else math.nan
    mde = min_detectable_difference(n_ex, sd)
    note = suite_size_warning(n_ex, sd, needed_difference)
    out.add("min_detectable_difference", mde if math.isfinite(mde) else None, None, None, n_ex, note)
    _cost(out, group, boot, price_note)
    latency = group["latency_ms"].dropna().astype(float).to_numpy()
    for q in (50, 95, 99):
        low, high = percentile_ci(latency, q, **boot)
        out.add(f"latency_p{q}_ms", percentile(latency, q), low, high, len(latency))
    ttft = group["ttft_ms"].dropna().astype(float).to_numpy() if "ttft_ms" in group else np.array([])
    if len(ttft):
        for q in (50, 95):
            low, high = percentile_ci(ttft, q, **boot)
            out.add(f"ttft_p{q}_ms", percentile(ttft, q), low, high, len(ttft), "time to first token")


def _cost(out: _Out, group: Any, boot: dict[str, Any], price_note: tuple[str | None, str | None] | None) -> None:
    note, warning = price_note or (None, None)
    costs = group["cost_usd"].astype(float).to_numpy()
    failed = group["error"].notna().to_numpy()
    # a failed call that reported no usage has no cost to show; an answered call without one is unknown
    unpriced = int((np.isnan(costs) & ~failed).sum())
    if warning is None and unpriced:
        warning = f"price unknown for {unpriced} of {len(costs)} calls"
    costs = costs[~np.isnan(costs)]
    if warning is not None or not len(costs):
        text = "; ".join(x for x in (warning, note) if x)
        out.add("cost_per_call_usd", None, None, None, len(costs), text or None)
        out.add("cost_per_1k_calls_usd", None, None, None, len(costs), text or None)
        return
    low, high = bootstrap_ci(costs, **boot)
    out.add("cost_per_call_usd", float(costs.mean()), low, high, len(costs), note)
    out.add("cost_per_1k_calls_usd", float(costs.mean()) * 1000, low * 1000, high * 1000, len(costs), note)


def _classification(out: _Out, group: Any, boot: dict[str, Any], labels: list[str] | None) -> None:
    gold = [str(_loads(g)) for g in group["gold"]]
    failed = group["error"].notna().to_numpy()
    details = [(_loads(d) or {}) for d in group["detail"]]
    pred = [INVALID if f or d.get("predicted") is None else str(d["predicted"]) for f, d in zip(failed, details)]
    labels = sorted(set(labels or []) | set(gold) | (set(pred) - {INVALID}))
    ex_ids, ids = _by_example(group)
    n_ex = len(ex_ids)
    ones = np.ones(len(group))
    g, p = np.array(gold, dtype=object), np.array(pred, dtype=object)
    out.ratio("accuracy", _sum_by(ids, (g == p).astype(float), n_ex), _sum_by(ids, ones, n_ex), boot)
    answered = (~failed).astype(float)
    out.ratio("invalid_label_rate", _sum_by(ids, ((p == INVALID) & ~failed).astype(float), n_ex),
              _sum_by(ids, answered, n_ex), boot, "answers outside the label set, among answered calls")
    tp = np.stack([_sum_by(ids, ((g == c) & (p == c)).astype(float), n_ex) for c in labels])
    fp = np.stack([_sum_by(ids, ((g != c) & (p == c)).astype(float), n_ex) for c in labels])
    fn = np.stack([_sum_by(ids, ((g == c) & (p != c)).astype(float), n_ex) for c in labels])
    point = macro_f1_from_counts(tp.sum(1), fp.sum(1), fn.sum(1))
    low = high = point
    if n_ex > LARGE_N:
        low, high = macro_f1_jackknife_ci(tp, fp, fn, boot["confidence"])
    elif n_ex > 1:
        rng = np.random.default_rng(boot["seed"])
        idx = rng.integers(0, n_ex, size=(boot["n_boot"], n_ex))
        boots = macro_f1_from_counts(tp[:, idx].sum(2), fp[:, idx].sum(2), fn[:, idx].sum(2))
        alpha = (1 - boot["confidence"]) / 2
        low, high = float(np.quantile(boots, alpha)), float(np.quantile(boots, 1 - alpha))
    out.add("macro_f1", float(point), low, high, n_ex, f"over labels {', '.join(labels)}; invalid answers are misses")
    for i, c in enumerate(labels):
        out.ratio(f"precision:{c}", tp[i], tp[i] + fp[i], boot)
        out.ratio(f"recall:{c}", tp[i], tp[i] + fn[i], boot)
        out.ratio(f"f1:{c}", 2 * tp[i], 2 * tp[i] + fp[i] + fn[i], boot)
    for gc in labels:
        for pc in [*labels, INVALID]:
            count = int(np.sum((g == gc) & (p == pc)))
            if count:
                out.add(f"confusion:{gc}->{pc}", count, None, None, len(group), "count of calls")


def macro_f1_jackknife_ci(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, confidence: float) -> tuple[float, float]:
    """Normal interval of macro-F1 with a leave-one-example-out jackknife standard error.

    ``tp``, ``fp``, ``fn`` are per-class x per-example counts. O(classes x examples), for large runs
    where a bootstrap's resample matrix would not fit in memory.
    """
    n = tp.shape[1]
    totals = [x.sum(1, keepdims=True) for x in (tp, fp, fn)]
    leave_one_out = macro_f1_from_counts(totals[0] - tp, totals[1] - fp, totals[2] - fn)
    se = math.sqrt((n - 1) / n * float(np.sum((leave_one_out - leave_one_out.mean()) ** 2)))
    point = float(macro_f1_from_counts(*(t[:, 0] for t in totals)))
    half = z_value(confidence) * se
    return (point - half, point + half)


def macro_f1_from_counts(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> Any:
    """Macro-F1 from per-class counts (classes on axis 0); a class with no support and no predictions
    scores 0, as scikit-learn's ``zero_division=0`` does.

    >>> float(macro_f1_from_counts(np.array([1, 0]), np.array([0, 1]), np.array([1, 0])))
    0.3333333333333333
    """
    denom = 2 * tp + fp + fn
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(denom > 0, 2 * tp / np.where(denom > 0, denom, 1), 0.0)
    return f1.mean(axis=0)


def _extraction(out: _Out, group: Any, boot: dict[str, Any]) -> None:
    ex_ids, ids = _by_example(group)
    n_ex = len(ex_ids)
    ones = np.ones(len(group))
    failed = group["error"].notna().to_numpy()
    subs = [(_loads(s) or {}) for s in group["subscores"]]
    for metric, key in (("parse_rate", "parsed"), ("schema_valid_rate", "schema_valid"),
                        ("exact_record_rate", "exact_record")):
        vals = np.array([0.0 if f else float(s.get(key, 0.0)) for f, s in zip(failed, subs)])
        out.ratio(metric, _sum_by(ids, vals, n_ex), _sum_by(ids, ones, n_ex), boot,
                  "share of all calls; a failed call counts as 0")
    fields = [(_loads(d) or {}).get("fields") or {} for d in group["detail"]]
    paths = sorted({p for f in fields for p in f})
    totals = np.zeros((3, n_ex))
    for path in paths:
        cells = [f.get(path) for f in fields]
        tp = np.array([bool(c and c["gold"] and c["pred"] and c["correct"]) for c in cells], dtype=float)
        fp = np.array([bool(c and c["pred"] and not c["correct"]) for c in cells], dtype=float)
        # a failed call or a missing field misses every gold value
        fn = np.array([bool(c["gold"] and not c["correct"]) if c else False for c in cells], dtype=float)
        tp_e, fp_e, fn_e = (_sum_by(ids, x, n_ex) for x in (tp, fp, fn))
        totals += np.stack([tp_e, fp_e, fn_e])
        out.ratio(f"field_precision:{path}", tp_e, tp_e + fp_e, boot)
        out.ratio(f"field_recall:{path}", tp_e, tp_e + fn_e, boot)
        out.ratio(f"field_f1:{path}", 2 * tp_e, 2 * tp_e + fp_e + fn_e, boot)
    tp_e, fp_e, fn_e = totals
    # calls that failed or did not parse still owe their gold values: count them as misses
    out.ratio("field_precision", tp_e, tp_e + fp_e, boot, "micro over all fields")
    out.ratio("field_recall", tp_e, tp_e + fn_e, boot, "micro over all fields")
    out.ratio("field_f1", 2 * tp_e, 2 * tp_e + fp_e + fn_e, boot, "micro over all fields")


def _paired(rows: list[dict[str, Any]], suite: str, group: Any, boot: dict[str, Any]) -> None:
    failed = group["error"].notna()
    frame = group.assign(score=group["score"].astype(float).where(~failed, 0.0).fillna(0.0))
    means = per_example_means(frame)
    binary = bool(frame["score"].isin([0.0, 1.0]).all())
    table = means.pivot(index="example_id", columns="model", values="score")
    for model in table.columns:
        out = _Out(suite, model, "all", rows)
        for other in table.columns:
            if other == model:
                continue
            both = table[[model, other]].dropna()
            diff = paired_bootstrap(both[other].to_numpy(), both[model].to_numpy(), **boot)
            out.add(f"paired_diff_vs:{other}", diff.diff, diff.ci_low, diff.ci_high, diff.n,
                    f"mean per-example score of {model} minus {other} on the examples both ran")
            if binary:
                test = mcnemar(both[other].to_numpy() >= 0.5, both[model].to_numpy() >= 0.5)
                out.add(f"mcnemar_p_vs:{other}", test.p_value, None, None, diff.n,
                        f"exact McNemar: {test.c} examples only {model} passes, {test.b} only {other} passes")


def aggregate(results: Any, *, models: Mapping[str, Any] | None = None,
              scorer_info: Mapping[str, Mapping[str, Any]] | None = None, baselines: Any = None,
              needed_difference: float = 0.05,
              confidence: float = 0.95, n_boot: int = 2000, seed: int = 0) -> Any:
    """Aggregate per-example results (the ``results.parquet`` frame) into the long aggregates table.

    ``models`` maps model id to its :class:`~evals.config.models.ModelSpec` (to state each price's basis
    and warn about unknown or stale prices); ``scorer_info`` maps suite name to its scorer's ``info()``
    (labels, the voice model's AUC). ``needed_difference`` is the smallest quality difference a rule
    change relies on; suites that cannot detect it get a warning. ``baselines`` is the frame of
    ``baselines.parquet`` (a trivial answer's scores per suite; see CONTRACTS: to be used by the metrics
    work). Pure: same input, same table.
    """
    import pandas as pd

    from evals.costs import price_info

    boot = {"confidence": confidence, "n_boot": n_boot, "seed": seed}
    rows: list[dict[str, Any]] = []
    if results is None or len(results) == 0:
        return pd.DataFrame(rows, columns=AGGREGATE_COLUMNS)
    frame = results.copy()
    frame["_slice"] = [context_bucket(t) for t in frame["context_tokens"]]
    prices = {}
    for model_id, spec in (models or {}).items():
        info = price_info(spec)
        prices[model_id] = (info.note, info.warning)
    for (suite, model), group in frame.groupby(["suite", "model"], sort=True):
        task = str(group["task"].iloc[0])
        info = dict((scorer_info or {}).get(suite, {}))
        slices = [("all", group)] + [(name, g) for name, g in group.groupby("_slice", sort=True)]
        for slice_name, part in slices:
            out = _Out(suite, model, slice_name, rows)
            _general(out, part, boot, needed_difference, prices.get(model))
            if task == "classification":
                _classification(out, part, boot, info.get("labels"))
            elif task == "extraction":
                _extraction(out, part, boot)
            if "voice_model" in info and slice_name == "all":
                vm = info["voice_model"]
                out.add("voice_model_cv_auc", vm.get("cv_auc"), vm.get("cv_auc_low"), vm.get("cv_auc_high"),
                        vm.get("n_train", 0), vm.get("note"))
    for suite, group in frame.groupby("suite", sort=True):
        if group["model"].nunique() > 1:
            _paired(rows, suite, group, boot)
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
    unknown), ``cost_note``, ``p50_ms, p95_ms`` and ``warnings`` (price and suite-size warnings).
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
            return None if row is None or row.value is None or pd_isna(row.value) else float(row.value)

        quality, cost = by.get("quality"), by.get("cost_per_1k_calls_usd")
        error_rate = value("error_rate")
        cost_note = None if cost is None or pd_isna(cost.note) else cost.note
        mde = by.get("min_detectable_difference")
        warnings = [mde.note] if mde is not None and not pd_isna(mde.note) else []
        if cost is not None and value("cost_per_1k_calls_usd") is None:
            warnings.insert(0, cost_note or "price unknown")
        out.append({
            "suite": suite, "model": model, "n": int(quality.n) if quality is not None else 0,
            "quality": value("quality"), "ci_low": quality.ci_low if quality is not None else None,
            "ci_high": quality.ci_high if quality is not None else None,
            "error_rate": error_rate,
            "calls": int(value("calls") or 0), "errors": int(value("errors") or 0),
            "cost_per_1k_usd": value("cost_per_1k_calls_usd"), "cost_note": cost_note,
            "p50_ms": value("latency_p50_ms"), "p95_ms": value("latency_p95_ms"), "warnings": warnings,
        })
    return out


def pd_isna(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))
