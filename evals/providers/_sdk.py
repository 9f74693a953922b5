"""What the Anthropic and OpenAI adapters share: keys, error mapping, endpoint probes.

Keys are read from the environment at the moment a client is built and handed to the SDK only; they
never enter a :class:`~evals.providers.base.GenerateResponse`, the cache identity or an error message.
"""

from __future__ import annotations

import os
import socket
from typing import Any, Callable, ClassVar
from urllib.parse import urlsplit

from evals.providers.base import ErrorKind, GenerateResponse
from evals.providers.retry import parse_retry_after

_CONTEXT_HINTS = ("context length", "context_length", "maximum context", "prompt is too long", "too many tokens",
                  "context window")

#: Tests set this to ``lambda: httpx2.AsyncClient(transport=MockTransport(...))``; None means the SDK default.
HttpClientFactory = Callable[[], Any]


def key_from_env(env_var: str | None) -> str | None:
    """The key in ``env_var``, or None when unset or empty."""
    if not env_var:
        return None
    value = os.environ.get(env_var, "").strip()
    return value or None


def is_loopback(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return host in {"localhost", "127.0.0.1", "::1", "0.0.0.0"} or host.startswith("127.")


def probe(url: str, timeout_s: float = 1.0) -> str | None:
    """A quick TCP connect to ``url``'s host and port; None when it answers, else why not."""
    parts = urlsplit(url)
    if not parts.hostname:
        return f"invalid base_url {url!r}"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout_s):
            return None
    except OSError as exc:
        return (exc.strerror or str(exc) or type(exc).__name__).lower()


def scrub(text: str, secrets: list[str | None]) -> str:
    """Remove secret values from a message (an SDK error may echo a header)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def kind_for_status(status: int, message: str = "", code: str | None = None) -> ErrorKind:
    """Map an HTTP status (and the provider's error code or message) to an :class:`ErrorKind`."""
    lower = message.lower()
    if status == 429:
        if code == "insufficient_quota" or "insufficient_quota" in lower:
            return ErrorKind.AUTH  # billing, not load: retrying does not help
        return ErrorKind.RATE_LIMITED
    if status in (401, 403):
        return ErrorKind.AUTH
    if status in (408, 504):
        return ErrorKind.TIMEOUT
    if status >= 500:  # includes Anthropic's 529 overloaded_error
        return ErrorKind.SERVER_ERROR
    if status in (400, 404, 413, 422):
        if code in ("context_length_exceeded",) or any(h in lower for h in _CONTEXT_HINTS):
            return ErrorKind.CONTEXT_LENGTH
        return ErrorKind.INVALID_REQUEST
    return ErrorKind.UNKNOWN


def error_from_exception(exc: Exception, sdk: Any, secrets: list[str | None], latency_ms: float) -> GenerateResponse:
    """Turn an SDK exception (openai or anthropic share the same hierarchy) into an error response."""
    retry_after = None
    if isinstance(exc, sdk.APITimeoutError):
        kind = ErrorKind.TIMEOUT
    elif isinstance(exc, sdk.APIConnectionError):
        kind = ErrorKind.CONNECTION
    elif isinstance(exc, sdk.APIStatusError):
        body = exc.body if isinstance(getattr(exc, "body", None), dict) else {}
        err = body.get("error", body) if isinstance(body, dict) else {}
        code = err.get("code") or err.get("type") if isinstance(err, dict) else None
        kind = kind_for_status(exc.status_code, str(exc), code)
        retry_after = parse_retry_after(dict(exc.response.headers))
    elif isinstance(exc, getattr(sdk, "APIResponseValidationError", ())) or isinstance(exc, ValueError):
        kind = ErrorKind.MALFORMED_RESPONSE
    else:
        kind = ErrorKind.UNKNOWN
    message = scrub(f"{type(exc).__name__}: {exc}", secrets)[:500]
    return GenerateResponse(error=kind, error_message=message, retry_after_s=retry_after, latency_ms=latency_ms)


class ApiKeyMixin:
    """Key lookup shared by the API providers: ``api_key_env`` from models.yaml, else the default."""

    default_key_env: ClassVar[str | None] = None

    @classmethod
    def key_env(cls, spec: Any) -> str | None:
        return spec.api_key_env or cls.default_key_env

    @classmethod
    def unavailable_reason(cls, spec: Any) -> str | None:
        env = cls.key_env(spec)
        return None if key_from_env(env) else f"missing key: set {env}"

    def _key(self) -> str | None:
        return key_from_env(self.key_env(self.spec))  # type: ignore[attr-defined]


def client_kwargs(spec: Any, api_key: str | None, http_client: Any) -> dict[str, Any]:
    """Constructor arguments shared by the SDK clients: our own retries, so the SDK's are off."""
    kwargs: dict[str, Any] = {"api_key": api_key, "timeout": spec.timeout_s, "max_retries": 0}
    if spec.base_url:
        kwargs["base_url"] = spec.base_url
    if http_client is not None:
        kwargs["http_client"] = http_client
    return kwargs


def malformed(message: str, latency_ms: float) -> GenerateResponse:
    return GenerateResponse(error=ErrorKind.MALFORMED_RESPONSE, error_message=message[:500], latency_ms=latency_ms)
