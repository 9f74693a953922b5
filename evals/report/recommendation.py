"""The recommendation at a glance: which rules a proposal changes, its approval status, and the rule table
with each rule's evidence on its own row.

:func:`rule_changes` and :func:`headline_lines` are pure; ``diff.md`` (the recommender) and the report
both open with the same lines through :func:`with_headline` / :func:`recommendation_view`, so the two
can never word a change differently. Numbers come from the proposal's evidence, which the recommender
measured with :mod:`evals.metrics`; here they are only formatted.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evals.report.format import fmt_ci, fmt_ms, fmt_num, fmt_usd, ms_unit


@dataclass(frozen=True)
class RuleChange:
    """How one rule (or ``default``) differs between the policy in force and a proposal."""

    rule: str
    change: str  # "changed", "added", "removed"
    model: tuple[str | None, str | None]
    fallbacks: tuple[tuple[str, ...], tuple[str, ...]] | None = None
    prompt: tuple[str | None, str | None] | None = None
    floor: tuple[float | str | None, float | str | None] | None = None
    other: tuple[str, ...] = ()  # other routing fields that changed (when, require, description)

    def text(self) -> str:
        """``founder-voice: claude-sonnet-4-6 → smollm2-135m, floor 0.60 → 0.45`` (the arrow diff.md uses).

        >>> RuleChange("founder-voice", "changed", ("claude-sonnet-4-6", "smollm2-135m"), floor=(0.6, 0.45)).text()
        'founder-voice: claude-sonnet-4-6 → smollm2-135m, floor 0.60 → 0.45'
        >>> RuleChange("triage", "changed", ("a", "a"), fallbacks=(("b",), ())).text()
        'triage: a (kept), fallbacks b → none'
        """
        if self.change == "added":
            return f"{self.rule}: new rule → {self.model[1]}"
        if self.change == "removed":
            return f"{self.rule}: removed (was {self.model[0]})"
        before, after = self.model
        parts = [f"{self.rule}: {before} → {after}" if before != after else f"{self.rule}: {after} (kept)"]
        if self.fallbacks is not None:
            parts.append(f"fallbacks {', '.join(self.fallbacks[0]) or 'none'} → {', '.join(self.fallbacks[1]) or 'none'}")
        if self.prompt is not None:
            parts.append(f"prompt {self.prompt[0] or '-'} → {self.prompt[1] or '-'}")
        if self.floor is not None:
            parts.append("floor " + " → ".join(f"{v:.2f}" if isinstance(v, float) else str(v) for v in self.floor))
        parts += [f"{name} changed" for name in self.other]
        return ", ".join(parts)


def _floor(target: Any) -> tuple[float | None, float | None]:
    """(the rule's own ``require.quality_floor``, the floor its evidence was held to)."""
    require = getattr(target, "require", None)
    own = getattr(require, "quality_floor", None) if require is not None else None
    ev = getattr(target, "evidence", None)
    return own, (ev.floor if ev is not None else None)


def rule_changes(before: Any, after: Any) -> list[RuleChange]:
    """Every rule whose routing differs between two :class:`~evals.config.policy.Policy` objects
    (:func:`evals.policy.diff.policy_changes` decides what differs), with the floor each is held to."""
    from evals.policy.diff import policy_changes

    out = []
    old = dict(before.targets()) if before is not None else {}
    new = dict(after.targets())
    for c in policy_changes(before, after):
        rule = c["rule"]
        if c["change"] != "changed":
            out.append(RuleChange(rule, c["change"], (c.get("from"), c.get("to"))))
            continue
        a, b = old[rule], new[rule]
        fields = set(c["fields"])
        own_a, held_a = _floor(a)
        own_b, held_b = _floor(b)
        floor = None
        if (own_a if own_a is not None else held_a) is not None and (own_b if own_b is not None else held_b) is not None:
            fa, fb = (own_a if own_a is not None else held_a), (own_b if own_b is not None else held_b)
            floor = (fa, fb) if fa != fb else None
        elif own_a != own_b:
            floor = (own_a if own_a is not None else "suite floor", own_b if own_b is not None else "suite floor")
        other = tuple(sorted(f for f in fields - {"model", "fallbacks", "prompt", "require"}))
        if "require" in fields and floor is None:
            other = tuple(sorted({*other, "require"}))
        out.append(RuleChange(
            rule, "changed", (a.model, b.model),
            fallbacks=(tuple(a.fallbacks), tuple(b.fallbacks)) if "fallbacks" in fields else None,
            prompt=(a.prompt, b.prompt) if "prompt" in fields else None, floor=floor, other=other))
    return out


def changes_from_record(diff: Any) -> list[RuleChange]:
    """The changes an approval record lists (its ``diff``: rule, change, from, to), when the policy it
    replaced is not known any more (the hand-written starting policy)."""
    out = []
    for c in diff if isinstance(diff, list) else []:
        if isinstance(c, dict) and c.get("change") in ("changed", "added", "removed"):
            out.append(RuleChange(str(c.get("rule")), str(c["change"]), (c.get("from"), c.get("to"))))
    return out


def headline_lines(changes: list[RuleChange], n_rules: int | None = None) -> list[str]:
    """The headline: one line per changed rule, or the one line that says nothing changes.

    >>> headline_lines([], 4)
    ['No rule changes: all 4 rules keep their model (each rule says why below).']
    """
    if not changes:
        rules = f"all {n_rules} rules" if n_rules else "every rule"
        return [f"No rule changes: {rules} keep their model (each rule says why below)."]
    return [c.text() for c in changes]


def latency_notes(manifest: dict[str, Any] | None, models: dict[str, Any] | None) -> list[str]:
    """One line per model whose latency the run cannot vouch for (:func:`evals.machine.latency_trust`)."""
    from evals.machine import latency_trust

    out = []
    ran = (manifest or {}).get("models")
    for model, spec in sorted((models or {}).items()):
        if isinstance(ran, dict) and ran and model not in ran:
            continue  # only the models this run measured
        trusted, why = latency_trust(manifest or {}, spec)
        if not trusted:
            out.append(f"{model}: {why}")
    return out


def with_headline(markdown: str, before: Any, after: Any, *, manifest: dict[str, Any] | None = None,
                  models: dict[str, Any] | None = None) -> str:
    """``diff.md`` with the headline of changed rules (and latency that is not comparable) under its title.

    >>> from evals.config.policy import Policy, Target
    >>> print(with_headline("# Policy diff\\n\\nrest\\n", Policy(default=Target(model="x")), Policy(default=Target(model="y"))))
    # Policy diff
    <BLANKLINE>
    **Changes:**
    <BLANKLINE>
    - default: x → y
    <BLANKLINE>
    rest
    <BLANKLINE>
    """
    from evals.policy.mdsafe import md_cell as cell

    def md_cell(text: str) -> str:  # one line, diff.md's own cell rule: rule ids and model names stay text
        return cell(" ".join(str(text).split()))

    changes = rule_changes(before, after)
    if changes:
        lines = ["**Changes:**", "", *(f"- {md_cell(t)}" for t in headline_lines(changes))]
    else:
        lines = [f"**No rule changes:** all {len(after.targets())} rules keep their model (the table says why)."]
    notes = latency_notes(manifest, models)
    if notes:
        lines += ["", "**Latency not comparable** (not used to exclude a model without `--trust-latency`):", ""]
        lines += [f"- {md_cell(n)}" for n in notes]
    title, _, rest = markdown.partition("\n")
    return "\n".join([title, "", *lines, "", rest.lstrip("\n")])


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def proposal_context(project: Any, folder: Path, notes: list[str]) -> dict[str, Any]:
    """The policy a proposal is compared with, the changes, and its approval status.

    ``status`` is one of ``pending`` (compiled against the policy in force, not approved), ``in-force``
    (approved, and the policy in force), ``superseded`` (approved, later replaced), ``stale`` (the policy
    in force changed since the proposal was compiled) and ``unknown`` (no project or an unreadable file).
    """
    from evals.config.policy import Policy, load_policy
    from evals.policy.approvals import read_log

    path = folder / "proposal.yaml"
    out: dict[str, Any] = {"status": "unknown", "text": "approval status unknown", "changes": None, "after": None}
    try:
        after = load_policy(path)
    except Exception as exc:
        notes.append(f"proposal.yaml is not a valid policy ({type(exc).__name__}); no headline of changed rules")
        return out
    out["after"] = after
    if project is None:
        out["text"] = "approval status unknown (the run folder is not inside a project)"
        return out
    try:
        current = load_policy(project.policy_file) if project.policy_file.is_file() else None
        entries = read_log(project.approvals_file)
    except Exception as exc:
        notes.append(f"policy in force or approval log unreadable ({type(exc).__name__}: {exc})")
        return out
    mine, wanted = _sha256(path), after.content_sha256()
    record = next((e for e in reversed(entries) if e.record.get("proposal_sha256") == mine
                   or (e.record.get("policy_sha256") == wanted
                       and (e.record.get("evidence") or {}).get("run_id") == getattr(after.source, "run_id", None))), None)
    now = current.content_sha256() if current is not None else None
    run = folder.name
    if record is not None:
        r = record.record
        who = f"approved by {r.get('approver')} at {r.get('time')} (approvals.jsonl line {record.number})"
        in_force = now == r.get("policy_sha256")
        out.update(status="in-force" if in_force else "superseded",
                   text=f"{who}; {'this is the policy in force' if in_force else 'since replaced by a later approval'}")
        previous = next((Policy.model_validate(e.record["policy"]) for e in reversed(entries[:record.number - 1])
                         if e.record.get("policy_sha256") == r.get("previous_policy_sha256")
                         and isinstance(e.record.get("policy"), dict)), None)
        out["changes"] = rule_changes(previous, after) if previous is not None else changes_from_record(r.get("diff"))
        return out
    base = after.source.base_policy_sha256 if after.source is not None else None
    out["changes"] = rule_changes(current, after) if current is not None else None
    if current is not None and (base is None or base == now):
        out.update(status="pending", text=f"not approved yet: evals approve reports/{run}/proposal.yaml --by NAME "
                                          "--key ~/.ssh/id_ed25519")
    else:
        out.update(status="stale", text=f"compiled against another policy than the one in force now (changes shown "
                                        f"against the policy in force); re-run `evals recommend {run}`")
    return out


def headline_title(rec: dict[str, Any]) -> str:
    """The first line of the recommendation: how many rules change, or that every rule is kept.

    >>> headline_title({"n_changed": 1, "n_rules": 5}), headline_title({"n_changed": 0, "n_rules": 5})
    ('1 of 5 rules change', 'Keep every rule')
    """
    if rec["n_changed"] is None:
        return "Proposed rules"
    return f"{rec['n_changed']} of {rec['n_rules']} rules change" if rec["n_changed"] else "Keep every rule"


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def rule_table_index(diff_blocks: list[dict[str, Any]]) -> int | None:
    """Where ``diff.md``'s rule table (the first table with a ``rule`` and a ``reason`` column) is among
    its parsed blocks, or None."""
    for i, b in enumerate(diff_blocks):
        if b.get("kind") == "table" and "rule" in b.get("header", []) and "reason" in b.get("header", []):
            return i
    return None


def _reasons(diff_blocks: list[dict[str, Any]]) -> dict[str, str]:
    """rule -> reason from ``diff.md``'s rule table (the recommender's true reason, also for kept rules
    whose evidence the proposal does not restate)."""
    at = rule_table_index(diff_blocks)
    if at is None:
        return {}
    header, rows = diff_blocks[at]["header"], diff_blocks[at]["rows"]
    i, j = header.index("rule"), header.index("reason")
    return {row[i]: row[j] for row in rows if len(row) > max(i, j)}


def recommendation_view(data: dict[str, Any], diff_blocks: list[dict[str, Any]], context: dict[str, Any],
                        run_id: str, latency: dict[str, str], sweeps: dict[str, Any] | None = None) -> dict[str, Any]:
    """The rule table of a proposal (``data``: proposal.yaml as plain data), one row per rule with the
    change, its evidence on the row and the reason; ``latency`` maps a model to why its latency is not
    comparable; ``sweeps`` (``cascades.json``) adds the cost-quality curve of every cascade considered
    (``cascades``: :func:`evals.report.cascades.cascade_views`, the proposed ones first)."""
    from evals.report.cascades import cascade_views
    from evals.report.inputs import _cell

    changes = context.get("changes")
    changed = {c.rule: c for c in changes or []}
    reasons = _reasons(diff_blocks)
    targets = [r for r in data.get("rules") or [] if isinstance(r, dict)]
    if isinstance(data.get("default"), dict):
        targets.append({**data["default"], "id": "default"})
    rows = []
    for t in targets:
        rule = _cell(t.get("id"))
        ev = t.get("evidence") if isinstance(t.get("evidence"), dict) else {}
        ci = ev.get("quality_ci") if isinstance(ev.get("quality_ci"), list) and len(ev["quality_ci"]) == 2 else [None, None]
        c = changed.get(rule)
        model = _cell(t.get("model"))
        rows.append({
            "rule": rule, "changed": c is not None, "change": c.text() if c is not None else "kept",
            "model": (f"{c.model[0]} → {model}" if c is not None and c.model[0] not in (None, model) else model),
            "fallbacks": _cell(t.get("fallbacks")) or "-",
            "quality": fmt_ci(_number(ev.get("quality")), _number(ci[0]), _number(ci[1])) if ev else "-",
            "cost": fmt_usd(_number(ev.get("cost_per_1k_usd"))) if ev else "-",
            "p95_ms": _number(ev.get("p95_latency_ms")) if ev else None,
            "latency_note": latency.get(_cell(ev.get("model") or t.get("model"))) if ev else None,
            "n": _cell(ev.get("n")) if ev else "-",
            "floor": fmt_num(_number(ev.get("floor")), 2) if ev and ev.get("floor") is not None else "-",
            "evidence_run": _cell(ev.get("run_id")) if ev and ev.get("run_id") not in (None, run_id) else None,
            "reason": reasons.get(rule) or _cell(ev.get("reason")) or "-",
        })
    unit = ms_unit([r["p95_ms"] for r in rows])
    for r in rows:
        r["p95"] = fmt_ms(r["p95_ms"], unit) if r["p95_ms"] is not None else "-"
    n_rules = len(rows)
    headline = headline_lines(changes, n_rules) if changes is not None else [
        "The policy in force is not known here (no project around this run folder); diff.md below lists the changes."]
    return {"headline": headline, "n_changed": None if changes is None else len(changes), "n_rules": n_rules, "status": context["status"],
            "status_text": context["text"], "rows": rows, "latency_unit": unit,
            "latency_notes": [f"{m}: {why}" for m, why in sorted(latency.items())],
            "cascades": cascade_views(data, sweeps)}


__all__ = ["RuleChange", "changes_from_record", "headline_lines", "headline_title", "latency_notes", "proposal_context",
           "recommendation_view", "rule_changes", "with_headline"]
