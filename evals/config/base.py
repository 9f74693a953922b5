"""Shared pieces of the typed configuration."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

FORMAT_VERSION = 1


class Strict(BaseModel):
    """Base for every config model: unknown keys are errors, models are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)
