"""Number formatting shared by the HTML and Markdown reports: pure functions, ``-`` for missing values."""

from __future__ import annotations

import math
from typing import Any

MISSING = "-"


def is_missing(value: Any) -> bool:
    """True for None and NaN.

    >>> is_missing(None), is_missing(float("nan")), is_missing(0.0)
    (True, True, False)
    """
    return value is None or (isinstance(value, float) and math.isnan(value))


def fmt_num(value: Any, digits: int = 3) -> str:
    """A fixed-point number.

    >>> fmt_num(0.12345)
    '0.123'
    >>> fmt_num(None)
    '-'
    """
    return MISSING if is_missing(value) else f"{float(value):.{digits}f}"


def fmt_ci(value: Any, low: Any, high: Any, digits: int = 3) -> str:
    """A value with its interval.

    >>> fmt_ci(0.5, 0.4, 0.61)
    '0.500 [0.400, 0.610]'
    >>> fmt_ci(None, None, None)
    '-'
    """
    if is_missing(value):
        return MISSING
    if is_missing(low) or is_missing(high):
        return fmt_num(value, digits)
    return f"{fmt_num(value, digits)} [{fmt_num(low, digits)}, {fmt_num(high, digits)}]"


def fmt_usd(value: Any, *, signed: bool = False) -> str:
    """Dollars with enough digits to tell cheap models apart; ``signed`` puts ``+`` on a gain.

    >>> fmt_usd(12.5), fmt_usd(0.0421), fmt_usd(0.0000123), fmt_usd(0), fmt_usd(None)
    ('$12.50', '$0.0421', '$0.0000123', '$0', 'unknown')
    >>> fmt_usd(99.0, signed=True), fmt_usd(-0.0421, signed=True), fmt_usd(0, signed=True)
    ('+$99.00', '-$0.0421', '$0')
    """
    if is_missing(value):
        return "unknown"
    value = float(value)
    if value == 0:
        return "$0"
    sign = "-" if value < 0 else ("+" if signed else "")
    value = abs(value)
    if value >= 1:
        return f"{sign}${value:,.2f}"
    if value < 0.001:
        return f"{sign}${value:.{2 - math.floor(math.log10(value))}f}"
    return f"{sign}${value:.4f}"


def fmt_pct(value: Any, digits: int = 1) -> str:
    """A share in [0, 1] as a percentage.

    >>> fmt_pct(0.1234), fmt_pct(None)
    ('12.3%', '-')
    """
    return MISSING if is_missing(value) else f"{100 * float(value):.{digits}f}%"


SECONDS_FROM_MS = 10_000  # a latency of 10 s or more reads better in seconds


def ms_unit(values: Any) -> str:
    """The one unit a column of latencies is written in: ``s`` when any value is 10 s or more, else ``ms``.

    A table column uses one unit (``8131 ms`` beside ``25.3 s`` reads as the smaller number being larger).

    >>> ms_unit([812.0, 8131.0]), ms_unit([8131.0, 25300.0, None]), ms_unit([])
    ('ms', 's', 'ms')
    """
    return "s" if any(not is_missing(v) and float(v) >= SECONDS_FROM_MS for v in values) else "ms"


def fmt_ms(value: Any, unit: str | None = None) -> str:
    """Milliseconds in ``unit`` (``ms`` or ``s``; by default seconds from 10 s). Columns pass
    :func:`ms_unit` of their values so every cell has the same unit.

    >>> fmt_ms(123.4), fmt_ms(12345.0), fmt_ms(None)
    ('123 ms', '12.3 s', '-')
    >>> fmt_ms(8131.0, "s"), fmt_ms(25300.0, "s"), fmt_ms(812.0, "ms")
    ('8.1 s', '25.3 s', '812 ms')
    """
    if is_missing(value):
        return MISSING
    value = float(value)
    if unit is None:
        unit = "s" if value >= SECONDS_FROM_MS else "ms"
    if unit not in ("ms", "s"):
        raise ValueError(f"unit {unit!r}: use 'ms' or 's'")
    return f"{value / 1000:.1f} s" if unit == "s" else f"{value:.0f} ms"


def fmt_ms_column(values: Any) -> list[str]:
    """Every latency of a column in the column's one unit (:func:`ms_unit`).

    >>> fmt_ms_column([8131.0, 25300.0, None])
    ['8.1 s', '25.3 s', '-']
    """
    values = list(values)
    unit = ms_unit(values)
    return [fmt_ms(v, unit) for v in values]


def fmt_delta(value: Any, digits: int = 3) -> str:
    """A signed difference.

    >>> fmt_delta(0.05), fmt_delta(-0.2), fmt_delta(None)
    ('+0.050', '-0.200', '-')
    """
    return MISSING if is_missing(value) else f"{float(value):+.{digits}f}"
