"""The decision rule as a table: scenarios whose right answer is known by construction (issue 13).

Every row is a small project run by the real runner with scripted models (tests/policy/scenarios.py),
then compiled by ``recommend``; the row states the model the rule must route to, its fallbacks and the
kind of reason (:data:`evals.policy.decide.KINDS`). The quality tolerance is 0.1 and min_examples 20
(``scenarios.GATE``), so the paired intervals at n = 20-40 can decide either way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pytest

from evals.policy.recommend import Decision, RecommendOptions, recommend
from evals.project import Project
from evals.runner.store import read_results, write_json_atomic, write_parquet_atomic
from tests.policy.scenarios import Model, Suite, ones, run_scenario, write_scenario

CHEAP = {"provider": "openai-compatible", "base_url": "http://gpu-1:8000/v1", "cost_per_call": 0.0001,
         "latency_ms": 100.0}
MID = {"provider": "openai", "cost_per_call": 0.005, "latency_ms": 500.0}
PREMIUM = {"provider": "anthropic", "cost_per_call": 0.01, "latency_ms": 900.0}


def cheap(answers, **kw) -> Model:
    return Model(answers, **{**CHEAP, **kw})


def mid(answers, **kw) -> Model:
    return Model(answers, **{**MID, **kw})


def premium(answers, **kw) -> Model:
    return Model(answers, **{**PREMIUM, **kw})


def offline(n: int = 40, **kw) -> Model:
    return Model("0" * n, **{**MID, **kw, "offline": True})


def triage_policy(model: str = "premium", fallbacks: tuple[str, ...] = (), require: dict | None = None,
                  prompt: str = "yesno", default: dict | None = None) -> dict[str, Any]:
    rule: dict[str, Any] = {"id": "triage", "when": {"task": "classification"}, "model": model, "prompt": prompt,
                            "fallbacks": list(fallbacks)}
    if require:
        rule["require"] = require
    return {"rules": [rule], "default": default or {"model": "premium"}}


@dataclass
class Row:
    """One scenario: the project, how to run it, and the decision it must produce for ``rule``."""

    id: str
    models: dict[str, Model]
    model: str
    fallbacks: list[str]
    kind: str
    suites: list[Suite] = field(default_factory=lambda: [Suite("triage", 40, rule="triage")])
    policy: dict[str, Any] = field(default_factory=triage_policy)
    rule: str = "triage"
    options: RecommendOptions = field(default_factory=RecommendOptions)
    build: Callable[[Project], str] | None = None  # runs the project; default: one run of every model
    check: Callable[[Decision, str], None] | None = None  # more truths about the decision and diff.md
    marks: tuple = ()


def _contains(*texts: str, reason: bool = False) -> Callable[[Decision, str], None]:
    def check(d: Decision, diff: str) -> None:
        where = d.reason if reason else diff
        for text in texts:
            assert text in where, f"{text!r} not in {where}"
    return check


def _all(*checks: Callable[[Decision, str], None]) -> Callable[[Decision, str], None]:
    def check(d: Decision, diff: str) -> None:
        for c in checks:
            c(d, diff)
    return check


def _never_inferior(d: Decision, diff: str) -> None:
    assert "inferior" not in d.reason.replace("non-inferior", "")
    assert "suite too small" in diff  # the runner's power warning reaches diff.md


def _numbers_formatted(d: Decision, diff: str) -> None:
    assert not re.search(r"\d\.\d{5,}", diff), "a raw float in diff.md"


def _traffic_weighted(d: Decision, diff: str) -> None:
    # the rule's quality weighs each suite by its weekly calls, not by its examples (200 vs 20)
    assert d.measures["cheap"].quality == pytest.approx((100 * 1.0 + 10_000 * 0.6) / 10_100)


def _prompt_proposed(d: Decision, diff: str) -> None:
    assert d.proposed.prompt == "reply-intent" and d.proposed.evidence.variant == "default"


def _limit_five_run(project: Project) -> str:
    """A run holding a model measured on 5 examples only (run with --limit 5), beside two full ones."""
    run_scenario(project, "full", models=["premium", "cheap"])
    run_scenario(project, "five", models=["newbie"], limit=5)
    import pandas as pd

    frame = pd.concat([read_results(project.reports_dir / r) for r in ("full", "five")], ignore_index=True)
    folder = project.reports_dir / "r1"
    write_parquet_atomic(folder / "results.parquet", frame, {"evals_format_version": "2"})
    manifest = (project.reports_dir / "full" / "manifest.json").read_text()
    write_json_atomic(folder / "manifest.json", {**__import__("json").loads(manifest), "run_id": "r1"})
    return "r1"


def _straddle(n: int = 20) -> str:
    """The incumbent's answers, and a candidate that loses two of them and wins one: -0.05 at n = 20."""
    return "1" * 18 + "01"


