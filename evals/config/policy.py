"""Typed model of a routing policy (``policies/current.yaml`` and proposals) and of the gate settings.

Rules are ordered; the first whose ``when`` matches a task descriptor wins, and ``default`` catches
the rest. A rule names a model, the prompt, and a fallback chain; each model renders its own variant
of the prompt. Rules written by the recommender carry the evidence they were chosen on; a proposal
also names the run it was compiled from in ``source``.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from pathlib import Path

from typing import Any

from pydantic import Field, NonNegativeFloat, PositiveInt, field_validator, model_serializer, model_validator

from evals.config._yaml import load_yaml_model
from evals.config.base import FORMAT_VERSION, Pair, PromptName, Strict, Versioned
from evals.config.descriptor import Match
from evals.config.models import load_models
from evals.errors import ConfigError
from evals.router import Router

POLICY_FORMAT = FORMAT_VERSION

_UNSAFE = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}


def unsafe_character(text: str) -> str | None:
    """The first control, format or line-separator character of ``text`` (BEL, U+0085, U+2028, ...), or None.

    Such a character in a name or an id would break the YAML, JSON lines or Markdown it is written to.

    >>> unsafe_character("Ada Lovelace") is None, unsafe_character("Ada\u2028x")
    (True, 'U+2028 LINE SEPARATOR')
    """
    for ch in text:
        if unicodedata.category(ch) in _UNSAFE:
            return f"U+{ord(ch):04X} {unicodedata.name(ch, 'control character')}"
    return None


class Requirements(Strict):
    """What the chosen model must meet, for the recommender."""

    quality_floor: float | None = Field(default=None, ge=0, le=1, description="Overrides the suites' floor.")
    p95_latency_ms: NonNegativeFloat | None = None
    max_cost_per_call_usd: NonNegativeFloat | None = None


class ModelScore(Strict):
    """One model measured on a rule's suites, with its own prompt variant."""

    model: str
    variant: str | None = Field(default=None, description="The prompt variant the model rendered in the run.")
    quality: float | None
    quality_ci: Pair | None = None
    cost_per_1k_usd: float | None = None
    p95_latency_ms: float | None = None
    n: int = 0


class CascadePoint(Strict):
    """A cascade at one threshold on one split, as :class:`evals.policy.cascade.CurvePoint` measures it."""

    threshold: float | None = Field(description="Take the cheap leg's answer at this confidence or above; "
                                                 "null: every call escalated.")
    quality: float | None
    quality_ci: Pair | None = None
    cost_per_1k_usd: float | None = Field(default=None, description="The cheap leg's cost, plus the strong "
                                                                    "leg's on the escalated calls; null: unknown.")
    p95_latency_ms: float | None = Field(default=None, description="Per call: the cheap leg's latency, plus the "
                                                                   "strong leg's where escalated.")
    escalation_share: float | None = Field(default=None, ge=0, le=1)
    calls: int = 0
    n: int = Field(default=0, description="Examples paired with the reference.")
    diff: float | None = Field(default=None, description="Cascade minus reference, paired per example.")
    diff_ci: Pair | None = None
    outcome: str = Field(default="", description="The paired test against the reference: non-inferior, "
                                                 "inferior or undecidable (evals.policy.decide.paired_test).")


class CascadeEvidence(Strict):
    """How a cascade rule's threshold was chosen: swept on dev, confirmed on test (the evidence run).

    The rule's top-level evidence numbers (quality, interval, cost, p95, n) are the cascade's on test,
    ``test`` below; ``evidence.model`` is the cheap leg.
    """

    cheap: str = Field(description="The first leg: its answer is taken at `threshold` or above.")
    strong: str = Field(description="The last leg: it answers every call the cheap leg passes on.")
    threshold: float = Field(gt=0, le=1, description="The rule's accept_if confidence.")
    reference: str = Field(description="The model the cascade was held non-inferior to: the incumbent, or the "
                                       "best eligible model when the incumbent is unmeasured (--replace-unmeasured).")
    margin: float = Field(ge=0, le=1)
    confidence: float = Field(gt=0, lt=1)
    dev_run_id: str = Field(description="The run whose dev split chose the threshold.")
    dev_results_sha256: str | None = None
    dev: CascadePoint = Field(description="The chosen point on dev.")
    test: CascadePoint = Field(description="The same threshold on test: the confirmation.")
    reference_cost_per_1k_usd: float | None = Field(default=None, description="The reference alone, on test.")
    single_cost_per_1k_usd: float | None = Field(
        default=None, description="The best single-model choice for the rule, on test: the cascade costs less.")
    curve: list[CascadePoint] = Field(default_factory=list, description="Every threshold swept on dev, highest first.")

    @model_validator(mode="after")
    def _consistent(self) -> "CascadeEvidence":
        if self.cheap == self.strong:
            raise ValueError(f"cascade: cheap and strong are both {self.cheap!r}")
        for name, point in (("dev", self.dev), ("test", self.test)):
            if point.threshold != self.threshold:
                raise ValueError(f"cascade.{name}.threshold {point.threshold} is not the threshold {self.threshold}")
        return self


