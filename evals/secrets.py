"""The one scrubber: API keys and URL credentials never reach a file, a log or a caller.

Every text the harness stores or returns passes :func:`scrub` (or :func:`scrub_data` for records) at a
few choke points: a response as it leaves the provider layer (:class:`evals.providers.base.Provider`),
the response cache, the run's results, baselines and manifest, the routing log, ``evals route``.

What is redacted, wherever it appears:

- the value of every key variable that is set: the known ones (:data:`KNOWN_KEY_VARS`) and each model's
  ``api_key_env`` from ``models.yaml`` (pass the models to :func:`key_vars`);
- the same values base64-encoded (standard and URL-safe alphabets, at any alignment), the form an
  echoed ``Authorization: Basic`` header or a logged request body takes;
- the token of an echoed ``Authorization: Bearer ...``, ``Basic ...``, ``x-api-key: ...`` or
  ``api-key: ...`` header, whatever its value;
- the ``user:password@`` part of a URL.

Values shorter than :data:`MIN_SECRET_LENGTH` are left alone (an env var set to ``1`` is not a key).
Standard library only: the runtime router and client may use it.

>>> import os
>>> os.environ["EVALS_DOCTEST_KEY"] = "sk-test-0123456789abcdef"
>>> scrub("key sk-test-0123456789abcdef at https://bob:hunter22@host/v1", ["EVALS_DOCTEST_KEY"])
'key [REDACTED] at https://[REDACTED]@host/v1'
"""

from __future__ import annotations

import base64
import os
import re
from functools import lru_cache
from typing import Any, Iterable

REDACTED = "[REDACTED]"
MIN_SECRET_LENGTH = 8

#: Key variables read by the providers' SDKs or commonly set beside them; redacted whenever set.
KNOWN_KEY_VARS = (
    "ANTHROPIC_API_KEY", "OPENAI_API_KEY", "AZURE_OPENAI_API_KEY", "GOOGLE_API_KEY", "GEMINI_API_KEY",
    "MISTRAL_API_KEY", "TOGETHER_API_KEY", "GROQ_API_KEY", "FIREWORKS_API_KEY", "DEEPSEEK_API_KEY",
    "OPENROUTER_API_KEY", "COHERE_API_KEY", "VLLM_API_KEY", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN",
)

