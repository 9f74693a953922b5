"""Probes for the voice scorer: degenerate answers a reviewer would try, and good answers written for the briefs.

Shared by ``test_voice_probes.py`` and by the measurement run (``python -m tests.scorers.voice_probes``),
which prints, per probe, the mean and the highest score over the shipped briefs. The good answers
below were written by hand for the test briefs in the founder's voice (not copied from the references);
they are the gold side of the guard: each must still score high.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

SUITE = Path(__file__).resolve().parents[2] / "suites" / "writing" / "founder-voice"


def samples(name: str) -> list[dict]:
    return [json.loads(line) for line in (SUITE / name).read_text().splitlines() if line.strip()]


GOOD_ANSWERS = {
"brief-17": ("Decision: we keep renting GPUs. Buying two 8-GPU servers would cost about $320,000 upfront, and "
        "against what we pay for rental the payback would take about 27 months. That is too long for a company "
        "our size, and the hardware would be a generation old by then. Renting also lets us move capacity "
        "between regions when a client needs it. We will revisit this if rental prices rise more than 30%. "
        "Until then, nobody needs to spend time on racks, power or spares."),
"brief-19": ("We get asked why our extraction pipelines default to GPT-4o-mini when Claude Haiku is cheaper on some "
        "days and faster on others. The answer is one number.\n\nOver 90 days, GPT-4o-mini broke the output schema on "
        "0.2% of calls. Haiku, on the same pipeline with the same inputs, broke it on 0.9%. That sounds like a rounding "
        "error until you do the multiplication. For one client it is about 400 broken records a month.\n\nA broken record "
        "is not free. Someone has to notice it, find the source document and fix it by hand. Most of the time that "
        "someone is on the client's side, and they don't enjoy it.\n\nSo we pay a little more per call and route "
        "extraction to the model that keeps the shape. We check the numbers again every quarter."),
"brief-21": ("Hi all,\n\nOctober was a slow month and I want you to hear the numbers from me.\n\nRevenue was $121,000. "
        "The plan said $145,000. Two clients pushed projects into November, and one pilot ended without a retainer.\n\n"
        "What this does not mean: nobody's job is at risk. Runway is 18 months at current spend, and that number "
        "already assumes November looks like October.\n\nWhat changes: the next hire is paused until February. I'd "
        "rather wait than hire into a quarter we can't read yet. I'm also moving some of my time from code review "
        "back to sales for a few weeks.\n\nIf you have questions, ask me directly. I'll answer them.\n\nMaya"),
"brief-22": ("To: Team\nRe: Postmortem, Pinecrest summaries in Spanish\n\nWhat happened. On August 19 the summarizer "
        "agent for Pinecrest Health wrote 52 summaries in Spanish instead of English.\n\nWhy. The locale setting in "
        "their config was copied from another client's config when we set the agent up. Nobody checked it.\n\n"
        "How it was caught. Their QA lead spotted it within 40 minutes. Nothing reached patients.\n\nWhat we changed. "
        "Every agent now has an eval case that checks the output language against the client's. It runs with the "
        "nightly evals and fails the deploy if it breaks.\n\nI called Pinecrest the same afternoon. They were gracious "
        "about it. We should not need them to be."),
"brief-23": ("We deleted 11 alerts last month. Nothing broke.\n\nI went through 90 days of pages first. Those 11 alerts "
        "had fired 212 times between them. Someone took action twice. The other 210 times, an engineer woke up, "
        "looked at a dashboard and went back to bed.\n\nAn alert nobody acts on is worse than no alert. It teaches "
        "people that the pager is noise.\n\nMonthly pages went from 31 to 14. The on-call week got quieter, and the "
        "pages that are left get read.\n\nIf you run a rotation, pull your own numbers. It takes an afternoon."),
"brief-25": ("A client told us their triage agent was too slow and asked for the best model we had. They already had "
        "it. That was the problem.\n\nThe inbound-triage agent ran every email through Claude Sonnet and took 4.1 "
        "seconds per email. Most of that time went to two decisions a much smaller model can make: what kind of email "
        "is this, and how urgent is it.\n\nSo we split the task. GPT-4o-mini now assigns category and urgency in about "
        "700 milliseconds. Sonnet only writes the draft reply, and only for the emails that need one.\n\nTotal cost "
        "rose about 6%. The complaints stopped. Nobody on their team has asked about the model since, which is how "
        "it should be."),
"brief-27": ("Our prices are on our website. People ask why.\n\nRetainers start at $7,500 a month. Pilots cost $9,000 "
        "for four weeks. That's it. No call needed to find out.\n\nWe made them public in January. First calls fell "
        "by about a third, which scared me for a month. But the close rate went from 20% to 35%. The people who "
        "still call have already decided they can pay, so we talk about the work instead of the budget.\n\nI'd "
        "rather lose a prospect on price in an email than in week three of a sales process."),
"brief-31": ("Hi Sam,\n\nThanks for sending the three feature requests. Before we start any of them I want the "
        "trade-offs on the table.\n\nThe Salesforce sync alone is about two weeks of work. The other two are smaller, "
        "but they add up.\n\nOption one: a change order covering all three features, about $12,000. The May deliverable "
        "stays in May.\n\nOption two: no change order. We build the three features inside the current budget, and the "
        "May deliverable moves to late June.\n\nOption three: we finish what we scoped and pick the features up in the "
        "next engagement.\n\nAll three are fine with us. I need your choice by Friday so the team can plan next week.\n\nMaya"),
"brief-35": ("To: Team\nRe: The year, mostly in numbers\n\nClients: 17, up from 9. Two of the new ones came from "
        "referrals by clients we already had.\n\nRevenue: $1.7M for the year.\n\nModel spend: 10% of revenue, down from "
        "18%. Most of that came from routing simple work to cheaper models, not from haggling over prices.\n\nPages: "
        "150, down from 240 the year before. We deleted a lot of alerts.\n\nWhat I got wrong: I hired too late again. "
        "We'll fix that in the first quarter.\n\nThank you. This was a good year and you made it one."),
}

GENERIC_POST = ("Big news from our team! 🚀 We have been on an incredible journey, and today we want to share a "
                "milestone we are really proud of. {facts} None of this would be possible without our amazing "
                "people, our partners and our community. We believe the future of AI is bright, and we are just "
                "getting started. What do you think? Let us know in the comments! #AI #Innovation #Startups")

GENERIC_EMAIL = ("Hello,\n\nThank you for reaching out and for your continued interest. We wanted to provide a brief "
                 "update on the matter discussed. {facts} We value our relationship and remain committed to "
                 "delivering the best possible outcome for all parties involved. Should you have any further questions, "
                 "please feel free to contact us at any time.\n\nKind regards,\nThe Team")

REFUSALS = ["I'm sorry, but I can't help with that.",
            "I'm sorry, but I can't write this memo because I do not have enough information about the decision "
            "or the people it is for, so I would rather not guess at it.",
            "As an AI language model, I am not able to write in the voice of a specific real person. However, I can "
            "help you draft a general message that covers the key points if you would like."]


# ref-01 rewritten by hand, sentence by sentence, in other words: the paraphrased copy a reviewer tries
PARAPHRASED_REF_01 = (
    "We're hiring engineer number four. Read this before applying.\n\nMost of the work is not glamorous. You'll be "
    "reading logs. You'll rework a prompt that ran fine on Claude until it runs on GPT-4o. Every fifth week you're "
    "on call, and on some of those weeks the pager goes off at 3 a.m. because a self-hosted Llama box filled its "
    "disk.\n\nWhat you get: a small team, actual clients, and a codebase you can get through in one afternoon. The "
    "router is 50 lines. The eval harness is around 400.\n\nSalary is $165k to $185k plus equity. We publish the "
    "range since we'd sooner lose someone over pay in the first week than in the sixth.\n\nThere's no take-home. "
    "There's one paid pairing session: four hours, $400.\n\nIf this sounds like you, the link's in the comments.")

REFUSAL_WITH_FACTS = ("I'm sorry, but I can't write in the voice of a real person. Here are the facts you gave me, "
                      "which you can use in your own draft: {facts}")


def _sentence(fact: str) -> str:
    return fact if fact.endswith((".", "!", "?")) else fact + "."


def fact_probes(brief: dict[str, Any]) -> dict[str, str]:
    """The brief's facts and literals, with no writing around them, in every shape a reviewer tried."""
    facts = [str(f).rstrip(".") for f in brief.get("facts") or []]
    lits = [str(t) for t in brief.get("must_include") or []]
    topic = str(brief.get("topic", "")).rstrip(".")
    return {
        "facts, commas": ", ".join(facts + lits),
        "literals + facts": "Key figures: " + ", ".join(lits) + ". " + " ".join(_sentence(f) for f in facts),
        "bullets": "\n".join(f"- {f}" for f in [topic, *facts]),
        "bullets of literals": "Summary:\n" + "\n".join(f"* {lit}: {f}" for lit, f in zip(lits, facts)),
        "numbered list": "\n".join(f"{i}. {f}" for i, f in enumerate([topic, *facts], 1)),
        "table": "| # | Fact | Figure |\n|---|---|---|\n" + "\n".join(
            f"| {i} | {f} | {lit} |" for i, (f, lit) in enumerate(zip(facts, lits + [""] * len(facts)), 1)),
        "Fact: X. Fact: Y.": " ".join(f"Fact: {_sentence(f)}" for f in [topic, *facts]),
        "label: value lines": "\n".join(f"{k}: {v}" for k, v in [("Topic", topic), ("Audience", brief.get("audience")),
                                                                  *[(f"Fact {i}", f) for i, f in enumerate(facts, 1)]]),
        "generic post + facts": GENERIC_POST.format(facts=" ".join(_sentence(f) for f in facts)),
        "generic email + facts": GENERIC_EMAIL.format(facts=" ".join(_sentence(f) for f in facts)),
    }


