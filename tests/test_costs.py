"""Cost model: token prices, genai-prices lookup, self-hosted time, and unknown prices as null + warning."""

from __future__ import annotations

import pytest

from evals.config.models import ModelSpec, load_models
from evals.costs import call_cost, price_info, response_cost, self_hosted_cost, token_cost
from evals.errors import ConfigError


def spec(**pricing) -> ModelSpec:
    provider = pricing.pop("provider", "openai")
    model = pricing.pop("model", "gpt-4o")
    return ModelSpec(id="m", provider=provider, model=model, family="f", context_window=8,
                     pricing=pricing or "auto")


def test_token_cost_by_hand():
    assert token_cost(1000, 500, 3.0, 15.0) == pytest.approx((1000 * 3 + 500 * 15) / 1e6)
    # 400 of the 1000 input tokens read from the cache at $0.3/MTok
    assert token_cost(1000, 0, 3.0, 15.0, 400, 0.3) == pytest.approx((600 * 3 + 400 * 0.3) / 1e6)


def test_explicit_prices_and_batch_price_share():
    s = spec(tokens={"input_per_mtok": 2.0, "output_per_mtok": 8.0, "batch_price_share": 0.25})
    assert call_cost(s, 1_000_000, 0, None).usd == pytest.approx(2.0)
    assert call_cost(s, 1_000_000, 0, None, batch=True).usd == pytest.approx(0.5)  # pays a quarter
    assert price_info(s).basis == "tokens" and price_info(s).warning is None
    assert "batch pays 0.25x" in price_info(s).note
    default = spec(tokens={"input_per_mtok": 2.0, "output_per_mtok": 8.0})
    assert call_cost(default, 1_000_000, 0, None, batch=True).usd == pytest.approx(1.0)


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


# --- cache writes -------------------------------------------------------------------------------------


def test_anthropic_cache_writes_cost_more_than_input():
    """A write-heavy Anthropic call: 8,000 of 10,000 prompt tokens written to the cache (claude-sonnet-4-6:
    $3 input, $3.75 cache write, $15 output per MTok). Billing writes at the input rate was 16% low."""
    s = spec(provider="anthropic", model="claude-sonnet-4-6")
    cost = call_cost(s, 10_000, 100, 500.0, cache_write_tokens=8000)
    expected = (2000 * 3 + 8000 * 3.75 + 100 * 15) / 1e6
    assert cost.usd == pytest.approx(expected) and cost.warning is None
    at_input_rate = (10_000 * 3 + 100 * 15) / 1e6
    assert at_input_rate / expected == pytest.approx(0.84)
    both = call_cost(s, 10_000, 0, 500.0, cache_read_tokens=1000, cache_write_tokens=8000)
    assert both.usd == pytest.approx((1000 * 3 + 1000 * 0.3 + 8000 * 3.75) / 1e6)
    assert call_cost(s, 10_000, 0, 500.0, batch=True, cache_write_tokens=10_000).usd == pytest.approx(0.0375 / 2)


def test_a_parsed_anthropic_reply_is_priced_with_its_cache_writes():
    from evals.providers.anthropic import parse_message
    from tests.providers.wire import anthropic_message

    response = parse_message(anthropic_message(cache_write=900), json_output=False, wrapped=False, latency_ms=10.0)
    s = spec(provider="anthropic", model="claude-sonnet-4-6")
    # usage: 100 uncached input tokens + 900 written to the cache, 5 output tokens
    assert response_cost(s, response).usd == pytest.approx((100 * 3 + 900 * 3.75 + 5 * 15) / 1e6)


def test_explicit_cache_write_price_is_used():
    s = spec(tokens={"input_per_mtok": 3.0, "output_per_mtok": 15.0, "cache_read_per_mtok": 0.3,
                     "cache_write_per_mtok": 3.75})
    cost = call_cost(s, 10_000, 0, None, cache_read_tokens=1000, cache_write_tokens=8000)
    assert cost.usd == pytest.approx((1000 * 3 + 1000 * 0.3 + 8000 * 3.75) / 1e6) and cost.warning is None
    assert "cache write $3.75" in price_info(s).note
    unset = spec(tokens={"input_per_mtok": 3.0, "output_per_mtok": 15.0})
    cost = call_cost(unset, 10_000, 0, None, cache_write_tokens=8000)
    assert cost.usd == pytest.approx(0.03) and "cache_write_per_mtok" in cost.warning


# --- batch_discount renamed ------------------------------------------------------------------------------


def test_old_batch_discount_key_is_refused_naming_the_new_one(tmp_path):
    path = tmp_path / "models.yaml"
    path.write_text(
        "format_version: 1\n"
        "models:\n"
        "  - id: m\n"
        "    provider: openai\n"
        "    model: gpt-4o\n"
        "    family: gpt\n"
        "    context_window: 8192\n"
        "    pricing:\n"
        "      tokens:\n"
        "        input_per_mtok: 1.0\n"
        "        output_per_mtok: 2.0\n"
        "        batch_discount: 0.5\n"
    )
    with pytest.raises(ConfigError) as err:
        load_models(path)
    message = str(err.value)
    assert message.startswith(f"{path}:12:") and "batch_discount" in message
    assert "batch_price_share: 0.5" in message and "share of the price paid" in message


# --- in-process vLLM: one batch's busy time, shared ----------------------------------------------------


class _FakeCompletion:
    def __init__(self, text: str):
        self.text, self.token_ids, self.finish_reason = text, [1, 2, 3], "stop"


class _FakeOutput:
    def __init__(self, text: str):
        self.outputs, self.prompt_token_ids = [_FakeCompletion(text)], [1] * 10


class _FakeLLM:
    """Stands in for ``vllm.LLM``: one engine call takes 50 ms whatever its size, like a GPU batch."""

    def __init__(self):
        self.calls: list[int] = []

    def chat(self, conversations, params, use_tqdm=False):
        import time

        self.calls.append(len(conversations))
        time.sleep(0.05)
        return [_FakeOutput("ok") for _ in conversations]


async def test_vllm_batch_is_billed_once_not_once_per_request(monkeypatch):
    import asyncio

    from evals.prompts import RenderedPrompt
    from evals.providers import vllm
    from evals.providers.base import GenerateRequest

    monkeypatch.setattr(vllm, "sampling_params", lambda request: None)  # no vllm installed here
    s = ModelSpec(id="v", provider="vllm", model="some/model", family="f", context_window=8192,
                  options={"batch_wait_s": 0.2}, pricing={"self_hosted": {"hourly_usd": 3.6}})
    provider = vllm.VllmProvider(s)
    provider._llm = engine = _FakeLLM()
    prompt = RenderedPrompt(messages=({"role": "user", "content": "hi"},), prompt=None, max_tokens=4, temperature=0)
    responses = await asyncio.gather(*(provider.generate(GenerateRequest(prompt)) for _ in range(64)))
    await provider.aclose()
    assert engine.calls == [64]
    wall = responses[0].latency_ms
    assert wall >= 50 and all(r.latency_ms == wall for r in responses)  # each waited the whole batch
    assert all(r.busy_ms == pytest.approx(wall / 64) for r in responses)
    total = sum(response_cost(s, r).usd for r in responses)
    assert total == pytest.approx(self_hosted_cost(wall, 3.6))  # the machine's time, once
    # pricing each request at its latency bills the batch 64 times
    assert sum(call_cost(s, r.input_tokens, r.output_tokens, r.latency_ms).usd for r in responses) \
        == pytest.approx(64 * total)
    assert "shared by its requests" in price_info(s).note
