"""Typed model of ``policies/models.yaml``: the candidate models."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar, Literal, Union

from pydantic import Field, NonNegativeFloat, PrivateAttr, PositiveFloat, PositiveInt, ValidationInfo, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

from evals.config._yaml import load_yaml_model
from evals.config.base import Strict, Versioned
from evals.router import public_url

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


# -- provider options (``options:`` of a model in models.yaml) --------------------------------------------


class ProviderOptions(Strict):
    """Base of a provider's typed ``options``: unknown keys are errors, like everywhere else.

    ``answer_neutral`` lists the option fields that cannot change an answer; every other field is part
    of the response cache key (an exclude list, so an option added later is in the key by default).
    """

    answer_neutral: ClassVar[frozenset[str]] = frozenset()

    def identity(self) -> dict[str, Any]:
        """The options that can change an answer, for the cache key (None means unset: the default)."""
        return self.model_dump(mode="json", exclude=set(self.answer_neutral), exclude_none=True)


class LlamaCppOptions(ProviderOptions):
    """``llama-cpp``: arguments of ``llama_cpp.Llama``."""

    n_ctx: PositiveInt = Field(default=4096, description="Context window the model is loaded with (tokens).")
    seed: int = Field(default=0, description="Sampling seed.")
    n_batch: PositiveInt = Field(default=512, description="Prompt tokens evaluated per batch (changes the arithmetic).")
    n_gpu_layers: int = Field(default=0, ge=-1, description="Layers offloaded to a GPU (-1: all).")
    n_threads: PositiveInt | None = Field(default=None, description="CPU threads; default: every core.")
    stop_repetition: bool = Field(
        default=True,
        description="Stop a decode whose answer ends in one span repeated 4+ times (48+ tokens) and record it "
                    "as truncated, instead of decoding the loop to max_tokens (evals/providers/repetition.py).")

    #: ``n_threads`` only splits the same arithmetic over cores (each dot product stays on one thread).
    answer_neutral: ClassVar[frozenset[str]] = frozenset({"n_threads"})


class OpenAIOptions(ProviderOptions):
    """``openai``: OpenAI's hosted models."""

    extra_body: dict[str, Any] = Field(default_factory=dict,
                                       description="Fields sent with every request (server-specific settings).")
    logprobs: bool | None = Field(
        default=None,
        description="false: never ask for the answer tokens' log-probabilities (classification requests ask, "
                    "for the answer's confidence; a server that refuses them is asked again without). Unset or "
                    "true: ask.")

    @field_validator("logprobs")
    @classmethod
    def _asking_is_the_default(cls, value: bool | None) -> bool | None:
        # `true` is the default written out: the same cache identity as leaving it unset
        return None if value else value


class OpenAICompatibleOptions(OpenAIOptions):
    """``openai-compatible``: a vLLM or llama.cpp server (or any OpenAI-compatible endpoint)."""

    json_mode: Literal["response_format", "guided_json", "json_object", "none"] = Field(
        default="response_format",
        description="How JSON output is asked for: OpenAI's response_format, vLLM's guided_json, the llama.cpp "
                    "server's json_object with a schema, or not at all.")
    tool_mode: Literal["native", "call_object"] | None = Field(
        default=None,
        description="How a tool_call suite's tools are sent: native `tools` (the default; a vLLM server with "
                    "automatic tool choice), or call_object: the answer constrained (by json_mode) to one call object "
                    "{tool, arguments} or {tool: null, reply}, for servers without automatic tool choice.")
    probe_timeout_s: PositiveFloat = Field(default=1.0, description="How long the reachability probe waits.")

    #: The probe runs before any call; it never reaches the model.
    answer_neutral: ClassVar[frozenset[str]] = frozenset({"probe_timeout_s"})


class AnthropicOptions(ProviderOptions):
    """``anthropic``: the Messages API."""

    json_mode: Literal["tool", "output_format"] = Field(
        default="tool", description="JSON output as a forced tool call or as structured outputs (output_config).")
    sampling_params: bool = Field(default=False, description="Send temperature/top_p (rejected by newer API versions).")
    anthropic_version: str | None = Field(default=None, description="The anthropic-version header to send.")


class VllmOptions(ProviderOptions):
    """``vllm``: arguments of ``vllm.LLM`` (None: vLLM's default), plus how requests are gathered."""

    tensor_parallel_size: PositiveInt | None = None
    pipeline_parallel_size: PositiveInt | None = None
    max_model_len: PositiveInt | None = None
    gpu_memory_utilization: float | None = Field(default=None, gt=0, le=1)
    max_num_seqs: PositiveInt | None = None
    dtype: str | None = None
    quantization: str | None = None
    seed: int | None = None
    revision: str | None = None
    tokenizer: str | None = None
    trust_remote_code: bool | None = None
    enforce_eager: bool | None = None
    enable_prefix_caching: bool | None = None
    engine_args: dict[str, Any] = Field(default_factory=dict,
                                        description="Any other vllm.LLM keyword argument, passed as given.")
    batch_size: PositiveInt = Field(default=256, description="Most requests per engine call.")
    batch_wait_s: NonNegativeFloat = Field(default=0.05, description="How long to gather requests before a call.")

    #: How the harness gathers requests into engine calls; the engine batches continuously anyway.
    answer_neutral: ClassVar[frozenset[str]] = frozenset({"batch_size", "batch_wait_s"})

    @field_validator("engine_args")
    @classmethod
    def _not_typed(cls, value: dict[str, Any]) -> dict[str, Any]:
        typed = set(cls.model_fields) & set(value)
        if typed:
            raise ValueError(f"set {', '.join(sorted(typed))} as options of their own, not in engine_args")
        return value

    def engine(self) -> dict[str, Any]:
        """Keyword arguments for ``vllm.LLM`` (besides ``model``)."""
        typed = self.model_dump(exclude={"engine_args", "batch_size", "batch_wait_s"}, exclude_none=True)
        return {**typed, **self.engine_args}


