"""The runtime router: a task descriptor in; a model, endpoint, prompt variant and fallbacks out.

Standard library and PyYAML only, and no import of the rest of ``evals``, so a service can vendor this
one file. Rules are ordered and the first whose ``when`` holds wins; ``default`` catches the rest.
Per-call overrides (``model=``, ``fallbacks=``, ``forbid_providers=``) are the caller's, never the
file's. A model whose context window is smaller than the descriptor's ``context_tokens`` is skipped.
When every model of the matched rule is excluded, the default's chain (and prompt) serves and the
decision names ``default`` as its rule; when that chain is empty too, :class:`NoRoute` is raised.
``evals.config.policy.load_router`` (also ``evals.client.load_router``) validates both files first.

A rule may name a ``cascade`` instead of one model: legs tried in order, each but the last with
``accept_if: {confidence: t}``. The decision's chain is the legs, then the fallbacks; a leg's candidate
carries its threshold (:attr:`Candidate.accept_confidence`) and :attr:`Decision.cascade` lists the legs.
The last model left in a chain never has a threshold: whatever reaches it is its to answer.

>>> rule_matches({"task": ["a", "b"], "context_tokens": {"max": 100}}, {"task": "a", "context_tokens": 100})
True
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from urllib.parse import urlsplit, urlunsplit

import yaml

KEYS = ("task", "context_tokens", "latency_ms", "cost_ceiling_usd", "volume", "tags")


def public_url(url: str | None) -> str | None:
    """A base_url as a decision shows it: without a ``user:password@`` part.

    >>> public_url("http://u:secret@host:8000/v1")
    'http://host:8000/v1'
    """
    parts = urlsplit(url or "")
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


class NoRoute(LookupError):
    """No model is left for a descriptor once overrides and context windows are applied."""


def rule_matches(when: dict, descriptor: dict) -> bool:
    """Whether every condition of ``when`` holds for ``descriptor`` (absent conditions match anything).

    A string condition must equal the value, a list must contain it, ``{min, max}`` is an inclusive
    range (a missing value fails a bounded range), and ``tags`` must all be carried by the descriptor.
    """
    for key, cond in when.items():
        value = descriptor.get(key)
        if cond is None:
            continue
        if key == "tags":
            if not all(tag in (value or ()) for tag in cond):
                return False
        elif isinstance(cond, dict):
            lo, hi = cond.get("min"), cond.get("max")
            if value is None:
                if lo is not None or hi is not None:
                    return False
            elif (lo is not None and value < lo) or (hi is not None and value > hi):
                return False
        elif isinstance(cond, (list, tuple)):
            if value not in cond:
                return False
        elif value != cond:
            return False
    return True


@dataclass(frozen=True, slots=True)
class Candidate:
    """One model of a chain, with where to reach it and the prompt variant file it renders."""

    model: str
    provider: str | None = None
    base_url: str | None = None
    family: str | None = None
    context_window: int | None = None
    variant: str | None = None  # path of prompts/<prompt>/<model|family|default>.j2, when prompts_dir is known
    #: A cascade leg's threshold: its answer is taken only with a confidence at least this (None: always).
    accept_confidence: float | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """The router's answer: ``chain[0]`` is the model to call, the rest its fallbacks in order."""

    chain: tuple[Candidate, ...]
    prompt: str | None
    rule: str  # the id of the rule whose chain serves the call, or "default"
    why: str

    model = property(lambda self: self.chain[0].model)
    variant = property(lambda self: self.chain[0].variant)
    fallbacks = property(lambda self: [c.model for c in self.chain[max(len(self.cascade), 1):]])
    endpoint = property(lambda self: self.chain[0].base_url or self.chain[0].provider)

    @property
    def cascade(self) -> tuple[Candidate, ...]:
        """The cascade's legs (the leading candidates with a threshold, and the one that answers the rest),
        or ``()`` when the chain is a single model with fallbacks."""
        legs = 0
        while legs < len(self.chain) and self.chain[legs].accept_confidence is not None:
            legs += 1
        return self.chain[: legs + 1] if legs else ()