class _OptionalCascade(Strict):
    """A model with a ``cascade`` field that dumps without it when unset, so evidence and policies
    written before cascades existed dump (and hash) as they did."""

    @model_serializer(mode="wrap")
    def _without_empty_cascade(self, handler: Any) -> Any:
        data = handler(self)
        if getattr(self, "cascade", None) is None and isinstance(data, dict):
            data.pop("cascade", None)
        return data


class Evidence(_OptionalCascade):
    """The run a rule's choice rests on."""

    run_id: str
    suite: str
    model: str | None = Field(default=None, description="The model the numbers below belong to.")
    variant: str | None = None
    quality: float | None
    quality_ci: Pair | None
    cost_per_1k_usd: float | None
    p95_latency_ms: float | None
    n: int
    floor: float | None = Field(default=None, description="The quality floor the lower bound was held to.")
    results_sha256: str | None = None
    reason: str = ""
    fallbacks: list[ModelScore] = Field(default_factory=list, description="The fallback chain, scored.")
    cascade: CascadeEvidence | None = Field(default=None, description="For a cascade rule: how its threshold was "
                                                                      "chosen and confirmed.")


class AcceptIf(Strict):
    """When a cascade leg's answer is taken; otherwise the call goes on to the next leg."""

    confidence: float = Field(gt=0, le=1, description="Take the answer when its confidence (the class probability "
                                                      "the model reports) is at least this; an answer without a "
                                                      "confidence is never taken.")


class CascadeLeg(Strict):
    """One model of a cascade: every leg but the last names when its answer is accepted."""

    model: str
    accept_if: AcceptIf | None = None


class Target(_OptionalCascade):
    model: str = Field(description="The model called first (with a cascade: the first leg's model, filled in).")
    prompt: PromptName | None = Field(default=None, description="Prompt name; each model renders its own variant.")
    fallbacks: list[str] = Field(default_factory=list, description="Model ids tried in order when the model fails.")
    cascade: list[CascadeLeg] | None = Field(
        default=None, description="Models tried in order, each answer taken when it meets its leg's accept_if; the "
                                  "last leg (no accept_if) answers the rest. `fallbacks` follow the last leg.")
    evidence: Evidence | None = None

    @model_validator(mode="before")
    @classmethod
    def _cascade_head(cls, data: Any) -> Any:
        """A cascade names its first model; ``model`` may be left out and is filled from it."""
        if isinstance(data, dict) and data.get("cascade") and "model" not in data:
            first = data["cascade"][0]
            if isinstance(first, dict) and "model" in first:
                data = {**data, "model": first["model"]}
        return data

    @model_validator(mode="after")
    def _cascade_shape(self) -> "Target":
        legs = self.cascade
        chosen = self.evidence.cascade if self.evidence is not None else None
        if chosen is not None:
            shown = [(leg.model, leg.accept_if.confidence if leg.accept_if else None) for leg in legs or []]
            if shown != [(chosen.cheap, chosen.threshold), (chosen.strong, None)]:
                raise ValueError(f"evidence.cascade is for {chosen.cheap} (accept_if confidence {chosen.threshold}) "
                                 f"-> {chosen.strong}, but the rule's cascade is {shown or 'not set'}")
        if legs is None:
            return self
        if len(legs) < 2:
            raise ValueError("cascade: name at least two legs (a cheap model with accept_if, then the model that "
                             "answers the rest); for one model write `model:` instead")
        for i, leg in enumerate(legs[:-1]):
            if leg.accept_if is None:
                raise ValueError(f"cascade[{i}] ({leg.model}): every leg but the last needs accept_if, e.g. "
                                 "accept_if: {confidence: 0.85}")
        if legs[-1].accept_if is not None:
            raise ValueError(f"cascade[{len(legs) - 1}] ({legs[-1].model}): the last leg answers whatever the legs "
                             "before it pass on; remove its accept_if")
        names = [leg.model for leg in legs]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise ValueError(f"cascade[{i}]: model {name!r} is already cascade[{names.index(name)}]")
        if self.model != names[0]:
            raise ValueError(f"model {self.model!r} is not the cascade's first leg ({names[0]!r}); leave `model:` "
                             "out or make them the same")
        for j, name in enumerate(self.fallbacks):
            if name in names:
                raise ValueError(f"fallbacks[{j}]: {name!r} is already a cascade leg; fallbacks follow the last leg")
        return self

    def chain(self) -> list[str]:
        """Every model the target may call, in order: the cascade legs (or the model), then the fallbacks."""
        head = [leg.model for leg in self.cascade] if self.cascade else [self.model]
        return head + [f for f in self.fallbacks if f not in head]


