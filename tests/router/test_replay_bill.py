"""Replay within 5% of the bill: a week of traffic through the real Client, counted by hand.

The shop (tests/router/replay_sim.py) routes triage to mini, extraction to premium and the rest to
premium; its proposal moves triage to a self-hosted model and extraction to mini, and keeps the
default. The same 1,000 calls are sent under both policies, so each policy's bill is known by hand
count; replaying the current policy's log must land within 1% of its bill, and within 5% of the
proposal's bill when replaying the proposal. Each figure of issue 13 is a case here: the forecast far
from the hand count (+43% there), an unchanged default rule projected at +233%, production prompts 1.5x
longer than the suite's (+19%), and an all-unpriced log shown as $0.00 and -100%.
"""

from __future__ import annotations

import asyncio
import json
import re

import pandas as pd
import pytest

from evals.client import Client, load_router
from evals.config.policy import load_policy
from evals.policy.diff import traffic_from_log
from evals.policy.replay import render_markdown, replay, replay_project
from evals.providers.fake import FakeProvider
from evals.spend import read_logs
from tests.router import replay_sim as sim


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    root = tmp_path_factory.mktemp("replay-bill")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EVALS_CACHE", str(root / "cache.sqlite"))
        project = sim.write_project(root / "shop")
        run_id = sim.evidence_run(project)
        proposal = sim.proposal(project, run_id)
        weeks = {}
        for scale in (1.0, 1.5):
            calls = sim.week_of_traffic(1000, scale=scale)
            log = root / f"current-{scale}.jsonl"
            bill_current = sim.serve(project, project.policy_file, calls, log)
            bill_proposal = sim.serve(project, proposal, calls, root / f"proposal-{scale}.jsonl")
            weeks[scale] = (read_logs([log]), log, bill_current, bill_proposal)
    evidence = pd.read_parquet(project.reports_dir / run_id / "results.parquet")
    yield project, proposal, evidence, weeks
    FakeProvider.reset()


def off(value: float, truth: float) -> float:
    return abs(value - truth) / truth


@pytest.mark.parametrize("scale", [1.0, 1.5])
def test_replay_of_the_unchanged_policy_is_within_1_percent_of_its_bill(shop, scale):
    project, _, _, weeks = shop
    logs, _, bill, _ = weeks[scale]
    result = replay(logs, project.policy_file, models_path=project.models_file)
    assert result.calls["method"].eq("logged").all()
    assert off(result.total["actual_usd"], bill.bill()) < 0.01
    assert off(result.total["projected_usd"], bill.bill()) < 0.01
    assert abs(result.total["change_pct"]) < 1e-9


def test_replay_of_a_changed_policy_is_within_5_percent_of_its_bill(shop):
    """Issue 13: forecast $11.58 against a hand count of $8.11 (+43%)."""
    project, proposal, evidence, weeks = shop
    logs, _, _, bill = weeks[1.0]
    result = replay(logs, proposal, models_path=project.models_file, evidence=evidence)
    assert off(result.total["projected_usd"], bill.bill()) < 0.05
    moved = result.per_rule.set_index("rule").loc[["triage", "extract"], "projected_usd"].sum()
    assert off(moved, bill.bill("triage") + bill.bill("extract")) < 0.10  # the moved rules on their own
    assert set(result.calls.loc[result.calls["new_rule"] != "default", "method"]) == {"ratio"}


def test_an_unchanged_rule_keeps_its_logged_spend(shop):
    """Issue 13: the unchanged default rule (no evidence) was projected at +233% (a model-wide average)."""
    project, proposal, evidence, weeks = shop
    logs, _, _, bill = weeks[1.0]
    result = replay(logs, proposal, models_path=project.models_file, evidence=evidence)
    default = result.per_rule.set_index("rule").loc["default"]
    assert abs(default["change_pct"]) < 1e-9
    assert off(default["projected_usd"], bill.bill("generic")) < 0.01


