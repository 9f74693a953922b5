"""The provider interface: one abstract async method, typed request and response.

Every provider (llama-cpp in process, Anthropic, OpenAI, an OpenAI-compatible server, vLLM) turns a
:class:`GenerateRequest` into a :class:`GenerateResponse`. Failures a caller should see as data, not
as exceptions (rate limits, timeouts, refusals), come back as a response with ``error`` set to an
:class:`ErrorKind`; only bugs and misconfiguration raise.
"""

from __future__ import annotations

import abc
import enum
import functools
from dataclasses import dataclass, field, fields, replace
from typing import Any, ClassVar

from evals.config.models import ModelSpec
from evals.prompts import RenderedPrompt
from evals.secrets import key_vars, scrub, scrub_data, scrubber
from evals.tool_calls import ToolCall


class ErrorKind(str, enum.Enum):
    """Why a call produced no usable answer. Errors are reported apart from quality."""

    RATE_LIMITED = "rate_limited"
    TIMEOUT = "timeout"
    SERVER_ERROR = "server_error"
    CONNECTION = "connection"
    REFUSED = "refused"
    INVALID_REQUEST = "invalid_request"
    AUTH = "auth"
    CONTEXT_LENGTH = "context_length"
    MALFORMED_RESPONSE = "malformed_response"
    UNAVAILABLE = "unavailable"
    UNKNOWN = "unknown"
    #: The model stopped at ``max_tokens`` (``finish_reason == "length"``): an answer failure.
    TRUNCATED = "truncated"
    #: Our scorer raised on an answer: a harness bug, kept out of quality and reported.
    SCORER_ERROR = "scorer_error"

    @property
    def transient(self) -> bool:
        """Whether retrying the same request may succeed."""
        return self in {ErrorKind.RATE_LIMITED, ErrorKind.TIMEOUT, ErrorKind.SERVER_ERROR, ErrorKind.CONNECTION}

    @property
    def retryable(self) -> bool:
        """Whether the retry policy calls again within a run: the transient kinds, and a malformed reply
        (a truncated body or a missing field is a glitch of that one response, so it is asked again).

        >>> ErrorKind.MALFORMED_RESPONSE.retryable, ErrorKind.INVALID_REQUEST.retryable
        (True, False)
        """
        return self.transient or self is ErrorKind.MALFORMED_RESPONSE

    @property
    def category(self) -> str:
        """``answer`` or ``infra``: the one rule for what a failure means (see :data:`ANSWER_FAILURES`).

        >>> ErrorKind.TRUNCATED.category, ErrorKind.RATE_LIMITED.category
        ('answer', 'infra')
        """
        return "answer" if self in ANSWER_FAILURES else "infra"


#: Answer failures are the model's answer: they are quality and score 0 (a refusal, a reply cut off at
#: ``max_tokens``). Every other kind is an infrastructure failure (rate limit, timeout, server error,
#: connection, auth, unavailable, a rejected request, a malformed reply, a scorer bug): availability,
#: reported per model and kept out of quality (the row's ``score`` is null).
ANSWER_FAILURES = frozenset({ErrorKind.REFUSED, ErrorKind.TRUNCATED})


def error_class(kind: "ErrorKind | str | None") -> str | None:
    """The ``error_class`` column of a results row: ``answer``, ``infra`` or None for no error.

    >>> error_class(None), error_class("refused"), error_class("timeout"), error_class("scorer_error")
    (None, 'answer', 'infra', 'infra')
    """
    if kind is None:
        return None
    try:
        return ErrorKind(kind).category
    except ValueError:
        return "infra"


def estimate_tokens(text: str) -> int:
    """Tokens of a text where no tokenizer is at hand: characters / 4.

    >>> estimate_tokens("x" * 400)
    100
    """
    return len(text) // 4


@dataclass(frozen=True)
class GenerateRequest:
    """One call: the rendered prompt for one model."""

    prompt: RenderedPrompt
    request_id: str = ""