class FakeOptions(ProviderOptions):
    """``fake`` (tests): a fixed answer and a delay."""

    answer: str | None = Field(default=None, description="A fixed reply to every request.")
    delay_s: NonNegativeFloat | None = Field(default=None, description="Seconds each call takes.")
    confidence: float | None = Field(default=None, ge=0, le=1,
                                     description="The confidence of every answer to a request that asks for one.")

    #: A delay changes when the answer comes, not what it is.
    answer_neutral: ClassVar[frozenset[str]] = frozenset({"delay_s"})


class DistillRecipe(Strict):
    """How ``evals run`` builds a distilled model's artifact when it is missing or stale: the gold labels of
    a suite's split, trained as ``evals distill --from-gold`` does (:mod:`evals.distill.ensure`)."""

    suite: str = Field(description="The classification suite whose gold labels it learns.")
    split: str = Field(default="train", description="The split it learns (never the one the suite is scored on).")
    estimator: Literal["linear-svm", "logreg"] = "linear-svm"
    calibration: Literal["sigmoid", "isotonic"] = "sigmoid"
    seed: int = 0


class SklearnOptions(ProviderOptions):
    """``sklearn``: a distilled classifier written by ``evals distill``."""

    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$",
                               description="The sha256 of the artifact's model.joblib: only that file is loaded.")
    distill: DistillRecipe | None = Field(
        default=None, description="Build the artifact at `model` from a suite's gold labels when it is missing, or "
                                  "rebuild it when what it was trained on changed (evals run does, before calling "
                                  "any model).")

    #: A pin decides whether the artifact loads, never what it answers; the recipe decides what is built, and
    #: the provider's cache identity holds the built artifact's own sha256.
    answer_neutral: ClassVar[frozenset[str]] = frozenset({"sha256", "distill"})
    #: The folder a relative ``model`` path is read from (the project root, set by
    #: :func:`evals.distill.ensure.resolve_artifacts`); unset: the working directory.
    _root: Path | None = PrivateAttr(default=None)
    #: Why :func:`evals.distill.ensure.ensure_artifacts` could not build the artifact (the provider's reason).
    _build_error: str | None = PrivateAttr(default=None)


OPTIONS: dict[str, type[ProviderOptions]] = {
    "llama-cpp": LlamaCppOptions, "openai": OpenAIOptions, "openai-compatible": OpenAICompatibleOptions,
    "anthropic": AnthropicOptions, "vllm": VllmOptions, "sklearn": SklearnOptions, "fake": FakeOptions,
}
"""The options model of each provider."""

AnyOptions = Union[LlamaCppOptions, OpenAICompatibleOptions, OpenAIOptions, AnthropicOptions, VllmOptions,
                   SklearnOptions, FakeOptions]


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
    options: AnyOptions = Field(default_factory=dict, validate_default=True,
                                description="Provider-specific settings; see the options model of the provider.")

    #: Fields that cannot change an answer, left out of the response cache key (:meth:`cache_identity`).
    #: An exclude list: a field added later is in the key by default. ``id`` and ``description`` name the
    #: model; ``concurrency``, ``rate_limit``, ``timeout_s`` and ``max_retries`` say when and how often a
    #: request is sent, not what it is; ``pricing`` is what it costs; ``api_key_env`` names a variable.
    answer_neutral: ClassVar[frozenset[str]] = frozenset(
        {"id", "description", "concurrency", "rate_limit", "timeout_s", "max_retries", "pricing", "api_key_env"})

    @field_validator("options", mode="before")
    @classmethod
    def _typed_options(cls, value: Any, info: ValidationInfo) -> Any:
        provider = info.data.get("provider")
        if provider not in OPTIONS:
            raise ValueError("options are checked once provider is valid")  # the provider's own error shows
        if isinstance(value, OPTIONS[provider]):
            return value
        if isinstance(value, ProviderOptions):
            value = value.model_dump(exclude_unset=True)
        # read from a file (evals.config._yaml.validate): as strictly as the rest of the file
        return OPTIONS[provider].model_validate(value, strict=bool((info.context or {}).get("strict")))

    def cache_identity(self) -> dict[str, Any]:
        """What identifies this model's answers: the whole spec minus :attr:`answer_neutral` fields and the
        options' own answer-neutral fields. Never holds secrets (a ``base_url`` loses any user:password)."""
        identity = self.model_dump(mode="json", exclude=set(self.answer_neutral) | {"options"})
        identity["options"] = self.options.identity()
        if identity.get("base_url"):
            identity["base_url"] = public_url(identity["base_url"])
        return identity

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


class ModelsFile(Versioned):
    """The whole ``models.yaml``."""

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
