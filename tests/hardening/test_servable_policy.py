"""The shipped policy can serve every call it routes: ``long-context`` and ``default`` name prompts (the
runtime used to raise "names no prompt"), and ``evals validate`` refuses a policy that cannot (issue 17
item 9)."""

from __future__ import annotations

from pathlib import Path

import pytest

from evals.client import Client, load_router
from evals.project import Project
from evals.providers.fake import FakeProvider
from tests.router.test_runtime_parity import fake_everything

REPO = Path(__file__).resolve().parents[2]

CALLS = [
    ("long-context", {"task": "extraction", "context_tokens": 20000},
     {"weekday": "Monday", "date": "2026-03-02", "kind": "plan", "title": "Q2 plan", "document": "Ada will ship it."}),
    ("default", {"task": "classification", "volume": "low", "context_tokens": 300},
     {"body": "Can we talk pricing?", "subject": "Pricing", "example": {"from": "bob@example.com"}}),
]


@pytest.mark.parametrize("rule, descriptor, inputs", CALLS, ids=[c[0] for c in CALLS])
async def test_the_shipped_policy_serves_calls_routed_to(rule, descriptor, inputs):
    project = Project(REPO)
    router = load_router(project.policy_file, project.models_file, project.prompts_dir)
    client = Client(router, registry=fake_everything())
    FakeProvider.reset(responder=lambda request: "ok")
    try:
        completion = await client.complete(descriptor, inputs)
    finally:
        await client.aclose()
    assert completion.decision.rule == rule
    assert completion.ok and completion.text == "ok"
    # default has no suite (said, not hidden); long-context has plan-commitments (issue 14) behind it
    assert any("has no suite" in note for note in completion.notes) == (rule == "default")
