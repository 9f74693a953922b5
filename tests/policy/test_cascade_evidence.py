"""The cascade fields of a rule's evidence (``Evidence.cascade``): typed, consistent with the rule, and absent
(so every existing policy hashes as before) when a rule has no cascade."""

from __future__ import annotations

import pytest
import yaml
from pydantic import ValidationError

from evals.config.policy import CascadeEvidence, CascadePoint, Evidence, Policy, Rule


def point(threshold=0.8, **kw):
    return CascadePoint(threshold=threshold, quality=0.9, quality_ci=(0.8, 0.95), cost_per_1k_usd=0.5,
                        escalation_share=0.25, calls=40, n=40, diff=0.0, diff_ci=(-0.05, 0.05),
                        outcome="non-inferior", **kw)


def cascade_evidence(**kw):
    data = dict(cheap="small", strong="big", threshold=0.8, reference="big", margin=0.05, confidence=0.95,
                dev_run_id="dev-1", dev_results_sha256="a" * 64, dev=point(), test=point(),
                reference_cost_per_1k_usd=2.0, single_cost_per_1k_usd=2.0, curve=[point(None), point()])
    data.update(kw)
    return CascadeEvidence(**data)


def evidence(**kw):
    return Evidence(run_id="test-1", suite="triage", model="small", quality=0.9, quality_ci=(0.8, 0.95),
                    cost_per_1k_usd=0.5, p95_latency_ms=20.0, n=40, **kw)


def cascade_rule(ev, threshold=0.8, strong="big"):
    return Rule(id="triage", cascade=[{"model": "small", "accept_if": {"confidence": threshold}}, {"model": strong}],
                evidence=ev)


def test_evidence_without_a_cascade_dumps_as_before():
    assert "cascade" not in evidence().model_dump(mode="json")
    policy = Policy(default={"model": "big", "evidence": evidence().model_dump()})
    assert "cascade" not in policy.model_dump(mode="json")["default"]["evidence"]


def test_cascade_evidence_round_trips_through_a_policy_file():
    rule = cascade_rule(evidence(cascade=cascade_evidence()))
    policy = Policy(rules=[rule], default={"model": "big"})
    again = Policy.model_validate(yaml.safe_load(yaml.safe_dump(policy.model_dump(mode="json"))))
    assert again.rules[0].evidence.cascade == rule.evidence.cascade
    assert again.content_sha256() == policy.content_sha256()


def test_cascade_evidence_must_match_the_rules_cascade():
    with pytest.raises(ValidationError, match="evidence.cascade is for small"):
        cascade_rule(evidence(cascade=cascade_evidence()), threshold=0.7)
    with pytest.raises(ValidationError, match="evidence.cascade is for small"):
        cascade_rule(evidence(cascade=cascade_evidence()), strong="other")
    with pytest.raises(ValidationError, match="not set"):
        Rule(id="triage", model="small", evidence=evidence(cascade=cascade_evidence()))


def test_cascade_points_carry_the_rules_threshold():
    with pytest.raises(ValidationError, match="cascade.test.threshold"):
        cascade_evidence(test=point(0.7))
    with pytest.raises(ValidationError, match="cheap and strong"):
        cascade_evidence(strong="small")


def test_a_changed_threshold_is_a_routing_change():
    from evals.policy.diff import policy_changes

    def policy(threshold):
        return Policy(rules=[Rule(id="triage", cascade=[{"model": "small", "accept_if": {"confidence": threshold}},
                                                        {"model": "big"}])], default={"model": "big"})

    changes = policy_changes(policy(0.8), policy(0.7))
    assert changes == [{"rule": "triage", "change": "changed", "fields": ["cascade"], "from": "small", "to": "small"}]
