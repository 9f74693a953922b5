"""Classification metrics: accuracy, macro-F1, per-class precision/recall/F1, confusion, invalid rate.

Gold labels, predictions and the configured label set all go through the scorer's public label
normaliser (:func:`evals.scorers.classification.normalise_label`), the same one the scorer uses, so
``Inbound Lead`` in the data and ``inbound_lead`` from the model are one label. Infrastructure failures
are left out; an answer failure (refused, truncated) or an answer outside the label set is a miss,
predicted ``<invalid>``, never mapped to a label.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from evals.metrics.calls import Calls, loads
from evals.metrics.estimate import Estimate
from evals.metrics.quality import example_rate

INVALID = "<invalid>"


def label_set(labels: list[str] | None) -> frozenset[str] | None:
    """The configured labels as the scorer holds them (normalised by the scorer's own function)."""
    from evals.scorers.classification import normalise_labels

    return frozenset(normalise_labels(labels)) if labels else None


def _normaliser(labels: frozenset[str] | None):
    from evals.scorers.classification import normalise_label

    return lambda text: normalise_label(text, labels)


def _label(value: Any, normalise) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return normalise(str(value))


def gold_labels(frame: Any, labels: frozenset[str] | None = None) -> np.ndarray:
    """Normalised gold label per row (the ``gold`` column holds JSON), as the scorer normalises it."""
    normalise = _normaliser(labels)
    column = Calls.of(frame).column("gold")
    memo = {raw: _label(loads(raw), normalise) for raw in set(column)}
    return np.array([memo[raw] or "" for raw in column], dtype=object)


def predicted_labels(frame: Any, labels: frozenset[str] | None = None) -> np.ndarray:
    """Normalised predicted label per row; ``<invalid>`` for an answer outside the set or an answer failure,
    None for an infrastructure failure."""
    normalise = _normaliser(labels)
    calls = Calls.of(frame)
    memo: dict[Any, str] = {}
    out = np.empty(len(calls), dtype=object)
    for i, (raw, scored, answered) in enumerate(zip(calls.column("detail"), calls.scored, calls.answered)):
        if not answered:
            out[i] = None
        elif not scored:
            out[i] = INVALID
        else:
            if raw not in memo:
                detail = loads(raw)
                predicted = detail.get("predicted") if isinstance(detail, dict) else None
                memo[raw] = _label(predicted, normalise) or INVALID
            out[i] = memo[raw]
    return out


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


def _leave_one_out(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    totals = [x.sum(1, keepdims=True) for x in (tp, fp, fn)]
    return macro_f1_from_counts(totals[0] - tp, totals[1] - fp, totals[2] - fn)


def _resampled_macro_f1(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Macro-F1 of each resample (rows of ``idx``): the resampled counts are sums by how often each
    example was drawn, one product per count (the same integer sums as ``tp[:, idx].sum(2)``, exactly,
    without gathering classes x n_boot x n values three times; einsum, not BLAS, whose thread team
    spins against the run's own threads on a small machine)."""
    n_boot, n = idx.shape
    draws = np.bincount((np.arange(n_boot)[:, None] * n + idx).ravel(), minlength=n_boot * n)
    weights = draws.reshape(n_boot, n).astype(float)
    return macro_f1_from_counts(*(np.einsum("kn,bn->kb", x, weights) for x in (tp, fp, fn)))


def macro_f1_ci(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, confidence: float, n_boot: int = 2000,
                seed: int = 0) -> tuple[float, float]:
    """Interval of macro-F1 resampling examples: :func:`evals.stats.resampled_ci` (BCa; the jackknife
    normal interval above ``LARGE_N``; the worst case when every example is right).

    ``tp``, ``fp``, ``fn`` are per-class x per-example counts.
    """
    from evals.stats import resampled_ci

    point = float(macro_f1_from_counts(tp.sum(1), fp.sum(1), fn.sum(1)))
    return resampled_ci(lambda idx: _resampled_macro_f1(tp, fp, fn, idx),
                        tp.shape[1], point=point, leave_one_out=_leave_one_out(tp, fp, fn),
                        confidence=confidence, n_boot=n_boot, seed=seed)


def classification_metrics(frame: Any, labels: list[str] | None = None, *, confidence: float = 0.95,
                           n_boot: int = 2000, seed: int = 0) -> dict[str, Estimate]:
    """``accuracy``, ``invalid_label_rate``, ``macro_f1`` (over ``labels`` and every label seen),
    ``precision:<label>``, ``recall:<label>``, ``f1:<label>`` and ``confusion:<gold>-><predicted>``.

    Rates are means over examples (:func:`~evals.metrics.quality.example_rate`); per-class numbers are
    ratios of counts summed over examples (:func:`evals.stats.ratio_ci` resamples examples).
    """
    from evals.stats import ratio_ci

    calls = Calls.of(frame)
    known = label_set(labels)
    answered = calls.answered
    gold = gold_labels(calls, known)
    pred = predicted_labels(calls, known)
    g, p = gold[answered], pred[answered]
    classes = sorted(set(known or ()) | set(g) | (set(p) - {INVALID}))
    kw = {"confidence": confidence, "n_boot": n_boot, "seed": seed}
    out: dict[str, Estimate] = {}
    out["accuracy"] = example_rate(calls, (gold == pred).astype(float), **kw)
    out["invalid_label_rate"] = example_rate(calls, (pred == INVALID).astype(float), calls.scored,
                                             note="answers outside the label set, among scored answers", **kw)
    n_ex = calls.n_examples

    def per_example(mask: np.ndarray) -> np.ndarray:
        return calls.sum_by_example(mask & answered)

    tp = np.stack([per_example((gold == c) & (pred == c)) for c in classes]) if classes else np.zeros((0, n_ex))
    fp = np.stack([per_example((gold != c) & (pred == c)) for c in classes]) if classes else np.zeros((0, n_ex))
    fn = np.stack([per_example((gold == c) & (pred != c)) for c in classes]) if classes else np.zeros((0, n_ex))
    keep = calls.sum_by_example(answered) > 0  # examples with an answer
    tp, fp, fn = tp[:, keep], fp[:, keep], fn[:, keep]
    if classes and keep.any():
        point = float(macro_f1_from_counts(tp.sum(1), fp.sum(1), fn.sum(1)))
        low, high = macro_f1_ci(tp, fp, fn, confidence, n_boot, seed)
        out["macro_f1"] = Estimate(point, low, high, int(keep.sum()),
                                   f"over labels {', '.join(classes)}; invalid answers are misses")
    for i, c in enumerate(classes):
        for name, num, den in (("precision", tp[i], tp[i] + fp[i]), ("recall", tp[i], tp[i] + fn[i]),
                               ("f1", 2 * tp[i], 2 * tp[i] + fp[i] + fn[i])):
            point, low, high = ratio_ci(num, den, **kw)
            out[f"{name}:{c}"] = Estimate(point, low, high, int(np.count_nonzero(den)))
    n_calls = int(answered.sum())
    for gc in classes:
        for pc in [*classes, INVALID]:
            count = int(np.sum((g == gc) & (p == pc)))
            if count:
                out[f"confusion:{gc}->{pc}"] = Estimate.count(count, n_calls, "count of calls")
    return out
