"""Progress of ``evals run`` that people can read: an ETA from the calls done so far, and plain lines when
the output is not a terminal (a CI log shows nothing of a redrawn progress bar until the run ends).

The ETA counts only the calls that had to be made: answers served from the cache arrive at once and
would make a fresh run look minutes from done. :class:`PlainReporter` implements the runner's
``Reporter`` protocol (``warn``, ``start``, ``advance``, ``finish``).
"""

from __future__ import annotations

import sys
import time
from typing import Any, Callable, TextIO


def fmt_duration(seconds: float | None) -> str:
    """A short duration.

    >>> fmt_duration(5), fmt_duration(75), fmt_duration(3725), fmt_duration(None)
    ('5s', '1m15s', '1h02m', '?')
    """
    if seconds is None:
        return "?"
    seconds = int(round(max(0.0, seconds)))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class Eta:
    """Time left, from the rate of the calls made so far (rows served from the cache are left out).

    >>> clock = iter([0.0, 10.0, 20.0]).__next__
    >>> eta = Eta(total=12, cached=2, clock=clock)
    >>> eta.advance(cached=True); eta.advance(cached=True)       # two cached rows: no rate yet
    >>> eta.remaining() is None
    True
    >>> eta.advance(cached=False); eta.advance(cached=False)     # two calls in 20 s: 8 more take 80 s
    >>> eta.remaining()
    80.0
    """

    def __init__(self, total: int, cached: int = 0, clock: Callable[[], float] = time.monotonic):
        self.total, self.cached_planned = total, cached
        self.clock = clock
        self.start = clock()
        self.done = self.calls_done = 0
        self.last = self.start

    def advance(self, cached: bool) -> None:
        self.done += 1
        if not cached:
            self.calls_done += 1
            self.last = self.clock()

    def remaining(self) -> float | None:
        """Seconds left, or None before the first call was answered."""
        if self.calls_done == 0:
            return None
        calls_left = max(0, self.total - self.done)
        return (self.last - self.start) / self.calls_done * calls_left


class PlainReporter:
    """One line every ``every`` seconds (and at 25/50/75/100%): done, total, elapsed, ETA, the last row."""

    def __init__(self, stream: TextIO | None = None, *, every: float = 30.0, clock: Callable[[], float] = time.monotonic):
        self.stream = stream if stream is not None else sys.stderr
        self.every, self.clock = every, clock
        self.warnings: list[str] = []
        self.eta: Eta | None = None
        self._next_print = 0.0
        self._quarters: set[int] = set()

    def _line(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def warn(self, message: str) -> None:
        self.warnings.append(message)
        self._line(f"warning: {message}")

    def start(self, total: int, cached: int) -> None:
        self.eta = Eta(total, cached, self.clock)
        self._next_print = self.eta.start + self.every
        self._line(f"{total} calls planned, {cached} served from the cache")

    def advance(self, row: dict[str, Any]) -> None:
        eta = self.eta
        if eta is None:
            return
        eta.advance(bool(row.get("cached")))
        now = self.clock()
        quarter = 4 * eta.done // max(1, eta.total)
        if now >= self._next_print or (quarter not in self._quarters and quarter > 0) or eta.done == eta.total:
            self._quarters.add(quarter)
            self._next_print = now + self.every
            self._line(self.status(now, row))

    def status(self, now: float, row: dict[str, Any] | None = None) -> str:
        eta = self.eta
        share = eta.done / eta.total if eta.total else 1.0
        left = eta.remaining() if eta.done < eta.total else 0.0
        last = f" · last {row['model']} · {row['suite']}" if row else ""
        return (f"progress: {eta.done}/{eta.total} ({share:.0%}), {fmt_duration(now - eta.start)} elapsed, "
                f"ETA {fmt_duration(left)}{last}")

    def finish(self) -> None:
        if self.eta is not None and self.eta.done < self.eta.total:
            self._line(self.status(self.clock()))


def make_reporter(console: Any, terminal_factory: Callable[[Any], Any]) -> Any:
    """The reporter for ``evals run``: ``terminal_factory(console)`` (a live progress bar) on a terminal,
    else :class:`PlainReporter` lines on stderr."""
    return terminal_factory(console) if getattr(console, "is_terminal", False) else PlainReporter()


__all__ = ["Eta", "PlainReporter", "fmt_duration", "make_reporter"]
