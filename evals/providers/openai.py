"""OpenAI chat completions, and any OpenAI-compatible server (vLLM, llama.cpp), on the official SDK.

:class:`OpenAIProvider` (``provider: openai``) reads the key from ``api_key_env`` (default
``OPENAI_API_KEY``), asks for structured outputs (``response_format`` ``json_schema``, strict when the
schema allows it) when a template sets ``json_output``, and maps ``usage`` including
``prompt_tokens_details.cached_tokens``; a ``refusal`` is :attr:`ErrorKind.REFUSED`. It also submits
and reads OpenAI Batch jobs (see :mod:`evals.runner.batch`).

:class:`OpenAICompatibleProvider` (``provider: openai-compatible``) talks to ``base_url``. A key is
optional (local servers ignore it). ``options`` in models.yaml
(:class:`~evals.config.models.OpenAICompatibleOptions`; ``openai`` takes only ``extra_body``):

- ``json_mode``: ``response_format`` (default: OpenAI's ``json_schema`` format, which vLLM reads),
  ``guided_json`` (vLLM: also sends ``extra_body={"guided_json": schema}``), ``json_object`` (the
  llama.cpp server's ``{"type": "json_object", "schema": ...}``, its patterns made portable as for the
  in-process provider: :func:`evals.providers.llama_cpp.portable_schema`) or ``none``;
- ``extra_body``: a mapping sent with every request (server-specific sampling settings);
- ``tool_mode``: how a request's tools are sent: ``native`` (default: ``tools`` and ``tool_choice: auto``,
  which a vLLM server started with ``--enable-auto-tool-choice`` answers with ``tool_calls``) or
  ``call_object`` (no native tools: the answer is constrained by ``json_mode`` to a call object,
  :func:`evals.tool_calls.call_object_schema`, and read back as ``tool_calls``; for servers without
  automatic tool choice, such as llama-cpp-python's);
- ``probe_timeout_s``: how long the reachability probe waits (default 1 s; not in the cache key);
- ``logprobs`` (both providers): ``false`` never asks for log-probabilities (below).

Confidence (a classification request, :attr:`~evals.prompts.RenderedPrompt.confidence`): the request asks
for the chosen tokens' log-probabilities (chat ``logprobs: true, top_logprobs: 0``; completions
``logprobs: 0``: the sampled token's only) and the answer's confidence is
:func:`evals.providers.confidence.token_confidence` of ``choices[0].logprobs.content[*]`` (chat: each
token's ``bytes``, else ``token``, and ``logprob``) or of ``logprobs.tokens`` / ``token_logprobs``
(completions), in ``response.extra["confidence"]``; the Batch path reads the same. A response without log-probs has no confidence (None), never an error. A server or
model that refuses the parameter (llama-cpp-python's server without ``logits_all`` answers 500
"logprobs is not supported ...", OpenAI's reasoning models 400) does not fail the call: a failure whose
message names ``logprobs`` is sent again at once without them, and this provider stops asking (its
answers then carry no confidence). ``options.logprobs: false`` never asks at all.

Tools (a ``tool_call`` suite): chat requests carry ``tools`` (each ``{"type": "function", "function":
{name, description, parameters}}``, ``strict`` where the schema allows it) and ``tool_choice: "auto"``;
the reply's ``tool_calls`` become :attr:`GenerateResponse.tool_calls` with their arguments as written
(invalid JSON included: that is the model's answer). A completion template has no native tools: its
text is read as a call object.

Completion-mode templates go to ``/completions``, so base models work. The SDK's own retries are off
(``max_retries=0``): :mod:`evals.providers.retry` retries, honouring ``retry-after``.

Each request is the body :meth:`OpenAIProvider.request_body` builds, posted through the SDK client's
``post`` (its documented way to send a body as is: the same URL, headers, auth, timeouts and error
types as ``chat.completions.create``), and the reply is read as JSON. ``create()`` would walk the body
against its parameter types and build pydantic objects this provider turns straight back into a dict:
about 0.4 ms of CPU a call, a third of the SDK's cost per call (``bench/README.md``, "the request
path"). ``tests/providers/test_openai_wire_parity.py`` checks that the bytes sent are the ones
``create()`` sends.
"""

