"""Write a new policy into ``policies/current.yaml`` by editing only what changed.

A team's policy file has comments, flow-style conditions and an order they chose; approving a proposal
must not rewrite all of it. :func:`edit_policy_text` compares the policy in the file with the new one
key by key (top level, each rule, the default) and replaces, inserts or deletes only the lines of the
keys whose values differ, written as ``evals recommend`` writes them. Lines of unchanged keys, comments
and blank lines stay byte for byte. The result is parsed again and must hold exactly the new policy;
if it does not (an unusual layout), the file is written whole, keeping its leading comment block.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from evals.config.policy import Policy

_MISSING = object()


def canonical_data(policy: Policy) -> dict[str, Any]:
    """The policy as ``evals recommend`` writes it (key order, defaults left out), as plain data."""
    from evals.policy.recommend import dump_policy

    return yaml.safe_load(dump_policy(policy, ""))


def _dump(key: Any, value: Any, indent: int, flow: bool = False) -> list[str]:
    """``key: value`` at ``indent``; ``flow`` keeps innermost collections in flow style, as the line it replaces."""
    text = yaml.safe_dump({key: value}, sort_keys=False, width=110, allow_unicode=True,
                          default_flow_style=None if flow else False)
    return [" " * indent + line + "\n" for line in text.splitlines()]


def _span(lines: list[str], key: yaml.Node, value: yaml.Node) -> tuple[int, int]:
    """0-based [start, end) of the lines holding ``key: value``, without trailing comment or blank lines."""
    start = key.start_mark.line
    end = value.end_mark.line + (1 if value.end_mark.column > 0 else 0)
    end = max(end, start + 1)
    while end > start + 1 and (not lines[end - 1].strip() or lines[end - 1].lstrip().startswith("#")):
        end -= 1
    return start, end


Edit = tuple[int, int, list[str]]


def _edit_mapping(node: yaml.MappingNode, lines: list[str], old: dict, new: dict) -> list[Edit] | None:
    """Edits turning the block mapping ``node`` (holding ``old``) into ``new``; None when it cannot be edited."""
    if node.flow_style or not node.value:
        return None
    present = {k.value: (k, v) for k, v in node.value}
    indent = node.value[0][0].start_mark.column
    edits: list[Edit] = []
    order = list(new)
    for name in dict.fromkeys([*old, *new]):
        before, after = old.get(name, _MISSING), new.get(name, _MISSING)
        if before == after:
            continue
        if name in present:
            start, end = _span(lines, *present[name])
            flow = bool(getattr(present[name][1], "flow_style", False))
            edits.append((start, end, [] if after is _MISSING else _dump(name, after, indent, flow)))
        elif after is not _MISSING:
            earlier = [k for k in order[: order.index(name)] if k in present]
            if earlier:
                at = _span(lines, *present[earlier[-1]])[1]
            elif node.value[0][0].start_mark.column == node.start_mark.column and not lines[
                    node.start_mark.line].lstrip().startswith("-"):
                at = node.value[0][0].start_mark.line
            else:
                return None
            edits.append((at, at, _dump(name, after, indent)))
    return edits


def _edits(text: str, old: dict, new: dict) -> list[Edit] | None:
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if not isinstance(root, yaml.MappingNode):
        return None
    lines = text.splitlines(keepends=True)
    nodes = {k.value: v for k, v in root.value}
    top_old = {k: v for k, v in old.items() if k not in ("rules", "default")}
    top_new = {k: v for k, v in new.items() if k not in ("rules", "default")}
    # rules and default are edited inside; compare them here as equal so the top level leaves them alone
    for name in ("rules", "default"):
        if name in nodes:
            top_old[name] = top_new[name] = None
    edits = _edit_mapping(root, lines, top_old, top_new)
    if edits is None:
        return None
    old_rules, new_rules = old.get("rules", []), new.get("rules", [])
    rules = nodes.get("rules")
    if rules is not None:
        same_ids = [r.get("id") for r in old_rules] == [r.get("id") for r in new_rules]
        items = rules.value if isinstance(rules, yaml.SequenceNode) else []
        blocks = all(isinstance(i, yaml.MappingNode) and not i.flow_style for i in items)
        if same_ids and blocks and len(items) == len(new_rules) and not rules.flow_style:
            for item, a, b in zip(items, old_rules, new_rules):
                inner = _edit_mapping(item, lines, a, b)
                if inner is None:
                    return None
                edits += inner
        elif old_rules != new_rules:
            key = next(k for k, _ in root.value if k.value == "rules")
            start, end = _span(lines, key, rules)
            edits.append((start, end, _dump("rules", new_rules, key.start_mark.column)))
    elif new_rules:
        return None
    default = nodes.get("default")
    if default is None or not isinstance(default, yaml.MappingNode):
        return None
    inner = _edit_mapping(default, lines, old.get("default", {}), new.get("default", {}))
    if inner is None:
        return None
    return edits + inner


def _apply(text: str, edits: list[Edit]) -> str:
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    for start, end, replacement in sorted(edits, key=lambda e: (e[0], e[1]), reverse=True):
        lines[start:end] = replacement
    return "".join(lines)


def _holds(text: str, policy: Policy) -> bool:
    try:
        return Policy.model_validate(yaml.safe_load(text)).content_sha256() == policy.content_sha256()
    except Exception:
        return False


def _leading_comments(text: str) -> str:
    out = []
    for line in text.splitlines(keepends=True):
        if line.startswith("#") or not line.strip():
            out.append(line if line.endswith("\n") else line + "\n")
        else:
            break
    return "".join(out)


def edit_policy_text(text: str, policy: Policy) -> str:
    """``text`` (a policy file) changed to hold ``policy``, touching only the keys whose values differ."""
    try:
        old = canonical_data(Policy.model_validate(yaml.safe_load(text)))
        edits = _edits(text, old, canonical_data(policy))
    except Exception:  # an unreadable or unusual file: written whole below
        edits = None
    if edits is not None:
        edited = _apply(text, edits) if edits else text
        if _holds(edited, policy):
            return edited
    from evals.policy.recommend import dump_policy

    whole = dump_policy(policy, "")
    return _leading_comments(text) + whole


def edit_policy_file(path: Path, policy: Policy) -> str:
    """The new text of the policy file at ``path`` (its current text edited; a new file written whole)."""
    if path.is_file():
        return edit_policy_text(path.read_text(encoding="utf-8"), policy)
    from evals.policy.recommend import dump_policy

    return dump_policy(policy, "Routing policy in force; change it through `evals recommend` + `evals approve`.")


__all__ = ["canonical_data", "edit_policy_file", "edit_policy_text"]