def test_production_prompts_longer_than_the_suites(shop):
    """Issue 13: with production prompts 1.5x longer than the suite's, replay was +19% off."""
    project, proposal, evidence, weeks = shop
    logs, _, _, bill = weeks[1.5]
    result = replay(logs, proposal, models_path=project.models_file, evidence=evidence)
    assert off(result.total["projected_usd"], bill.bill()) < 0.05
    moved = result.per_rule.set_index("rule").loc[["triage", "extract"], "projected_usd"].sum()
    assert off(moved, bill.bill("triage") + bill.bill("extract")) < 0.05


def test_the_cli_path_finds_the_evidence_run_and_shows_the_per_rule_breakdown(shop):
    project, proposal, _, weeks = shop
    logs, _, _, bill = weeks[1.0]
    result = replay_project(project, logs, proposal, baseline_path=project.policy_file)
    assert "evidence run evidence" in result.notes
    assert off(result.total["projected_usd"], bill.bill()) < 0.05
    md = render_markdown(result)
    assert "### Per rule of the replayed policy (per week)" in md
    for rule in ("triage", "extract", "default"):
        assert f"| {rule} |" in md
    assert "unknown" not in md.split("### Where the calls go")[0]


def test_partial_weeks_are_scaled_as_recommend_scales_them(shop, tmp_path):
    """One traffic model: half a week of log is doubled by replay exactly as by `recommend --routing-log`."""
    project, _, _, weeks = shop
    _, log, bill, _ = weeks[1.0]
    lines = log.read_text().splitlines()
    cut = sim.START.timestamp() + 3.5 * 86400
    first_half = [line for line in lines if pd.Timestamp(json.loads(line)["time"]).timestamp() < cut]
    half = tmp_path / "half.jsonl"
    half.write_text("\n".join(first_half) + "\n")
    result = replay(read_logs([half]), project.policy_file, models_path=project.models_file)
    calls, spend, _ = traffic_from_log(half, load_policy(project.policy_file))
    per_rule = result.per_rule.set_index("rule")
    for rule in calls:
        assert per_rule.loc[rule, "calls"] == pytest.approx(calls[rule])
        assert per_rule.loc[rule, "actual_usd"] == pytest.approx(spend[rule])
    assert result.total["weeks"] == pytest.approx(0.5, rel=0.01)
    assert off(result.total["projected_usd"], bill.bill()) < 0.10  # half a week, doubled, is about the week


def test_a_log_without_prices_is_unknown_never_zero(shop, tmp_path):
    """Issue 13: when every call was unpriced the replay showed $0.00 and -100%."""
    project, _, _, _ = shop
    models = tmp_path / "models.yaml"
    models.write_text(sim.MODELS.replace("{tokens: {input_per_mtok: 3.0, output_per_mtok: 15.0}}", "auto")
                      .replace("{tokens: {input_per_mtok: 0.15, output_per_mtok: 0.6}}", "auto"))
    log = tmp_path / "unpriced.jsonl"
    FakeProvider.reset(responder=sim.Served().responder)

    async def main():
        client = Client(load_router(project.policy_file, models, project.prompts_dir), log_path=log)
        for _, descriptor, inputs in sim.week_of_traffic(20):
            await client.complete(descriptor, inputs)

    asyncio.run(main())
    logs = read_logs([log])
    assert logs["cost_usd"].isna().all()  # genai-prices knows no model called "premium" or "mini"
    result = replay(logs, project.policy_file, models_path=models)
    md = render_markdown(result)
    assert pd.isna(result.total["actual_usd"]) and pd.isna(result.total["projected_usd"])
    assert pd.isna(result.total["change_pct"])
    # no "-100%" change (the markdown names the log's path, which may hold "pytest-1005": not a figure)
    assert "$0.00" not in md and "$0 " not in md and not re.search(r"-100(\.0+)?\s?%", md)
    assert "unknown (20 unpriced)" in md