from __future__ import annotations

import json
import time
from typing import Any, ClassVar

from evals.config.models import ModelSpec
from evals.providers import _sdk
from evals.providers.base import ErrorKind, GenerateRequest, GenerateResponse, Provider
from evals.providers.confidence import token_confidence
from evals.tool_calls import ToolCall, call_object_schema, read_call_object

#: Tests replace this with a factory of ``httpx2.AsyncClient(transport=MockTransport(...))``.
http_client_factory: _sdk.HttpClientFactory | None = None

DUMMY_KEY = "not-needed"


def strict_compatible(schema: Any) -> bool:
    """Whether OpenAI's strict structured outputs accept ``schema``: every object closes its properties
    (``additionalProperties: false``) and requires all of them.

    >>> strict_compatible({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"],
    ...                    "additionalProperties": False})
    True
    >>> strict_compatible({"type": "object", "properties": {"a": {"type": "string"}}})
    False
    """
    if isinstance(schema, list):
        return all(strict_compatible(s) for s in schema)
    if not isinstance(schema, dict):
        return True
    if schema.get("type") == "object" or "properties" in schema:
        props = schema.get("properties", {})
        if schema.get("additionalProperties") is not False or set(schema.get("required", [])) != set(props):
            return False
    return all(strict_compatible(v) for k, v in schema.items() if k not in ("enum", "const", "default", "examples"))


def function_tools(tools: Any) -> list[dict[str, Any]]:
    """A suite's tools in the Chat Completions ``tools`` format.

    >>> function_tools([{"name": "f", "description": "d", "parameters": {"type": "object"}}])
    [{'type': 'function', 'function': {'name': 'f', 'description': 'd', 'parameters': {'type': 'object'}}}]
    """
    out = []
    for tool in tools:
        function = {"name": tool["name"], "description": tool.get("description", ""),
                    "parameters": tool.get("parameters") or {"type": "object"}}
        if function["parameters"].get("properties") and strict_compatible(function["parameters"]):
            function["strict"] = True
        out.append({"type": "function", "function": function})
    return out


#: How a request's tools travel: natively, as a call object the answer is constrained to, or not at all.
NATIVE, CALL_OBJECT = "native", "call_object"


def response_format(schema: dict[str, Any] | None) -> dict[str, Any]:
    """The ``response_format`` for JSON output: a json_schema when there is a schema, else json_object."""
    if not schema:
        return {"type": "json_object"}
    return {"type": "json_schema",
            "json_schema": {"name": "output", "schema": schema, "strict": strict_compatible(schema)}}


