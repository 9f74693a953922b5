"""Progress of ``evals run`` that people can read: an ETA from the calls done so far, and plain lines when
the output is not a terminal (a CI log shows nothing of a redrawn progress bar until the run ends).

The ETA counts only the calls that had to be made: answers served from the cache arrive at once and
would make a fresh run look minutes from done. :class:`PlainReporter` implements the runner's
``Reporter`` protocol (``warn``, ``start``, ``advance``, ``finish``).
"""

from __future__ import annotations

import sys
import time
from typing import Any, Callable, Mapping, TextIO


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
    """Time left, from the calls made so far (rows served from the cache are left out), weighted by what
    each call is likely to cost.

    Without ``calls``: the rate of the calls so far times the calls left. With ``calls`` (the calls the
    run makes, per model and suite): the calls left of each, each priced at the seconds a call of that
    model and suite took so far (of that model, before one of the suite is in; of all, before one of the
    model is), as a share of the work done in the time elapsed. A classifier's calls in milliseconds then
    do not make a run of slow generations look a minute from done, nor do the short answers of one suite
    for the long ones of the next.

    >>> clock = iter([0.0, 10.0, 20.0]).__next__
    >>> eta = Eta(total=12, cached=2, clock=clock)
    >>> eta.advance(cached=True); eta.advance(cached=True)       # two cached rows: no rate yet
    >>> eta.remaining() is None
    True
    >>> eta.advance(cached=False); eta.advance(cached=False)     # two calls in 20 s: 8 more take 80 s
    >>> eta.remaining()
    80.0
    >>> clock = iter([0.0, 1.0, 11.0]).__next__                  # a fast call, then a slow one
    >>> eta = Eta(total=4, clock=clock, calls={("fast", "s"): 2, ("slow", "s"): 2})
    >>> eta.advance(False, ("fast", "s"), 1.0); eta.advance(False, ("slow", "s"), 10.0)
    >>> eta.remaining()                                          # one of each left: 11 s more
    11.0
    """

    def __init__(self, total: int, cached: int = 0, clock: Callable[[], float] = time.monotonic,
                 calls: Mapping[tuple[Any, Any], int] | None = None):
        self.total, self.cached_planned = total, cached
        self.clock = clock
        self.start = clock()
        self.done = self.calls_done = 0
        self.last = self.start
        self.calls = dict(calls or {})  # (model, suite) -> calls to make
        self.made: dict[Any, int] = {}  # (model, suite) -> calls made
        self.timed: dict[Any, list[float]] = {}  # (model, suite) -> [calls timed, their seconds]

    def advance(self, cached: bool, group: tuple[Any, Any] = (None, None), seconds: float | None = None) -> None:
        self.done += 1
        if not cached:
            self.calls_done += 1
            self.last = self.clock()
            self.made[group] = self.made.get(group, 0) + 1
            if seconds is not None and seconds >= 0:
                timed = self.timed.setdefault(group, [0, 0.0])
                timed[0] += 1
                timed[1] += seconds

    def _seconds_per_call(self, group: tuple[Any, Any]) -> float | None:
        """A call's seconds in ``group`` (model, suite): its own calls', else its model's, else all."""
        for keys in ([group], [g for g in self.timed if g[0] == group[0]], list(self.timed)):
            n = sum(self.timed[g][0] for g in keys if g in self.timed)
            if n:
                return sum(self.timed[g][1] for g in keys if g in self.timed) / n
        return None

    def remaining(self, now: float | None = None) -> float | None:
        """Seconds left (as of ``now``: the time since the last answer counts as spent): 0 once every row is
        in, None before the first call was answered."""
        if self.done >= self.total:
            return 0.0
        if self.calls_done == 0:
            return None
        elapsed = self.last - self.start
        left = (elapsed / self.calls_done) * max(0, self.total - self.done)
        work_done = sum(t[1] for t in self.timed.values())
        if self.calls and work_done > 0:
            work_left = 0.0
            for group, planned in self.calls.items():
                calls_left = max(0, planned - self.made.get(group, 0))
                if calls_left:
                    work_left += calls_left * (self._seconds_per_call(group) or 0.0)
            left = elapsed * work_left / work_done
        if now is not None:
            left = max(0.0, left - max(0.0, now - self.last))
        return left


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

    def start(self, total: int, cached: int, calls: Mapping[tuple[Any, Any], int] | None = None) -> None:
        self.eta = Eta(total, cached, self.clock, calls)
        self._next_print = self.eta.start + self.every
        self._line(f"{total} calls planned, {cached} served from the cache")

    def advance(self, row: dict[str, Any]) -> None:
        eta = self.eta
        if eta is None:
            return
        advance(eta, row)
        now = self.clock()
        quarter = 4 * eta.done // max(1, eta.total)
        if now >= self._next_print or (quarter not in self._quarters and quarter > 0) or eta.done == eta.total:
            self._quarters.add(quarter)
            self._next_print = now + self.every
            self._line(self.status(now, row))

    def status(self, now: float, row: dict[str, Any] | None = None) -> str:
        eta = self.eta
        share = eta.done / eta.total if eta.total else 1.0
        left = eta.remaining(now)
        last = f" · last {row['model']} · {row['suite']}" if row else ""
        return (f"progress: {eta.done}/{eta.total} ({share:.0%}), {fmt_duration(now - eta.start)} elapsed, "
                f"ETA {fmt_duration(left)}{last}")

    def finish(self) -> None:
        if self.eta is not None and self.eta.done < self.eta.total:
            self._line(self.status(self.clock()))


def advance(eta: Eta, row: dict[str, Any]) -> None:
    """Count one finished row of a run in ``eta``: its model and suite, and the seconds its call took."""
    latency = row.get("latency_ms")
    seconds = latency / 1000 if isinstance(latency, (int, float)) and latency == latency else None
    eta.advance(bool(row.get("cached")), (row.get("model"), row.get("suite")), seconds)


def make_reporter(console: Any, terminal_factory: Callable[[Any], Any]) -> Any:
    """The reporter for ``evals run``: ``terminal_factory(console)`` (a live progress bar) on a terminal,
    else :class:`PlainReporter` lines on stderr."""
    return terminal_factory(console) if getattr(console, "is_terminal", False) else PlainReporter()


__all__ = ["Eta", "PlainReporter", "advance", "fmt_duration", "make_reporter"]