ROWS = [
    # finding 1: the cheapest model is also the best point estimate; one discordant pair in 20
    Row("noise-cheapest-is-best-point-estimate",
        {"premium": premium(ones(20, 18)), "cheap": cheap("1" * 19 + "0")},
        "premium", ["cheap"], "undecidable", suites=[Suite("triage", 20, rule="triage")],
        check=_contains("+0.050 [-0.119, +0.236] straddles -0.100", "examples per suite would decide it",
                        reason=True)),
    # plus: cheap better by point estimate at n = 20 (4 wins, 1 loss): Tango clears -0.1, the exact test does not
    Row("cheap-better-by-point-estimate-n20",
        {"premium": premium("1" * 16 + "0000"), "cheap": cheap("1" * 15 + "0" + "1111")},
        "premium", ["cheap"], "undecidable", suites=[Suite("triage", 20, rule="triage")],
        check=_contains("binomial test at the margin on its 5 discordant pairs gives p = 0.031", reason=True)),
    # finding 2: an interval straddling the margin is undecidable, never "inferior"; the runner's warning shows
    Row("straddle-is-undecidable-not-inferior",
        {"premium": premium("1" * 18 + "10"), "cheap": cheap(_straddle())},
        "premium", ["cheap"], "undecidable", suites=[Suite("triage", 20, rule="triage")], check=_never_inferior),
    Row("clearly-inferior",
        {"premium": premium(ones(40, 40)), "cheap": cheap(ones(40, 30))},
        "premium", ["cheap"], "inferior", check=_contains("cheaper models are inferior to premium", reason=True)),
    Row("anti-correlated-paired-scores",
        {"premium": premium("1" * 30 + "0" * 10), "cheap": cheap("0" * 10 + "1" * 30)},
        "premium", ["cheap"], "undecidable", check=_contains("+0.000 [-0.218, +0.218] straddles", reason=True)),
    # finding 3 (and the switch itself): first fallback at another provider, above a better one at the same provider
    Row("switch-with-provider-diversity-above-quality",
        {"premium": premium(ones(40, 38)), "cheap": cheap(ones(40, 38)), "mid": mid(ones(40, 38)),
         "cheap2": cheap(ones(40, 40), cost_per_call=0.0002)},
        "cheap", ["mid", "premium"], "switched",
        check=_all(_contains("cheap is non-inferior to premium within 0.100", "cheaper by $9.90 per 1k calls",
                             reason=True), _numbers_formatted)),
    Row("fallbacks-meet-latency-and-ceiling",
        {"premium": premium(ones(40, 40)), "cheap": cheap(ones(40, 40)),
         "slow": mid(ones(40, 40), cost_per_call=0.001, latency_ms=3000.0),
         "pricey": Model(ones(40, 40), provider="vllm", cost_per_call=0.05, latency_ms=100.0)},
        "cheap", ["premium"], "switched",
        policy=triage_policy(require={"p95_latency_ms": 1000, "max_cost_per_call_usd": 0.02}),
        check=_contains("excluded: p95 latency 3000 ms > 1000 ms required",
                        "excluded: cost per call $0.0500 > ceiling $0.0200")),
    Row("ceiling-binds-the-primary",
        {"premium": premium(ones(40, 40)), "mid": Model(ones(40, 40), provider="openai", cost_per_call=0.008),
         "cheap": cheap(ones(40, 28))},
        "premium", ["cheap"], "flagged", policy=triage_policy(require={"max_cost_per_call_usd": 0.006}),
        check=_contains("flagged: premium fails its rule (cost per call $0.0100 > ceiling $0.0060)", reason=True)),
    # finding 4: an incumbent under its floor is flagged, not "chosen"; measured fallbacks under it are dropped
    Row("incumbent-under-its-floor",
        {"premium": premium(ones(40, 26)), "mid": mid(ones(40, 25)), "cheap": cheap(ones(40, 24))},
        "premium", [], "flagged", suites=[Suite("triage", 40, rule="triage", quality_floor=0.7)],
        policy=triage_policy(fallbacks=("mid",)),
        check=_all(_contains("flagged: premium fails its rule", "fallback mid dropped", reason=True),
                   _contains("incumbent, flagged"))),
    # finding 5: one model measured on 5 examples is excluded on its own and freezes nothing
    Row("a-limit-5-model-freezes-nothing",
        {"premium": premium(ones(40, 38)), "cheap": cheap(ones(40, 38)), "newbie": mid(ones(40, 40))},
        "cheap", ["premium"], "switched", build=_limit_five_run,
        check=_contains("excluded: only 5 examples, 20 needed")),
    # finding 5: two suites of one rule weigh by traffic, each tested on its own (200 light + 20 heavy examples)
    Row("suites-of-one-rule-weigh-by-traffic",
        {"premium": premium({"light": ones(200, 200), "heavy": ones(20, 20)}),
         "cheap": cheap({"light": ones(200, 200), "heavy": ones(20, 12)})},
        "premium", ["cheap"], "inferior",
        suites=[Suite("light", 200, rule="triage", weekly_calls=100, quality_floor=0.3),
                Suite("heavy", 20, rule="triage", weekly_calls=10_000, quality_floor=0.3)],
        check=_all(_traffic_weighted, _contains("cheap -0.400 [-0.613, -0.174] on heavy", reason=True))),
    # finding 9: a suite matched by shape whose prompt is not the rule's is shown, warned, and not used
    Row("suite-prompt-differs-from-its-rule",
        {"premium": premium(ones(40, 40)), "cheap": cheap(ones(40, 40)), "mid": offline(), "spare": offline()},
        "premium", ["mid", "spare"], "prompt",
        suites=[Suite("reply-intent", 40, prompt="reply-intent")], policy=triage_policy(fallbacks=("mid", "spare")),
        check=_contains("suite reply-intent is evidence for this rule by its shape only",
                        "renders prompt 'reply-intent' where the rule ships 'yesno'", "add `rule: triage`")),
    Row("named-suite-with-its-own-prompt-proposes-it",
        {"premium": premium(ones(40, 40)), "cheap": cheap(ones(40, 40)), "mid": offline(), "spare": offline()},
        "cheap", ["premium", "mid", "spare"], "switched",
        suites=[Suite("reply-intent", 40, rule="triage", prompt="reply-intent")],
        policy=triage_policy(fallbacks=("mid", "spare")),
        check=_all(_prompt_proposed, _contains("(prompt 'reply-intent', was 'yesno')", "mid (unmeasured)"))),
    # finding 9: two unrelated suites falling to the default are not pooled; min_examples holds for each
    Row("two-suites-falling-to-the-default",
        {"premium": premium({"lang-id": ones(34, 34), "tone": ones(8, 8)}),
         "cheap": cheap({"lang-id": ones(34, 34), "tone": ones(8, 8)})},
        "premium", [], "too-few", rule="default",
        suites=[Suite("lang-id", 34, prompt="general", shape={"task": "language-id"}),
                Suite("tone", 8, prompt="general", shape={"task": "tone"})],
        policy=triage_policy(default={"model": "premium", "prompt": "general"}),
        check=_contains("kept: premium has only 8 examples on tone, 20 needed", reason=True)),
    # finding 10: an incumbent not measured in this run is kept, with its fallbacks, and says so
    Row("incumbent-not-measured",
        {"premium": offline(), "cheap": cheap(ones(40, 40)), "mid": mid(ones(40, 40)), "spare": offline()},
        "premium", ["mid", "spare"], "unmeasured", policy=triage_policy(fallbacks=("mid", "spare")),
        check=_contains("kept: incumbent not measured in this run: run it, or pass `--replace-unmeasured` to choose "
                        "among measured models", reason=True)),
    Row("replace-unmeasured-chooses-among-eligible",
        {"premium": offline(), "cheap": cheap(ones(40, 20)), "mid": mid(ones(40, 40)), "spare": offline()},
        "mid", ["spare"], "switched", policy=triage_policy(fallbacks=("mid", "spare")),
        options=RecommendOptions(replace_unmeasured=True),
        check=_contains("incumbent premium not measured (--replace-unmeasured)", "fallback spare kept, unmeasured",
                        reason=True)),
    # --replace-unmeasured given and no measured model meets the rule: the reason says so, not "pass the flag"
    Row("replace-unmeasured-with-nothing-eligible",
        {"premium": offline(), "cheap": cheap(ones(40, 10)), "spare": offline()},
        "premium", ["spare"], "unmeasured", policy=triage_policy(fallbacks=("spare",)),
        options=RecommendOptions(replace_unmeasured=True),
        check=_contains("kept: incumbent premium not measured in this run and no measured model meets the rule "
                        "(--replace-unmeasured)", reason=True)),
    # unresolved infrastructure failures: the pair that has them waits for a re-run; a third model freezes nothing
    Row("failed-calls-wait-for-a-re-run",
        {"premium": premium(ones(40, 40)), "cheap": cheap("1" * 36 + "xxxx")},
        "premium", [], "retry",
        check=_contains("kept: re-run to retry 4 failed calls (4 of 80 calls failed for infrastructure reasons",
                        reason=True)),
    Row("a-flaky-third-model-freezes-nothing",
        {"premium": premium(ones(40, 38)), "cheap": cheap(ones(40, 38)), "flaky": mid("x" * 30 + "1" * 10)},
        "cheap", ["premium"], "switched", check=_contains("excluded: only 10 examples, 20 needed")),
    # one unpriced failed call: the model's cost is over its priced calls, not unknown (nor the most expensive)
    Row("one-unpriced-failed-call",
        {"premium": premium(ones(40, 40)), "cheap": cheap("1" * 39 + "x")},
        "cheap", ["premium"], "switched", check=_contains("cheaper by $9.90 per 1k calls", reason=True)),
    # the objective is cost: an incumbent that is already the cheapest stays, however good a pricier model is
    Row("incumbent-already-the-cheapest",
        {"premium": premium(ones(40, 40)), "cheap": cheap(ones(40, 40))},
        "cheap", ["premium"], "no-eligible", policy=triage_policy(model="cheap", fallbacks=("premium",)),
        check=_contains("kept: no cheaper model meets the rule", reason=True)),
    # a model with no known price cannot be shown under a cost ceiling: excluded, not waved through
    Row("unpriced-model-fails-a-ceiling",
        {"premium": premium(ones(40, 40)), "cheap": cheap(ones(40, 40), cost_per_call=None)},
        "premium", [], "no-eligible", policy=triage_policy(require={"max_cost_per_call_usd": 0.02}),
        check=_contains("excluded: unknown price, the cost ceiling cannot be checked")),
    # objective quality under a budget keeps its behaviour: the best eligible model within the budget
    Row("quality-objective-under-a-budget",
        {"premium": premium(ones(40, 40)), "mid": mid(ones(40, 40)), "cheap": cheap(ones(40, 33))},
        "mid", ["premium", "cheap"], "switched", options=RecommendOptions(objective="quality", budget_per_1k_usd=6),
        check=_contains("switched: best eligible quality within $6.00/1k calls", reason=True)),
    Row("three-candidates-middle-winner",
        {"premium": premium(ones(40, 40)), "mid": mid(ones(40, 40)), "cheap": cheap(ones(40, 30))},
        "mid", ["premium", "cheap"], "switched",
        check=_contains("mid is non-inferior to premium", "inferior vs premium: -0.250 [-0.402, -0.140]")),
]


@pytest.mark.parametrize("row", [pytest.param(r, id=r.id, marks=r.marks) for r in ROWS])
def test_decision_table(row: Row, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("EVALS_CACHE", str(tmp_path / "cache.sqlite"))
    project = write_scenario(tmp_path / "proj", row.models, row.suites, row.policy)
    run_id = row.build(project) if row.build else run_scenario(project)
    result = recommend(project, run_id, row.options)
    d = next(x for x in result.decisions if x.rule_id == row.rule)
    assert (d.proposed.model, list(d.proposed.fallbacks), d.kind) == (row.model, row.fallbacks, row.kind), d.reason
    if row.check:
        row.check(d, result.diff_markdown)


def test_the_table_covers_every_kind_that_a_run_can_produce():
    kinds = {r.kind for r in ROWS}
    assert kinds >= {"switched", "inferior", "undecidable", "unmeasured", "flagged", "too-few", "retry", "prompt"}
    assert len(ROWS) >= 14
