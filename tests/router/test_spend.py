"""Spend shares on a generated week of routing logs, checked against a hand count."""

from __future__ import annotations

import json
import random
import xml.etree.ElementTree as ET
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from evals.errors import DataError, FormatVersionError, UsageError
from evals.spend import failover_counts, read_logs, render_markdown, spend_breakdown, spend_chart_svg

FAMILY = {"claude": "claude", "gpt4o": "gpt", "gpt4o-mini": "gpt", "llama": "llama"}


def line(time: datetime, call: str, rule: str, model: str, attempt: int, outcome: str, tokens_in: int | None,
         tokens_out: int | None, cost: float | None, final: bool = True) -> str:
    return json.dumps({"format_version": 1, "time": time.isoformat(), "call_id": call, "descriptor": {"task": "t"},
                       "rule": rule, "model": model, "family": FAMILY[model], "provider": "p", "prompt": "x",
                       "variant": "default", "attempt": attempt, "outcome": outcome, "final": final,
                       "input_tokens": tokens_in, "output_tokens": tokens_out, "cost_usd": cost, "latency_ms": 10.0})


def test_hand_counted_week(tmp_path: Path):
    t = datetime(2026, 11, 23, 9, tzinfo=timezone.utc)  # Monday of 2026-W48
    lines = [
        line(t, "c1", "writer", "claude", 1, "ok", 100, 50, 0.60),
        line(t, "c2", "writer", "claude", 1, "server_error", None, None, None, final=False),
        line(t, "c2", "writer", "gpt4o", 2, "ok", 200, 100, 0.30),
        line(t + timedelta(days=2), "c3", "classify", "gpt4o-mini", 1, "ok", 300, 0, 0.05),
        line(t + timedelta(days=6), "c4", "bulk", "llama", 1, "ok", 150, 100, 0.05),
        line(t + timedelta(days=7), "c5", "bulk", "llama", 1, "ok", 1000, 0, 9.0),  # next week (W49)
    ]
    log = tmp_path / "routing.jsonl"
    log.write_text("\n".join(lines) + "\n\n")
    logs = read_logs([log])
    fam = spend_breakdown(logs, "family", week="2026-W48").set_index("family")
    # spend 0.60 + 0.30 + 0.05 + 0.05 = 1.00; tokens 150 + 300 + 300 + 250 = 1000
    assert fam.loc["claude", "spend_share"] == pytest.approx(0.60)
    assert fam.loc["gpt", "spend_share"] == pytest.approx(0.35)
    assert fam.loc["llama", "spend_share"] == pytest.approx(0.05)
    assert fam.loc["claude", "token_share"] == pytest.approx(0.15)
    assert fam.loc["gpt", "token_share"] == pytest.approx(0.60)
    assert fam.loc["llama", "token_share"] == pytest.approx(0.25)
    assert (fam.loc["claude", "attempts"], fam.loc["claude", "answered"], fam.loc["claude", "unpriced"]) == (2, 1, 1)
    by_model = spend_breakdown(logs, "model")
    assert set(by_model["week"]) == {"2026-W48", "2026-W49"}
    assert by_model[by_model["week"] == "2026-W49"]["spend_share"].tolist() == [1.0]
    fo = failover_counts(logs, week="2026-W48").set_index("rule")
    assert fo.loc["writer"].tolist() == [2, 1, 0, 0.5, 0, 0.0]  # no cascade: no escalations
    assert fo.loc["classify", "failovers"] == 0
    md = render_markdown(logs, week="2026-W48")
    assert "| claude | 2 | 1 | 150 | $0.6000 | 1 | 60.0% | 15.0% |" in md
    assert "| writer | 2 | 1 | 0 | 50.0% |" in md


def test_generated_week_shares_sum_to_one_and_match_a_tally(tmp_path: Path):
    rng = random.Random(7)
    start = datetime(2026, 11, 23, tzinfo=timezone.utc)
    cost_tally, token_tally = defaultdict(float), defaultdict(int)
    rows = []
    for i in range(700):
        when = start + timedelta(seconds=rng.randrange(7 * 24 * 3600))
        model = rng.choice(list(FAMILY))
        tin, tout = rng.randrange(10, 3000), rng.randrange(1, 500)
        cost = round(tin * 1e-6 * (3 if model == "claude" else 0.5) + tout * 2e-6, 8)
        rows.append(line(when, f"c{i}", "r", model, 1, "ok", tin, tout, cost))
        cost_tally[FAMILY[model]] += cost
        token_tally[FAMILY[model]] += tin + tout
    half = len(rows) // 2  # two log files, as from two replicas
    (tmp_path / "a.jsonl").write_text("\n".join(rows[:half]) + "\n")
    (tmp_path / "b.jsonl").write_text("\n".join(rows[half:]) + "\n")
    logs = read_logs([tmp_path / "a.jsonl", tmp_path / "b.jsonl"])
    fam = spend_breakdown(logs, "family")
    assert set(fam["week"]) == {"2026-W48"}
    assert fam["spend_share"].sum() == pytest.approx(1.0)
    assert fam["token_share"].sum() == pytest.approx(1.0)
    total_cost, total_tokens = sum(cost_tally.values()), sum(token_tally.values())
    for row in fam.itertuples():
        assert row.spend_share == pytest.approx(cost_tally[row.family] / total_cost)
        assert row.token_share == pytest.approx(token_tally[row.family] / total_tokens)
    assert spend_breakdown(logs, "model")["spend_share"].sum() == pytest.approx(1.0)
    assert fam["cost_usd"].is_monotonic_decreasing


