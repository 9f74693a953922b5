"""The one path every model call of a run takes, a candidate's or an LLM judge's.

:class:`CallPath` answers a request from the response cache when it holds an answer; otherwise it sends
the request once (identical requests of one run, i.e. the same cache key, share one call and fan out to
every row that needs it), under the model's concurrency limit, rate limiter and retry policy, and
records the outcome: an answer in the cache, a failure in the attempts journal (see
:mod:`evals.runner.cache`).

:class:`JudgeCaller` is the :class:`~evals.scorers.base.ModelCaller` a scorer gets for one row: it
resolves judge model ids in models.yaml lazily (through the same provider registry), sends each call
down the same path, and prices it with :func:`evals.costs.call_cost` into the row's ``judge_cost_usd``
and ``judge_calls``.
"""

from __future__ import annotations

import asyncio

from evals.config.models import ModelSpec, ModelsFile
from evals.costs import Cost, response_cost
from evals.prompts import RenderedPrompt
from evals.providers import Provider, ProviderRegistry, availability, create_provider
from evals.providers.base import ErrorKind, GenerateRequest, GenerateResponse
from evals.providers.limits import RateLimiter
from evals.providers.retry import reliable_generate
from evals.runner.cache import ResponseCache, prompt_key

def price(spec: ModelSpec, response: GenerateResponse) -> Cost:
    """What one call cost: :func:`evals.costs.response_cost` of its usage (a batch answer at the batch rate)."""
    return response_cost(spec, response, batch=bool(response.extra.get("batch_id")))


async def _guarded(provider: Provider, request: GenerateRequest) -> GenerateResponse:
    try:
        return await provider.generate(request)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # a provider bug becomes a row with an error, not a lost run
        return GenerateResponse(error=ErrorKind.UNKNOWN, error_message=f"{type(exc).__name__}: {exc}"[:500])


class _Unlimited:
    """A semaphore that never waits (no ``--concurrency``: only each model's own limit applies)."""

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc: object) -> None:
        return None


