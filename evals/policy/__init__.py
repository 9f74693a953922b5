"""The policy compiler: recommend a rule table from a run, diff it against the policy in force,
approve it with a recorded approver and evidence, and gate policy changes in CI."""

from evals.policy.approve import Approval, ApprovalRefused, approve, read_approvals, verify_evidence
from evals.policy.checks import check_policy, covers, load_checked_policy
from evals.policy.diff import policy_changes, render_diff
from evals.policy.gate import GateResult, gate
from evals.policy.recommend import Recommendation, RecommendOptions, recommend

__all__ = [
    "Approval", "ApprovalRefused", "GateResult", "RecommendOptions", "Recommendation", "approve", "check_policy",
    "covers", "gate", "load_checked_policy", "policy_changes", "read_approvals", "recommend", "render_diff",
    "verify_evidence",
]
