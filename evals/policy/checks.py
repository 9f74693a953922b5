"""Policy validation beyond the schema: unknown models (cascade legs included), shadowed rules, a missing
default, fallback cycles and duplicates, context windows smaller than a rule's context bucket.

Each problem is a :class:`~evals.errors.ConfigError` naming the file, the line and the field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evals.config._yaml import Loc, parse_yaml, read_text, validate
from evals.config.descriptor import Match, Range
from evals.config.models import ModelsFile
from evals.config.policy import Policy, Rule, Target
from evals.errors import ConfigError


def _covers_choice(a: str | list[str] | None, b: str | list[str] | None) -> bool:
    if a is None:
        return True
    if b is None:
        return False
    allowed = {a} if isinstance(a, str) else set(a)
    return ({b} if isinstance(b, str) else set(b)) <= allowed


def _covers_range(a: Range | None, b: Range | None) -> bool:
    if a is None or (a.min is None and a.max is None):
        return True
    if b is None:
        return False
    low_ok = a.min is None or (b.min is not None and b.min >= a.min)
    high_ok = a.max is None or (b.max is not None and b.max <= a.max)
    return low_ok and high_ok


def covers(a: Match, b: Match) -> bool:
    """True when every descriptor that ``b`` matches is also matched by ``a`` (so ``a`` shadows ``b``).

    Conservative: it may miss a shadowing that only arises from combinations, never reports a false one.

    >>> covers(Match(task="writing"), Match(task="writing", tags=["voice"]))
    True
    >>> covers(Match(task="writing", tags=["voice"]), Match(task="writing"))
    False
    """
    return (
        _covers_choice(a.task, b.task)
        and _covers_range(a.context_tokens, b.context_tokens)
        and _covers_range(a.latency_ms, b.latency_ms)
        and _covers_range(a.cost_ceiling_usd, b.cost_ceiling_usd)
        and _covers_choice(a.volume, b.volume)
        and set(a.tags) <= set(b.tags)
    )


def context_bucket(match: Match) -> int | None:
    """The largest context a rule's ``when`` admits (its max, else its min); None when unbounded."""
    rng = match.context_tokens
    if rng is None:
        return None
    bound = rng.max if rng.max is not None else rng.min
    return None if bound is None else int(bound)


def _line(lines: dict[Loc, int], *loc: Any) -> int | None:
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def _where(index: int | None) -> tuple[Any, ...]:
    return ("default",) if index is None else ("rules", index)


def _field(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def check_policy(policy: Policy, models: ModelsFile | None, path: Path, lines: dict[Loc, int] | None = None) -> None:
    """Raise a ConfigError at the first semantic problem of ``policy``; ``lines`` maps key paths to lines."""
    lines = lines or {}

    def fail(loc: tuple[Any, ...], message: str) -> None:
        raise ConfigError(path, message, line=_line(lines, *loc), field=_field(loc))

    targets: list[tuple[int | None, Target]] = [(i, r) for i, r in enumerate(policy.rules)] + [(None, policy.default)]
    known = {m.id: m for m in models.models} if models is not None else None
    for index, target in targets:
        base = _where(index)
        head = [("cascade", i, "model") for i in range(len(target.cascade))] if target.cascade else [("model",)]
        chain = [*head, *[("fallbacks", j) for j in range(len(target.fallbacks))]]
        names = [*([leg.model for leg in target.cascade] if target.cascade else [target.model]), *target.fallbacks]
        for loc, name in zip(chain, names):
            if known is not None and name not in known:
                fail(base + loc, f"unknown model {name!r}; known: {', '.join(sorted(known))} "
                                 "(add it to policies/models.yaml or fix the spelling)")
        for j, name in enumerate(target.fallbacks):
            if name == target.model:
                fail(base + ("fallbacks", j), f"fallback {name!r} is the rule's own model: a cycle that retries the "
                                              "model that just failed; remove it or name another model")
            if name in target.fallbacks[:j]:
                first = target.fallbacks.index(name)
                fail(base + ("fallbacks", j), f"fallback {name!r} repeats fallbacks[{first}]; remove the duplicate")
        if index is not None and known is not None:
            rule: Rule = target  # type: ignore[assignment]
            bucket = context_bucket(rule.when)
            if bucket is not None:
                for loc, name in zip(chain, names):
                    window = known[name].context_window
                    if window < bucket:
                        fail(base + loc, f"model {name!r} has a context window of {window} tokens, smaller than "
                                         f"this rule's context bucket ({bucket} tokens, when.context_tokens); "
                                         "pick a model with a larger window or lower the bucket")
    for j, later in enumerate(policy.rules):
        for i, earlier in enumerate(policy.rules[:j]):
            if covers(earlier.when, later.when):
                fail(("rules", j, "when"), f"rule {later.id!r} never matches: every call it matches is taken first by "
                                           f"rules[{i}] ({earlier.id!r}, line {_line(lines, 'rules', i)}); "
                                           "move it above that rule or narrow that rule's `when`")


def load_checked_policy(path: Path, models: ModelsFile | None) -> Policy:
    """Load a policy file and run every check on it; errors name file, line and field."""
    text = read_text(path)
    data, lines = parse_yaml(text, path)
    if data is None:
        raise ConfigError(path, "file is empty; a policy needs `rules:` and a `default:`")
    if isinstance(data, dict) and "default" not in data:
        last = len(text.rstrip("\n").splitlines()) or 1
        raise ConfigError(path, "missing default: add `default: {model: <id>, fallbacks: [...]}` to catch the calls "
                                "no rule matches", line=last, field="default")
    policy = validate(Policy, data, path, lines)
    check_policy(policy, models, path, lines)
    return policy
