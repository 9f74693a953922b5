"""The value every metric returns: a point estimate, its interval, how many units it rests on, a note."""

from __future__ import annotations

import math
from dataclasses import dataclass


def clean(value: float | None) -> float | None:
    """A float, or None for a missing value (None or NaN): "unknown" is never a number.

    >>> clean(float("nan")) is None, clean(2), clean(None) is None
    (True, 2.0, True)
    """
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


@dataclass(frozen=True)
class Estimate:
    """One metric's number. ``value`` None means unknown, never zero; ``ci_low``/``ci_high`` are None
    for a count or where no interval applies; ``n`` is the units behind it (examples for quality and
    rates, calls for counts, cost and latency); ``note`` is what a reader must see beside the number."""

    value: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    n: int = 0
    note: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", clean(self.value))
        object.__setattr__(self, "ci_low", clean(self.ci_low))
        object.__setattr__(self, "ci_high", clean(self.ci_high))
        object.__setattr__(self, "n", int(self.n))

    @classmethod
    def count(cls, value: int | float, n: int, note: str | None = None) -> "Estimate":
        """A count (no interval).

        >>> Estimate.count(3, 10)
        Estimate(value=3.0, ci_low=None, ci_high=None, n=10, note=None)
        """
        return cls(float(value), None, None, n, note)