@dataclass
class GenerateResponse:
    """What came back. ``text`` is empty when ``error`` is set.

    ``tool_calls``: for a request with tools, the calls the model made (``[]``: it answered in text,
    which is then ``text``); None for a request without tools.
    """

    text: str = ""
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None
    latency_ms: float | None = None
    #: This call's own share of a self-hosted machine's busy time, where the provider measures it apart
    #: from the latency (in-process vLLM: the engine batch's wall time / the batch's requests). None: the
    #: latency is the busy time, shared by ``parallel_requests`` (see evals.costs).
    busy_ms: float | None = None
    ttft_ms: float | None = None
    finish_reason: str | None = None
    error: ErrorKind | None = None
    error_message: str | None = None
    retry_after_s: float | None = None
    attempts: int = 1
    raw_model: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    tool_calls: list[ToolCall] | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def is_answer(self) -> bool:
        """Whether this is the model's answer (a reply, a refusal), which the response cache keeps.

        An infrastructure failure (see :data:`ANSWER_FAILURES`) is not an answer: it is journalled but
        asked again on the next run, so a fixed option or a passing outage is never replayed.
        """
        return self.error is None or self.error in ANSWER_FAILURES

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form the response cache stores (:meth:`from_dict` reads it back): every field,
        the error as its value, tool calls as dicts. A new dict; ``extra``'s values are this response's
        own: ``dataclasses.asdict`` deep-copies them, 12 us a response against 1 us here (timeit), for a
        dict the cache scrubs into a copy and encodes at once."""
        data = {name: getattr(self, name) for name in _FIELDS}
        data["error"] = self.error.value if self.error else None
        data["extra"] = dict(self.extra)
        if self.tool_calls is not None:
            data["tool_calls"] = [{"name": c.name, "arguments": c.arguments, "id": c.id} for c in self.tool_calls]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "GenerateResponse":
        data = dict(data)
        data["error"] = ErrorKind(data["error"]) if data.get("error") else None
        if data.get("tool_calls") is not None:
            data["tool_calls"] = [ToolCall.from_dict(c) for c in data["tool_calls"]]
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


#: The fields of a response, in order (what :meth:`GenerateResponse.to_dict` writes).
_FIELDS = tuple(f.name for f in fields(GenerateResponse))


def scrub_response(response: GenerateResponse, names: tuple[str, ...]) -> GenerateResponse:
    """``response`` with every text it carries passed through :func:`evals.secrets.scrub` (one scrubber,
    built from the key variables as they are set now)."""
    clean = scrubber(names)
    return replace(response, text=clean(response.text) if response.text else response.text,
                   error_message=clean(response.error_message) if response.error_message else None,
                   raw_model=clean(response.raw_model) if response.raw_model else response.raw_model,
                   extra=scrub_data(response.extra, using=clean))


def _scrub_exception(exc: BaseException, names: tuple[str, ...]) -> None:
    exc.args = tuple(scrub(a, names) if isinstance(a, str) else a for a in exc.args)
    if isinstance(getattr(exc, "message", None), str):
        try:
            exc.message = scrub(exc.message, names)  # type: ignore[attr-defined]
        except AttributeError:
            pass


def _scrubbed_generate(generate: Any) -> Any:
    @functools.wraps(generate)
    async def wrapper(self: "Provider", request: GenerateRequest) -> GenerateResponse:
        try:
            response = await generate(self, request)
        except Exception as exc:
            _scrub_exception(exc, self.key_vars())
            raise
        return scrub_response(response, self.key_vars()) if isinstance(response, GenerateResponse) else response
    wrapper.__scrubbed__ = True  # type: ignore[attr-defined]
    return wrapper


def _scrubbed_results(batch_results: Any) -> Any:
    @functools.wraps(batch_results)
    async def wrapper(self: "Provider", *args: Any, **kwargs: Any) -> Any:
        found = await batch_results(self, *args, **kwargs)
        names = self.key_vars()
        return {k: scrub_response(v, names) if isinstance(v, GenerateResponse) else v for k, v in found.items()}
    wrapper.__scrubbed__ = True  # type: ignore[attr-defined]
    return wrapper


class Provider(abc.ABC):
    """Base class of every provider. Subclasses implement :meth:`generate`.

    Capabilities are class attributes so the runner can adapt without calling the model. Every response
    a subclass's ``generate`` (or ``batch_results``) returns leaves through :func:`scrub_response`: the
    one place an echoed key, refusal or error text is redacted before anything stores or returns it.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = cls.__dict__
        if "generate" in own and not getattr(own["generate"], "__scrubbed__", False) \
                and not getattr(own["generate"], "__isabstractmethod__", False):
            cls.generate = _scrubbed_generate(own["generate"])  # type: ignore[method-assign]
        if "batch_results" in own and not getattr(own["batch_results"], "__scrubbed__", False):
            cls.batch_results = _scrubbed_results(own["batch_results"])  # type: ignore[attr-defined]

    def key_vars(self) -> tuple[str, ...]:
        """The key variables whose values this provider's responses must never carry."""
        return key_vars([self.spec], [getattr(self, "default_key_env", None)])

    name: ClassVar[str]
    supports_chat: ClassVar[bool] = True
    supports_completion: ClassVar[bool] = False
    supports_json_schema: ClassVar[bool] = False
    #: Calls one instance can serve at once (an in-process model serves one at a time).
    max_parallel: ClassVar[int | None] = None

    def __init__(self, spec: ModelSpec):
        self.spec = spec

    @abc.abstractmethod
    async def generate(self, request: GenerateRequest) -> GenerateResponse:
        """Run one request. Return errors as ``GenerateResponse(error=...)``; raise only on bugs."""

    @classmethod
    def unavailable_reason(cls, spec: ModelSpec) -> str | None:
        """Why this provider cannot serve ``spec`` here (missing key, file, endpoint), or None."""
        return None

    def context_limit(self) -> int:
        """The most tokens one request may hold, prompt and answer together: the spec's ``context_window``
        (a provider may know a smaller one: llama-cpp's loaded ``n_ctx``)."""
        return self.spec.context_window

    def count_tokens(self, prompt: RenderedPrompt) -> int:
        """The prompt tokens of a request: :func:`estimate_tokens` unless the provider has the model's
        tokenizer at hand (llama-cpp counts with the GGUF's own vocabulary)."""
        return estimate_tokens(prompt.text)

    def serves(self, suite: str) -> bool:
        """Whether this model is a candidate on ``suite`` (a distilled classifier: only the suite it learned)."""
        return True

    def cache_identity(self) -> dict[str, Any]:
        """What identifies this model's answers in the response cache (never secrets): the whole model
        spec minus the fields that cannot change an answer (:meth:`ModelSpec.cache_identity`). A provider
        may add what the spec does not say (llama-cpp: the GGUF file's name and size)."""
        return self.spec.cache_identity()

    async def aclose(self) -> None:
        """Release resources (clients, loaded weights)."""


def answer_confidence(response: GenerateResponse) -> float | None:
    """The answer's confidence, where the provider reports one (``response.extra["confidence"]``, a
    probability in [0, 1]): the sklearn provider's calibrated class probability; for an LLM asked by a
    classification request, the probability it gave the answer it wrote
    (:func:`evals.providers.confidence.token_confidence`: llama-cpp, OpenAI, OpenAI-compatible servers,
    vLLM; Anthropic reports none). None otherwise.

    >>> answer_confidence(GenerateResponse(text="a", extra={"confidence": 0.9}))
    0.9
    >>> answer_confidence(GenerateResponse(text="a")), answer_confidence(GenerateResponse(extra={"confidence": "high"}))
    (None, None)
    """
    value = response.extra.get("confidence")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        return None  # NaN fails the range test too
    return float(value)
