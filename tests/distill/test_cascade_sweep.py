"""The threshold sweep on a constructed dataset, checked against a hand computation; confirmation on test."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evals.policy.cascade import ALWAYS_ESCALATE, non_inferior, sweep
from evals.stats import paired_difference

CHEAP_COST, STRONG_COST = 0.0001, 0.01
MARGIN = 0.15


def rows(model, split, scores, confidences=None, cost=0.0, errors=None, suite="triage", repeat=0):
    n = len(scores)
    confidences = confidences if confidences is not None else [None] * n
    errors = errors or [None] * n
    out = []
    for i, (s, c, e) in enumerate(zip(scores, confidences, errors)):
        out.append({"suite": suite, "split": split, "example_id": f"ex-{i:03d}", "model": model, "repeat": repeat,
                    "score": np.nan if e else s, "confidence": np.nan if c is None else c, "error": e,
                    "cost_usd": np.nan if e else cost, "input_tokens": np.nan if e else 100.0,
                    "output_tokens": np.nan if e else 2.0, "latency_ms": 10.0, "context_tokens": 100,
                    "variant": "default"})
    return out


def dataset(split, g2_wrong=1):
    """42 examples. The cheap model: 20 at confidence 0.95 (all right), 10 at 0.80 (``g2_wrong`` wrong),
    10 at 0.60 (8 wrong), one timeout, one answer without a confidence (wrong). The strong model: all right."""
    scores = [1.0] * 20 + [0.0] * g2_wrong + [1.0] * (10 - g2_wrong) + [0.0] * 8 + [1.0] * 2 + [None, 0.0]
    conf = [0.95] * 20 + [0.80] * 10 + [0.60] * 10 + [None, None]
    errors = [None] * 40 + ["timeout", None]
    cheap = rows("cheap", split, scores, conf, CHEAP_COST, errors)
    strong = rows("strong", split, [1.0] * 42, cost=STRONG_COST)
    return pd.DataFrame(cheap + strong)


def by_hand(taken: int, wrong_taken: int) -> tuple[np.ndarray, float, float]:
    """Cascade scores per example, cost per call and escalation share when the first ``taken`` examples
    (of the 40 with a confidence, in the order above) are the cheap model's, ``wrong_taken`` of them wrong.

    Cost: A + share x B, each leg's mean over its priced calls (the timeout reported no usage, no price)."""
    scores = np.ones(42)
    scores[:wrong_taken] = 0.0  # the order of examples does not change a paired interval
    share = (42 - taken) / 42
    return scores, CHEAP_COST + share * STRONG_COST, share


def test_the_sweep_picks_the_threshold_the_hand_computation_says_is_cheapest_non_inferior():
    dev = dataset("dev")
    expected = {ALWAYS_ESCALATE: by_hand(0, 0), 0.95: by_hand(20, 0), 0.80: by_hand(30, 1), 0.60: by_hand(40, 9)}
    ones = np.ones(42)
    verdict = {t: non_inferior(ones, s, MARGIN) for t, (s, _, _) in expected.items()}
    assert verdict == {ALWAYS_ESCALATE: True, 0.95: True, 0.80: True, 0.60: False}  # the hand computation
    cheapest = min((t for t, ok in verdict.items() if ok), key=lambda t: expected[t][1])
    assert cheapest == 0.80

    choice = sweep(dev, dataset("test"), cheap="cheap", strong="strong", reference="strong", margin=MARGIN)
    assert [p.threshold for p in choice.curve] == [ALWAYS_ESCALATE, 0.95, 0.80, 0.60]
    for point in choice.curve:
        scores, cost, share = expected[point.threshold]
        assert point.quality == pytest.approx(scores.mean())
        assert point.cost_per_call == pytest.approx(cost) and point.escalation_share == pytest.approx(share)
        assert point.diff == paired_difference(ones, scores) and point.non_inferior == verdict[point.threshold]
        assert point.calls == 42 and point.diff.n == 41 + 1  # the timeout's call is scored by the strong model
    assert choice.chosen.threshold == 0.80
    assert choice.proposed and choice.confirmation.threshold == 0.80
    assert choice.reference_cost_per_call == pytest.approx(STRONG_COST)
    assert "confidence >= 0.8" in choice.reason and "confirmed on test" in choice.reason
    frame = choice.curve_frame()
    assert frame["threshold"].tolist()[1:] == [0.95, 0.80, 0.60] and frame["threshold"].isna().tolist()[0]
    recorded = choice.evidence(dev_run_id="dev-run", dev_results_sha256=None)
    assert recorded.threshold == 0.80 and recorded.test.escalation_share == pytest.approx(12 / 42, abs=1e-6)
    assert recorded.dev.outcome == "non-inferior" and [p.threshold for p in recorded.curve] == [None, 0.95, 0.80, 0.60]


def test_a_cascade_that_fails_confirmation_on_test_is_not_proposed():
    # on test the cheap model is confidently wrong: 6 of its 0.80 answers are wrong
    choice = sweep(dataset("dev"), dataset("test", g2_wrong=6), cheap="cheap", strong="strong", reference="strong",
                   margin=MARGIN)
    assert choice.chosen.threshold == 0.80  # dev still says 0.80
    scores, _, _ = by_hand(30, 6)
    assert choice.confirmation.diff == paired_difference(np.ones(42), scores)
    assert not non_inferior(np.ones(42), scores, MARGIN) and not choice.confirmation.non_inferior
    assert not choice.proposed and "not confirmed on test" in choice.reason


