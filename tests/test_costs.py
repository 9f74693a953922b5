"""Cost model: token prices, genai-prices lookup, self-hosted time, and unknown prices as null + warning."""

from __future__ import annotations

import pytest

from evals.config.models import ModelSpec
from evals.costs import call_cost, price_info, self_hosted_cost, token_cost


def spec(**pricing) -> ModelSpec:
    provider = pricing.pop("provider", "openai")
    model = pricing.pop("model", "gpt-4o")
    return ModelSpec(id="m", provider=provider, model=model, family="f", context_window=8,
                     pricing=pricing or "auto")


def test_token_cost_by_hand():
    assert token_cost(1000, 500, 3.0, 15.0) == pytest.approx((1000 * 3 + 500 * 15) / 1e6)
    # 400 of the 1000 input tokens read from the cache at $0.3/MTok
    assert token_cost(1000, 0, 3.0, 15.0, 400, 0.3) == pytest.approx((600 * 3 + 400 * 0.3) / 1e6)


def test_explicit_prices_and_batch_discount():
    s = spec(tokens={"input_per_mtok": 2.0, "output_per_mtok": 8.0, "batch_discount": 0.5})
    assert call_cost(s, 1_000_000, 0, None).usd == pytest.approx(2.0)
    assert call_cost(s, 1_000_000, 0, None, batch=True).usd == pytest.approx(1.0)
    assert price_info(s).basis == "tokens" and price_info(s).warning is None


def test_genai_prices_known_model_matches_its_table():
    s = spec()
    cost = call_cost(s, 1000, 100, 10.0)
    assert cost.usd == pytest.approx(1000 * 2.5 / 1e6 + 100 * 10 / 1e6)  # gpt-4o: $2.5 in, $10 out per MTok
    assert call_cost(s, 1000, 100, 10.0, batch=True).usd == pytest.approx(cost.usd / 2)
    assert price_info(s).basis == "genai-prices"


def test_unknown_price_is_null_with_warning_never_zero():
    s = spec(model="no-such-model-anywhere-123")
    cost = call_cost(s, 1000, 100, 10.0)
    assert cost.usd is None and "genai-prices has no price" in cost.warning
    info = price_info(s)
    assert info.basis == "unknown" and info.warning


def test_self_hosted_hourly_rate_over_busy_time():
    assert self_hosted_cost(1800_000, 2.0) == pytest.approx(1.0)
    assert self_hosted_cost(1800_000, 2.0, parallel_requests=4) == pytest.approx(0.25)
    s = spec(provider="fake", model="x", self_hosted={"hourly_usd": 3.6, "parallel_requests": 2})
    assert call_cost(s, None, None, 1000.0).usd == pytest.approx(3.6 / 3600 / 2)
    assert call_cost(s, None, None, None).usd is None
    assert "busy time" in price_info(s).note