class OpenAIProvider(_sdk.ApiKeyMixin, Provider):
    """OpenAI's hosted models through the Chat Completions API."""

    name: ClassVar[str] = "openai"
    supports_json_schema: ClassVar[bool] = True
    supports_batch: ClassVar[bool] = True
    default_key_env: ClassVar[str | None] = "OPENAI_API_KEY"
    #: The parameter that caps output: newer OpenAI models only take max_completion_tokens.
    max_tokens_param: ClassVar[str] = "max_completion_tokens"

    def __init__(self, spec: ModelSpec, http_client: Any = None):
        super().__init__(spec)
        self._http_client = http_client
        self._client: Any = None
        #: The endpoint refused ``logprobs`` once: it is not asked for again (module docstring).
        self.logprobs_refused = False

    # -- client ---------------------------------------------------------------------------------
    @property
    def client(self) -> Any:
        if self._client is None:
            import openai

            http_client = self._http_client or (http_client_factory() if http_client_factory else None)
            self._client = openai.AsyncOpenAI(**_sdk.client_kwargs(self.spec, self._key() or DUMMY_KEY, http_client))
        return self._client

    # -- requests -------------------------------------------------------------------------------
    def _json_extras(self, schema: dict[str, Any] | None) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        """(response_format, extra_body) for a JSON-output request."""
        return response_format(schema), {}

    def tool_mode(self, request: GenerateRequest) -> str | None:
        """How this request's tools travel (:data:`NATIVE` or :data:`CALL_OBJECT`); None without tools."""
        p = request.prompt
        if p.tools is None:
            return None
        return CALL_OBJECT if p.prompt is not None else NATIVE

    def asks_logprobs(self, request: GenerateRequest) -> bool:
        """Whether ``request`` is sent asking for log-probabilities: it wants a confidence, the model's options
        do not say ``logprobs: false`` and the endpoint has not refused them."""
        return request.prompt.confidence and self.spec.options.logprobs is not False and not self.logprobs_refused

    def request_body(self, request: GenerateRequest) -> tuple[str, dict[str, Any]]:
        """(endpoint, JSON body) for one request: ``chat`` or ``completions``. Used for batches too."""
        p = request.prompt
        body: dict[str, Any] = {"model": self.spec.model, "temperature": p.temperature, **p.optional_sampling()}
        if self.asks_logprobs(request):  # the sampled tokens' log-probs only (no alternatives)
            # chat: llama-cpp-python's server returns none for `logprobs: true` without `top_logprobs`
            body.update({"logprobs": 0} if p.prompt is not None else {"logprobs": True, "top_logprobs": 0})
        extra_body = dict(self.spec.options.extra_body)
        response_fmt = None
        mode = self.tool_mode(request)
        if mode == CALL_OBJECT:  # the answer is one call object, constrained like any JSON answer
            response_fmt, more = self._json_extras(call_object_schema(p.tools or ()))
            extra_body.update(more)
        elif p.json_output:
            response_fmt, more = self._json_extras(p.json_schema)
            extra_body.update(more)
        if mode == NATIVE:
            body.update(tools=function_tools(p.tools or ()), tool_choice="auto")
        if p.prompt is not None:
            endpoint = "completions"
            body.update(prompt=p.prompt, max_tokens=p.max_tokens)
            if response_fmt is not None:
                extra_body.setdefault("response_format", response_fmt)
        else:
            endpoint = "chat"
            body.update(messages=[dict(m) for m in p.messages or ()])
            body[self.max_tokens_param] = p.max_tokens
            if response_fmt is not None:
                body["response_format"] = response_fmt
        if extra_body:
            body["extra_body"] = extra_body
        return endpoint, body

    def wire_body(self, request: GenerateRequest) -> tuple[str, dict[str, Any]]:
        """(endpoint, the JSON that goes on the wire): :meth:`request_body` with its ``extra_body`` merged in
        at the top level, its keys winning, as the SDK merges it. Sent as is, and in batch files."""
        endpoint, body = self.request_body(request)
        extra = body.pop("extra_body", {})
        return endpoint, {**body, **extra}

    async def generate(self, request: GenerateRequest) -> GenerateResponse:
        response = await self._generate(request)
        if self.asks_logprobs(request) and response.error is not None and response.error is not ErrorKind.REFUSED \
                and "logprob" in (response.error_message or "").lower():
            self.logprobs_refused = True  # this endpoint cannot give them: ask without, now and from now on
            return await self._generate(request)
        return response

    async def _generate(self, request: GenerateRequest) -> GenerateResponse:
        import openai

        endpoint, body = self.wire_body(request)
        start = time.perf_counter()
        try:  # the SDK's client (auth, timeouts, error types) posting the body as built (module docstring)
            reply = await self.client.post(_PATHS[endpoint], body=body, cast_to=_http_response_type())
            out = json.loads(reply.content)
        except Exception as exc:
            if not isinstance(exc, (openai.OpenAIError, ValueError)):
                raise
            return _sdk.error_from_exception(exc, openai, [self._key()], (time.perf_counter() - start) * 1000)
        latency_ms = (time.perf_counter() - start) * 1000
        return parse_completion(out, endpoint, latency_ms, self.tool_mode(request))

    # -- batch (OpenAI Batch API) ---------------------------------------------------------------
    async def submit_batch(self, items: list[tuple[str, GenerateRequest]]) -> str:
        """Upload a JSONL of requests and create a batch; returns the batch id."""
        lines = []
        url = None
        for custom_id, request in items:
            endpoint, body = self.wire_body(request)
            url = "/v1/chat/completions" if endpoint == "chat" else "/v1/completions"
            lines.append(json.dumps({"custom_id": custom_id, "method": "POST", "url": url, "body": body}))
        data = ("\n".join(lines) + "\n").encode()
        upload = await self.client.files.create(file=("batch.jsonl", data, "application/jsonl"), purpose="batch")
        batch = await self.client.batches.create(input_file_id=upload.id, endpoint=url or "/v1/chat/completions",
                                                 completion_window="24h")
        return batch.id

    async def poll_batch(self, batch_id: str) -> tuple[bool, str]:
        """(finished, status) of a batch."""
        batch = await self.client.batches.retrieve(batch_id)
        return batch.status in {"completed", "failed", "expired", "cancelled"}, batch.status

    async def batch_results(self, batch_id: str, requests: dict[str, GenerateRequest]) -> dict[str, GenerateResponse]:
        """Responses by custom id, read from the output and error files of a finished batch."""
        batch = await self.client.batches.retrieve(batch_id)
        found: dict[str, GenerateResponse] = {}
        for file_id in (batch.output_file_id, batch.error_file_id):
            if not file_id:
                continue
            content = await self.client.files.content(file_id)
            for line in content.text.splitlines():
                if line.strip():
                    data = json.loads(line)
                    request = requests.get(data.get("custom_id", ""))
                    custom_id, response = parse_batch_line(data, self.tool_mode(request) if request else None)
                    found[custom_id] = response
        return found

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()