class CallPath:
    """Cache, in-run de-duplication, concurrency, rate limits and retries for every call of one run.

    ``providers`` are the run's candidate models by id; judge models named in ``models`` are created on
    first use through ``registry``. Each model has at most its own ``concurrency`` (models.yaml) calls in
    flight; ``concurrency`` (``--concurrency``) only lowers that, and caps all models together; ``None``
    leaves each model's own. ``use_cache=False`` (``--no-cache``) sends every request again;
    ``reuse_errors`` (``--reuse-errors``) serves a journalled failure instead of asking again.
    """

    def __init__(self, cache: ResponseCache, providers: dict[str, Provider], *, concurrency: int | None = None,
                 use_cache: bool = True, reuse_errors: bool = False, models: ModelsFile | None = None,
                 registry: ProviderRegistry | None = None):
        self.cache = cache
        self.providers: dict[str, Provider] = dict(providers)
        self.concurrency = max(1, concurrency) if concurrency is not None else None
        self.use_cache = use_cache
        self.reuse_errors = reuse_errors
        self.models = models
        self.registry = registry
        #: Calls actually sent to a model in this run (after de-duplication, before retries).
        self.sent = 0
        self._overall = asyncio.Semaphore(self.concurrency) if self.concurrency is not None else _Unlimited()
        self._per_model: dict[str, asyncio.Semaphore] = {}
        self._limiters: dict[str, RateLimiter] = {}
        self._known: dict[str, asyncio.Future] = {}  # key -> the response of this run (pending or done)
        self._looked_up: set[str] = set()  # keys prefetch() already asked the cache for
        self._hits: dict[str, GenerateResponse] = {}  # what prefetch() found
        self._creating: dict[str, asyncio.Task] = {}
        self._unavailable: dict[str, str] = {}

    # -- the cache ------------------------------------------------------------------------------------
    def prefetch(self, keys: list[str]) -> dict[str, GenerateResponse]:
        """Look up many keys at once (a cached re-run makes no per-row queries); later calls of these keys
        are served from memory. Returns what the cache held."""
        if not self.use_cache:
            return {}
        hits = self.cache.get_many(keys, reuse_errors=self.reuse_errors)
        self._looked_up.update(keys)
        self._hits.update(hits)
        return hits

    async def respond(self, provider: Provider, key: str, prompt: RenderedPrompt) -> tuple[GenerateResponse, bool]:
        """``(response, shared)`` for one request; ``shared`` is True when this caller made no new call (a
        cache hit, or an identical request of this run already sent)."""
        if key in self._hits:
            return self._hits[key], True
        known = self._known.get(key)
        if known is not None:
            return await asyncio.shield(known), True
        future = asyncio.get_running_loop().create_future()
        self._known[key] = future
        if self.use_cache and key not in self._looked_up:
            held = self.cache.get(key, reuse_errors=self.reuse_errors)
            if held is not None:
                future.set_result(held)
                return held, True
        try:
            response = await self._send(provider, key, prompt)
        except BaseException as exc:
            del self._known[key]
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, nobody else needs to
            raise
        future.set_result(response)
        return response, False

    async def _send(self, provider: Provider, key: str, prompt: RenderedPrompt) -> GenerateResponse:
        spec = provider.spec
        request = GenerateRequest(prompt, request_id=key[:16])
        async with self._semaphore(provider), self._overall:
            attempt = self.cache.queue_attempt(key, spec.id)
            self.sent += 1
            response = await reliable_generate(provider, request, limiter=self._limiter(spec),
                                               call=lambda r: _guarded(provider, r))
        # the model's slot is free for the next request while the writer thread commits this one; the
        # caller builds its row only once the answer is durable
        await self.cache.commit_record(attempt, key, spec.id, response)
        return response

    def _semaphore(self, provider: Provider) -> asyncio.Semaphore:
        spec = provider.spec
        if spec.id not in self._per_model:
            width = min(spec.concurrency, provider.max_parallel or spec.concurrency,
                        self.concurrency or spec.concurrency)
            self._per_model[spec.id] = asyncio.Semaphore(max(1, width))
        return self._per_model[spec.id]

    def _limiter(self, spec: ModelSpec) -> RateLimiter:
        if spec.id not in self._limiters:
            self._limiters[spec.id] = RateLimiter.for_spec(spec)
        return self._limiters[spec.id]

    # -- judge models -----------------------------------------------------------------------------------
    async def provider(self, model_id: str) -> Provider | str:
        """The provider of ``model_id`` (created on first use), or why it cannot run here."""
        if model_id in self.providers:
            return self.providers[model_id]
        if model_id in self._unavailable:
            return self._unavailable[model_id]
        if model_id not in self._creating:
            self._creating[model_id] = asyncio.get_running_loop().create_task(self._create(model_id))
        await asyncio.shield(self._creating[model_id])
        return self.providers.get(model_id) or self._unavailable[model_id]

    async def _create(self, model_id: str) -> None:
        if self.models is None or model_id not in self.models.ids:
            self._unavailable[model_id] = f"model {model_id!r} is not in models.yaml"
            return
        spec = self.models.get(model_id)
        # availability may probe an endpoint and a GGUF may be assembled: not on the event loop
        state = await asyncio.to_thread(availability, spec, self.registry)
        if not state.ready:
            self._unavailable[model_id] = f"model {model_id} cannot run here: {state.reason}"
            return
        try:
            self.providers[model_id] = await asyncio.to_thread(create_provider, spec, self.registry)
        except Exception as exc:  # unavailable after all (a missing file, a failed assembly)
            self._unavailable[model_id] = f"model {model_id} cannot run here: {exc}"

    def caller(self) -> "JudgeCaller":
        """A fresh :class:`~evals.scorers.base.ModelCaller` for one row."""
        return JudgeCaller(self)

    async def aclose(self) -> None:
        """Close every provider this run used, on the loop that made their clients."""
        for task in self._creating.values():
            if not task.done():
                task.cancel()
        for provider in self.providers.values():
            try:
                await provider.aclose()
            except Exception:
                pass


class JudgeCaller:
    """The ``call`` a scorer gets for one row: ``await call(model_id, prompt)``.

    Tallies what the row's scoring cost: ``calls`` (judge requests the row needed, whether sent now or
    served from the cache, so a re-run's rows equal the first run's) and ``cost_usd``, the sum of their
    :func:`~evals.costs.call_cost` over the priced calls (None when an answered call has no known price,
    or when no call has a price at all; a failed call without usage adds nothing, like a candidate's).
    """

    def __init__(self, path: CallPath):
        self.path = path
        self.calls = 0
        self._cost = 0.0
        self._priced = 0
        self._unknown = False

    async def __call__(self, model_id: str, prompt: RenderedPrompt) -> GenerateResponse:
        provider = await self.path.provider(model_id)
        if isinstance(provider, str):
            return GenerateResponse(error=ErrorKind.UNAVAILABLE, error_message=provider)
        key = prompt_key(provider.cache_identity(), prompt, 0)
        response, _ = await self.path.respond(provider, key, prompt)
        self.calls += 1
        cost = price(provider.spec, response)
        if cost.usd is not None:
            self._cost += cost.usd
            self._priced += 1
        elif response.is_answer:
            self._unknown = True
        return response

    @property
    def cost_usd(self) -> float | None:
        """What the row's judge calls cost; None without priced calls or with an unpriced answer."""
        if not self._priced or self._unknown:
            return None
        return self._cost
