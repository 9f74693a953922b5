"""The per-call arrays every metric reads, built once from a results frame.

A row of ``results.parquet`` is one call (suite x example x model x repeat). Its *failure class* is the
one rule of CONTRACTS section 1: ``None`` (the scorer scored the answer), ``answer`` (refused or
truncated: the model's answer, quality, scores 0) or ``infra`` (rate limit, timeout, server error, ...:
availability, left out of quality). Results written before the ``error_class`` column existed get it
from :func:`evals.providers.base.error_class` of the row's ``error``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

ANSWER = "answer"
INFRA = "infra"


def loads(value: Any) -> Any:
    """A JSON cell as Python (dicts and lists pass through); None for null, NaN or unreadable text.

    >>> loads('{"a": 1}'), loads(None), loads(float("nan")), loads("not json")
    ({'a': 1}, None, None, None)
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return None


def _present(value: Any) -> bool:
    return not (value is None or (isinstance(value, float) and math.isnan(value)))


def loads_column(values: Any) -> list[Any]:
    """:func:`loads` of every cell of a column, parsing each distinct text once (cells repeat a lot).

    >>> loads_column(['{"a": 1}', None, '{"a": 1}'])
    [{'a': 1}, None, {'a': 1}]
    """
    memo: dict[Any, Any] = {}
    out = []
    for value in values:
        if isinstance(value, str):
            if value not in memo:
                memo[value] = loads(value)
            out.append(memo[value])
        else:
            out.append(loads(value))
    return out


def failure_classes(frame: Any) -> np.ndarray:
    """Per row: ``None``, ``"answer"`` or ``"infra"`` (see the module docstring)."""
    from evals.providers.base import error_class

    errors = frame["error"]
    present = errors.notna().to_numpy()
    out = np.full(len(errors), None, dtype=object)
    if not present.any():
        return out
    kinds = errors[present]
    derived = kinds.map({kind: error_class(kind) for kind in kinds.unique()}).to_numpy(dtype=object)
    if "error_class" in frame.columns:
        given = frame["error_class"][present].to_numpy(dtype=object)
        valid = np.isin(given, [ANSWER, INFRA])
        derived = np.where(valid, given, derived)
    out[present] = derived
    return out


@dataclass(frozen=True)
class Calls:
    """The rows of one group (a suite x model, a slice, a rule's suites) as aligned arrays.

    ``example`` indexes the group's examples (``example_suite[k], example_id[k]`` is example ``k``), so
    repeats of an example share an index; ``score`` is the row's *quality score*: the scorer's score for
    a scored answer, 0.0 for an answer failure, NaN for an infrastructure failure (left out).
    """

    frame: Any
    example: np.ndarray
    example_suite: np.ndarray
    example_id: np.ndarray
    kind: np.ndarray
    failure: np.ndarray
    score: np.ndarray

    @classmethod
    def of(cls, frame: Any) -> "Calls":
        """Build the arrays of a results frame (or pass a :class:`Calls` through)."""
        if isinstance(frame, Calls):
            return frame
        import pandas as pd

        failure = failure_classes(frame)
        suites = frame["suite"].astype(str)
        ids = frame["example_id"].astype(str)
        if suites.nunique() <= 1:
            codes, uniques = pd.factorize(ids, sort=True)
            example_id = np.asarray(uniques, dtype=object)
            example_suite = np.full(len(example_id), suites.iloc[0] if len(suites) else "", dtype=object)
        else:
            codes, uniques = pd.factorize(pd.MultiIndex.from_arrays([suites, ids]), sort=True)
            example_suite = np.asarray(uniques.get_level_values(0), dtype=object)
            example_id = np.asarray(uniques.get_level_values(1), dtype=object)
        raw = pd.to_numeric(frame["score"], errors="coerce").to_numpy(dtype=float) if len(frame) else np.array([])
        score = np.where(failure == ANSWER, 0.0, np.where(failure == INFRA, np.nan, raw)).astype(float)
        kind = frame["error"].to_numpy(dtype=object)
        return cls(frame, np.asarray(codes, dtype=np.int64), example_suite, example_id, kind, failure, score)

    def __len__(self) -> int:
        return len(self.example)

    @property
    def n_examples(self) -> int:
        return len(self.example_id)

    def example_index(self, positions: np.ndarray) -> Any:
        """A pandas MultiIndex ``(suite, example_id)`` of the examples at ``positions``."""
        import pandas as pd

        return pd.MultiIndex.from_arrays([self.example_suite[positions], self.example_id[positions]],
                                         names=["suite", "example_id"])

    @property
    def scored(self) -> np.ndarray:
        """Rows the scorer scored (no failure)."""
        return self.failure == None  # noqa: E711 (element-wise on an object array)

    @property
    def answered(self) -> np.ndarray:
        """Rows that count for quality: scored answers and answer failures (not infrastructure failures)."""
        return self.failure != INFRA

    def sum_by_example(self, values: np.ndarray) -> np.ndarray:
        """Per example, the sum of ``values`` over its rows (NaN counts as 0)."""
        weights = np.nan_to_num(np.asarray(values, dtype=float), nan=0.0)
        return np.bincount(self.example, weights=weights, minlength=self.n_examples)

    def example_means(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per example, the mean of the non-NaN ``values`` of its rows (repeats averaged).

        Returns ``(positions, means)``: the example indexes that have at least one value, and their means.
        """
        values = np.asarray(values, dtype=float)
        has = ~np.isnan(values)
        counts = np.bincount(self.example[has], minlength=self.n_examples)
        sums = np.bincount(self.example[has], weights=values[has], minlength=self.n_examples)
        positions = np.flatnonzero(counts)
        return positions, sums[positions] / counts[positions]

    def column(self, name: str) -> np.ndarray:
        """A column as an object array, or all None when the frame lacks it (results of older runs)."""
        if name in self.frame.columns:
            return self.frame[name].to_numpy(dtype=object)
        return np.full(len(self), None, dtype=object)

    def numeric(self, name: str) -> np.ndarray:
        """A numeric column as floats (NaN for missing), or all NaN when the frame lacks it."""
        import pandas as pd

        if name in self.frame.columns:
            return pd.to_numeric(self.frame[name], errors="coerce").to_numpy(dtype=float)
        return np.full(len(self), np.nan)