class OpenAICompatibleProvider(OpenAIProvider):
    """A vLLM or llama.cpp server (or any OpenAI-compatible endpoint) at ``base_url``."""

    name: ClassVar[str] = "openai-compatible"
    supports_completion: ClassVar[bool] = True
    supports_batch: ClassVar[bool] = False
    default_key_env: ClassVar[str | None] = None
    max_tokens_param: ClassVar[str] = "max_tokens"  # what vLLM and llama.cpp servers read

    @classmethod
    def unavailable_reason(cls, spec: ModelSpec) -> str | None:
        if not spec.base_url:
            return "no base_url in models.yaml (e.g. base_url: http://127.0.0.1:8000/v1)"
        env = spec.api_key_env
        if env and _sdk.key_from_env(env) is None and not _sdk.is_loopback(spec.base_url):
            return f"missing key: set {env}"
        problem = _sdk.probe(spec.base_url, timeout_s=spec.options.probe_timeout_s)
        if problem is not None:
            return f"endpoint unreachable: {spec.base_url} ({problem})"
        return None

    def tool_mode(self, request: GenerateRequest) -> str | None:
        mode = super().tool_mode(request)
        return CALL_OBJECT if mode == NATIVE and self.spec.options.tool_mode == CALL_OBJECT else mode

    def cache_identity(self) -> dict[str, Any]:
        """The spec's identity; with ``json_mode: json_object`` (a llama-cpp-python server builds its grammar
        from the schema as sent) also how the schema is rewritten for that converter."""
        identity = super().cache_identity()
        if self.spec.options.json_mode == "json_object":
            from evals.providers.llama_cpp import SCHEMA_RULE

            identity["schema_rule"] = SCHEMA_RULE
        return identity

    def _json_extras(self, schema: dict[str, Any] | None) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        mode = self.spec.options.json_mode
        if mode == "none":
            return None, {}
        if mode == "json_object":  # llama-cpp-python's server: a grammar built from the schema
            from evals.providers.llama_cpp import portable_schema  # escapes its converter would crash on

            if not schema:
                return {"type": "json_object"}, {}
            return {"type": "json_object", "schema": portable_schema(schema)}, {}
        extra = {"guided_json": schema} if mode == "guided_json" and schema else {}
        return response_format(schema), extra


#: Where each endpoint's requests go, relative to the client's base URL.
_PATHS = {"chat": "/chat/completions", "completions": "/completions"}


def _http_response_type() -> type:
    """The HTTP response class the SDK returns unparsed for ``cast_to`` (``httpx2`` from openai 3, ``httpx``
    before)."""
    try:
        import httpx2
    except ImportError:  # openai 1.x and 2.x are built on httpx
        import httpx as httpx2  # type: ignore[no-redef]
    return httpx2.Response


def _tool_calls(message: dict[str, Any]) -> list[ToolCall]:
    """The ``tool_calls`` of a chat message (function calls; arguments as the model wrote them)."""
    calls = []
    for item in message.get("tool_calls") or []:
        function = item["function"]
        calls.append(ToolCall.of(function["name"], function.get("arguments") or "", item.get("id")))
    return calls


