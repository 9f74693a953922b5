"""What every command shares: the project option, errors as one line and an exit status, the console.

Text that is not ours (paths, pip extras such as ``portfolio-evals[anthropic]``, model and suite names,
JSON, provider messages) never goes through rich's markup, which would read ``[anthropic]`` as a style
tag and drop it: print it with :func:`print_warning` / :func:`print_line`, or wrap it with
:func:`literal` for a table cell or title.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import click

from evals.errors import EvalsError
from evals.project import Project

if TYPE_CHECKING:  # rich loads only for commands that print with it
    from rich.console import Console
    from rich.text import Text

project_option = click.option(
    "--project", "project_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="Project folder (default: the nearest folder with policies/models.yaml).",
)


def open_project(project_dir: Path | None) -> Project:
    return Project.find(project_dir)


def split_list(value: str | None) -> list[str] | None:
    """``"a,b"`` -> ``["a", "b"]``; None stays None."""
    if not value:
        return None
    return [part.strip() for part in value.split(",") if part.strip()]


@contextmanager
def handle_errors() -> Iterator[None]:
    """Map user errors to one line on stderr and their exit status; Ctrl-C to 130."""
    try:
        yield
    except EvalsError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("\ninterrupted: every answer received so far is in the response cache; "
                   "run the same command again to resume", err=True)
        sys.exit(130)


def make_console(*, stderr: bool = False):
    """A rich console; when output is not a terminal (CI logs, pipes) it is wide instead of 80 columns."""
    import os

    from rich.console import Console

    probe = Console(stderr=stderr)
    if probe.is_terminal or "COLUMNS" in os.environ:
        return probe
    return Console(stderr=stderr, width=200)


def literal(value: object, style: str = "") -> "Text":
    """``value`` as rich text that is shown as written: brackets in it are never markup."""
    from rich.text import Text

    return Text("" if value is None else str(value), style=style)


def print_warning(console: "Console", message: str) -> None:
    """``warning: <message>`` with the label in yellow and the message exactly as written."""
    from rich.text import Text

    console.print(Text.assemble(("warning:", "yellow"), " ", message), highlight=False, soft_wrap=True)


def print_line(console: "Console", message: str) -> None:
    """One line of plain text (paths, ids, counts), exactly as written."""
    console.print(message, markup=False, highlight=False, soft_wrap=True)
