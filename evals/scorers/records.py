"""Lists of records in an extraction answer: pair each predicted record with a gold one, then compare fields.

A long document holds many records of one kind (every commitment: owner, what, due, status). Their
order means nothing and their text is paraphrased, so they cannot be compared by list position. With
``scorer.settings.records`` the extraction scorer instead **pairs** the records of the list at ``path``:

1. a predicted record may pair with a gold record only when their ``owner`` field names the same person
   (:func:`same_person`: the same name after normalisation, or a first or last name that exactly one
   gold owner of the example has);
2. among those, pairs are taken by descending similarity of the ``text`` field (:func:`token_overlap`,
   the F1 of normalised word tokens), one to one, while it is at least ``threshold``;
3. each pair is compared field by field as any extracted field is (same normalisation, kinds from the
   schema's ``items``); its ``owner`` and ``text`` fields count as matched by the pairing;
4. a gold record left without a partner is missed (every field it gives is a false negative); a
   predicted one left without a partner is invented (every field it gives is a false positive).

Cells (CONTRACTS section 6) are keyed ``<path>[<i>].<field>`` for gold record ``i`` (paired or missed)
and ``<path>[+<j>].<field>`` for invented predicted record ``j``; :func:`field_group` maps both to
``<path>[].<field>``, the per-field breakdown the metrics report. ``detail.records`` says how many were
gold, predicted and paired (sub-scores ``record_precision``, ``record_recall``, ``record_f1``).
"""

from __future__ import annotations

import re
from typing import Any, Callable

from pydantic import Field

from evals.scorers.base import ScorerSettings

_INDEX = re.compile(r"\[\+?\d+\]")


class RecordsSettings(ScorerSettings):
    """``scorer.settings.records`` of an extraction suite (see the module docstring)."""

    path: str = Field(description="The list of records in the answer (a top-level array of objects).")
    owner: str | None = Field(default=None, description="A field naming a person that paired records must "
                                                         "share (full name, or a first or last name unique among "
                                                         "the example's gold owners).")
    text: str = Field(description="A free-text field whose normalised-token overlap pairs the records.")
    threshold: float = Field(default=0.5, gt=0, le=1, description="The token-overlap F1 a pair needs.")


def field_group(path: str) -> str:
    """The per-field name of a cell path: record indexes dropped.

    >>> field_group("commitments[3].due"), field_group("commitments[+0].owner"), field_group("company.name")
    ('commitments[].due', 'commitments[].owner', 'company.name')
    """
    return _INDEX.sub("[]", path)


def _tokens(name: Any) -> list[str]:
    from evals.scorers.extraction import normalise_value

    folded = normalise_value(str(name)) if name is not None else None
    return str(folded).replace(".", " ").split() if folded else []


def same_person(gold: Any, pred: Any, owners: list[Any]) -> bool:
    """Whether ``pred`` names the person ``gold`` does: equal after normalisation, or one of them is a
    single first or last name of the other that no other gold owner shares.

    >>> owners = ["Ana Ruiz", "Ben Okafor", "Ana Lopez"]
    >>> same_person("Ben Okafor", "ben okafor", owners), same_person("Ben Okafor", "Okafor", owners)
    (True, True)
    >>> same_person("Ana Ruiz", "Ana", owners), same_person("Ana Ruiz", "Ruiz", owners)
    (False, True)
    """
    g, p = _tokens(gold), _tokens(pred)
    if not g or not p:
        return False
    if g == p:
        return True
    short, full = (p, g) if len(p) < len(g) else (g, p)
    if len(short) != 1 or short[0] not in (full[0], full[-1]):
        return False
    people = {" ".join(_tokens(o)) for o in owners if _tokens(o)}
    holders = [o for o in people if short[0] in (o.split()[0], o.split()[-1])]
    return len(holders) <= 1


