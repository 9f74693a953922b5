"""Typed model of a prompt template's header (YAML front matter between ``---`` lines)."""

from __future__ import annotations

from pydantic import Field, NonNegativeFloat, PositiveInt

from evals.config.base import Strict


class PromptHeader(Strict):
    """Generation parameters a template asks for."""

    description: str = ""
    max_tokens: PositiveInt = 256
    temperature: NonNegativeFloat = 0.0
    top_p: float | None = Field(default=None, gt=0, le=1)
    stop: list[str] = Field(default_factory=list)
    seed: int | None = None
    json_output: bool = Field(default=False, description="Ask for JSON constrained to the schema.")
    json_schema: str | None = Field(
        default=None, description="Schema file relative to the template; default the suite's schema."
    )
