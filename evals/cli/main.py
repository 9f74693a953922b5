"""The ``evals`` command: registers one thin command per verb; each calls one library function."""

from __future__ import annotations

import sys

import click

import importlib

from evals import __version__
from evals.cli._common import handle_errors

# One module per verb; "module:command". Registered in this order in --help.
COMMANDS = [
    "evals.cli.run:run_cmd",
    "evals.cli.runs:runs_cmd",
    "evals.cli.report:report_cmd",
    "evals.cli.validate:validate_cmd",
    "evals.cli.render:render_cmd",
    "evals.cli.models:models_cmd",
    "evals.cli.recommend:recommend_cmd",
    "evals.cli.approve:approve_cmd",
    "evals.cli.gate:gate_cmd",
    "evals.cli.route:route_cmd",
    "evals.cli.spend:spend_cmd",
    "evals.cli.replay:replay_cmd",
]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="evals")
def cli() -> None:
    """Evaluate a portfolio of LLMs per task and compile a routing policy from the evidence."""


cli.list_commands = lambda ctx: list(cli.commands)  # --help in the order of COMMANDS (the workflow), not a-z


for _target in COMMANDS:
    _module, _, _name = _target.partition(":")
    cli.add_command(getattr(importlib.import_module(_module), _name))


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    with handle_errors():
        return cli.main(args=argv, prog_name="evals", standalone_mode=False) or 0
    return 2  # pragma: no cover - handle_errors exits


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
