"""JSON extraction: parse, validate against the suite's schema, compare fields with gold.

The output is parsed from the first JSON object in the text (a Markdown code fence is allowed). Gold and
prediction are flattened to leaf fields (``meeting.date``); lists are leaves compared as sets. Values
are normalised before comparison (:func:`normalise_value`):

- strings: case-folded, whitespace collapsed; an empty string counts as null;
- numbers and currency: ``"40,000"``, ``"$40,000"`` and ``40000`` are equal (a currency sign is dropped;
  the currency itself is its own field);
- dates, date-times, times, timezones and durations by the field's *kind*
  (:mod:`evals.scorers.values`: ``March 3rd, 2026`` = ``2026-03-03``; ``10:30 AM`` = ``10:30``;
  ``US/Pacific`` = ``America/Los_Angeles``; ``45 minutes`` = ``PT45M``). A field's kind comes from
  ``scorer.settings.kinds``, else the schema's ``format`` (``date``, ``date-time``, ``time``,
  ``duration``), else the schema's ``pattern`` (the one kind whose sample value it accepts:
  ``2026-03-03``, ``2026-03-03T10:30:00``, ``10:30``, ``America/New_York``, ``PT45M``), else the
  field's name (``timezone``/``tz``, ``*duration*``). Without a kind, a string that reads as a date,
  an ISO date-time or a clock time (with ``:`` or am/pm) is compared in that canonical form. A
  date-time written with a UTC offset is compared as the instant it names
  (``2026-02-11T16:00-08:00`` = ``2026-02-12T09:00+09:00``);
- lists: compared as sets of normalised items (order and duplicates ignored);
- booleans: ``true``/``false`` (a boolean written as the string ``"true"`` matches; the number 1 does not);
- no value: an absent key, ``null``, ``""``, ``[]`` and ``{}`` all mean "no value".

**What is counted** (``detail.fields``, read by the metrics): every leaf path where the gold *or* the
prediction holds a value, as ``{"gold", "pred", "correct"}`` (plus ``"weight"`` where the settings give
one). Paths with no value on either side are not matches: they are listed apart in
``detail.both_null`` and left out of the score. Paths the answer invents (not in gold) are listed
with ``gold: false, pred: true, correct: false``. An answer that does not parse lists every gold path
as ``pred: false, correct: false`` and scores 0. The score is the weighted share of counted paths that
are correct (1.0 when there is nothing to find and nothing was invented); ``exact_record`` is 1 only
when every counted path is correct, invented ones included.

**Settings** (``scorer.settings``, every path checked against the schema):

- ``weights: {path: w}``: a path's weight (default 1); a weight on ``meeting`` applies to
  ``meeting.*``, the longest matching path wins;
- ``fuzzy_fields: [path, ...]`` and ``fuzzy_threshold`` (default 0.8): free-text fields that match when
  their normalised tokens overlap enough (:func:`token_overlap`, an F1 of word tokens), list items
  matched one to one;
- ``kinds: {path: kind}``: set a field's kind where the schema does not say;
- ``timezone_aliases: {alias: zone}``: more timezone aliases (added to
  :data:`~evals.scorers.values.TIMEZONE_ALIASES`);
- ``records: {path, owner, text, threshold}``: the list at ``path`` holds records that are paired with
  gold by owner and text similarity before their fields are compared (:mod:`evals.scorers.records`;
  sub-scores ``record_precision``, ``record_recall``, ``record_f1``).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from typing import Any, ClassVar, Literal

from pydantic import Field

from evals.errors import ConfigError
from evals.scorers.base import Baseline, Score, Scorer, ScorerSettings
from evals.scorers.records import RecordsSettings, field_group, record_cells, record_subscores
from evals.scorers.values import (
    KINDS, normalise_date, normalise_datetime, normalise_duration, normalise_time, normalise_timezone, parse_number,
)

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.S)
Kind = Literal["date", "date-time", "time", "timezone", "duration"]


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


def _instant(canonical: str) -> str:
    """A canonical date-time with an offset as the same instant in UTC (one form per instant).

    >>> _instant("2026-02-12T09:00+09:00"), _instant("2026-02-12T09:00")
    ('2026-02-12T00:00+00:00', '2026-02-12T09:00')
    """
    from datetime import datetime, timezone

    if not re.search(r"[+-]\d\d:\d\d$", canonical):
        return canonical
    moment = datetime.fromisoformat(canonical).astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M") + (f":{moment.second:02d}" if moment.second else "") + "+00:00"


def _bare_unit(path: str) -> str:
    for unit in ("seconds", "minutes", "hours", "days", "weeks"):
        if path.endswith(f"_{unit}"):
            return unit
    return "minutes"


def normalise_value(value: Any, kind: str | None = None, *, path: str = "",
                    timezone_aliases: dict[str, str] | None = None) -> Any:
    """Canonical form for comparison; ``kind`` is one of :data:`~evals.scorers.values.KINDS` or None.

    >>> normalise_value("  Acme   Corp "), normalise_value("$40,000"), normalise_value(["b", "A", "a"])
    ('acme corp', 40000.0, ('a', 'b'))
    >>> normalise_value("14 May 2026"), normalise_value("2026-03-03T10:30:00", "date")
    ('2026-05-14', '2026-03-03')
    >>> normalise_value("US/Pacific", "timezone"), normalise_value("45 minutes", "duration")
    ('America/Los_Angeles', 2700.0)
    """
    if value is None:
        return None
    if isinstance(value, list):
        items = {normalise_value(v, kind, path=path, timezone_aliases=timezone_aliases) for v in value} - {None}
        return tuple(sorted(items, key=repr)) or None
    if isinstance(value, dict):
        items = tuple(sorted((k, normalise_value(v, path=path)) for k, v in value.items()))
        return items if any(v is not None for _, v in items) else None
    if isinstance(value, bool):  # not 1.0/0.0: True must not equal the number 1
        return "true" if value else "false"
    if kind == "duration" and (found := normalise_duration(value, _bare_unit(path))) is not None:
        return found
    if isinstance(value, (int, float)):
        return float(value)
    text = " ".join(str(value).split())
    if not text:
        return None
    typed = {"date": normalise_date,
             "date-time": lambda t: (found := normalise_datetime(t)) and _instant(found) or normalise_date(t),
             "time": normalise_time,
             "timezone": lambda t: normalise_timezone(t, timezone_aliases)}.get(kind or "")
    if typed is not None and (found := typed(text)) is not None:
        return found
    folded = text.casefold()
    if (number := parse_number(folded)) is not None:
        return number
    if (found := normalise_datetime(folded)) is not None:
        return _instant(found)
    if (found := normalise_date(folded)) is not None:
        return found
    if re.search(r"\d(:\d\d|\s*[ap]\.?m\b)", folded) and (found := normalise_time(folded)) is not None:
        return found
    return folded


def token_overlap(a: str, b: str) -> float:
    """How much two texts share, as the F1 of their word tokens (case, accents and punctuation ignored).

    >>> token_overlap("Co-founder & CTO", "CTO and co-founder")
    0.8571428571428571
    >>> token_overlap("Acme", "Globex")
    0.0
    """
    def tokens(text: str) -> Counter:
        text = unicodedata.normalize("NFKD", str(text).casefold())
        text = "".join(ch for ch in text if not unicodedata.combining(ch))
        return Counter(re.findall(r"[^\W_]+", text))

    ta, tb = tokens(a), tokens(b)
    if not ta or not tb:
        return 1.0 if ta == tb else 0.0
    common = sum((ta & tb).values())
    return 2 * common / (sum(ta.values()) + sum(tb.values()))


def flatten(record: Any, prefix: str = "") -> dict[str, Any]:
    """Leaf fields of a record by dotted path; lists, nulls and empty objects are leaves.

    >>> flatten({"a": {"b": 1, "c": None}, "d": [1, 2], "e": {}})
    {'a.b': 1, 'a.c': None, 'd': [1, 2], 'e': None}
    """
    if isinstance(record, dict):
        if not record:
            return {prefix: None} if prefix else {}
        out: dict[str, Any] = {}
        for key, value in record.items():
            out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: record}


def present(value: Any) -> bool:
    """Whether a value counts as given: not null, ``""``, ``[]`` or ``{}``.

    >>> present(0), present(False), present(" "), present([])
    (True, True, False, False)
    """
    if isinstance(value, str):
        return bool(value.strip())
    return value is not None and value != [] and value != {}


def _longest(path: str, table: dict[str, Any]) -> Any:
    best = None
    for key in table:
        if (path == key or path.startswith(key + ".")) and (best is None or len(key) > len(best)):
            best = key
    return table[best] if best is not None else None


class ExtractionSettings(ScorerSettings):
    weights: dict[str, float] = Field(default_factory=dict, description="Path -> weight (default 1); applies to sub-paths.")
    fuzzy_fields: list[str] = Field(default_factory=list,
                                    description="Free-text paths matched by normalised token overlap.")
    fuzzy_threshold: float = Field(default=0.8, gt=0, le=1, description="Token-overlap F1 a fuzzy field needs.")
    kinds: dict[str, Kind] = Field(default_factory=dict, description="Path -> value kind, where the schema does not say.")
    timezone_aliases: dict[str, str] = Field(default_factory=dict, description="More timezone aliases: alias -> IANA zone.")
    records: RecordsSettings | None = Field(default=None, description="A list of records paired with gold by "
                                                                      "owner and text before comparing fields.")


#: Values of each kind a ``pattern`` is tried on (any one accepted names the kind, if no other kind's is).
_KIND_SAMPLES = {"date": ("2026-03-03",), "date-time": ("2026-03-03T10:30:00", "2026-03-03T10:30:00+01:00"),
                 "time": ("10:30",), "timezone": ("America/New_York",), "duration": ("PT45M",)}


def _kind_of(name: str, schema: dict[str, Any]) -> str | None:
    if schema.get("format") in KINDS:
        return schema["format"]
    if isinstance(schema.get("pattern"), str):
        try:
            pattern = re.compile(schema["pattern"])
        except re.error:
            pattern = None
        if pattern is not None:
            accepted = [k for k, samples in _KIND_SAMPLES.items() if any(pattern.search(x) for x in samples)]
            if len(accepted) == 1:
                return accepted[0]
    if name in ("timezone", "time_zone", "tz"):
        return "timezone"
    if "duration" in name:
        return "duration"
    return None


def schema_fields(schema: dict[str, Any] | None) -> dict[str, str | None]:
    """Every property path of a JSON Schema (objects included, and the fields of a list's records under
    the list's path) with its value kind (None if plain).

    >>> schema_fields({"properties": {"m": {"type": ["object", "null"], "properties": {
    ...     "date": {"type": "string", "format": "date"}, "tz": {"type": "string"}}}}})
    {'m': None, 'm.date': 'date', 'm.tz': 'timezone'}
    """
    out: dict[str, str | None] = {}
    root = schema or {}

    def resolve(node: Any) -> dict[str, Any]:
        while isinstance(node, dict) and isinstance(node.get("$ref"), str) and node["$ref"].startswith("#/"):
            target: Any = root
            for part in node["$ref"][2:].split("/"):
                target = target.get(part, {}) if isinstance(target, dict) else {}
            node = target
        return node if isinstance(node, dict) else {}

    def walk(node: Any, prefix: str) -> None:
        node = resolve(node)
        branches = [resolve(b) for key in ("anyOf", "oneOf", "allOf") for b in node.get(key, [])]
        for branch in [node, *branches]:
            for name, sub in (branch.get("properties") or {}).items():
                path = f"{prefix}.{name}" if prefix else name
                sub = resolve(sub)
                kinds = [_kind_of(name, b) for b in [sub, *(resolve(x) for k in ("anyOf", "oneOf")
                                                             for x in sub.get(k, []))]]
                out[path] = out.get(path) or next((k for k in kinds if k), None)
                walk(sub, path)
                if isinstance(sub.get("items"), dict):  # a list of records: its fields under the same path
                    walk(sub["items"], path)

    walk(root, "")
    return out


class ExtractionScorer(Scorer):
    name: ClassVar[str] = "extraction"
    Settings = ExtractionSettings

    def __init__(self, suite, settings: ExtractionSettings):
        super().__init__(suite, settings)
        schema = getattr(suite, "schema", None)
        self._validator = None
        if schema:
            from jsonschema import Draft202012Validator

            self._validator = Draft202012Validator(schema)
        where = getattr(suite, "path", "suite.yaml")
        known = schema_fields(schema)
        if schema:
            for name, paths in (("weights", settings.weights), ("fuzzy_fields", settings.fuzzy_fields),
                                ("kinds", settings.kinds)):
                unknown = [p for p in paths if p not in known]
                if unknown:
                    raise ConfigError(where, f"{', '.join(map(repr, unknown))} is not a field of the schema; "
                                      f"fields: {', '.join(known)}", field=f"scorer.settings.{name}")
        negative = [p for p, w in settings.weights.items() if w < 0]
        if negative:
            raise ConfigError(where, f"weights must be >= 0 (got {negative})", field="scorer.settings.weights")
        if settings.records is not None and schema:
            _check_records(settings.records, schema, known, where)
        bad_zones = [z for z in settings.timezone_aliases.values() if normalise_timezone(z) is None]
        if bad_zones:
            raise ConfigError(where, f"not IANA timezones: {bad_zones} (see zoneinfo.available_timezones())",
                              field="scorer.settings.timezone_aliases")
        self.kinds = {**known, **settings.kinds}  # paths outside a schema get a kind by their name

    def same(self, path: str, gold: Any, pred: Any) -> bool:
        """Whether a gold and a predicted value of ``path`` agree after normalisation."""
        kind = self.kinds[path] if path in self.kinds else _kind_of(path.rsplit(".", 1)[-1], {})
        options = {"path": path, "timezone_aliases": self.settings.timezone_aliases}
        if normalise_value(gold, kind, **options) == normalise_value(pred, kind, **options):
            return True
        if _longest(path, dict.fromkeys(self.settings.fuzzy_fields, True)):
            return self._fuzzy(gold, pred)
        return False

    def _fuzzy(self, gold: Any, pred: Any) -> bool:
        threshold = self.settings.fuzzy_threshold
        if isinstance(gold, list) and isinstance(pred, list):
            left = [p for p in pred if present(p)]
            wanted = [g for g in gold if present(g)]
            if len(left) != len(wanted):
                return False
            for item in wanted:  # one to one: each gold item takes the best remaining prediction
                best = max(left, key=lambda p: token_overlap(str(item), str(p)), default=None)
                if best is None or token_overlap(str(item), str(best)) < threshold:
                    return False
                left.remove(best)
            return True
        if isinstance(gold, (dict, list)) or isinstance(pred, (dict, list)):
            return False
        return token_overlap(str(gold), str(pred)) >= threshold

    def compare(self, gold: Any, predicted: Any) -> tuple[dict[str, dict[str, Any]], list[str]]:
        """``(fields, both_null)`` as described in the module docstring; ``predicted`` None = unparseable."""
        fields, both_null, _ = self.compare_all(gold, predicted)
        return fields, both_null

    def compare_all(self, gold: Any, predicted: Any) -> tuple[dict[str, dict[str, Any]], list[str], dict | None]:
        """``(fields, both_null, records)``: :meth:`compare` plus, with ``records`` set, the pairing summary."""
        records = self.settings.records
        if records is None:
            return (*self._compare_flat(gold, predicted), None)
        name = records.path
        rest_gold = {k: v for k, v in gold.items() if k != name} if isinstance(gold, dict) else gold
        rest_pred = {k: v for k, v in predicted.items() if k != name} if isinstance(predicted, dict) else None
        fields, both_null = self._compare_flat(rest_gold, rest_pred)
        cells, nulls, summary = record_cells(
            gold.get(name) if isinstance(gold, dict) else None,
            predicted.get(name) if isinstance(predicted, dict) else None, records,
            lambda path, g, p: self.same(path, g, p), flatten, present, token_overlap)
        for path, cell in cells.items():
            fields[path] = {**cell, **self._weight(field_group(path).replace("[]", ""))}
        return fields, both_null + nulls, summary

    def _compare_flat(self, gold: Any, predicted: Any) -> tuple[dict[str, dict[str, Any]], list[str]]:
        g = flatten(gold)
        if predicted is None:
            return {path: {"gold": present(v), "pred": False, "correct": False, **self._weight(path)}
                    for path, v in g.items()}, []
        p = flatten(predicted)
        union = sorted(set(g) | set(p))
        fields: dict[str, dict[str, Any]] = {}
        both_null: list[str] = []
        for path in union:
            gv, pv = g.get(path), p.get(path)
            gp, pp = present(gv), present(pv)
            if not gp and not pp:
                if not any(other.startswith(path + ".") for other in union):  # not a parent of counted leaves
                    both_null.append(path)
                continue
            fields[path] = {"gold": gp, "pred": pp, "correct": bool(gp and pp and self.same(path, gv, pv)),
                            **self._weight(path)}
        return fields, both_null

    def _weight(self, path: str) -> dict[str, float]:
        weight = _longest(path, self.settings.weights)
        return {} if weight is None else {"weight": float(weight)}

    def score(self, output, example) -> Score:
        gold = example.gold if not isinstance(example.gold, str) else json.loads(example.gold)
        predicted = parse_json_object(output)
        if not isinstance(predicted, dict):
            fields, _, records = self.compare_all(gold, None)
            detail = {"fields": fields, "both_null": [], "schema_errors": ["not a JSON object"]}
            subscores = {"parsed": 0.0, "schema_valid": 0.0, "field_accuracy": 0.0, "exact_record": 0.0}
            if records is not None:
                detail["records"] = records
                subscores.update(record_subscores(records))
            return Score(0.0, subscores, detail)
        errors = [e.message[:200] for e in self._validator.iter_errors(predicted)][:5] if self._validator else []
        fields, both_null, records = self.compare_all(gold, predicted)
        total = sum(f.get("weight", 1.0) for f in fields.values())
        accuracy = sum(f.get("weight", 1.0) for f in fields.values() if f["correct"]) / total if total else 1.0
        result = Score(
            value=accuracy,
            subscores={
                "parsed": 1.0,
                "schema_valid": 0.0 if errors else 1.0,
                "field_accuracy": accuracy,
                "exact_record": 1.0 if all(f["correct"] for f in fields.values()) else 0.0,
            },
            detail={"fields": fields, "both_null": both_null, "schema_errors": errors,
                    **({"records": records} if records is not None else {})},
        )
        if records is not None:
            result.subscores.update(record_subscores(records))
        return result

    def unanswered_detail(self, example) -> dict[str, Any]:
        """Every gold field missed (the cells of an answer that did not parse)."""
        gold = example.gold if not isinstance(example.gold, str) else json.loads(example.gold)
        fields, _, records = self.compare_all(gold, None)
        return {"fields": fields, "both_null": [], **({"records": records} if records is not None else {})}

    def baseline(self, examples) -> Baseline:
        """The empty object for every example: what extracting nothing scores."""
        return Baseline("empty object", {e.id: "{}" for e in examples})


def _check_records(records: RecordsSettings, schema: dict[str, Any], known: dict[str, Any], where: Any) -> None:
    """``records.path`` is a list of objects in the schema and ``owner``/``text`` are fields of its items."""
    node = (schema.get("properties") or {}).get(records.path) or {}
    items = node.get("items") if isinstance(node, dict) else None
    if not isinstance(items, dict) or not items.get("properties"):
        raise ConfigError(where, f"{records.path!r} is not a list of records (a top-level array whose items are "
                                 f"objects) in the schema", field="scorer.settings.records.path")
    for name in ("owner", "text"):
        field = getattr(records, name)
        if field is not None and f"{records.path}.{field}" not in known:
            raise ConfigError(where, f"{field!r} is not a field of the records at {records.path!r}; fields: "
                                     f"{', '.join(items['properties'])}", field=f"scorer.settings.records.{name}")


def compare_fields(gold: Any, predicted: Any) -> dict[str, dict[str, Any]]:
    """``detail.fields`` for a prediction with default settings and no schema (see the module docstring)."""
    from types import SimpleNamespace

    return ExtractionScorer(SimpleNamespace(schema=None), ExtractionSettings()).compare(gold, predicted)[0]