def _describe(when: dict) -> str:
    parts = []
    for key, cond in when.items():
        if isinstance(cond, dict):
            parts.append(" ".join(f"{key}{op}{cond[b]:g}" for b, op in (("min", ">="), ("max", "<=")) if cond.get(b) is not None))
        elif cond not in (None, []):
            parts.append(f"{key} in {cond}" if isinstance(cond, list) else f"{key}={cond}")
    return ", ".join(p for p in parts if p) or "no conditions"


def _settle(chain, notes: list[str] | None = None) -> tuple[Candidate, ...]:
    """The chain with its last model's threshold dropped: nobody is left to take what it would pass on."""
    chain = tuple(chain)
    if chain and chain[-1].accept_confidence is not None:
        if notes is not None:
            notes.append(f"{chain[-1].model} is the last model left: its answers are taken at any confidence")
        chain = chain[:-1] + (replace(chain[-1], accept_confidence=None),)
    return chain


def _threshold(leg: dict) -> float | None:
    accept = leg.get("accept_if")
    if accept is None:
        return None
    if not isinstance(accept, dict) or set(accept) != {"confidence"}:
        raise ValueError(f"cascade leg {leg.get('model')!r}: accept_if takes exactly {{confidence: <0..1>}}")
    return float(accept["confidence"])


def _describe_cascade(chain: tuple[Candidate, ...]) -> str:
    legs = Decision(chain, None, "", "").cascade
    if not legs:
        return ""
    return "; cascade " + " -> ".join(
        c.model + (f" (confidence >= {c.accept_confidence:g})" if c.accept_confidence is not None else "") for c in legs)


def _fits(chain: tuple[Candidate, ...]) -> float:
    """The most context tokens every model of ``chain`` takes (infinite when no window is known)."""
    return min((c.context_window for c in chain if c.context_window is not None), default=float("inf"))