def pair_records(gold: list[dict[str, Any]], pred: list[dict[str, Any]], settings: RecordsSettings,
                 overlap: Callable[[str, str], float]) -> list[tuple[int, int, float]]:
    """``(gold index, predicted index, similarity)`` of each pair, one to one, by descending similarity."""
    owners = [g.get(settings.owner) for g in gold] if settings.owner else []
    candidates = []
    for i, g in enumerate(gold):
        for j, p in enumerate(pred):
            if settings.owner and not same_person(g.get(settings.owner), p.get(settings.owner), owners):
                continue
            similarity = overlap(str(g.get(settings.text) or ""), str(p.get(settings.text) or ""))
            if similarity >= settings.threshold:
                candidates.append((-similarity, i, j))
    pairs, used_gold, used_pred = [], set(), set()
    for negative, i, j in sorted(candidates):
        if i not in used_gold and j not in used_pred:
            pairs.append((i, j, -negative))
            used_gold.add(i)
            used_pred.add(j)
    return sorted(pairs)


def record_cells(gold: Any, pred: Any, settings: RecordsSettings, compare_leaf: Callable[[str, Any, Any], bool],
                 flatten: Callable[[Any], dict[str, Any]], present: Callable[[Any], bool],
                 overlap: Callable[[str, str], float]) -> tuple[dict[str, dict[str, Any]], list[str], dict[str, Any]]:
    """``(cells, both_null, summary)`` for the record lists ``gold`` and ``pred`` (None: unparseable).

    ``compare_leaf(field_path, gold_value, pred_value)`` compares one field (``field_path`` is
    ``<path>.<field>``, for the field's kind).
    """
    base = settings.path
    gold_items = [g for g in gold if isinstance(g, dict)] if isinstance(gold, list) else []
    pred_items = [p for p in pred if isinstance(p, dict)] if isinstance(pred, list) else []
    invented_other = len(pred) - len(pred_items) if isinstance(pred, list) else 0
    pairs = pair_records(gold_items, pred_items, settings, overlap) if pred is not None else []
    cells: dict[str, dict[str, Any]] = {}
    both_null: list[str] = []
    by_gold = {i: (j, s) for i, j, s in pairs}
    matched_by_pairing = {settings.text} | ({settings.owner} if settings.owner else set())
    for i, g in enumerate(gold_items):
        gf = flatten(g)
        if i not in by_gold:
            for name, value in gf.items():
                if present(value):
                    cells[f"{base}[{i}].{name}"] = {"gold": True, "pred": False, "correct": False}
            continue
        pf = flatten(pred_items[by_gold[i][0]])
        for name in sorted(set(gf) | set(pf)):
            gv, pv = gf.get(name), pf.get(name)
            gp, pp = present(gv), present(pv)
            path = f"{base}[{i}].{name}"
            if not gp and not pp:
                both_null.append(path)
                continue
            correct = gp and pp and (name in matched_by_pairing or compare_leaf(f"{base}.{name}", gv, pv))
            cells[path] = {"gold": gp, "pred": pp, "correct": bool(correct)}
    paired_pred = {j for _, j, _ in pairs}
    for j, p in enumerate(pred_items):
        if j in paired_pred:
            continue
        for name, value in flatten(p).items():
            if present(value):
                cells[f"{base}[+{j}].{name}"] = {"gold": False, "pred": True, "correct": False}
    for k in range(invented_other):  # list items that are not records at all
        cells[f"{base}[+{len(pred_items) + k}]"] = {"gold": False, "pred": True, "correct": False}
    summary = {"path": base, "gold": len(gold_items), "predicted": len(pred_items) + invented_other,
               "paired": len(pairs), "pairs": [[i, j, round(s, 3)] for i, j, s in pairs]}
    return cells, both_null, summary


def record_subscores(summary: dict[str, Any]) -> dict[str, float]:
    """``record_precision``, ``record_recall`` and ``record_f1`` of one answer (1.0 where nothing was due).

    >>> record_subscores({"gold": 4, "predicted": 2, "paired": 2})
    {'record_precision': 1.0, 'record_recall': 0.5, 'record_f1': 0.6666666666666666}
    """
    gold, pred, paired = summary["gold"], summary["predicted"], summary["paired"]
    precision = paired / pred if pred else (1.0 if not gold else 0.0)
    recall = paired / gold if gold else (1.0 if not pred else 0.0)
    f1 = 2 * paired / (gold + pred) if gold + pred else 1.0
    return {"record_precision": precision, "record_recall": recall, "record_f1": f1}
