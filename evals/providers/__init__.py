"""Providers: one module per provider behind :class:`Provider`; SDKs are imported lazily.

:func:`create_provider` builds a provider for a model spec; :func:`availability` says whether it can run
here and, if not, what to do about it, without importing any SDK.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass

from evals.config.models import ModelSpec
from evals.errors import ProviderUnavailable
from evals.providers.base import ErrorKind, GenerateRequest, GenerateResponse, Provider

__all__ = [
    "ErrorKind",
    "GenerateRequest",
    "GenerateResponse",
    "Provider",
    "ProviderRegistry",
    "Availability",
    "availability",
    "create_provider",
    "default_registry",
]


@dataclass(frozen=True)
class ProviderEntry:
    """Where a provider lives and what it needs; nothing is imported until it is used."""

    target: str  # "module:Class"
    extra: str | None = None  # pip extra that brings the SDK
    module_needed: str | None = None  # top-level module the extra installs


@dataclass(frozen=True)
class Availability:
    ready: bool
    reason: str = ""


class ProviderRegistry(dict[str, ProviderEntry]):
    """Provider name -> entry. Pass one explicitly to add or replace providers (tests do)."""

    def entry(self, name: str) -> ProviderEntry:
        try:
            return self[name]
        except KeyError:
            raise ProviderUnavailable(f"unknown provider {name!r}; known: {', '.join(sorted(self))}") from None


def default_registry() -> ProviderRegistry:
    return ProviderRegistry(
        {
            "llama-cpp": ProviderEntry("evals.providers.llama_cpp:LlamaCppProvider", "local", "llama_cpp"),
            "fake": ProviderEntry("evals.providers.fake:FakeProvider"),
            "anthropic": ProviderEntry("evals.providers.anthropic:AnthropicProvider", "anthropic", "anthropic"),
            "openai": ProviderEntry("evals.providers.openai:OpenAIProvider", "openai", "openai"),
            "openai-compatible": ProviderEntry("evals.providers.openai:OpenAICompatibleProvider", "openai", "openai"),
            "vllm": ProviderEntry("evals.providers.vllm:VllmProvider", "vllm", "vllm"),
            "sklearn": ProviderEntry("evals.providers.sklearn:SklearnProvider"),  # scikit-learn is a core dependency
        }
    )


def _load_class(entry: ProviderEntry) -> type[Provider]:
    module_name, _, class_name = entry.target.partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def availability(spec: ModelSpec, registry: ProviderRegistry | None = None) -> Availability:
    """Whether ``spec`` can run here; the reason names the fix (pip extra, env var, URL)."""
    registry = registry or default_registry()
    try:
        entry = registry.entry(spec.provider)
    except ProviderUnavailable as exc:
        return Availability(False, str(exc))
    if entry.module_needed and importlib.util.find_spec(entry.module_needed) is None:
        return Availability(
            False, f"extra not installed: pip install 'portfolio-evals[{entry.extra}]' (needs {entry.module_needed})"
        )
    cls = _load_class(entry)
    reason = cls.unavailable_reason(spec)
    return Availability(reason is None, reason or "")


def create_provider(spec: ModelSpec, registry: ProviderRegistry | None = None) -> Provider:
    """Instantiate the provider for ``spec``; raises :class:`ProviderUnavailable` with the fix."""
    registry = registry or default_registry()
    state = availability(spec, registry)
    if not state.ready:
        raise ProviderUnavailable(f"model {spec.id!r}: {state.reason}")
    return _load_class(registry.entry(spec.provider))(spec)
