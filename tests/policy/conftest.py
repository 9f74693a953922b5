"""Fixtures of the policy tests (defined in tests/policy/runs.py and tests/policy/signed.py)."""

from tests.policy.runs import pproject  # noqa: F401
from tests.policy.signed import keys, signed  # noqa: F401
