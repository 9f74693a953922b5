"""The traffic model: routing-log lines into calls, and a log's span into weeks.

Written once, used by ``evals replay`` (:mod:`evals.policy.replay`) and ``evals recommend
--routing-log`` (:func:`evals.policy.diff.traffic_from_log`):

* a **call** is every line sharing a ``call_id`` (:mod:`evals.client` writes one line per attempt);
  it counts once, under the rule of its first line, and costs what all its attempts cost (a cascade's
  passed-on answers included: every leg that answered was paid for);
* an attempt that was paid for (:func:`evals.client.billable`: an answer, or a failure the provider
  counted tokens for) but carries no ``cost_usd`` makes its call's cost **unknown**, never $0;
* a log covering ``span`` seconds (first to last line, at least one day, so a burst of minutes is not
  multiplied by thousands) stands for ``span / week`` weeks: a weekly figure is a total divided by
  :attr:`Traffic.weeks`, whether the log covers half a week or three.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from evals.client import ANSWERED, billable

if TYPE_CHECKING:
    import pandas as pd

    from evals.config.policy import Policy

WEEK_S = 7 * 24 * 3600
MIN_SPAN_S = 24 * 3600
UNKNOWN_RULE = "(unknown)"
CALL_COLUMNS = ["call_id", "time", "week", "descriptor", "rule", "prompt", "primary", "model", "answered",
                "attempts", "input_tokens", "output_tokens", "cache_read_tokens", "latency_ms", "actual_usd"]


def weeks_spanned(span_s: float) -> float:
    """How many weeks a log covering ``span_s`` seconds stands for (at least one day's worth).

    >>> weeks_spanned(3.5 * 86400), round(weeks_spanned(60.0), 4)
    (0.5, 0.1429)
    """
    return max(span_s, MIN_SPAN_S) / WEEK_S


def total(values: Iterable[float]) -> float:
    """The sum, or NaN when any value is unknown (NaN); the sum of nothing is 0.

    >>> total([1.0, 2.0]), total([1.0, float("nan")]), total([])
    (3.0, nan, 0.0)
    """
    out = 0.0
    for value in values:
        if value is None or math.isnan(value):
            return math.nan
        out += float(value)
    return out


@dataclass
class Traffic:
    """Calls read from routing logs; ``weeks`` is what the log's span stands for (divide totals by it)."""

    calls: "pd.DataFrame"  # one row per call, CALL_COLUMNS
    weeks: float
    span_s: float
    notes: list[str] = field(default_factory=list)
    attempts: "pd.DataFrame | None" = None  # the log frame it was read from, one row per attempt

    def per_week(self, value: float) -> float:
        """A total over the log as a weekly figure (unknown stays unknown)."""
        return value / self.weeks if self.weeks else math.nan

    def weekly_calls(self, by: str = "rule") -> dict[str, float]:
        """Calls per week per value of column ``by``."""
        return {k: self.per_week(float(v)) for k, v in self.calls.groupby(by).size().items()}

    def weekly_spend(self, by: str = "rule") -> dict[str, float]:
        """Logged spend per week per value of ``by``; a group with any call of unknown cost is left out."""
        out = {}
        for key, group in self.calls.groupby(by):
            spent = total(group["actual_usd"])
            if not math.isnan(spent):
                out[key] = self.per_week(spent)
        return out


def cascade_call_cost(leg_costs: "Iterable[float | None]", reach: "Iterable[float]") -> float | None:
    """The expected cost of one call to a cascade: each leg's cost per call times the share of calls that
    reach it (1 for the first leg; A + share x B for two legs). A leg no call reaches costs nothing, even
    unpriced; any other unknown cost (None or NaN) makes the call's cost unknown.

    The one pricing of a cascade: the recommender's cascade evidence and ``evals replay`` both use it.

    >>> cascade_call_cost([0.001, 0.01], [1.0, 0.25]), cascade_call_cost([0.001, None], [1.0, 0.0])
    (0.0035, 0.001)
    >>> cascade_call_cost([0.001, None], [1.0, 0.25]) is None
    True
    """
    out = 0.0
    for cost, share in zip(leg_costs, reach):
        if share <= 0:
            continue
        if cost is None or math.isnan(cost):
            return None
        out += cost * share
    return out


def missing(value: Any) -> bool:
    """None or NaN (pandas turns a logged null into either)."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def call_cost_logged(attempts: list[dict[str, Any]]) -> float:
    """What a call's attempts cost as logged: NaN when a paid-for attempt has no cost."""
    spent = 0.0
    for a in attempts:
        if not missing(a["cost_usd"]):
            spent += float(a["cost_usd"])
        elif billable(a["outcome"] in ANSWERED, None if missing(a["input_tokens"]) else a["input_tokens"]):
            return math.nan
    return spent


def _rule(rule: Any, descriptor: Any, policy: "Policy | None", known: set[str]) -> str:
    if policy is None or rule in known:
        return rule if isinstance(rule, str) else UNKNOWN_RULE
    from evals.config.descriptor import TaskDescriptor
    from evals.policy.evidence import route_slot

    try:
        return route_slot(policy, TaskDescriptor.model_validate(descriptor))
    except Exception:  # a descriptor this harness cannot read: counted, under no rule
        return UNKNOWN_RULE


def traffic(logs: "pd.DataFrame", policy: "Policy | None" = None, *, source: str = "routing log") -> Traffic:
    """The calls of a :func:`evals.spend.read_logs` frame.

    With ``policy``, a call whose logged rule is not one of the policy's is assigned where the policy
    routes its descriptor (first matching rule, else ``default``).
    """
    import pandas as pd

    notes = [f"{logs['call_id'].nunique()} calls ({len(logs)} attempts) read from {source}"]
    if logs.attrs.get("skipped"):
        notes.append(f"{logs.attrs['skipped']} unreadable lines skipped")
    if logs.empty:
        return Traffic(pd.DataFrame(columns=CALL_COLUMNS), weeks_spanned(0.0), 0.0, notes, logs)
    known = {rule_id for rule_id, _ in policy.targets()} if policy is not None else set()
    ordered = logs.sort_values(["call_id", "attempt"], kind="stable")
    rows = []
    for call_id, group in ordered.groupby("call_id", sort=False):
        attempts = group.to_dict("records")
        first = attempts[0]
        answer = next((a for a in attempts if a["outcome"] == "ok"), None)
        rows.append({
            "call_id": call_id, "time": group["time"].min(), "week": first["week"],
            "descriptor": first["descriptor"], "rule": _rule(first["rule"], first["descriptor"], policy, known),
            "prompt": first["prompt"], "primary": first["model"],
            "model": answer["model"] if answer is not None else None, "answered": answer is not None,
            "attempts": attempts,
            **{k: (answer[k] if answer is not None else None)
               for k in ("input_tokens", "output_tokens", "cache_read_tokens", "latency_ms")},
            "actual_usd": call_cost_logged(attempts),
        })
    calls = pd.DataFrame(rows, columns=CALL_COLUMNS).sort_values("time", kind="stable").reset_index(drop=True)
    times = logs["time"]
    span = (times.max() - times.min()).total_seconds()
    weeks = weeks_spanned(span)
    floor = " (less than a day: counted as one day)" if span < MIN_SPAN_S else ""
    notes.append(f"the log spans {span / 86400:.1f} days{floor}; weekly figures are totals / {weeks:.3f} weeks")
    return Traffic(calls, weeks, span, notes, logs)


def read_traffic(paths: Iterable[Path], policy: "Policy | None" = None, *, lenient: bool = False) -> Traffic:
    """:func:`traffic` of routing-log files (``lenient``: see :func:`evals.spend.read_logs`)."""
    from evals.spend import read_logs

    paths = [Path(p) for p in paths]
    return traffic(read_logs(paths, lenient=lenient), policy, source=", ".join(p.name for p in paths))
