"""Issue 12 item 1, the classes a reviewer tries on the voice scorer: each scores clearly under the suite's
quality floor, with the reason in ``detail["degenerate"]``, while answers written for the briefs in the
founder's voice stay above it. The probes (and the measurement table) are in ``voice_probes.py``."""

from __future__ import annotations

import pytest

from evals.scorers import build_scorer
from evals.suites import open_suite
from tests.scorers.voice_probes import GOOD_ANSWERS, REFUSALS, SUITE, briefs, probes

SUITE_SPEC = open_suite(SUITE / "suite.yaml")
FLOOR = SUITE_SPEC.spec.quality_floor  # 0.6: read from suite.yaml, never written here
CLEARLY_UNDER = FLOOR - 0.1


@pytest.fixture(scope="module")
def scorer():
    return build_scorer(SUITE_SPEC)


@pytest.fixture(scope="module")
def scored(scorer):
    """Every probe's Score over every shipped brief: {probe name: [(brief id, Score), ...]}."""
    out: dict[str, list] = {}
    for b in briefs():
        for name, text, example in probes(b):
            out.setdefault(name, []).append((b["id"], scorer.score(text, example)))
    return out


def _worst(scored, names):
    rows = [(name, bid, s) for name in names for bid, s in scored[name]]
    assert rows, names
    return max(rows, key=lambda r: r[2].value)


FACT_LISTS = ["facts, commas", "literals + facts", "bullets", "bullets of literals", "numbered list", "table",
              "Fact: X. Fact: Y.", "label: value lines"]


@pytest.mark.parametrize("probe", FACT_LISTS + ["brief restated as prose", "brief restated, framed"])
def test_the_briefs_facts_without_writing_score_0(scored, probe):
    """The brief's facts as a list, a table or label lines (0.94 on main), or restated as prose (0.94)."""
    name, bid, worst = _worst(scored, [probe])
    assert worst.value == 0.0 and worst.subscores["style"] == 0.0, (bid, worst.detail)
    assert all(s.detail["degenerate"] for _, s in scored[probe])


def test_the_brief_restated_in_prose_is_named_as_such(scored):
    """The reason names the brief, not a list: this text is prose."""
    for _, s in scored["brief restated as prose"]:
        assert s.detail["degenerate"].startswith("restates the brief"), s.detail["degenerate"]


def test_a_list_in_the_answers_own_words_is_not_prose(scored):
    """A good answer's own sentences turned into bullets: not the brief's words, still not the piece asked for."""
    for bid, s in scored["good answer's sentences as bullets"]:
        assert s.value == 0.0 and s.detail["degenerate"].startswith("a list, not prose"), (bid, s.detail)


COPIES = [f"{ref}: {kind}" for ref in ("shown ref-01", "same-kind ref")
          for kind in ("copy", "copy + facts appended", "copy + facts interleaved", "copy + facts in sentences",
                       "facts + copy", "figures swapped for the brief's", "sentences shuffled + facts",
                       "every 3rd word replaced + facts", "every 4th word replaced + facts")]


@pytest.mark.parametrize("probe", COPIES)
def test_a_copied_reference_never_reaches_the_floor(scored, probe):
    """A copy plus the brief's facts scored 0.6, at the floor; an edited copy 0.97."""
    name, bid, worst = _worst(scored, [probe])
    assert worst.value < CLEARLY_UNDER and worst.subscores["style"] == 0.0, (bid, worst.detail)
    assert all(s.detail["degenerate"].startswith("copies reference") for _, s in scored[probe])


def test_a_paraphrased_copy_is_a_copy(scored):
    """ref-01 rewritten by hand in other words, the brief's facts appended: 0.98 on main."""
    for bid, s in scored["paraphrased ref-01 + facts"]:
        assert s.value == 0.0 and s.detail["copied_reference"] == "ref-01", (bid, s.detail)


@pytest.mark.parametrize("index", range(len(REFUSALS)))
def test_a_refusal_earns_no_style_credit(scored, index):
    """A refusal scored style 0.77 (the total was held down only by the facts gate)."""
    for bid, s in scored[f"refusal {index + 1}"]:
        assert s.value == 0.0 and s.subscores["style"] == 0.0, (bid, s.subscores)
        assert s.detail["degenerate"].startswith(("refusal", "near-empty")), s.detail  # 8 words is near-empty first


