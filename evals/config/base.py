"""Shared pieces of the typed configuration."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, field_validator

FORMAT_VERSION = 1
_PROMPT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def prompt_name_problem(name: str) -> str | None:
    """Why ``name`` is not a prompt name (a folder directly under ``prompts/``), or None.

    >>> prompt_name_problem("triage") is None, prompt_name_problem("../../outside")
    (True, "a prompt is named by its folder under prompts/ (letters, digits, '.', '_', '-'), not by a path")
    """
    if _PROMPT_NAME.match(name) and ".." not in name:
        return None
    return "a prompt is named by its folder under prompts/ (letters, digits, '.', '_', '-'), not by a path"


def _prompt_name(name: str) -> str:
    problem = prompt_name_problem(name)
    if problem:
        raise ValueError(problem)
    return name


PromptName = Annotated[str, AfterValidator(_prompt_name)]
"""A prompt name: one folder of ``prompts/``, never a path out of it."""


def _as_tuple(value: object) -> object:
    return tuple(value) if isinstance(value, list) else value


Pair = Annotated[tuple[float, float], BeforeValidator(_as_tuple)]
"""Two numbers (an interval). A file's list is read as the pair even where strict validation runs on
Python data (after a model's ``before`` validator), which would otherwise refuse a list for a tuple."""


class Strict(BaseModel):
    """Base for every config model: unknown keys are errors, models are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Versioned(Strict):
    """Base of a user file with a ``format_version``: a newer version than this harness reads is refused,
    naming the version (an older harness would silently misread a newer file)."""

    format_version: int = FORMAT_VERSION

    @field_validator("format_version")
    @classmethod
    def _supported(cls, value: int) -> int:
        if value > FORMAT_VERSION:
            raise ValueError(f"format version {value} is newer than this harness reads ({FORMAT_VERSION}); "
                             "upgrade portfolio-evals")
        if value < 1:
            raise ValueError(f"format version {value} does not exist; the first is 1")
        return value