def parse_completion(body: Any, endpoint: str, latency_ms: float, tools: str | None = None) -> GenerateResponse:
    """Map a chat completion or completion body (a dict) to a :class:`GenerateResponse`; ``tools`` is how
    the request's tools travelled (:data:`NATIVE`, :data:`CALL_OBJECT`, or None: no tools)."""
    calls: list[ToolCall] | None = None
    try:
        choice = body["choices"][0]
        finish = choice.get("finish_reason")
        if endpoint == "completions":
            text, refusal = choice["text"], None
        else:
            message = choice["message"]
            text, refusal = message.get("content"), message.get("refusal")
            if tools == NATIVE:
                calls = _tool_calls(message)
                if calls and text is None:
                    text = ""
        usage = body.get("usage") or {}
        details = usage.get("prompt_tokens_details") or {}
    except (KeyError, IndexError, TypeError, AttributeError) as exc:
        return _sdk.malformed(f"unexpected response shape: {type(exc).__name__}: {exc}", latency_ms)
    common = dict(input_tokens=usage.get("prompt_tokens"), output_tokens=usage.get("completion_tokens"),
                  cache_read_tokens=details.get("cached_tokens"), latency_ms=latency_ms, finish_reason=finish,
                  raw_model=body.get("model"))
    if refusal:
        return GenerateResponse(error=ErrorKind.REFUSED, error_message=str(refusal)[:500], **common)
    if finish == "content_filter":
        return GenerateResponse(error=ErrorKind.REFUSED, error_message="content_filter", **common)
    if text is None:
        return _sdk.malformed("response has no content", latency_ms)
    confidence = token_confidence(_logprob_tokens(choice.get("logprobs"), endpoint), text)
    extra = {"confidence": confidence} if confidence is not None else {}
    if tools == CALL_OBJECT:
        calls, text = read_call_object(text) or ([], text)
    return GenerateResponse(text=text, tool_calls=calls, extra=extra, **common)


def _logprob_tokens(logprobs: Any, endpoint: str) -> list[tuple[Any, Any]]:
    """(token text, log-prob) of each generated token in a choice's ``logprobs`` ([] when there are none or
    they have an unknown shape): chat ``content[*]`` (``bytes`` when given, else ``token``), completions
    ``tokens`` with ``token_logprobs``."""
    if not isinstance(logprobs, dict):
        return []
    if endpoint == "completions":
        tokens, values = logprobs.get("tokens"), logprobs.get("token_logprobs")
        if not isinstance(tokens, list) or not isinstance(values, list) or len(tokens) != len(values):
            return []
        return [(t if isinstance(t, str) else None, v) for t, v in zip(tokens, values)]
    content = logprobs.get("content")
    if not isinstance(content, list):
        return []
    out = []
    for item in content:
        if not isinstance(item, dict):
            return []
        raw = item.get("bytes")
        text = bytes(raw) if isinstance(raw, list) and all(isinstance(b, int) and 0 <= b < 256 for b in raw) \
            else item.get("token") if isinstance(item.get("token"), str) else None
        out.append((text, item.get("logprob")))
    return out


def parse_batch_line(line: dict[str, Any], tools: str | None = None) -> tuple[str, GenerateResponse]:
    """One line of a Batch output or error file -> (custom_id, response); ``tools`` as in
    :func:`parse_completion`."""
    custom_id = line.get("custom_id", "")
    response = line.get("response") or {}
    error = line.get("error")
    status = response.get("status_code")
    if error or status != 200:
        body = response.get("body") or {}
        err = error or body.get("error") or {}
        message = str(err.get("message", err))[:500]
        kind = _sdk.kind_for_status(int(status), message, err.get("code")) if status else ErrorKind.UNKNOWN
        return custom_id, GenerateResponse(error=kind, error_message=message)
    body = response.get("body")
    parsed = parse_completion(body, "chat" if _is_chat(body) else "completions", 0.0, tools)
    parsed.latency_ms = None  # a batch has no per-call latency
    return custom_id, parsed


def _is_chat(body: Any) -> bool:
    return isinstance(body, dict) and body.get("object") == "chat.completion"
