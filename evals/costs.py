"""Cost of a call: price x usage for APIs, hourly rate x busy time for self-hosted models.

Pure functions. An unknown price is ``None`` with a warning, never a silent $0.

Assumptions (stated again by :func:`price_info`, which the aggregates and the report carry):

- API models priced ``auto`` take input, output and cache-read prices from the genai-prices package's
  bundled snapshot; a model genai-prices does not know is unpriced (null + warning), and one it marks
  deprecated is priced but flagged as possibly stale. Batch calls pay ``batch_discount`` of the price
  (explicit prices) or half (``auto``; both OpenAI Batch and Anthropic Message Batches charge 50%).
- Self-hosted models cost ``hourly_usd x measured busy time / parallel_requests``: the latency of each
  call is the time it held one of the machine's ``parallel_requests`` slots, and the machine is assumed
  to be paid for only while busy (full utilisation). Idle time is not charged, so this is a lower bound.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from evals.config.models import ModelSpec

_GENAI_PROVIDER = {"anthropic": "anthropic", "openai": "openai"}


@dataclass(frozen=True)
class Cost:
    usd: float | None
    warning: str | None = None


def token_cost(input_tokens: int, output_tokens: int, input_per_mtok: float, output_per_mtok: float,
               cache_read_tokens: int = 0, cache_read_per_mtok: float | None = None) -> float:
    """Dollar cost of one call from per-million-token prices.

    >>> round(token_cost(1000, 500, 3.0, 15.0), 6)
    0.0105
    """
    uncached = input_tokens - (cache_read_tokens if cache_read_per_mtok is not None else 0)
    cost = uncached * input_per_mtok + output_tokens * output_per_mtok
    if cache_read_per_mtok is not None:
        cost += cache_read_tokens * cache_read_per_mtok
    return cost / 1_000_000


def self_hosted_cost(latency_ms: float, hourly_usd: float, parallel_requests: int = 1) -> float:
    """A call's share of the serving machine's hour: busy time / parallel slots x hourly rate.

    >>> self_hosted_cost(3600.0, 1.0)
    0.001
    """
    return hourly_usd * (latency_ms / 1000 / 3600) / parallel_requests


@lru_cache(maxsize=256)
def _genai_price(model: str, provider: str | None, input_tokens: int, output_tokens: int, cache_read: int) -> float | None:
    try:
        import genai_prices
    except ImportError:  # pragma: no cover - genai-prices is a core dependency
        return None
    usage = genai_prices.Usage(input_tokens=input_tokens, output_tokens=output_tokens,
                               cache_read_tokens=cache_read or None)
    try:
        result = genai_prices.calc_price(usage, model, provider_id=provider)
    except LookupError:
        return None
    except Exception:  # genai-prices raises its own errors for unknown models or providers
        return None
    return float(result.total_price)


def call_cost(spec: ModelSpec, input_tokens: int | None, output_tokens: int | None, latency_ms: float | None,
              cache_read_tokens: int | None = None, batch: bool = False) -> Cost:
    """What one call cost, or ``Cost(None, warning)`` when it cannot be known."""
    p = spec.pricing
    if p.self_hosted is not None:
        if latency_ms is None:
            return Cost(None, f"{spec.id}: no latency measured, cannot price self-hosted time")
        return Cost(self_hosted_cost(latency_ms, p.self_hosted.hourly_usd, p.self_hosted.parallel_requests))
    if input_tokens is None or output_tokens is None:
        return Cost(None, f"{spec.id}: provider reported no token usage")
    if p.tokens is not None:
        t = p.tokens
        usd = token_cost(input_tokens, output_tokens, t.input_per_mtok, t.output_per_mtok,
                         cache_read_tokens or 0, t.cache_read_per_mtok)
        return Cost(usd * (t.batch_discount if batch else 1.0))
    usd = _genai_price(spec.model, _GENAI_PROVIDER.get(spec.provider), input_tokens, output_tokens, cache_read_tokens or 0)
    if usd is None:
        return Cost(None, f"{spec.id}: genai-prices has no price for {spec.model!r}; set pricing.tokens in models.yaml")
    return Cost(usd * (0.5 if batch else 1.0))


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
        note = (f"self-hosted: ${sh.hourly_usd:g}/h x measured busy time / {sh.parallel_requests} parallel "
                f"request(s); idle time not charged")
        return PriceInfo("self-hosted", note + (f" ({sh.note})" if sh.note else ""))
    if p.tokens is not None:
        t = p.tokens
        cache = f", cache read ${t.cache_read_per_mtok:g}" if t.cache_read_per_mtok is not None else ""
        return PriceInfo("tokens", f"models.yaml prices per MTok: input ${t.input_per_mtok:g}, output "
                                   f"${t.output_per_mtok:g}{cache}; batch pays {t.batch_discount:g}x")
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
