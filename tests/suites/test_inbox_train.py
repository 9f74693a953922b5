"""The inbox-triage training split: big enough to distil from, labelled with the suite's labels, and no copy
of a dev or test email (a classifier trained on the test set would make every figure about it a lie)."""

from __future__ import annotations

import json
import re
from collections import Counter
from itertools import combinations

import pytest

from evals.suites import open_suite
from tests.conftest import REPO

FOLDER = REPO / "suites" / "classification" / "inbox-triage"
SUITE = FOLDER / "suite.yaml"
SHINGLE = 5  # words per shingle
NEAR = 0.5  # Jaccard of word 5-gram sets above which two bodies count as the same email
CONTAINED = 0.5  # share of a train body's 5-grams found in one dev/test body (an email pasted into a forward)

# Each CJK character is a word (Japanese has no spaces); digits are kept apart from letters.
_TOKEN = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]|[^\W\d_]+|\d+")
# Function words of the non-English languages in this suite's data; three distinct ones mark a body as
# non-English (no English email uses three of them).
_FOREIGN = frozenset(
    "und nicht wir ihr sie bitte danke mit für haben "  # de
    "el los las una para por gracias nuestro hola estamos "  # es
    "nous vous les est pour avec merci bonjour notre sommes "  # fr
    "não uma você vocês obrigado obrigada nosso nossa olá somos também temos podemos abraço "  # pt
    "het een niet wij voor jullie graag bedankt onze ik kunnen "  # nl
    "siamo della grazie buongiorno nostro vorremmo cordiali saluti abbiamo "  # it
    "och att det har inte tack hej vänliga hälsningar "  # sv
    "og vi jeres kan hilsen venlig "  # da
    .split()
)


def _rows(name: str) -> list[dict]:
    return [json.loads(line) for line in (FOLDER / name).read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def train() -> list[dict]:
    return _rows("train.jsonl")


@pytest.fixture(scope="module")
def held_out() -> list[dict]:
    return _rows("dev.jsonl") + _rows("test.jsonl")


def _words(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def _shingles(text: str) -> frozenset[tuple[str, ...]]:
    words = _words(text)
    return frozenset(tuple(words[i:i + SHINGLE]) for i in range(len(words) - SHINGLE + 1)) or frozenset([tuple(words)])


def _jaccard(a: frozenset, b: frozenset) -> float:
    return len(a & b) / len(a | b)


def _is_foreign(text: str) -> bool:
    return bool(re.search(r"[\u3040-\u30ff\u3400-\u9fff]", text)) or len(_FOREIGN & set(_words(text))) >= 3


def test_train_split_loads_and_test_stays_the_default():
    suite = open_suite(SUITE, split="train")
    assert suite.split == "train" and len(suite.examples) >= 400
    assert open_suite(SUITE).split == "test"
    assert suite.spec.few_shot.split == "dev"  # shots never come from the split a model is distilled on


def test_train_rows_have_the_shipped_format(train, held_out):
    assert len(train) >= 400
    assert {frozenset(r) for r in train} == {frozenset(held_out[0])}
    for row in train:
        assert re.fullmatch(r"triage-train-\d{4}", row["id"]), row["id"]
        assert row["difficulty"] in {"easy", "ambiguous"}, row["id"]
        assert all(isinstance(row[k], str) and row[k].strip() for k in row), row["id"]


def test_train_ids_unique_and_disjoint_from_dev_and_test(train, held_out):
    ids = [r["id"] for r in train]
    assert len(set(ids)) == len(ids), [i for i, n in Counter(ids).items() if n > 1]
    assert not set(ids) & {r["id"] for r in held_out}


def test_train_labels_are_the_suites_labels(train):
    spec = open_suite(SUITE, split="train").spec
    labels = spec.labels or spec.scorer.settings.get("labels") or spec.variables["labels"]
    assert {r["label"] for r in train} == set(labels)


def test_train_label_and_difficulty_shares_are_like_the_shipped_data(train):
    n = len(train)
    shares = {label: count / n for label, count in Counter(r["label"] for r in train).items()}
    assert all(0.15 <= share <= 0.40 for share in shares.values()), shares
    ambiguous = sum(r["difficulty"] == "ambiguous" for r in train) / n
    assert 0.15 <= ambiguous <= 0.35, ambiguous
    foreign = sum(_is_foreign(r["body"]) for r in train) / n
    assert 0.08 <= foreign <= 0.25, foreign
    assert sum("Forwarded message" in r["body"] for r in train) >= 10
    assert sum("wrote:" in r["body"] for r in train) >= 40


def test_no_train_email_copies_a_dev_or_test_email(train, held_out):
    def normalised(text: str) -> str:
        return " ".join(_words(text))

    exact = {normalised(r["body"]): r["id"] for r in held_out}
    held = [(r["id"], _shingles(r["body"])) for r in held_out]
    found = []
    for row in train:
        if normalised(row["body"]) in exact:
            found.append((row["id"], exact[normalised(row["body"])], "equal"))
            continue
        mine = _shingles(row["body"])
        for other_id, theirs in held:
            shared = len(mine & theirs)
            if _jaccard(mine, theirs) > NEAR or (len(mine) >= 20 and shared / len(mine) > CONTAINED):
                found.append((row["id"], other_id, round(_jaccard(mine, theirs), 2)))
    assert not found


def test_train_emails_are_not_near_copies_of_each_other(train):
    sets = [(r["id"], _shingles(r["body"])) for r in train]
    close = [(a, b) for (a, x), (b, y) in combinations(sets, 2) if _jaccard(x, y) > NEAR]
    assert not close


def test_the_near_copy_check_catches_a_lightly_edited_test_email(held_out):
    original = max(held_out, key=lambda r: len(r["body"]))["body"].split()
    edited = [word if i % 20 else "changed" for i, word in enumerate(original, start=1)]  # 1 word in 20
    assert _jaccard(_shingles(" ".join(original)), _shingles(" ".join(edited) + " Thanks again")) > NEAR
