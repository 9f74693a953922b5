"""``reports/<run>/cascades.json``: every cascade the recommender swept for a run, proposed or only considered.

The proposal records the cascade it proposes (``evidence.cascade``, :class:`evals.config.policy.CascadeEvidence`);
a cascade that was swept and not proposed leaves no trace there, yet a reviewer wants to see why (its curve
never reached the reference's quality, or it was not cheaper than the single model). ``evals recommend``
rewrites this file on every call (an empty list without ``--dev-run``), so it never speaks for an older
proposal, and the report draws each sweep's cost-quality curve from it
(:mod:`evals.report.cascades`). Every point is :meth:`evals.policy.cascade.CurvePoint.as_point`, the
same record a proposal's evidence holds.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from evals.policy.cascade import CascadeChoice

SWEEPS_FILE = "cascades.json"
SWEEPS_FORMAT = 1


def sweep_record(rule: str, choice: "CascadeChoice", *, proposed: bool) -> dict[str, Any]:
    """One sweep as plain data: the pair, the reference, the dev curve, the chosen point and its test point.

    ``proposed`` is whether the proposal routes the rule to this cascade (a sweep can pass its own checks
    and still lose to a cheaper cascade or stay a preview behind an unmeasured incumbent).
    """
    def point(p: Any) -> dict[str, Any] | None:
        return None if p is None else p.as_point().model_dump(mode="json")

    ref = choice.reference_cost_per_call
    return {"rule": rule, "cheap": choice.cheap, "strong": choice.strong, "reference": choice.reference,
            "margin": choice.margin, "confidence": choice.confidence, "proposed": proposed,
            "passed": choice.proposed, "reason": choice.reason,
            "threshold": choice.chosen.written_threshold if choice.chosen is not None else None,
            "dev": point(choice.chosen), "test": point(choice.confirmation),
            "reference_cost_per_1k_usd": None if ref is None else 1000 * ref,
            "curve": [point(p) for p in choice.curve]}


def sweeps_data(run_id: str, dev_run_id: str | None, decisions: list[Any]) -> dict[str, Any]:
    """The file's content for a recommender's decisions (:class:`evals.policy.recommend.Decision`)."""
    sweeps = []
    for d in decisions:
        step = d.cascades
        if step is None:
            continue
        adopted = d.proposed.cascade is not None and step.best is not None
        for c in step.choices:
            sweeps.append(sweep_record(d.rule_id, c, proposed=adopted and c is step.best))
    return {"format_version": SWEEPS_FORMAT, "run_id": run_id, "dev_run_id": dev_run_id, "sweeps": sweeps}


def write_sweeps(folder: Path, run_id: str, dev_run_id: str | None, decisions: list[Any]) -> Path:
    """Write ``cascades.json`` atomically (an empty list when nothing was swept) and return its path."""
    from evals.runner.store import write_json_atomic

    path = folder / SWEEPS_FILE
    write_json_atomic(path, sweeps_data(run_id, dev_run_id, decisions))
    return path


__all__ = ["SWEEPS_FILE", "SWEEPS_FORMAT", "sweep_record", "sweeps_data", "write_sweeps"]
