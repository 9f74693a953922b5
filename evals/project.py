"""Where a project's files live: the folders a user edits and the ones the harness writes.

Paths written in project files (a suite's data files, schema and context files, a template's JSON
schema, a prompt name) stay inside the project: :func:`inside_project` refuses one that resolves
elsewhere (``../../outside``, an absolute path, a symbolic link out). Paths given explicitly on the
command line are the user's choice and are not checked.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from evals.errors import ConfigError, UsageError

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


@lru_cache(maxsize=256)
def project_root_of(path: Path) -> Path:
    """The project a file belongs to: the nearest folder above it holding policies/models.yaml (without
    one, the file's own folder)."""
    here = Path(path).resolve()
    for folder in here.parents:
        if (folder / MODELS_FILE).is_file():
            return folder
    return here.parent


def inside_project(target: Path, source: Path, *, line: int | None = None, field: str | None = None,
                   root: Path | None = None) -> Path:
    """``target`` (a path written in ``source``), refused with a ConfigError naming ``source`` when it
    resolves outside the project (``root``, default :func:`project_root_of` ``source``)."""
    root = (root or project_root_of(source)).resolve()
    resolved = Path(target).resolve()
    if resolved != root and root not in resolved.parents:
        raise ConfigError(source, f"{target} is outside the project ({root}); paths in project files stay "
                                  "inside it: move the file into the project", line=line, field=field)
    return Path(target)