def _every_nth_word(text: str, n: int, word: str = "really") -> str:
    return " ".join(word if i % n == n - 1 else t for i, t in enumerate(text.split(" ")))


def _figures_swapped(text: str, brief: dict[str, Any]) -> str:
    """The reference's figures replaced, in turn, by the brief's required literals (a template fill)."""
    literals = iter([str(t) for t in brief.get("must_include") or []] * 20)
    return re.sub(r"\$?\d[\d,.]*%?k?", lambda m: next(literals, m.group(0)), text)


def edited_copy_probes(reference: str, brief: dict[str, Any]) -> dict[str, str]:
    """A reference sample edited (every third or fourth word replaced, figures swapped for the brief's,
    sentences shuffled), each with the brief's facts appended."""
    facts = " ".join(_sentence(str(f)) for f in brief.get("facts") or [])
    sentences = re.split(r"(?<=[.!?])\s+", reference)
    shuffled = sentences[1::2] + sentences[0::2]
    return {
        "every 3rd word replaced + facts": _every_nth_word(reference, 3) + "\n\n" + facts,
        "every 4th word replaced + facts": _every_nth_word(reference, 4) + "\n\n" + facts,
        "figures swapped for the brief's": _figures_swapped(reference, brief),
        "sentences shuffled + facts": " ".join(shuffled) + "\n\n" + facts,
    }