def test_chart_is_self_contained_svg(tmp_path: Path):
    t = datetime(2026, 11, 23, tzinfo=timezone.utc)
    log = tmp_path / "l.jsonl"
    log.write_text(line(t, "c1", "r", "claude", 1, "ok", 10, 10, 0.3) + "\n" + line(t, "c2", "r", "llama", 1, "ok", 30, 10, 0.1) + "\n")
    frame = spend_breakdown(read_logs([log]), "family")
    frame.loc[0, "family"] = "<script>x</script>"
    svg = spend_chart_svg(frame)
    root = ET.fromstring(svg)  # well-formed XML
    assert root.tag.endswith("svg")
    assert "<script" not in svg and "http://" not in svg.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "75.0%" in svg and "25.0%" in svg and "2026-W48" in svg
    assert "no calls logged" in spend_chart_svg(spend_breakdown(read_logs([]), "family"))


def test_bad_logs_are_named(tmp_path: Path):
    bad = tmp_path / "bad.jsonl"
    t = datetime(2026, 11, 23, tzinfo=timezone.utc)
    bad.write_text(line(t, "c", "r", "claude", 1, "ok", 1, 1, 0.1) + "\n{not json\n")
    with pytest.raises(DataError, match=r"bad.jsonl:2"):
        read_logs([bad])
    bad.write_text(json.dumps({"format_version": 99, "time": t.isoformat()}) + "\n")
    with pytest.raises(FormatVersionError, match="newer"):
        read_logs([bad])
    with pytest.raises(UsageError, match="YYYY-Www"):
        spend_breakdown(read_logs([]), week="2026-48")


# -- a tag cannot break the routing log (issue 17, finding 3) ---------------------------------------------

SEPARATORS = ["\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e"]  # str.splitlines() splits on each


def test_a_log_line_holding_a_line_separator_in_a_string_is_one_line(tmp_path: Path):
    """A writer that keeps non-ASCII raw (another tool, or an older harness) must not split a record: the
    reader splits on newline only, as JSON lines are defined."""
    t = datetime(2026, 11, 23, 9, tzinfo=timezone.utc)
    records = [json.loads(line(t, f"c{i}", "writer", "claude", 1, "ok", 10, 5, 0.01)) for i in range(len(SEPARATORS))]
    for record, sep in zip(records, SEPARATORS):
        record["descriptor"]["tags"] = [f"vip{sep}x"]
    log = tmp_path / "routing.jsonl"
    log.write_bytes(b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in records))
    frame = read_logs([log])
    assert [d["tags"] for d in frame["descriptor"]] == [[f"vip{sep}x"] for sep in SEPARATORS]
    assert frame.attrs["skipped"] == 0 and len(read_logs([log], lenient=True)) == len(SEPARATORS)


async def test_a_tag_with_a_line_separator_round_trips_through_the_client_log(tmp_path: Path):
    from evals.client import Client, load_router
    from evals.providers import default_registry
    from evals.providers.fake import FakeProvider

    (tmp_path / "models.yaml").write_text(
        "format_version: 1\nmodels:\n  - {id: alpha, provider: fake, model: alpha, family: fam, context_window: 4096,\n"
        "     pricing: {tokens: {input_per_mtok: 1.0, output_per_mtok: 2.0}}}\n")
    (tmp_path / "policy.yaml").write_text("format_version: 1\nrules: []\ndefault: {model: alpha, prompt: note}\n")
    (tmp_path / "prompts" / "note").mkdir(parents=True)
    (tmp_path / "prompts" / "note" / "default.j2").write_text("{% block user %}{{ text }}{% endblock %}\n")
    router = load_router(tmp_path / "policy.yaml", tmp_path / "models.yaml", tmp_path / "prompts")
    log = tmp_path / "routing.jsonl"
    FakeProvider.reset(responder=lambda req: "ok")
    try:
        client = Client(router, log_path=log, registry=default_registry())
        for sep in SEPARATORS:
            assert (await client.complete({"task": "writing", "tags": [f"vip{sep}x"]}, {"text": "hi"})).ok
    finally:
        FakeProvider.reset()
    raw = log.read_bytes()
    assert raw.isascii(), "the writer escapes every non-ASCII character (ensure_ascii=True)"
    assert raw.count(b"\n") == len(SEPARATORS) and len(raw.decode().splitlines()) == len(SEPARATORS)
    frame = read_logs([log])
    assert [d["tags"] for d in frame["descriptor"]] == [[f"vip{sep}x"] for sep in SEPARATORS]
