"""Runtime completion with failover, a circuit breaker and an append-only routing log.

:class:`Client` asks the :class:`~evals.router.Router` for a decision, renders the chosen model's own
prompt variant, calls it through its provider and, when the provider fails in a way another model may
not (rate limit, timeout, 5xx, connection, refusal, unavailable), fails over along the chain, each
model rendering its own variant. A model that fails ``threshold`` times in a row is skipped for
``cooldown_s`` seconds. Every attempt appends one JSON line to the routing log::

    {"format_version": 1, "time": "...", "call_id": "...", "descriptor": {...}, "rule": "...",
     "model": "...", "family": "...", "provider": "...", "attempt": 1, "outcome": "ok",
     "final": true, "input_tokens": 12, "output_tokens": 3, "cost_usd": 1.2e-05, "latency_ms": 80.1}

The log never holds the prompt variables, the rendered prompt, the answer or any key. The async API is
the core; :func:`complete_sync` is the edge for synchronous callers.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

from evals.config.descriptor import TaskDescriptor
from evals.config.models import ModelsFile, load_models
from evals.config.policy import load_policy
from evals.costs import response_cost
from evals.errors import ConfigError, ProviderUnavailable, UsageError
from evals.prompts import load_template, render, resolve_variant
from evals.providers import ErrorKind, GenerateRequest, GenerateResponse, Provider, ProviderRegistry, create_provider
from evals.router import Decision, NoRoute, Router

LOG_FORMAT = 1
FAILOVER_ON = frozenset({ErrorKind.RATE_LIMITED, ErrorKind.TIMEOUT, ErrorKind.SERVER_ERROR, ErrorKind.CONNECTION,
                         ErrorKind.REFUSED, ErrorKind.UNAVAILABLE})
CIRCUIT_OPEN = "circuit_open"


def load_router(policy_path: Path, models_path: Path | None = None, prompts_dir: Path | None = None) -> Router:
    """Validate the policy (and models.yaml) through the typed config, then build the router.

    Errors name file, line and field; a rule naming a model missing from models.yaml is a ConfigError.
    """
    load_policy(Path(policy_path))
    if models_path is not None:
        load_models(Path(models_path))
    try:
        router = Router.from_file(policy_path, models_path, prompts_dir)
    except ValueError as exc:
        raise ConfigError(policy_path, str(exc).removeprefix(f"{policy_path}: ")) from None
    router.models_path = Path(models_path) if models_path is not None else None
    return router


class CircuitBreaker:
    """Skip a model after ``threshold`` consecutive failures, for ``cooldown_s`` seconds.

    After the cool-down one trial call goes through; a failure opens the circuit again at once, a
    success closes it. ``clock`` returns seconds (injectable for tests).
    """

    def __init__(self, threshold: int = 3, cooldown_s: float = 30.0, clock: Callable[[], float] = time.monotonic):
        self.threshold, self.cooldown_s, self.clock = threshold, cooldown_s, clock
        self._failures: dict[str, int] = {}
        self._opened: dict[str, float] = {}

    def is_open(self, model: str) -> bool:
        """Whether ``model`` is cooling down and should be skipped."""
        if self._failures.get(model, 0) < self.threshold:
            return False
        return self.clock() - self._opened[model] < self.cooldown_s

    def record(self, model: str, ok: bool) -> None:
        if ok:
            self._failures.pop(model, None)
            self._opened.pop(model, None)
            return
        self._failures[model] = self._failures.get(model, 0) + 1
        if self._failures[model] >= self.threshold:
            self._opened[model] = self.clock()


@dataclass
class Completion:
    """What :meth:`Client.complete` returns: the answer (or the last error) and how it was reached."""

    text: str
    model: str | None
    decision: Decision
    response: GenerateResponse | None
    attempts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.response is not None and self.response.ok

    @property
    def failed_over(self) -> bool:
        return self.model is not None and self.model != self.decision.model


def append_log(path: Path, record: dict[str, Any]) -> None:
    """Append one JSON line with a single ``O_APPEND`` write, so concurrent writers never interleave."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