def other_probes(brief: dict[str, Any]) -> dict[str, str]:
    """The brief restated as prose, a refusal with the facts, and answers far too short or too long."""
    facts = " ".join(_sentence(str(f)) for f in brief.get("facts") or [])
    others = [t for k, t in GOOD_ANSWERS.items() if k != brief.get("id")]
    return {
        "brief restated as prose": f"{_sentence(str(brief.get('topic', '')))} {facts}",
        "brief restated, framed": (f"Here is a {brief.get('kind', 'piece')} for {brief.get('audience')}. "
                                   f"{_sentence(str(brief.get('topic', '')))} It says: {facts}"),
        "refusal + facts": REFUSAL_WITH_FACTS.format(facts=facts),
        "paraphrased ref-01 + facts": PARAPHRASED_REF_01 + "\n\n" + facts,
        "one sentence with the literals": ("Quick update on " + str(brief.get("topic", "")).rstrip(".").lower()
                                           + ": " + ", ".join(str(t) for t in brief.get("must_include") or [])
                                           + ", and that is all there is to say."),
        "very long (good answers of other briefs + facts)": "\n\n".join([facts, *others[:4]]),
    }


def copy_probes(reference: str, brief: dict[str, Any]) -> dict[str, str]:
    """A reference sample pasted, alone, with the brief's facts appended, and with them interleaved."""
    facts = [_sentence(str(f)) for f in brief.get("facts") or []]
    paragraphs = [p for p in reference.split("\n\n") if p.strip()]
    interleaved, queue = [], list(facts)
    for i, para in enumerate(paragraphs):
        interleaved.append(para)
        if queue and i % 2 == 0:
            interleaved.append(queue.pop(0))
    interleaved += queue
    sentences = re.split(r"(?<=[.!?])\s+", reference)
    mixed = []  # a fact after every second sentence, inside paragraphs
    for i, s in enumerate(sentences):
        mixed.append(s)
        if i % 2 == 1 and i // 2 < len(facts):
            mixed.append(facts[i // 2])
    mixed += facts[len(sentences) // 2:]
    return {
        "copy": reference,
        "copy + facts appended": reference + "\n\n" + " ".join(facts),
        "copy + facts interleaved": "\n\n".join(interleaved),
        "copy + facts in sentences": " ".join(mixed),
        "facts + copy": " ".join(facts) + "\n\n" + reference,
    }


def relaxed(brief: dict[str, Any], text: str) -> SimpleNamespace:
    """The example with the length bounds widened to fit ``text``: the worst case (length part 1)."""
    words = len(text.split())
    inputs = {**brief, "min_words": min(brief.get("min_words") or words, words),
              "max_words": max(brief.get("max_words") or words, words)}
    return SimpleNamespace(id=brief.get("id"), inputs=inputs, gold=inputs.get("must_include"))


def briefs() -> list[dict[str, Any]]:
    return samples("dev.jsonl") + samples("test.jsonl")


def probes(brief: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """``(probe name, text, example)`` for one brief: every degenerate probe, and the good answer if there is one.
    Probes whose length is not the point are scored with the bounds widened to fit (the worst case)."""
    refs = samples("references.jsonl")
    as_briefed = SimpleNamespace(id=brief["id"], inputs=brief, gold=brief.get("must_include"))
    out = [(name, text, relaxed(brief, text)) for name, text in fact_probes(brief).items()]
    same_kind = next(r for r in refs[3:] if r["kind"] == brief["kind"])
    for label, ref in (("shown ref-01", refs[0]), ("same-kind ref", same_kind)):
        out += [(f"{label}: {name}", text, relaxed(brief, text)) for name, text in copy_probes(ref["text"], brief).items()]
        out += [(f"{label}: {name}", text, relaxed(brief, text))
                for name, text in edited_copy_probes(ref["text"], brief).items()]
    for name, text in other_probes(brief).items():
        keep_bounds = name.startswith(("one sentence", "very long"))
        out.append((name, text, as_briefed if keep_bounds else relaxed(brief, text)))
    out += [(f"refusal {i + 1}", text, as_briefed) for i, text in enumerate(REFUSALS)]
    if brief["id"] in GOOD_ANSWERS:
        good = GOOD_ANSWERS[brief["id"]]
        bullets = "\n".join(f"- {s}" for s in re.split(r"(?<=[.!?])\s+|\n+", good) if s.strip())
        out.append(("good answer's sentences as bullets", bullets, relaxed(brief, bullets)))
        out.append(("good answer (as briefed)", good, as_briefed))
    return out


def probe_table(score: Callable[[str, Any], Any]) -> dict[str, list[Any]]:
    """Every probe's scores (``Score`` objects) over the shipped briefs, by probe name."""
    out: dict[str, list[Any]] = {}
    for b in briefs():
        for name, text, example in probes(b):
            out.setdefault(name, []).append(score(text, example))
    return out


def main() -> None:  # pragma: no cover - a measurement, run by hand
    from evals.scorers import build_scorer
    from evals.suites import open_suite

    scorer = build_scorer(open_suite(SUITE / "suite.yaml"))
    print(scorer.info()["voice_model"]["note"])
    print(f"{'probe':58s} {'mean':>6s} {'max':>6s} {'style max':>9s}  n")
    for name, scores in probe_table(scorer.score).items():
        values = [s.value for s in scores]
        style = max(s.subscores.get("style", 0.0) for s in scores)
        print(f"{name:58s} {sum(values) / len(values):6.3f} {max(values):6.3f} {style:9.3f}  {len(values)}")


if __name__ == "__main__":  # pragma: no cover
    main()
