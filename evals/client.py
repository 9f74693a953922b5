"""Runtime completion: the request that was evaluated, failover along the chain, a routing log.

:class:`Client` asks the :class:`~evals.router.Router` for a decision and builds each model's request
with :func:`evals.requests.build_request`, the function the runner uses, from the same inputs the rule's
suite was evaluated with (its variables, labels, shots, context files and JSON schema) merged with the
caller's inputs. The rule's suite is the one whose ``rule:`` names the rule, else one whose ``shape``
routes to it (:func:`evals.policy.evidence.rule_suites`); a rule without a suite gets the caller's
inputs only, and the completion says so.

When a model fails (any :class:`~evals.providers.ErrorKind`: an expired key or a request one provider
rejects may be served by the next) the call moves down the chain; a model whose template does not
render for these inputs is skipped. A :class:`CircuitBreaker` skips a model whose endpoint keeps
failing; refusals and rejected requests say nothing about the endpoint and do not count.

A rule with a ``cascade`` runs its legs in order: a leg with a threshold answers when its answer's
confidence (:func:`answer_confidence`) is at least the threshold; an answer below it, or without a
confidence, is logged as ``escalated`` (paid for, not taken) and the call goes to the next leg, as it
does when the leg fails. After the call, one JSON line per attempt is appended to the routing log,
best effort (a write failure is a warning, never a lost answer)::

    {"format_version": 1, "time": "...", "call_id": "...", "descriptor": {...}, "rule": "...",
     "suite": "...", "model": "...", "family": "...", "provider": "...", "prompt": "...", "variant": "...",
     "attempt": 1, "outcome": "ok", "final": true, "input_tokens": 12, "output_tokens": 3,
     "cache_read_tokens": null, "cost_usd": 1.2e-05, "latency_ms": 80.1,
     "confidence": 0.91, "accept_if": 0.85}

``confidence`` is the answer's confidence where the provider gives one, ``accept_if`` the leg's
threshold (null outside a cascade).

The log never holds the prompt variables, the rendered prompt, the answer or any key. The async API is
the core; :func:`complete_sync` is the edge for synchronous callers.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

from evals.config.descriptor import TaskDescriptor
from evals.config.models import ModelSpec, ModelsFile, load_models
from evals.config.policy import Policy, load_policy, load_router  # noqa: F401 (load_router: public here too)
from evals.config.suite import load_suite
from evals.costs import response_cost
from evals.distill.ensure import resolve_artifacts
from evals.errors import ConfigError, ProviderUnavailable, TemplateError, UsageError
from evals.project import Project, project_root_of
from evals.prompts import PromptTemplate, RenderedPrompt
from evals.providers import ErrorKind, GenerateRequest, GenerateResponse, Provider, ProviderRegistry, create_provider
from evals.providers.base import answer_confidence  # one definition: the runner fills results with it too
from evals.requests import build_request, variant_for
from evals.router import Decision, NoRoute, Router
from evals.secrets import key_vars, scrub_data
from evals.suites import Example, Suite, discover, open_suite

LOG_FORMAT = 1
#: Every failure moves to the next model: another provider, key, window or template may serve the call.
FAILOVER_ON = frozenset(ErrorKind)
#: Failures of one request, not of the endpoint: they never count toward opening the circuit.
REQUEST_FAILURES = frozenset({ErrorKind.REFUSED, ErrorKind.INVALID_REQUEST, ErrorKind.CONTEXT_LENGTH,
                              ErrorKind.TRUNCATED})
CIRCUIT_OPEN = "circuit_open"
RENDER_ERROR = "render_error"
#: A cascade leg answered below its threshold (or without a confidence): paid for, passed on.
ESCALATED = "escalated"
#: Outcomes of attempts that sent nothing to a model.
NOT_SENT = frozenset({CIRCUIT_OPEN, RENDER_ERROR})
#: Outcomes of attempts the model answered (taken, or passed on by a cascade): always paid for.
ANSWERED = frozenset({"ok", ESCALATED})

logger = logging.getLogger("evals.client")


def billable(ok: bool, input_tokens: int | None) -> bool:
    """Whether an attempt was paid for: an answer, or a failure the provider still counted tokens for.

    Anything else (a refused connection, a 429 without usage) cost nothing. The traffic model reads
    the routing log with this same rule (``ok``: the outcome is one of :data:`ANSWERED`).
    """
    return ok or input_tokens is not None


class CircuitBreaker:
    """Skip a model after ``threshold`` consecutive failures of its endpoint, for ``cooldown_s`` seconds.

    After the cool-down the circuit is half-open: :meth:`acquire` lets exactly one trial call through
    while every other call is refused (and goes to the fallbacks); the trial's success closes the
    circuit, its failure opens it again for another cool-down. ``clock`` returns seconds (injectable).
    """

    def __init__(self, threshold: int = 3, cooldown_s: float = 30.0, clock: Callable[[], float] = time.monotonic):
        self.threshold, self.cooldown_s, self.clock = threshold, cooldown_s, clock
        self._failures: dict[str, int] = {}
        self._opened: dict[str, float] = {}
        self._trial: set[str] = set()

    def _tripped(self, model: str) -> bool:
        return self._failures.get(model, 0) >= self.threshold

    def is_open(self, model: str) -> bool:
        """Whether a call to ``model`` would be refused now (cooling down, or its trial call in flight)."""
        if not self._tripped(model):
            return False
        return model in self._trial or self.clock() - self._opened[model] < self.cooldown_s

    def acquire(self, model: str) -> bool:
        """Take the right to call ``model``: always when closed; once (the trial) when half-open."""
        if self.is_open(model):
            return False
        if self._tripped(model):
            self._trial.add(model)
        return True

    def release(self, model: str) -> None:
        """Give back a right taken by :meth:`acquire` without calling (the template did not render)."""
        self._trial.discard(model)

    def record(self, model: str, ok: bool) -> None:
        """The outcome of a call: ``ok`` when the endpoint answered (a refusal is an answer)."""
        self._trial.discard(model)
        if ok:
            self._failures.pop(model, None)
            self._opened.pop(model, None)
            return
        self._failures[model] = self._failures.get(model, 0) + 1
        if self._failures[model] >= self.threshold:
            self._opened[model] = self.clock()


@dataclass
class Completion:
    """What :meth:`Client.complete` returns: the answer (or the last error) and how it was reached.

    ``suite`` is the suite whose inputs the requests were built with (None: the caller's inputs only);
    ``notes`` says what was skipped and why; ``log_error`` is set when the routing log was not written.
    ``unaccepted`` is the last answer a cascade leg passed on for its confidence: when every later model
    failed, the call has no answer and this is what the cheap leg said.
    """

    text: str
    model: str | None
    decision: Decision
    response: GenerateResponse | None
    attempts: list[dict[str, Any]] = field(default_factory=list)
    suite: str | None = None
    notes: list[str] = field(default_factory=list)
    log_error: str | None = None
    unaccepted: GenerateResponse | None = None

    @property
    def ok(self) -> bool:
        return self.model is not None and self.response is not None and self.response.ok

    @property
    def failed_over(self) -> bool:
        """Answered after an earlier model failed or was skipped (a cascade's escalation is not a failure)."""
        return self.ok and any(a["outcome"] not in ANSWERED for a in self.attempts[:-1])

    @property
    def escalated(self) -> bool:
        """A cascade leg's answer was passed on for its confidence."""
        return any(a["outcome"] == ESCALATED for a in self.attempts)


def append_log(path: Path, *records: dict[str, Any]) -> None:
    """Append JSON lines with a single ``O_APPEND`` write, so concurrent writers never interleave.

    ASCII JSON (``ensure_ascii``): no line separator of any kind (U+2028, U+0085, ...) from a tag or a
    name appears raw, so a reader that splits on more than ``\n`` still sees one record per line.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    data = "".join(json.dumps(r, ensure_ascii=True, separators=(",", ":")) + "\n" for r in records).encode("ascii")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def suite_variables(suite: Suite | None, inputs: dict[str, Any]) -> dict[str, Any]:
    """What a template sees at run time: the suite's variables for an example whose inputs are the caller's.

    The same :meth:`~evals.suites.Suite.variables` the runner renders each example with, so labels,
    shots, style samples and the schema reach the template as they did in the evaluation.
    """
    if suite is None:
        return dict(inputs)
    return suite.variables(Example(id="runtime", inputs=dict(inputs), gold=None, split="runtime"))


@dataclass(frozen=True)
class RuleInputs:
    """The suite a rule's requests are built with (None: the caller's inputs only), and why."""

    suite: Suite | None
    note: str


class Client:
    """Completes calls routed by ``router`` (built by :func:`load_router` with a models file and prompts folder).

    Args:
        router: the router; its ``models_path``, ``prompts_dir`` and ``policy`` are used unless given here.
        suites_dir: where the suites live (default: ``suites/`` beside the prompts folder).
        log_path: the routing log (JSON lines); None keeps no log.
        registry: provider registry (tests pass one).
        breaker: a shared :class:`CircuitBreaker`; a fresh one by default.
        failover_on: error kinds that move to the next model (default: all).
        now: wall clock for the log's ``time`` (injectable for tests).
    """

    def __init__(self, router: Router, *, models: ModelsFile | None = None, prompts_dir: Path | None = None,
                 suites_dir: Path | None = None, policy: Policy | None = None, log_path: Path | None = None,
                 registry: ProviderRegistry | None = None, breaker: CircuitBreaker | None = None,
                 failover_on: Iterable[ErrorKind] = FAILOVER_ON,
                 now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)):
        models_path = getattr(router, "models_path", None)
        if models is None and models_path is None:
            raise UsageError("the client needs models.yaml: build the router with load_router(policy, models, prompts)")
        self.router = router
        self.prompts_dir = Path(prompts_dir or router.prompts_dir or "prompts")
        # a distilled model's relative artifact path is read from the project root, as `evals run` reads it
        root = project_root_of(Path(models_path)) if models_path is not None else self.prompts_dir.resolve().parent
        self.models = resolve_artifacts(Project(root), models or load_models(models_path))
        self.suites_dir = Path(suites_dir) if suites_dir is not None else self.prompts_dir.parent / "suites"
        self.policy = policy or getattr(router, "policy", None)
        if self.policy is None and Path(router.source).is_file():
            self.policy = load_policy(Path(router.source))
        self.log_path = Path(log_path) if log_path is not None else None
        self.registry, self.breaker, self.now = registry, breaker or CircuitBreaker(), now
        self.failover_on = frozenset(failover_on)
        self._providers: dict[str, Provider] = {}
        self._inputs: dict[tuple[str, str], RuleInputs] = {}
        self._suite_specs: dict[str, tuple[Any, Path]] | None = None

    def _provider(self, model_id: str) -> Provider:
        if model_id not in self._providers:
            self._providers[model_id] = create_provider(self.models.get(model_id), self.registry)
        return self._providers[model_id]

    def _specs(self) -> dict[str, tuple[Any, Path]]:
        """Every readable suite spec under ``suites_dir``, read once (a broken one is warned about and left out)."""
        if self._suite_specs is None:
            self._suite_specs = {}
            for path in discover(self.suites_dir) if self.suites_dir.is_dir() else []:
                try:
                    spec = load_suite(path)
                except ConfigError as exc:
                    logger.warning("suite left out of runtime inputs: %s", exc)
                    continue
                self._suite_specs[spec.name] = (spec, path)
        return self._suite_specs

    def rule_inputs(self, rule_id: str, prompt: str) -> RuleInputs:
        """The suite whose inputs build ``rule_id``'s requests (loaded once; examples are not loaded)."""
        key = (rule_id, prompt)
        if key in self._inputs:
            return self._inputs[key]
        from evals.policy.evidence import rule_suites

        specs = self._specs() if self.policy is not None else {}
        linked = rule_suites(self.policy, [s for s, _ in specs.values()]).get(rule_id, []) if specs else []
        same_prompt = [s for s in linked if s.prompt == prompt]
        chosen = (same_prompt or linked)[:1]
        if not chosen:
            note = (f"rule {rule_id!r} has no suite (none names it with `rule:` or matches it by shape): its "
                    "requests are built from the caller's inputs only")
            logger.warning("%s", note)
            inputs = RuleInputs(None, note)
        else:
            spec = chosen[0]
            how = "names it" if spec.rule == rule_id else "matches it by shape"
            note = f"inputs of suite {spec.name!r} ({how})"
            if spec.prompt != prompt:
                note += f"; the suite evaluated prompt {spec.prompt!r}, the rule ships {prompt!r}"
                logger.warning("rule %r: %s", rule_id, note)
            if len(same_prompt) > 1:
                note += f"; {len(same_prompt)} suites qualify, the first by name is used"
            inputs = RuleInputs(open_suite(specs[spec.name][1], with_examples=False), note)
        self._inputs[key] = inputs
        return inputs

    def request(self, spec: ModelSpec, prompt: str, variables: dict[str, Any],
                suite: Suite | None, task: str | None = None) -> tuple[PromptTemplate, RenderedPrompt]:
        """The template and request ``spec`` gets for ``prompt``: the runner's request for the same inputs.

        ``task`` (the caller's descriptor's) decides whether the answer's confidence is asked for when there is
        no suite; with one, the suite's task does, as in the runner."""
        template = variant_for(self.prompts_dir, prompt, spec.id, spec.family)
        return template, build_request(template, suite_variables(suite, variables), suite.schema if suite else None,
                                       suite.tools if suite else None, task=suite.spec.task if suite else task)

    async def complete(self, descriptor: TaskDescriptor | dict[str, Any], variables: dict[str, Any],
                       **overrides: Any) -> Completion:
        """Route ``descriptor``, build each model's request from ``variables`` and call down the chain.

        ``overrides`` go to :meth:`Router.route` (``model``, ``fallbacks``, ``forbid_providers``).
        Returns the first answer, or the last error when every model failed. Raises the first
        :class:`~evals.errors.TemplateError` when no model's template renders these inputs.
        """
        desc = descriptor.model_dump() if isinstance(descriptor, TaskDescriptor) else TaskDescriptor(**descriptor).model_dump()
        try:
            decision = self.router.route(**desc, **overrides)
        except NoRoute as exc:
            raise UsageError(str(exc)) from None
        if decision.prompt is None:
            raise ConfigError(self.router.source, f"rule {decision.rule!r} names no prompt; add `prompt:` to it")
        inputs = self.rule_inputs(decision.rule, decision.prompt)
        suite_name = inputs.suite.name if inputs.suite else None
        call_id, records, notes = uuid.uuid4().hex[:16], [], [inputs.note]
        last: GenerateResponse | None = None  # the last response received: the answer, or the last failure
        answered_by: str | None = None
        unaccepted: GenerateResponse | None = None
        render_errors: list[TemplateError] = []
        try:
            for number, cand in enumerate(decision.chain, start=1):
                spec = self.models.get(cand.model)
                record = {"format_version": LOG_FORMAT, "time": self.now().isoformat(), "call_id": call_id,
                          "descriptor": desc, "rule": decision.rule, "suite": suite_name, "model": spec.id,
                          "family": spec.family, "provider": spec.provider, "prompt": decision.prompt,
                          "variant": None, "attempt": number, "outcome": None, "final": False,
                          "input_tokens": None, "output_tokens": None, "cache_read_tokens": None,
                          "cost_usd": None, "latency_ms": None, "confidence": None,
                          "accept_if": cand.accept_confidence}
                records.append(record)
                if not self.breaker.acquire(spec.id):
                    record["outcome"] = CIRCUIT_OPEN
                    continue
                response = await self._attempt(spec, decision, variables, inputs.suite, call_id, record, render_errors,
                                               desc["task"])
                if response is None:
                    notes.append(f"skipped {spec.id}: {render_errors[-1]}")
                    continue
                last = response
                if response.ok and cand.accept_confidence is not None and not (
                        record["confidence"] is not None and record["confidence"] >= cand.accept_confidence):
                    record["outcome"] = ESCALATED
                    unaccepted = response
                    shown = "no confidence" if record["confidence"] is None else f"confidence {record['confidence']:.3f}"
                    notes.append(f"escalated from {spec.id}: {shown}, below {cand.accept_confidence:g}")
                    continue
                if response.ok:
                    answered_by = spec.id
                    break
                if response.error not in self.failover_on:
                    break
        finally:
            if records:
                records[-1]["final"] = True
            log_error = self._write_log(records)
        if last is None and render_errors:
            raise render_errors[0]
        answer = last if answered_by is not None else None
        if answer is None and last is not None and last.ok:  # only passed-on answers came back
            last = None
        return Completion(text=answer.text if answer is not None else "", model=answered_by, decision=decision,
                          response=last, attempts=records, suite=suite_name,
                          notes=notes + ([log_error] if log_error else []), log_error=log_error,
                          unaccepted=unaccepted)

    async def _attempt(self, spec: ModelSpec, decision: Decision, variables: dict[str, Any], suite: Suite | None,
                       call_id: str, record: dict[str, Any], render_errors: list[TemplateError],
                       task: str | None = None) -> GenerateResponse | None:
        """One model's try: build its request and call it; None when its template cannot serve these inputs."""
        try:
            template, rendered = self.request(spec, decision.prompt, variables, suite, task)
            record["variant"] = template.variant
            provider = self._provider(spec.id)
            if template.mode == "completion" and not provider.supports_completion:
                raise TemplateError(template.path, f"a completion template, but {spec.id} ({spec.provider}) only "
                                                   f"takes chat messages; add a chat variant {spec.id}.j2")
        except ProviderUnavailable as exc:
            response = GenerateResponse(error=ErrorKind.UNAVAILABLE, error_message=str(exc))
        except ConfigError as exc:  # TemplateError included: this model's variant cannot take these inputs
            self.breaker.release(spec.id)
            error = exc if isinstance(exc, TemplateError) else TemplateError(exc.path, exc.message, line=exc.line)
            logger.warning("rule %r: skipping %s: %s", decision.rule, spec.id, error)
            render_errors.append(error)
            record["outcome"] = RENDER_ERROR
            return None
        else:
            started = time.perf_counter()
            try:
                response = await self._call(provider, rendered, call_id)
            except BaseException:  # cancelled mid-call: free a half-open circuit's trial
                self.breaker.release(spec.id)
                raise
            if response.latency_ms is None:
                response.latency_ms = (time.perf_counter() - started) * 1000
        self.breaker.record(spec.id, response.ok or response.error in REQUEST_FAILURES)
        cost = response_cost(spec, response) if billable(response.ok, response.input_tokens) else None
        record.update(outcome="ok" if response.ok else response.error.value, input_tokens=response.input_tokens,
                      output_tokens=response.output_tokens, cache_read_tokens=response.cache_read_tokens,
                      cache_write_tokens=response.cache_write_tokens,
                      cost_usd=cost.usd if cost else None,
                      latency_ms=round(response.latency_ms, 3) if response.latency_ms is not None else None,
                      confidence=answer_confidence(response) if response.ok else None)
        return response

    @staticmethod
    async def _call(provider: Provider, rendered: RenderedPrompt, call_id: str) -> GenerateResponse:
        try:
            return await provider.generate(GenerateRequest(prompt=rendered, request_id=call_id))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a provider bug is this model's failure; the next model may still serve
            return GenerateResponse(error=ErrorKind.UNKNOWN, error_message=f"{type(exc).__name__}: {exc}"[:500])

    def _write_log(self, records: list[dict[str, Any]]) -> str | None:
        """Append the call's lines; a failure is logged and returned, never raised (the answer is paid for)."""
        if self.log_path is None:
            return None
        try:
            append_log(self.log_path, *scrub_data(records, key_vars(self.models)))
        except (OSError, ValueError, TypeError) as exc:
            message = (f"routing log {self.log_path} not written ({type(exc).__name__}: {exc}); "
                       f"{len(records)} line(s) lost, the answer is returned")
            logger.warning(message)
            return message
        return None

    async def aclose(self) -> None:
        for provider in self._providers.values():
            await provider.aclose()
        self._providers.clear()


async def complete(descriptor: TaskDescriptor | dict[str, Any], variables: dict[str, Any], *, router: Router,
                   client: Client | None = None, **options: Any) -> Completion:
    """One-off completion; pass a long-lived ``client`` to keep providers and the circuit breaker across calls.

    ``options`` are :class:`Client` settings (``log_path``, ``registry``, ...) or router overrides.
    """
    overrides = {k: options.pop(k) for k in ("model", "fallbacks", "forbid_providers") if k in options}
    own = client is None
    client = client or Client(router, **options)
    try:
        return await client.complete(descriptor, variables, **overrides)
    finally:
        if own:
            await client.aclose()


def complete_sync(descriptor: TaskDescriptor | dict[str, Any], variables: dict[str, Any], *, router: Router,
                  **options: Any) -> Completion:
    """Synchronous edge of :func:`complete` (runs its own event loop)."""
    return asyncio.run(complete(descriptor, variables, router=router, **options))
