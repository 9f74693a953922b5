"""Errors raised by the harness.

Every error a user can cause carries a message that says what is wrong and how to fix it; the CLI
prints it on one line and exits with the status the error names::

    EvalsError                  base class, exit status 2 unless stated
    ├── ConfigError             a file a user edits is wrong: names file, line and field
    ├── UsageError              a bad flag or argument combination
    ├── DataError               suite data cannot be read (names file and line)
    ├── TemplateError           a prompt template fails to parse or render
    ├── ArtifactError           a file the harness writes or reads back (a run's manifest or results,
    │                           the response cache, the reports folder) is unreadable or unwritable
    ├── ProviderUnavailable     a provider cannot run here (missing extra, key, endpoint)
    └── FormatVersionError      an artifact was written by a newer harness
"""

from __future__ import annotations

from pathlib import Path


class EvalsError(Exception):
    """Base class; ``exit_code`` is what the CLI exits with."""

    exit_code = 2


class ConfigError(EvalsError):
    """A user-edited file is invalid.

    Args:
        path: the file.
        message: what is wrong and how to fix it.
        line: 1-based line number where known.
        field: dotted path of the offending field where known.
    """

    def __init__(self, path: str | Path, message: str, *, line: int | None = None, field: str | None = None):
        self.path = str(path)
        self.line = line
        self.field = field
        self.message = message
        super().__init__(self.format())

    def format(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        what = f" {self.field}:" if self.field else ""
        return f"{where}:{what} {self.message}"


class DataError(ConfigError):
    """Suite data could not be read."""


class TemplateError(ConfigError):
    """A prompt template could not be parsed or rendered."""


class ArtifactError(ConfigError):
    """A run artifact, the response cache or the reports folder cannot be read or written (names the file)."""


class UsageError(EvalsError):
    """A bad command-line argument."""


class ProviderUnavailable(EvalsError):
    """A provider cannot run on this machine; the message says how to make it available."""


class FormatVersionError(EvalsError):
    """An artifact has a newer format version than this harness reads."""
