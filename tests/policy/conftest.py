"""Fixtures of the policy tests (defined in tests/policy/runs.py)."""

from tests.policy.runs import pproject  # noqa: F401