class Client:
    """Completes calls routed by ``router`` (built by :func:`load_router` with a models file and prompts folder).

    Args:
        router: the router; its ``models_path`` and ``prompts_dir`` are used unless given here.
        log_path: the routing log (JSON lines); None keeps no log.
        registry: provider registry (tests pass one).
        breaker: a shared :class:`CircuitBreaker`; a fresh one by default.
        failover_on: error kinds that move to the next model.
        now: wall clock for the log's ``time`` (injectable for tests).
    """

    def __init__(self, router: Router, *, models: ModelsFile | None = None, prompts_dir: Path | None = None,
                 log_path: Path | None = None, registry: ProviderRegistry | None = None,
                 breaker: CircuitBreaker | None = None, failover_on: Iterable[ErrorKind] = FAILOVER_ON,
                 now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)):
        models_path = getattr(router, "models_path", None)
        if models is None and models_path is None:
            raise UsageError("the client needs models.yaml: build the router with load_router(policy, models, prompts)")
        self.router = router
        self.models = models or load_models(models_path)
        self.prompts_dir = Path(prompts_dir or router.prompts_dir or "prompts")
        self.log_path = Path(log_path) if log_path is not None else None
        self.registry, self.breaker, self.now = registry, breaker or CircuitBreaker(), now
        self.failover_on = frozenset(failover_on)
        self._providers: dict[str, Provider] = {}

    def _provider(self, model_id: str) -> Provider:
        if model_id not in self._providers:
            self._providers[model_id] = create_provider(self.models.get(model_id), self.registry)
        return self._providers[model_id]

    async def complete(self, descriptor: TaskDescriptor | dict[str, Any], variables: dict[str, Any],
                       **overrides: Any) -> Completion:
        """Route ``descriptor``, render and call the chosen model, failing over along the chain.

        ``overrides`` go to :meth:`Router.route` (``model``, ``fallbacks``, ``forbid_providers``).
        Returns the first answer, or the last error when every model failed.
        """
        desc = descriptor.model_dump() if isinstance(descriptor, TaskDescriptor) else TaskDescriptor(**descriptor).model_dump()
        try:
            decision = self.router.route(**desc, **overrides)
        except NoRoute as exc:
            raise UsageError(str(exc)) from None
        if decision.prompt is None:
            raise ConfigError(self.router.source, f"rule {decision.rule!r} names no prompt; add `prompt:` to it")
        call_id, attempts = uuid.uuid4().hex[:16], []
        last: GenerateResponse | None = None
        for number, cand in enumerate(decision.chain, start=1):
            spec = self.models.get(cand.model)
            record = {"format_version": LOG_FORMAT, "time": self.now().isoformat(), "call_id": call_id,
                      "descriptor": desc, "rule": decision.rule, "model": spec.id, "family": spec.family,
                      "provider": spec.provider, "prompt": decision.prompt, "variant": None, "attempt": number,
                      "outcome": None, "final": False, "input_tokens": None, "output_tokens": None,
                      "cost_usd": None, "latency_ms": None}
            if self.breaker.is_open(spec.id):
                record.update(outcome=CIRCUIT_OPEN, final=number == len(decision.chain))
                self._log(record, attempts)
                continue
            tpl = load_template(resolve_variant(self.prompts_dir, decision.prompt, spec.id, spec.family))
            record["variant"] = tpl.variant
            rendered = render(tpl, variables)
            started = time.perf_counter()
            try:
                response = await self._provider(spec.id).generate(GenerateRequest(prompt=rendered, request_id=call_id))
            except ProviderUnavailable as exc:
                response = GenerateResponse(error=ErrorKind.UNAVAILABLE, error_message=str(exc))
            if response.latency_ms is None:
                response.latency_ms = (time.perf_counter() - started) * 1000
            cost = response_cost(spec, response) if response.ok or response.input_tokens else None
            record.update(outcome="ok" if response.ok else response.error.value,
                          input_tokens=response.input_tokens, output_tokens=response.output_tokens,
                          cost_usd=cost.usd if cost else None, latency_ms=round(response.latency_ms, 3))
            if response.ok or response.error in self.failover_on:  # a bad request is the caller's, not the model's
                self.breaker.record(spec.id, response.ok)
            last = response
            more = not response.ok and response.error in self.failover_on and number < len(decision.chain)
            record["final"] = not more
            self._log(record, attempts)
            if not more:
                break
        answered = last is not None and last.ok
        return Completion(text=last.text if answered else "", model=attempts[-1]["model"] if answered else None,
                          decision=decision, response=last, attempts=attempts)

    def _log(self, record: dict[str, Any], attempts: list[dict[str, Any]]) -> None:
        attempts.append(record)
        if self.log_path is not None:
            append_log(self.log_path, record)

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
