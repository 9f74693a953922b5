"""JSON extraction: parse, validate against the suite's schema, compare fields with gold.

The output is parsed from the first JSON object in the text (a Markdown code fence is allowed). Gold and
prediction are flattened to leaf fields (``meeting.date``); lists are leaves compared as sets. Values
are normalised before comparison (:func:`normalise_value`):

- strings: case-folded, whitespace collapsed; an empty string counts as null;
- numbers and currency: ``"40,000"``, ``"$40,000"`` and ``40000`` are equal (a currency sign is dropped;
  the currency itself is its own field);
- dates: ``2026-05-14``, ``2026/05/14``, ``14.05.2026``, ``May 14, 2026``, ``14 May 2026`` and
  ``05/14/2026`` all become ``2026-05-14`` (a slashed ``a/b/yyyy`` date is read month-first, US style,
  unless ``a`` > 12);
- lists: compared as sets of normalised items (order and duplicates ignored);
- booleans: ``true``/``false`` (a boolean written as the string ``"true"`` matches; the number 1 does not);
- null vs absent: an absent key, ``null``, ``""`` and ``[]`` all mean "no value" and are equal, so a
  correctly omitted optional field is right.

A gold ``null`` where the schema allows an object (``"meeting": null``) is one field, ``meeting``:
predicting a meeting there is a false positive; a gold object is judged by its leaf fields.

Each gold leaf field is recorded in ``detail.fields`` as ``{gold, pred, correct}``: whether gold holds a
value, whether the prediction does, and whether the normalised values agree. The aggregates turn these
into field-level precision (correct predicted values / predicted values), recall (correct gold values /
gold values) and F1. The score is the share of gold leaf fields the prediction matches; an unparseable
answer scores 0.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any, ClassVar

from evals.scorers.base import Score, Scorer, ScorerSettings

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.S)


def parse_json_object(text: str) -> Any | None:
    """Return the first JSON value that starts with ``{`` in ``text``, or None.

    >>> parse_json_object('Sure! ```json\\n{"a": 1}\\n```')
    {'a': 1}
    >>> parse_json_object('no json') is None
    True
    """
    fenced = _FENCE.search(text)
    candidates = [fenced.group(1)] if fenced else []
    candidates.append(text)
    decoder = json.JSONDecoder()
    for candidate in candidates:
        start = candidate.find("{")
        while start != -1:
            try:
                value, _ = decoder.raw_decode(candidate[start:])
                return value
            except json.JSONDecodeError:
                start = candidate.find("{", start + 1)
    return None


_DATE_FORMATS = (
    "%Y-%m-%d", "%Y/%m/%d", "%d.%m.%Y", "%B %d, %Y", "%B %d %Y", "%b %d, %Y", "%b %d %Y", "%d %B %Y",
    "%d %b %Y", "%A, %B %d, %Y", "%a, %b %d, %Y", "%m/%d/%Y", "%d/%m/%Y",
)
_DATEISH = re.compile(r"^[\w ,./-]*\d{4}[\w ,./-]*$")


def normalise_date(text: str) -> str | None:
    """An ISO ``YYYY-MM-DD`` for a date written in a common format, or None if ``text`` is not one.

    >>> normalise_date("May 14, 2026"), normalise_date("14.05.2026"), normalise_date("05/14/2026")
    ('2026-05-14', '2026-05-14', '2026-05-14')
    >>> normalise_date("13:30") is None
    True
    """
    text = " ".join(text.split())
    if not _DATEISH.match(text):
        return None
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date().isoformat()
        except ValueError:
            continue
    return None


def normalise_value(value: Any) -> Any:
    """Canonical form for comparison.

    >>> normalise_value("  Acme   Corp ")
    'acme corp'
    >>> normalise_value("$40,000")
    40000.0
    >>> normalise_value(["b", "A", "a"])
    ('a', 'b')
    >>> normalise_value("14 May 2026")
    '2026-05-14'
    """
    if value is None:
        return None
    if isinstance(value, bool):  # not 1.0/0.0: True must not equal the number 1
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        text = " ".join(value.split()).casefold()
        number = re.fullmatch(r"[$€£¥]?\s*(-?[\d,]*\.?\d+)", text)
        if number and any(ch.isdigit() for ch in text):
            try:
                return float(number.group(1).replace(",", ""))
            except ValueError:
                pass
        date = normalise_date(text)
        return date if date is not None else (text or None)
    if isinstance(value, list):
        items = {normalise_value(v) for v in value} - {None}
        return tuple(sorted(items, key=repr)) or None
    if isinstance(value, dict):
        return tuple(sorted((k, normalise_value(v)) for k, v in value.items()))
    return value


def flatten(record: Any, prefix: str = "") -> dict[str, Any]:
    """Leaf fields of a record by dotted path; lists and nulls are leaves.

    >>> flatten({"a": {"b": 1, "c": None}, "d": [1, 2]})
    {'a.b': 1, 'a.c': None, 'd': [1, 2]}
    """
    if isinstance(record, dict) and record:
        out: dict[str, Any] = {}
        for key, value in record.items():
            out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: record}


def _lookup(record: Any, path: str) -> Any:
    current = record
    for part in path.split("."):
        if not isinstance(current, dict) or part not in current:
            return None
        current = current[part]
    return current


def _present(value: Any) -> bool:
    return value is not None and value != [] and value != ""


def compare_fields(gold: Any, predicted: Any) -> dict[str, dict[str, bool]]:
    """Per gold leaf field: whether gold and prediction hold a value, and whether they agree."""
    out: dict[str, dict[str, bool]] = {}
    for path, gold_value in flatten(gold).items():
        pred_value = _lookup(predicted, path)
        if isinstance(pred_value, dict) and not isinstance(gold_value, dict):
            pred_value = pred_value or None
        out[path] = {
            "gold": _present(gold_value),
            "pred": _present(pred_value),
            "correct": normalise_value(gold_value) == normalise_value(pred_value),
        }
    return out


class ExtractionSettings(ScorerSettings):
    pass


class ExtractionScorer(Scorer):
    name: ClassVar[str] = "extraction"
    Settings = ExtractionSettings

    def __init__(self, suite, settings):
        super().__init__(suite, settings)
        self._validator = None
        if suite.schema:
            from jsonschema import Draft202012Validator

            self._validator = Draft202012Validator(suite.schema)

    def score(self, output, example) -> Score:
        gold = example.gold if not isinstance(example.gold, str) else json.loads(example.gold)
        predicted = parse_json_object(output)
        if not isinstance(predicted, dict):
            fields = compare_fields(gold, {})
            return Score(0.0, {"parsed": 0.0, "schema_valid": 0.0, "field_accuracy": 0.0, "exact_record": 0.0},
                         {"fields": fields, "schema_errors": ["not a JSON object"]})
        errors = [e.message[:200] for e in self._validator.iter_errors(predicted)][:5] if self._validator else []
        fields = compare_fields(gold, predicted)
        accuracy = sum(f["correct"] for f in fields.values()) / len(fields) if fields else 1.0
        return Score(
            value=accuracy,
            subscores={
                "parsed": 1.0,
                "schema_valid": 0.0 if errors else 1.0,
                "field_accuracy": accuracy,
                "exact_record": 1.0 if fields and all(f["correct"] for f in fields.values()) else 0.0,
            },
            detail={"fields": fields, "schema_errors": errors},
        )