def test_not_proposed_when_not_cheaper_than_the_reference_or_on_too_few_examples():
    dev, test = dataset("dev"), dataset("test")
    # a third model as good as the strong one and cheaper than the cascade: the cascade is not worth it
    mid = pd.DataFrame(rows("mid", "dev", [1.0] * 42, cost=0.001) + rows("mid", "test", [1.0] * 42, cost=0.001))
    choice = sweep(pd.concat([dev, mid[mid.split == "dev"]]), pd.concat([test, mid[mid.split == "test"]]),
                   cheap="cheap", strong="strong", reference="mid", margin=MARGIN)
    assert choice.confirmation.non_inferior and not choice.proposed and "no less than mid" in choice.reason
    few = sweep(dev, test, cheap="cheap", strong="strong", reference="strong", margin=MARGIN, min_examples=50)
    assert few.chosen is None and not few.proposed and "too few examples on dev" in few.reason
    small_test = test[test["example_id"] < "ex-015"]
    short = sweep(dev, small_test, cheap="cheap", strong="strong", reference="strong", margin=MARGIN)
    assert not short.proposed and "too few examples on test" in short.reason


def test_no_confidence_or_unknown_cost_is_never_proposed():
    dev = dataset("dev")
    blind = dev.assign(confidence=np.nan)
    choice = sweep(blind, blind, cheap="cheap", strong="strong", reference="strong", margin=MARGIN)
    assert [p.threshold for p in choice.curve] == [ALWAYS_ESCALATE] and not choice.proposed
    assert "gave no confidence" in choice.reason
    unpriced = dev.assign(cost_usd=np.where(dev["model"] == "strong", np.nan, dev["cost_usd"]))
    choice = sweep(unpriced, unpriced, cheap="cheap", strong="strong", reference="strong", margin=MARGIN)
    assert all(p.cost_per_call is None for p in choice.curve)
    assert choice.chosen is None and "no threshold has a known cost" in choice.reason


def test_repeats_are_per_call_and_examples_are_the_units():
    dev = dataset("dev")
    again = dev.assign(repeat=1)
    # the second repeat of the cheap model is unsure everywhere: half its calls go to the strong model
    again.loc[again["model"] == "cheap", "confidence"] = 0.5
    both = pd.concat([dev, again])
    choice = sweep(both, both, cheap="cheap", strong="strong", reference="strong", margin=MARGIN)
    point = next(p for p in choice.curve if p.threshold == 0.80)
    assert point.calls == 84 and point.diff.n == 42
    assert point.escalation_share == pytest.approx((12 + 42) / 84)
    assert point.quality == pytest.approx((41 / 42 + 1.0) / 2)  # one example right in one repeat of two


def test_non_inferior_needs_evidence():
    assert not non_inferior([], [], 0.1)
    assert non_inferior([1.0] * 60, [1.0] * 60, 0.1) and not non_inferior([1.0] * 30, [1.0] * 30, 0.1)  # Tango at n=30: -0.11


def test_a_failed_cheap_answer_is_never_taken_whatever_its_confidence():
    dev = dataset("dev")
    # the cheap model's first answer was cut off at max_tokens (an answer failure, score 0) yet carries 0.99
    cut = (dev["model"] == "cheap") & (dev["example_id"] == "ex-000")
    dev.loc[cut, ["error", "score", "confidence"]] = ["truncated", 0.0, 0.99]
    choice = sweep(dev, dev, cheap="cheap", strong="strong", reference="strong", margin=MARGIN)
    assert 0.99 not in [p.threshold for p in choice.curve]
    point = next(p for p in choice.curve if p.threshold == 0.95)
    assert point.quality == 1.0 and point.escalation_share == pytest.approx(23 / 42)  # escalated, the strong one right


def test_a_test_split_of_unknown_cost_does_not_confirm_a_saving():
    test = dataset("test")
    test.loc[test["model"] == "strong", "cost_usd"] = np.nan  # the strong model unpriced on test
    choice = sweep(dataset("dev"), test, cheap="cheap", strong="strong", reference="strong", margin=MARGIN)
    assert choice.confirmation.non_inferior and choice.confirmation.cost_per_call is None
    assert not choice.proposed and "a cost there is unknown" in choice.reason


def test_unresolved_infrastructure_failures_on_test_wait_for_a_re_run():
    test = dataset("test")
    mid = pd.DataFrame(rows("mid", "test", [1.0] * 42, cost=0.05) + rows("mid", "dev", [1.0] * 42, cost=0.05))
    failed = (test["model"] == "strong") & test["example_id"].isin(["ex-035", "ex-036", "ex-037"])  # escalated calls
    test.loc[failed, ["error", "score", "cost_usd"]] = ["server_error", np.nan, np.nan]
    choice = sweep(pd.concat([dataset("dev"), mid[mid.split == "dev"]]), pd.concat([test, mid[mid.split == "test"]]),
                   cheap="cheap", strong="strong", reference="mid", margin=MARGIN, max_infra_failure_rate=0.02)
    assert choice.confirmation.outcome == "retry" and not choice.proposed and "re-run to retry" in choice.reason
