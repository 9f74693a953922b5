"""The quality-vs-cost Pareto frontier, with the baseline bar: a model that does not beat its suite's
trivial baseline is never on it."""

from __future__ import annotations

import math
from typing import Any


def pareto_frontier(points: list[dict[str, Any]]) -> list[str]:
    """Models no other model beats on both cost (lower) and quality (higher), cheapest first.

    Each point has ``model``, ``cost``, ``quality`` and optionally ``beats_baseline``; a point with an
    unknown cost or quality, or with ``beats_baseline`` False, is left out.

    >>> pareto_frontier([{"model": "a", "cost": 1, "quality": 0.5}, {"model": "b", "cost": 2, "quality": 0.4},
    ...                  {"model": "c", "cost": 3, "quality": 0.9}])
    ['a', 'c']
    >>> pareto_frontier([{"model": "a", "cost": 1, "quality": 0.5, "beats_baseline": False},
    ...                  {"model": "b", "cost": 2, "quality": 0.4}])
    ['b']
    """
    usable = sorted((p for p in points if p["cost"] is not None and p["quality"] is not None
                     and p.get("beats_baseline") is not False),
                    key=lambda p: (p["cost"], -p["quality"]))
    frontier: list[str] = []
    best = -math.inf
    for p in usable:
        if p["quality"] > best:
            frontier.append(p["model"])
            best = p["quality"]
    return frontier
