"""Cost of a call: price x usage for APIs, hourly rate x busy time for self-hosted models.

Pure functions. An unknown price is ``None`` with a warning, never a silent $0. Every call (model and
judge) is priced by :func:`call_cost`, through :func:`response_cost` where there is a response.

Rules (stated again by :func:`price_info`, which the aggregates and the report carry):

- **Tokens.** ``input_tokens`` counts every prompt token, cached or not (providers report it so).
  Cache reads are billed at the cache-read price, cache writes at the cache-write price, the rest of the
  input at the input price, output at the output price. Models priced ``auto`` take all four prices
  from the genai-prices package's bundled snapshot (Anthropic's cache writes cost 1.25x input there);
  a model it does not know is unpriced (null + warning), one it marks deprecated is priced but flagged
  as possibly stale. Explicit ``pricing.tokens`` without ``cache_write_per_mtok`` bill writes at the
  input price (right for OpenAI, which charges no write premium) and say so in a warning.
- **Batch.** A batch call pays ``batch_price_share`` of the price (explicit prices; default 0.5) or
  half (``auto``: OpenAI Batch and Anthropic Message Batches both charge 50%).
- **Self-hosted.** ``hourly_usd x busy time``. A call's busy time is its share of the serving machine:
  where the provider measures it (``GenerateResponse.busy_ms``: in-process vLLM divides each engine
  batch's wall time equally over the requests of that batch, so a batch of 64 is billed once, not 64
  times) that share is used as it is; otherwise the call's latency divided by ``parallel_requests``,
  the requests a server runs at once (the harness cannot see a remote server's batches). The machine
  is assumed paid only while busy (full utilisation): idle time is not charged, a lower bound.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from evals.config.models import ModelSpec

if TYPE_CHECKING:  # pragma: no cover
    from evals.providers.base import GenerateResponse

_GENAI_PROVIDER = {"anthropic": "anthropic", "openai": "openai"}


@dataclass(frozen=True)
class Cost:
    usd: float | None
    warning: str | None = None


def token_cost(input_tokens: int, output_tokens: int, input_per_mtok: float, output_per_mtok: float,
               cache_read_tokens: int = 0, cache_read_per_mtok: float | None = None,
               cache_write_tokens: int = 0, cache_write_per_mtok: float | None = None) -> float:
    """Dollar cost of one call from per-million-token prices.

    ``input_tokens`` includes the cached ones; cache reads and writes without a price of their own
    are billed at the input price.

    >>> round(token_cost(1000, 500, 3.0, 15.0), 6)
    0.0105
    >>> round(token_cost(10_000, 0, 3.0, 15.0, cache_write_tokens=8000, cache_write_per_mtok=3.75), 6)
    0.036
    """
    read = cache_read_tokens if cache_read_per_mtok is not None else 0
    write = cache_write_tokens if cache_write_per_mtok is not None else 0
    cost = (input_tokens - read - write) * input_per_mtok + output_tokens * output_per_mtok
    cost += read * (cache_read_per_mtok or 0.0) + write * (cache_write_per_mtok or 0.0)
    return cost / 1_000_000


def self_hosted_cost(latency_ms: float, hourly_usd: float, parallel_requests: int = 1) -> float:
    """A call's share of the serving machine's hour: busy time / parallel slots x hourly rate.

    >>> self_hosted_cost(3600.0, 1.0)
    0.001
    """
    return hourly_usd * (latency_ms / 1000 / 3600) / parallel_requests


@lru_cache(maxsize=256)
def _genai_price(model: str, provider: str | None, input_tokens: int, output_tokens: int, cache_read: int,
                 cache_write: int = 0) -> float | None:
    try:
        import genai_prices
    except ImportError:  # pragma: no cover - genai-prices is a core dependency
        return None
    usage = genai_prices.Usage(input_tokens=input_tokens, output_tokens=output_tokens,
                               cache_read_tokens=cache_read or None, cache_write_tokens=cache_write or None)
    try:
        result = genai_prices.calc_price(usage, model, provider_id=provider)
    except LookupError:
        return None
    except Exception:  # genai-prices raises its own errors for unknown models or providers
        return None
    return float(result.total_price)


def call_cost(spec: ModelSpec, input_tokens: int | None, output_tokens: int | None, latency_ms: float | None,
              cache_read_tokens: int | None = None, batch: bool = False, cache_write_tokens: int | None = None,
              busy_ms: float | None = None) -> Cost:
    """What one call cost, or ``Cost(None, warning)`` when it cannot be known (rules: module docstring).

    ``busy_ms`` is the call's own share of a self-hosted machine where the provider measured it
    (``GenerateResponse.busy_ms``); without it the latency is shared by ``parallel_requests``.
    """
    p = spec.pricing
    if p.self_hosted is not None:
        sh = p.self_hosted
        if busy_ms is not None:
            return Cost(self_hosted_cost(busy_ms, sh.hourly_usd))
        if latency_ms is None:
            return Cost(None, f"{spec.id}: no latency measured, cannot price self-hosted time")
        return Cost(self_hosted_cost(latency_ms, sh.hourly_usd, sh.parallel_requests))
    if input_tokens is None or output_tokens is None:
        return Cost(None, f"{spec.id}: provider reported no token usage")
    read, write = cache_read_tokens or 0, cache_write_tokens or 0
    if p.tokens is not None:
        t = p.tokens
        usd = token_cost(input_tokens, output_tokens, t.input_per_mtok, t.output_per_mtok,
                         read, t.cache_read_per_mtok, write, t.cache_write_per_mtok)
        warning = None
        if write and t.cache_write_per_mtok is None:
            warning = (f"{spec.id}: {write} cache-write tokens billed at the input price; set "
                       f"pricing.tokens.cache_write_per_mtok if the provider charges more for them")
        return Cost(usd * (t.batch_price_share if batch else 1.0), warning)
    usd = _genai_price(spec.model, _GENAI_PROVIDER.get(spec.provider), input_tokens, output_tokens, read, write)
    if usd is None:
        return Cost(None, f"{spec.id}: genai-prices has no price for {spec.model!r}; set pricing.tokens in models.yaml")
    return Cost(usd * (0.5 if batch else 1.0))


def response_cost(spec: ModelSpec, response: "GenerateResponse", *, batch: bool = False) -> Cost:
    """:func:`call_cost` of one provider response, with every usage field it reports (tokens, cache
    reads and writes, latency, measured busy time): the way the runner, the judge and the client
    price a call, so a usage field is never priced in one place and dropped in another."""
    return call_cost(spec, response.input_tokens, response.output_tokens, response.latency_ms,
                     response.cache_read_tokens, batch=batch, cache_write_tokens=response.cache_write_tokens,
                     busy_ms=response.busy_ms)


@dataclass(frozen=True)
class PriceInfo:
    """How a model is priced, for reports: ``basis`` is ``tokens``, ``genai-prices``, ``self-hosted`` or
    ``unknown``; ``note`` states the assumption in words; ``warning`` is set when the price is unknown or
    possibly stale."""

    basis: str
    note: str
    warning: str | None = None


def price_info(spec: ModelSpec) -> PriceInfo:
    """Describe a model's pricing and whether it can be trusted.

    >>> from evals.config.models import ModelSpec
    >>> spec = ModelSpec(id="m", provider="fake", model="m", family="f", context_window=8,
    ...                  pricing={"self_hosted": {"hourly_usd": 3.6}})
    >>> price_info(spec).note
    'self-hosted: $3.6/h x measured busy time / 1 parallel request(s); idle time not charged'
    """
    p = spec.pricing
    if p.self_hosted is not None:
        sh = p.self_hosted
        share = ("each engine batch's busy time shared by its requests" if spec.provider == "vllm" else
                 f"measured busy time / {sh.parallel_requests} parallel request(s)")
        note = f"self-hosted: ${sh.hourly_usd:g}/h x {share}; idle time not charged"
        return PriceInfo("self-hosted", note + (f" ({sh.note})" if sh.note else ""))
    if p.tokens is not None:
        t = p.tokens
        cache = f", cache read ${t.cache_read_per_mtok:g}" if t.cache_read_per_mtok is not None else ""
        cache += f", cache write ${t.cache_write_per_mtok:g}" if t.cache_write_per_mtok is not None else ""
        return PriceInfo("tokens", f"models.yaml prices per MTok: input ${t.input_per_mtok:g}, output "
                                   f"${t.output_per_mtok:g}{cache}; batch pays {t.batch_price_share:g}x")
    found = _genai_model(spec.model, _GENAI_PROVIDER.get(spec.provider))
    if found is None:
        return PriceInfo("unknown", "no price",
                         f"{spec.id}: genai-prices has no price for {spec.model!r}; set pricing.tokens in models.yaml")
    model_id, deprecated, prices = found
    note = f"genai-prices {_genai_version()} bundled prices ({model_id}): {prices}; batch pays 0.5x"
    if deprecated:
        return PriceInfo("genai-prices", note, f"{spec.id}: genai-prices marks {model_id!r} deprecated; its price "
                                               f"may be stale, set pricing.tokens in models.yaml to confirm it")
    return PriceInfo("genai-prices", note)


def _genai_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("genai-prices")
    except PackageNotFoundError:  # pragma: no cover
        return "?"


@lru_cache(maxsize=64)
def _genai_model(model: str, provider: str | None) -> tuple[str, bool, str] | None:
    try:
        import genai_prices
    except ImportError:  # pragma: no cover - genai-prices is a core dependency
        return None
    try:
        result = genai_prices.calc_price(genai_prices.Usage(input_tokens=0, output_tokens=0), model,
                                         provider_id=provider)
    except Exception:  # unknown model or provider
        return None
    return result.model.id, bool(getattr(result.model, "deprecated", False)), str(result.model_price)