class Rule(Target):
    id: str
    description: str = ""
    when: Match = Field(default_factory=Match)
    require: Requirements = Field(default_factory=Requirements)

    @field_validator("id")
    @classmethod
    def _printable_id(cls, value: str) -> str:
        bad = unsafe_character(value)
        if bad is not None or not value.strip():
            raise ValueError(f"rule id holds {bad}; use printable characters" if bad else "rule id is empty")
        return value


class Source(Strict):
    """Where a proposal came from: the run, and the policy it was compiled against."""

    run_id: str
    results_sha256: str
    created_at: str
    objective: str = "cost"
    base_policy_sha256: str | None = Field(default=None, description="Content hash of the policy in force then.")


class Policy(Versioned):
    format_version: int = POLICY_FORMAT
    source: Source | None = None
    rules: list[Rule] = Field(default_factory=list)
    default: Target

    @field_validator("rules")
    @classmethod
    def _unique_ids(cls, rules: list[Rule]) -> list[Rule]:
        seen: set[str] = set()
        for rule in rules:
            if rule.id == "default":
                raise ValueError("rule id 'default' is reserved for the default target; rename the rule")
            if rule.id in seen:
                raise ValueError(f"rule id {rule.id!r} appears twice")
            seen.add(rule.id)
        return rules

    def targets(self) -> list[tuple[str, Target]]:
        """Every rule by id, then the default under the id ``default``."""
        return [(r.id, r) for r in self.rules] + [("default", self.default)]

    def target(self, rule_id: str) -> Target | None:
        """The rule (or ``default``) with this id, or None."""
        return dict(self.targets()).get(rule_id)

    def content_sha256(self) -> str:
        """A hash of the policy's content (not its formatting or comments)."""
        data = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(data.encode()).hexdigest()


class PolicySettings(Versioned):
    """``policies/gate.yaml``: how the recommender decides and what the gate enforces."""

    format_version: int = FORMAT_VERSION
    require_signed_approvals: bool = Field(
        default=True, description="Every approval added since the gate's --base must carry an SSH signature by a "
                                  "key in policies/allowed_signers as it was at --base; false only for solo use.")
    quality_tolerance: float = Field(
        default=0.02, ge=0, le=1,
        description="Non-inferiority margin for the recommender; the most a changed rule may lose in the gate.")
    confidence: float = Field(default=0.95, gt=0, lt=1)
    min_examples: PositiveInt = Field(default=20, description="Fewer examples than this cannot change a rule.")
    max_fallbacks: int = Field(default=2, ge=0, le=5)
    weekly_spend_ceiling_usd: NonNegativeFloat | None = Field(
        default=None, description="The gate fails when the policy's projected weekly spend exceeds this.")
    fail_on_unknown_spend: bool = Field(default=False, description="Fail the gate when spend cannot be projected.")
    max_infra_failure_rate: float = Field(
        default=0.02, ge=0, le=1,
        description="A rule whose evidence has a larger share of calls that failed for infrastructure reasons "
                    "(rate limits, timeouts, server errors) keeps its model: re-run to retry them.")


def load_policy(path: Path) -> Policy:
    """Load a policy or proposal; errors name file, line and field."""
    return load_yaml_model(Policy, path)


def load_settings(path: Path) -> PolicySettings:
    """Load ``policies/gate.yaml``; its defaults when the file does not exist."""
    if not path.is_file():
        return PolicySettings()
    return load_yaml_model(PolicySettings, path)


def load_router(policy_path: Path, models_path: Path | None = None, prompts_dir: Path | None = None) -> Router:
    """Validate the policy (and models.yaml) through the typed config, then build the router.

    Errors name file, line and field; a rule naming a model missing from models.yaml is a ConfigError.
    The typed policy is kept on the router (``router.policy``) for :class:`evals.client.Client`.
    """
    policy = load_policy(Path(policy_path))
    if models_path is not None:
        load_models(Path(models_path))
    try:
        router = Router.from_file(policy_path, models_path, prompts_dir)
    except ValueError as exc:
        raise ConfigError(policy_path, str(exc).removeprefix(f"{policy_path}: ")) from None
    router.models_path = Path(models_path) if models_path is not None else None
    router.policy = policy
    return router
