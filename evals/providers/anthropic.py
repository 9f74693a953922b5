"""Anthropic's Messages API on the official ``anthropic`` SDK (extra ``anthropic``).

The key comes from ``api_key_env`` (default ``ANTHROPIC_API_KEY``). System messages of a chat
template become ``system``; ``max_tokens`` and ``stop`` (``stop_sequences``) map directly.

Sampling parameters: API version 2026-10-21, which the 2.x SDKs send, rejects ``temperature``,
``top_p`` and ``top_k`` with a 400 (the SDK no longer has them). They are therefore sent only when
``options: {sampling_params: true}`` asks (for a gateway or an older ``anthropic-version``, set with
``options: {anthropic_version: "2023-06-01"}``), as extra body fields. They still count in the cache key,
as every option of :class:`~evals.config.models.AnthropicOptions` does.

JSON output (``options.json_mode``): ``tool`` (default) is a forced tool call, one tool whose
``input_schema`` is the suite's schema and ``tool_choice`` naming it, the tool input coming back as
the answer's JSON text (a schema whose top level is not an object is wrapped as ``{"value": ...}``);
``output_format`` uses the API's structured outputs (``output_config.format``).

Tools (a ``tool_call`` suite): ``tools`` (each ``{name, description, input_schema}``, the suite's
``parameters`` as they are) with ``tool_choice: {"type": "auto"}``; every ``tool_use`` block of the reply
becomes one of :attr:`GenerateResponse.tool_calls` (several: parallel calls), the text blocks its text.
A request with tools does not also force the JSON tool: the tools are the answer's format.

Usage: ``input_tokens`` here is the whole prompt, i.e. Anthropic's ``input_tokens`` plus
``cache_read_input_tokens`` plus ``cache_creation_input_tokens``, with the two cache counts also
reported apart. ``stop_reason == "refusal"`` is :attr:`ErrorKind.REFUSED`. Message Batches are
supported (see :mod:`evals.runner.batch`). The SDK's own retries are off; see
:mod:`evals.providers.retry`.

Confidence: the Messages API returns no token log-probabilities, so a classification request
(:attr:`~evals.prompts.RenderedPrompt.confidence`) is sent as any other and its answer has no confidence
(``extra`` holds none; :func:`~evals.providers.base.answer_confidence` is None). As a cascade's cheap leg
such a model never answers: every answer is passed on.
"""

from __future__ import annotations

import json
import time
from typing import Any, ClassVar

from evals.config.models import ModelSpec
from evals.providers import _sdk
from evals.providers.base import ErrorKind, GenerateRequest, GenerateResponse, Provider
from evals.tool_calls import ToolCall

#: Tests replace this with a factory of ``httpx2.AsyncClient(transport=MockTransport(...))``.
http_client_factory: _sdk.HttpClientFactory | None = None

TOOL_NAME = "json_output"


def _tool_schema(schema: dict[str, Any] | None) -> tuple[dict[str, Any], bool]:
    """(input_schema, wrapped): Anthropic tool inputs must be objects."""
    if not schema:
        return {"type": "object"}, False
    if schema.get("type") == "object":
        return schema, False
    return {"type": "object", "properties": {"value": schema}, "required": ["value"]}, True


class AnthropicProvider(_sdk.ApiKeyMixin, Provider):
    """Claude models through the Messages API."""

    name: ClassVar[str] = "anthropic"
    supports_json_schema: ClassVar[bool] = True
    supports_batch: ClassVar[bool] = True
    default_key_env: ClassVar[str] = "ANTHROPIC_API_KEY"

    def __init__(self, spec: ModelSpec, http_client: Any = None):
        super().__init__(spec)
        self._http_client = http_client
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            import anthropic

            http_client = self._http_client or (http_client_factory() if http_client_factory else None)
            self._client = anthropic.AsyncAnthropic(**_sdk.client_kwargs(self.spec, self._key(), http_client))
        return self._client

    def request_params(self, request: GenerateRequest) -> tuple[dict[str, Any], bool]:
        """(Messages API parameters, JSON wrapped in ``value``) for one request."""
        p = request.prompt
        if p.messages is None:
            raise ValueError("the anthropic provider takes chat templates only")
        system = "\n\n".join(m["content"] for m in p.messages if m["role"] == "system")
        messages = [{"role": m["role"], "content": m["content"]} for m in p.messages if m["role"] != "system"]
        params: dict[str, Any] = {"model": self.spec.model, "max_tokens": p.max_tokens, "messages": messages}
        if system:
            params["system"] = system
        if p.stop:
            params["stop_sequences"] = list(p.stop)
        extra: dict[str, Any] = {}
        options = self.spec.options
        if options.sampling_params:
            extra["temperature"] = p.temperature
            if p.top_p is not None:
                extra["top_p"] = p.top_p
        if extra:
            params["extra_body"] = extra
        if options.anthropic_version:
            params["extra_headers"] = {"anthropic-version": options.anthropic_version}
        wrapped = False
        if p.tools is not None:
            params["tools"] = [{"name": t["name"], "description": t.get("description", ""),
                                "input_schema": t.get("parameters") or {"type": "object"}} for t in p.tools]
            params["tool_choice"] = {"type": "auto"}
        elif p.json_output and options.json_mode == "output_format":
            params["output_config"] = {"format": {"type": "json_schema", "schema": p.json_schema or {"type": "object"}}}
        elif p.json_output:
            schema, wrapped = _tool_schema(p.json_schema)
            params["tools"] = [{"name": TOOL_NAME, "description": "Return the answer as JSON matching the schema.",
                                "input_schema": schema}]
            params["tool_choice"] = {"type": "tool", "name": TOOL_NAME}
        return params, wrapped

    async def generate(self, request: GenerateRequest) -> GenerateResponse:
        import anthropic

        params, wrapped = self.request_params(request)
        start = time.perf_counter()
        try:
            message = await self.client.messages.create(**params)
        except Exception as exc:
            if not isinstance(exc, (anthropic.AnthropicError, ValueError)):
                raise
            return _sdk.error_from_exception(exc, anthropic, [self._key()], (time.perf_counter() - start) * 1000)
        latency_ms = (time.perf_counter() - start) * 1000
        body = message.model_dump(warnings=False) if hasattr(message, "model_dump") else message
        return parse_message(body, _json_answer(request), wrapped, latency_ms, tools=request.prompt.tools is not None)

    # -- Message Batches -------------------------------------------------------------------------
    async def submit_batch(self, items: list[tuple[str, GenerateRequest]]) -> str:
        requests = []
        for cid, req in items:
            params = self.request_params(req)[0]
            params.update(params.pop("extra_body", {}))  # a batch request carries the body as is
            params.pop("extra_headers", None)
            requests.append({"custom_id": cid, "params": params})
        batch = await self.client.messages.batches.create(requests=requests)
        return batch.id

    async def poll_batch(self, batch_id: str) -> tuple[bool, str]:
        batch = await self.client.messages.batches.retrieve(batch_id)
        return batch.processing_status == "ended", batch.processing_status

    async def batch_results(self, batch_id: str, requests: dict[str, GenerateRequest]) -> dict[str, GenerateResponse]:
        """Responses by custom id for a finished batch; ``requests`` are the requests it was given."""
        found: dict[str, GenerateResponse] = {}
        async for item in await self.client.messages.batches.results(batch_id):
            data = item.model_dump(warnings=False) if hasattr(item, "model_dump") else item
            request = requests.get(data["custom_id"])
            json_output = bool(request and _json_answer(request))
            wrapped = bool(request and json_output and _tool_schema(request.prompt.json_schema)[1])
            tools = bool(request and request.prompt.tools is not None)
            found[data["custom_id"]] = parse_batch_result(data["result"], json_output, wrapped, tools)
        return found

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()


