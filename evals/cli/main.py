"""The ``evals`` command: registers one thin command per verb; each calls one library function."""

from __future__ import annotations

import sys

import click

from evals import __version__
from evals.cli._common import handle_errors
from evals.cli.models import models_cmd
from evals.cli.run import run_cmd
from evals.cli.validate import validate_cmd


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="evals")
def cli() -> None:
    """Evaluate a portfolio of LLMs per task and compile a routing policy from the evidence."""


for command in (run_cmd, validate_cmd, models_cmd):
    cli.add_command(command)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    with handle_errors():
        return cli.main(args=argv, prog_name="evals", standalone_mode=False) or 0
    return 2  # pragma: no cover - handle_errors exits


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