def test_a_refusal_with_the_facts_pasted_scores_0(scored):
    name, bid, worst = _worst(scored, ["refusal + facts"])
    assert worst.value == 0.0, (bid, worst.detail)


@pytest.mark.parametrize("probe", ["one sentence with the literals", "very long (good answers of other briefs + facts)"])
def test_far_too_short_or_too_long_cannot_clear_the_floor(scored, probe):
    """One sentence holding the literals scored 0.79 (length is only 0.15 of the weight); four pieces pasted
    together 0.84. Outside the bounds the score is at most the length ratio: 22 words for a 40-word minimum
    (brief-40, the shortest minimum) is at most 0.55."""
    for bid, s in scored[probe]:
        assert s.detail["length_gate"] is True, (bid, s.detail)
        assert s.value <= s.detail["length_ratio"] + 1e-9
    name, bid, worst = _worst(scored, [probe])
    assert worst.value < FLOOR, (bid, worst.detail)
    assert sum(s.value for _, s in scored[probe]) / len(scored[probe]) < CLEARLY_UNDER


def test_good_answers_stay_well_above_the_floor(scored):
    """The other side of every guard: pieces written for the briefs in the founder's voice are not flagged."""
    assert len(scored["good answer (as briefed)"]) == len(GOOD_ANSWERS)
    for bid, s in scored["good answer (as briefed)"]:
        assert s.detail["degenerate"] is None and s.detail["copied_reference"] is None, (bid, s.detail)
        assert s.detail["length_gate"] is False and s.detail["facts_gate"] is False
        assert s.value > FLOOR + 0.25, (bid, s.value, s.subscores)


def test_no_reference_or_contrast_sample_is_a_refusal_a_list_or_a_copy_of_another(scorer):
    """False positives of the refusal, list and vocabulary-copy rules on the suite's own prose."""
    from evals.scorers.voice import _read_samples

    refs = _read_samples(SUITE / "references.jsonl")
    contrast = _read_samples(SUITE / "contrast.jsonl")
    for row in refs + contrast:
        assert scorer.degenerate(row["text"], {"min_words": 0}) is None, row["id"]
    for row in contrast:
        assert scorer.copy_of(row["text"]) is None, row["id"]
    for ref_id, vocabulary in scorer._reference_vocabulary:  # each reference against every other one
        for other in refs:
            if other["id"] != ref_id:
                mine = set(__import__("evals.scorers.voice", fromlist=["_words"])._words(other["text"]))
                assert sum(w for word, w in vocabulary.items() if word in mine) < scorer.settings.copy_vocabulary


def test_detail_names_the_component_that_cost_the_points(scored):
    """Every zero of a degenerate probe comes with its reason; a gate that capped a score says so."""
    for name, rows in scored.items():
        for bid, s in rows:
            if s.value == 0.0:
                assert s.detail["degenerate"] or s.detail["facts_gate"] or s.detail["length_gate"], (name, bid)


@pytest.mark.parametrize("text", [
    "Sorry, I can't help with writing content that imitates a real person's voice.",
    "I cannot complete this request. Please provide more context about the audience.",
    "As an AI, I don't have personal experiences, so here is a general outline you could adapt instead.",
    "I'm not able to write in the founder's voice, but here is a neutral version.",
    "I don't have enough information to write this memo without guessing at the numbers."])
def test_refusals_in_other_words_are_refusals(text):
    from evals.scorers.voice import refusal

    assert refusal(text), text


@pytest.mark.parametrize("text", [
    "I'm sorry, but we can't extend the pilot past March.",
    "I can't promise a date yet. I can't help with the migration this quarter either.",
    "I don't have enough information to say yet, and I won't guess.",
    "We won't write a fully autonomous agent. I can't write that cheque and neither can you."])
def test_a_founder_declining_something_is_not_a_refusal(text):
    """The false-positive side: the founder says no to things in her pieces (ref-02, brief-18, brief-28)."""
    from evals.scorers.voice import refusal

    assert refusal(text) is None, refusal(text)