def _json_answer(request: GenerateRequest) -> bool:
    """Whether the answer is JSON through the forced JSON tool (not when the request has tools)."""
    return request.prompt.json_output and request.prompt.tools is None


def parse_message(body: Any, json_output: bool, wrapped: bool, latency_ms: float | None,
                  tools: bool = False) -> GenerateResponse:
    """Map a Messages API response body (a dict) to a :class:`GenerateResponse`; ``tools``: the request
    offered tools, so its ``tool_use`` blocks are tool calls."""
    try:
        usage = body["usage"] or {}
        read = usage.get("cache_read_input_tokens") or 0
        write = usage.get("cache_creation_input_tokens") or 0
        common = dict(input_tokens=usage["input_tokens"] + read + write, output_tokens=usage["output_tokens"],
                      cache_read_tokens=read, cache_write_tokens=write, latency_ms=latency_ms,
                      finish_reason=body.get("stop_reason"), raw_model=body.get("model"))
        blocks = body["content"]
        tool = next((b for b in blocks if b.get("type") == "tool_use" and b.get("name") == TOOL_NAME), None)
        text = "".join(b.get("text") or "" for b in blocks if b.get("type") == "text")
        calls = [ToolCall.of(b["name"], b.get("input", {}), b.get("id")) for b in blocks
                 if b.get("type") == "tool_use"] if tools else None
    except (KeyError, TypeError, AttributeError) as exc:
        return _sdk.malformed(f"unexpected response shape: {type(exc).__name__}: {exc}", latency_ms or 0.0)
    if body.get("stop_reason") == "refusal":
        return GenerateResponse(error=ErrorKind.REFUSED, error_message=(text or "refusal")[:500], **common)
    if calls is not None:
        return GenerateResponse(text=text, tool_calls=calls, **common)
    if tool is not None:
        value = tool.get("input")
        if wrapped and isinstance(value, dict):
            value = value.get("value")
        return GenerateResponse(text=json.dumps(value, ensure_ascii=False), **common)
    if json_output and not text:
        return GenerateResponse(error=ErrorKind.MALFORMED_RESPONSE, error_message="no tool call in the answer",
                                **common)
    return GenerateResponse(text=text, **common)


def parse_batch_result(result: dict[str, Any], json_output: bool = False, wrapped: bool = False,
                       tools: bool = False) -> GenerateResponse:
    """One ``result`` of a Message Batches results line."""
    kind = result.get("type")
    if kind == "succeeded":
        return parse_message(result["message"], json_output, wrapped, None, tools)
    if kind == "errored":
        err = (result.get("error") or {}).get("error") or result.get("error") or {}
        kind_map = {"rate_limit_error": ErrorKind.RATE_LIMITED, "overloaded_error": ErrorKind.SERVER_ERROR,
                    "api_error": ErrorKind.SERVER_ERROR, "invalid_request_error": ErrorKind.INVALID_REQUEST,
                    "authentication_error": ErrorKind.AUTH, "permission_error": ErrorKind.AUTH}
        return GenerateResponse(error=kind_map.get(err.get("type"), ErrorKind.UNKNOWN),
                                error_message=str(err.get("message", err))[:500])
    # canceled or expired: the request never ran; retrying (without --batch) may succeed
    return GenerateResponse(error=ErrorKind.SERVER_ERROR, error_message=f"batch request {kind}")
