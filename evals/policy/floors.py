"""The floor check the gate runs on every rule with evidence, moved or not.

A rule whose evidence says the model it routes to has a quality lower bound under the floor it was
held to fails, whether the rule changed in this pull request or was kept: ``evals recommend`` keeps
such a rule's model when nothing better is shown, flagged, and this check keeps that from passing CI
silently. Evidence for another model than the rule routes to is the gate's evidence check, not this one.
"""

from __future__ import annotations

from evals.config.policy import Policy
from evals.report.format import fmt_ci


def floor_failures(policy: Policy) -> list[tuple[str, str]]:
    """``(rule id, message)`` for every rule (and the default) whose evidence is under its floor.

    >>> from evals.config.policy import Evidence, Target
    >>> ev = Evidence(run_id="r", suite="s", model="m", quality=0.65, quality_ci=(0.5, 0.78),
    ...               cost_per_1k_usd=None, p95_latency_ms=None, n=40, floor=0.7)
    >>> floor_failures(Policy(default=Target(model="m", evidence=ev)))
    [('default', 'rule default routes to m, whose quality 0.650 [0.500, 0.780] has its lower bound below its floor 0.70 (run r)')]
    """
    out = []
    for rule_id, target in policy.targets():
        ev = target.evidence
        if ev is None or ev.floor is None or ev.model not in (None, target.model):
            continue
        if ev.quality_ci is None or ev.quality_ci[0] < ev.floor:
            quality = fmt_ci(ev.quality, *(ev.quality_ci or (None, None)))
            out.append((rule_id, f"rule {rule_id} routes to {target.model}, whose quality {quality} has its lower "
                                 f"bound below its floor {ev.floor:.2f} (run {ev.run_id})"))
    return out
