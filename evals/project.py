"""Where a project's files live: the folders a user edits and the ones the harness writes."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from evals.errors import UsageError

MODELS_FILE = Path("policies/models.yaml")


@dataclass(frozen=True)
class Project:
    """A project root holding ``policies/``, ``suites/``, ``prompts/`` and ``reports/``."""

    root: Path

    @classmethod
    def find(cls, start: Path | None = None) -> "Project":
        """The nearest folder at or above ``start`` (default: the working directory) with policies/models.yaml."""
        here = (start or Path.cwd()).resolve()
        for folder in (here, *here.parents):
            if (folder / MODELS_FILE).is_file():
                return cls(folder)
        raise UsageError(f"no {MODELS_FILE} found in {here} or its parents; run evals from a project folder "
                         "or pass --project DIR")

    @property
    def models_file(self) -> Path:
        return self.root / MODELS_FILE

    @property
    def policy_file(self) -> Path:
        return self.root / "policies" / "current.yaml"

    @property
    def approvals_file(self) -> Path:
        return self.root / "policies" / "approvals.jsonl"

    @property
    def suites_dir(self) -> Path:
        return self.root / "suites"

    @property
    def prompts_dir(self) -> Path:
        return self.root / "prompts"

    @property
    def reports_dir(self) -> Path:
        return self.root / "reports"

    @property
    def cache_file(self) -> Path:
        """The response cache; ``EVALS_CACHE`` overrides it."""
        env = os.environ.get("EVALS_CACHE")
        return Path(env) if env else self.root / ".evals-cache" / "responses.sqlite"
