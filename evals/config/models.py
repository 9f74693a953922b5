"""Typed model of ``policies/models.yaml``: the candidate models."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal, Union

from pydantic import Field, PositiveFloat, PositiveInt, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

from evals.config._yaml import load_yaml_model
from evals.config.base import FORMAT_VERSION, Strict

ProviderName = Literal["anthropic", "openai", "openai-compatible", "vllm", "llama-cpp", "sklearn", "fake"]
_ID = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


class TokenPrices(Strict):
    """Explicit API prices in US dollars per million tokens (how they apply: evals/costs.py)."""

    input_per_mtok: float = Field(ge=0, description="Input tokens not read from or written to the cache.")
    output_per_mtok: float = Field(ge=0)
    cache_read_per_mtok: float | None = Field(
        default=None, ge=0, description="Input tokens read from the prompt cache; unset: the input price.")
    cache_write_per_mtok: float | None = Field(
        default=None, ge=0, description="Input tokens written to the prompt cache (Anthropic: 1.25x input); "
                                        "unset: the input price.")
    batch_price_share: float = Field(
        default=0.5, ge=0, le=1, description="Share of the price paid in batch mode: 0.5 pays half.")
    #: Former name of ``batch_price_share``; refused with a message naming the new key.
    batch_discount: SkipJsonSchema[float | None] = Field(default=None, exclude=True, repr=False)

    @field_validator("batch_discount")
    @classmethod
    def _renamed(cls, value: float | None) -> None:
        raise ValueError(f"renamed: write batch_price_share: {value} (the share of the price paid in batch "
                         f"mode; 0.5 pays half)")


class SelfHosted(Strict):
    """A self-hosted model priced by the hour of the machine (or GPU) that serves it."""

    hourly_usd: float = Field(ge=0, description="Price of one hour of the serving machine.")
    parallel_requests: PositiveInt = Field(
        default=1, description="Requests the machine serves at once; one call's share of an hour is latency / parallel "
                               "(in-process vLLM measures each call's share of its batch instead)."
    )
    note: str = ""


class Pricing(Strict):
    """How a model is priced: ``auto`` (genai-prices), explicit token prices, or a self-hosted rate."""

    auto: bool = False
    tokens: TokenPrices | None = None
    self_hosted: SelfHosted | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> "Pricing":
        kinds = sum([self.auto, self.tokens is not None, self.self_hosted is not None])
        if kinds != 1:
            raise ValueError("give exactly one of: auto: true, tokens: {...}, self_hosted: {...}")
        return self


class RateLimit(Strict):
    requests_per_minute: PositiveInt | None = None
    tokens_per_minute: PositiveInt | None = None


class ModelSpec(Strict):
    """One candidate model."""

    id: str = Field(description="Model id used in suites, prompts and policies.")
    provider: ProviderName
    model: str = Field(description="The provider's model name; for llama-cpp a GGUF path or pkg:<package>; for "
                                   "sklearn an `evals distill` artifact folder.")
    family: str = Field(description="Selects prompt variants after the model id.")
    context_window: PositiveInt
    description: str = ""
    base_url: str | None = None
    api_key_env: str | None = Field(default=None, description="Name of the environment variable holding the key.")
    pricing: Pricing = Field(default_factory=lambda: Pricing(auto=True))
    concurrency: PositiveInt = 4
    rate_limit: RateLimit = Field(default_factory=RateLimit)
    timeout_s: PositiveFloat = 120.0
    max_retries: int = Field(default=4, ge=0)
    options: dict[str, Any] = Field(default_factory=dict, description="Provider-specific settings.")

    @field_validator("id", "family")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not _ID.match(value):
            raise ValueError("use lowercase letters, digits, '.', '_' or '-'")
        return value

    @field_validator("pricing", mode="before")
    @classmethod
    def _auto_string(cls, value: Any) -> Any:
        return {"auto": True} if value == "auto" else value


class ModelsFile(Strict):
    """The whole ``models.yaml``."""

    format_version: int = FORMAT_VERSION
    models: list[ModelSpec]

    @field_validator("models")
    @classmethod
    def _unique(cls, models: list[ModelSpec]) -> list[ModelSpec]:
        seen: set[str] = set()
        for model in models:
            if model.id in seen:
                raise ValueError(f"model id {model.id!r} appears twice")
            seen.add(model.id)
        return models

    def get(self, model_id: str) -> ModelSpec:
        for model in self.models:
            if model.id == model_id:
                return model
        raise KeyError(model_id)

    @property
    def ids(self) -> list[str]:
        return [m.id for m in self.models]


def load_models(path: Path) -> ModelsFile:
    """Load ``models.yaml``; errors name file, line and field."""
    return load_yaml_model(ModelsFile, path)