class Router:
    """Routes descriptors by a policy file; see :meth:`route`."""

    def __init__(self, policy: dict, models: dict | None = None, prompts_dir: str | None = None, source: str = "policy"):
        self.models = {m["id"]: m for m in (models or {}).get("models", [])} if models is not None else None
        self.prompts_dir, self._variants, self.source = prompts_dir, {}, source
        self.rules = []  # (id, when, prompt, chain, why, context tokens the whole chain fits)
        for rule in policy.get("rules") or []:
            when = rule.get("when") or {}
            unknown = set(when) - set(KEYS)
            if unknown:
                raise ValueError(f"{source}: rule {rule.get('id')!r}: unknown condition(s) {sorted(unknown)}")
            try:
                chain = self._chain(rule)
            except ValueError as exc:
                raise ValueError(f"{source}: rule {rule.get('id')!r}: {exc}") from None
            self.rules.append((rule["id"], when, rule.get("prompt"), chain,
                               f"rule {rule['id']!r} matched ({_describe(when)})" + _describe_cascade(chain), _fits(chain)))
        default = policy["default"]
        try:
            chain = self._chain(default)
        except ValueError as exc:
            raise ValueError(f"{source}: default: {exc}") from None
        self.default = ("default", {}, default.get("prompt"), chain,
                        "no rule matched; the default applies" + _describe_cascade(chain), _fits(chain))

    @classmethod
    def from_file(cls, policy_path, models_path=None, prompts_dir=None) -> "Router":
        """Read a policy (and optionally ``models.yaml`` for endpoints and context windows, and a prompts folder)."""
        with open(policy_path, encoding="utf-8") as fh:
            policy = yaml.safe_load(fh)
        models = None
        if models_path is not None:
            with open(models_path, encoding="utf-8") as fh:
                models = yaml.safe_load(fh)
        return cls(policy, models, str(prompts_dir) if prompts_dir is not None else None, source=str(policy_path))

    def _candidate(self, model_id: str, prompt: str | None, accept_confidence: float | None = None) -> Candidate:
        if self.models is None:
            return Candidate(model_id, variant=self._variant(prompt, model_id, None), accept_confidence=accept_confidence)
        if model_id not in self.models:
            raise ValueError(f"model {model_id!r} is not in models.yaml")
        m = self.models[model_id]
        return Candidate(model_id, m.get("provider"), public_url(m.get("base_url")), m.get("family"),
                         m.get("context_window"), self._variant(prompt, model_id, m.get("family")), accept_confidence)

    def _chain(self, target: dict) -> tuple[Candidate, ...]:
        cascade = target.get("cascade") or []
        legs = [(leg["model"], _threshold(leg)) for leg in cascade] or [(target["model"], None)]
        head = [m for m, _ in legs]
        ids = legs + [(f, None) for f in dict.fromkeys(target.get("fallbacks") or []) if f not in head]
        return _settle(self._candidate(i, target.get("prompt"), t) for i, t in ids)

    def _variant(self, prompt: str | None, model_id: str, family: str | None) -> str | None:
        """The variant file: ``<model id>.j2``, then ``<family>.j2``, then ``default.j2`` (cached)."""
        if prompt is None or self.prompts_dir is None:
            return None
        key = (prompt, model_id, family)
        if key not in self._variants:
            names = [n for n in (model_id, family, "default") if n]
            paths = (os.path.join(self.prompts_dir, prompt, f"{n}.j2") for n in names)
            self._variants[key] = next((p for p in paths if os.path.isfile(p)), None)
        return self._variants[key]

    def route(self, task: str, context_tokens: int = 0, latency_ms: float | None = None, cost_ceiling_usd: float | None = None,
              volume: str | None = None, tags=(), *, model: str | None = None, fallbacks=None, forbid_providers=()) -> Decision:
        """Decide for one call. ``model`` pins a model, ``fallbacks`` replaces the chain's tail,
        ``forbid_providers`` drops models of those providers from the whole chain."""
        d = {"task": task, "context_tokens": context_tokens, "latency_ms": latency_ms,
             "cost_ceiling_usd": cost_ceiling_usd, "volume": volume, "tags": tags}
        for rule in self.rules:
            if rule_matches(rule[1], d):
                break
        else:
            rule = self.default
        rid, _, prompt, chain, why, fits = rule
        if model is None and fallbacks is None and not forbid_providers and context_tokens <= fits:
            return Decision(chain, prompt, rid, why)  # the common case: nothing to filter
        if model is not None:  # a pinned model is one model: no cascade
            tail = list(fallbacks) if fallbacks is not None else [c.model for c in chain]
            chain = tuple(self._candidate(m, prompt) for m in dict.fromkeys([model] + tail))
        elif fallbacks is not None:  # the cascade's legs (or the model) stay; the tail is replaced
            head = Decision(chain, prompt, rid, why).cascade or chain[:1]
            names = {c.model for c in head}
            chain = head + tuple(self._candidate(m, prompt) for m in dict.fromkeys(fallbacks) if m not in names)
        if model is not None or fallbacks is not None:
            given = {"model": model, "fallbacks": None if fallbacks is None else list(fallbacks)}
            why += "; overrides: " + ", ".join(f"{k}={v}" for k, v in given.items() if v is not None)
        kept, notes = self._filter(chain, context_tokens, forbid_providers)
        if not kept and rule is not self.default:
            kept, more = self._filter(self.default[3], context_tokens, forbid_providers)
            notes.append(f"every model of rule {rid!r} excluded; using the default's chain")
            notes += more
            rid, prompt = self.default[0], self.default[2]  # the default serves: spend is charged to it
        if not kept:
            raise NoRoute(f"no model left for {d}: " + "; ".join(notes))
        return Decision(_settle(kept, notes), prompt, rid, "; ".join([why, *notes]))

    def _filter(self, chain, context_tokens, forbid) -> tuple[list[Candidate], list[str]]:
        if forbid and self.models is None:
            raise ValueError("forbid_providers needs models.yaml (Router.from_file(..., models_path=...))")
        kept, notes = [], []
        for c in chain:
            if forbid and c.provider in forbid:
                notes.append(f"skipped {c.model}: provider {c.provider} forbidden")
            elif c.context_window is not None and context_tokens > c.context_window:
                notes.append(f"skipped {c.model}: context window {c.context_window} < {context_tokens} tokens")
            else:
                kept.append(c)
        return kept, notes