_HEADERS = re.compile(
    r"(?i)(\b(?:authorization|proxy-authorization)\s*[:=]\s*[\"']?\s*(?:bearer|basic|token)\s+"
    r"|\bbearer\s+|\b(?:x-api-key|api-key|x-goog-api-key)\s*[\"']?\s*[:=]\s*[\"']?\s*)"
    r"(?!\[REDACTED\])(?=[A-Za-z._~+/=-]*\d)[A-Za-z0-9._~+/=-]{16,}")
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)(?!\[REDACTED\]@)[^\s/@?#\"'<>]+@")


def key_vars(models: Any = None, extra: Iterable[str | None] = ()) -> tuple[str, ...]:
    """The names of the key variables to redact: the known ones, each model's ``api_key_env`` (``models``:
    a :class:`~evals.config.models.ModelsFile`, a list of specs, or None) and ``extra``."""
    names = list(KNOWN_KEY_VARS)
    specs = getattr(models, "models", models) or ()
    names += [getattr(spec, "api_key_env", None) for spec in specs]
    names += list(extra)
    return tuple(dict.fromkeys(n for n in names if n))


def secret_values(names: Iterable[str]) -> tuple[str, ...]:
    """The values of the variables in ``names`` that are set and long enough to be keys."""
    values = []
    for name in names:
        value = os.environ.get(name, "").strip()
        if len(value) >= MIN_SECRET_LENGTH:
            values.append(value)
    return tuple(sorted(set(values), key=len, reverse=True))


def _base64_forms(secret: str) -> list[str]:
    """Substrings that every base64 encoding of a text holding ``secret`` contains, one per alignment.

    At alignment ``k`` the secret starts ``k`` bytes into a 3-byte group; only the 4-character groups made
    of the secret's own bytes are fixed, so those are what is searched for.

    >>> encoded = base64.b64encode(b"Bearer sk-abcdefghijkl").decode()
    >>> any(form in encoded for form in _base64_forms("sk-abcdefghijkl"))
    True
    """
    raw = secret.encode()
    forms = []
    for k in range(3):
        encoded = base64.b64encode(b"\0" * k + raw).decode()
        start = 4 if k else 0
        end = 4 * ((k + len(raw)) // 3)
        middle = encoded[start:end]
        if len(middle) >= 8:
            forms.append(middle)
            forms.append(middle.replace("+", "-").replace("/", "_"))
    return forms


_HINTS = ("bearer", "basic", "token", "api-key", "authorization")  # words an echoed auth header holds


class Scrubber:
    """Redacts a fixed set of secret values (and their base64 forms), echoed auth headers and URL userinfo.

    Built once per set of values; cheap substring checks decide whether a text needs the regexes at all.
    """

    def __init__(self, values: tuple[str, ...]):
        needles = set(values)
        for value in values:
            needles.update(_base64_forms(value))
        self.needles = tuple(sorted(needles, key=len, reverse=True))
        self.pattern = re.compile("|".join(re.escape(n) for n in self.needles)) if self.needles else None

    def __call__(self, text: str) -> str:
        if not text:
            return text
        if self.pattern is not None and any(n in text for n in self.needles):
            text = self.pattern.sub(REDACTED, text)
        lower = text.lower()
        if any(hint in lower for hint in _HINTS):
            text = _HEADERS.sub(lambda m: m.group(1) + REDACTED, text)
        if "@" in text and "://" in text:
            text = _USERINFO.sub(lambda m: m.group(1) + REDACTED + "@", text)
        return text


@lru_cache(maxsize=64)
def _scrubber(values: tuple[str, ...]) -> Scrubber:
    return Scrubber(values)


def scrubber(names: Iterable[str] | None = None) -> Scrubber:
    """The :class:`Scrubber` for the key variables ``names`` as they are set now (default: the known ones)."""
    return _scrubber(secret_values(key_vars() if names is None else names))


def scrub(text: str, names: Iterable[str] | None = None) -> str:
    """``text`` with secrets redacted (see the module docstring); ``names`` are the key variables
    (default :func:`key_vars` without models: the known ones)."""
    return scrubber(names)(text) if text else text


def scrub_data(value: Any, names: Iterable[str] | None = None, *, using: Scrubber | None = None) -> Any:
    """A copy of a JSON-like value (dicts, lists, tuples, strings) with every string scrubbed, keys too."""
    clean = using or scrubber(names)
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, dict):
        return {clean(k) if isinstance(k, str) else k: scrub_data(v, using=clean) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(scrub_data(v, using=clean) for v in value)
    return value


def scrub_frame(frame: Any, names: Iterable[str] | None = None, columns: Iterable[str] | None = None) -> Any:
    """A pandas DataFrame with every text cell of ``columns`` (default: all) scrubbed; numbers stay as they
    are. Each distinct text is scrubbed once."""
    import pandas as pd

    clean = scrubber(names)
    frame = frame.copy()
    for column in (frame.columns if columns is None else [c for c in columns if c in frame.columns]):
        series = frame[column]
        if not (series.dtype == object or pd.api.types.is_string_dtype(series.dtype)):
            continue
        done: dict[str, str] = {}
        cleaned = []
        for v in series:
            if isinstance(v, str):
                if v not in done:
                    done[v] = clean(v)
                cleaned.append(done[v])
            else:
                cleaned.append(scrub_data(v, using=clean) if isinstance(v, (dict, list)) else v)
        frame[column] = pd.Series(cleaned, index=series.index, dtype=series.dtype)
    return frame
